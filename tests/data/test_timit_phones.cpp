#include "data/timit_phones.h"

#include <set>

#include <gtest/gtest.h>

namespace qretrain::data::timit {
namespace {

TEST(TimitPhones, SixtyOnePhonesFoldOntoThirtyNineClasses) {
  EXPECT_EQ(phones61().size(), 61u);
  EXPECT_EQ(std::set<std::string>(phones61().begin(), phones61().end()).size(), 61u);
  EXPECT_EQ(classes39().size(), 39u);
  // Every class is reached; only 'q' is dropped.
  std::set<int> reached;
  int dropped = 0;
  for (int p = 0; p < 61; ++p) {
    int c = fold_to_39(p);
    if (c < 0) ++dropped;
    else reached.insert(c);
  }
  EXPECT_EQ(reached.size(), 39u);
  EXPECT_EQ(dropped, 1);
  EXPECT_EQ(fold_to_39(*phone_id("q")), -1);
}

TEST(TimitPhones, HandCheckedFoldings) {
  auto cls = [](const char* phone) { return classes39().at(static_cast<std::size_t>(fold_to_39(*phone_id(phone)))); };
  EXPECT_EQ(cls("ao"), "aa");
  EXPECT_EQ(cls("ax-h"), "ah");
  EXPECT_EQ(cls("axr"), "er");
  EXPECT_EQ(cls("hv"), "hh");
  EXPECT_EQ(cls("ix"), "ih");
  EXPECT_EQ(cls("el"), "l");
  EXPECT_EQ(cls("em"), "m");
  EXPECT_EQ(cls("nx"), "n");
  EXPECT_EQ(cls("eng"), "ng");
  EXPECT_EQ(cls("zh"), "sh");
  EXPECT_EQ(cls("ux"), "uw");
  for (const char* silence : {"pcl", "tcl", "kcl", "bcl", "dcl", "gcl", "h#", "pau", "epi"})
    EXPECT_EQ(cls(silence), "sil") << silence;
  EXPECT_EQ(cls("IY"), "iy");  // labels are case-insensitive
  EXPECT_FALSE(phone_id("xx").has_value());
}

TEST(TimitPhones, CoreTestSetHasThreeSpeakersPerDialectRegion) {
  const auto& s = core_test_speakers();
  EXPECT_EQ(s.size(), 24u);
  EXPECT_EQ(std::set<std::string>(s.begin(), s.end()).size(), 24u);
  int female = 0;
  for (const auto& spk : s) female += spk[0] == 'F';
  EXPECT_EQ(female, 8);
}

}  // namespace
}  // namespace qretrain::data::timit
