// XXH64 against the reference implementation's published values, and the
// streaming form against the one-shot one.
#include "util/checksum.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace qretrain {
namespace {

TEST(Checksum, Xxh64MatchesReferenceValues) {
  const auto h = [](const char* s, std::uint64_t seed = 0) { return xxh64(s, std::strlen(s), seed); };
  EXPECT_EQ(h(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(h("a"), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(h("abc"), 0x44bc2cf5ad770999ULL);
  // 39 bytes: one 32-byte stripe and a tail.
  EXPECT_EQ(h("Nobody inspects the spammish repetition"), 0xfbcea83c8a378bf1ULL);
  EXPECT_NE(h("abc", 1), h("abc"));
}

TEST(Checksum, StreamingEqualsOneShotForAnySplit) {
  std::vector<unsigned char> v(100003);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
  const std::uint64_t whole = xxh64(v.data(), v.size(), 7);
  for (std::size_t step : {1, 3, 31, 32, 33, 4096}) {
    Xxh64 h(7);
    h.update(nullptr, 0);
    for (std::size_t i = 0; i < v.size(); i += step) h.update(v.data() + i, std::min(step, v.size() - i));
    EXPECT_EQ(h.digest(), whole) << "pieces of " << step;
  }
  v[50000] ^= 1;
  EXPECT_NE(xxh64(v.data(), v.size(), 7), whole);
}

}  // namespace
}  // namespace qretrain
