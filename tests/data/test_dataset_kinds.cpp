// Every dataset row (data/kinds.h), looped over: a new row is tested for free.
#include <set>

#include <gmock/gmock.h>

#include "app/commands.h"
#include "config/config.h"
#include "data/dataset.h"
#include "data/kinds.h"
#include "test_util.h"
#include "util/registry.h"

namespace qretrain::data {
namespace {

using ::testing::HasSubstr;
using qretrain::testing::TempDir;

// What a command that reads the data says of a config of `kind` whose
// dataset.path is `path` ("" if it finds nothing wrong).
std::string missing_data_error(const std::string& kind, const std::string& path) {
  TempDir dir;
  const config::ExperimentConfig cfg =
      config::load(dir.write("c.yaml", "name: x\n"), {"dataset.kind=" + kind, "dataset.path=" + path});
  return testing::error_of([&] { app::require_dataset(cfg); });
}

TEST(DatasetKinds, EveryStandInReplacesAPaperCorpusAndEveryPaperCorpusHasOne) {
  std::set<std::string> names, replaced;
  for (const DatasetKind& row : dataset_kinds()) {
    SCOPED_TRACE(row.name);
    EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
    EXPECT_TRUE(row.metric == "error rate" || row.metric == "bits per character") << row.metric;
    EXPECT_EQ(metric_of_kind(row.name), row.metric);
    if (row.is_paper_corpus()) continue;
    const DatasetKind* corpus = find_row(dataset_kinds(), row.stand_in_for);
    ASSERT_NE(corpus, nullptr) << "stands in for an unknown dataset " << row.stand_in_for;
    EXPECT_TRUE(corpus->is_paper_corpus());
    EXPECT_EQ(corpus->metric, row.metric) << "a stand-in is scored as the corpus it replaces";
    replaced.insert(corpus->name);
  }
  for (const DatasetKind& row : dataset_kinds())
    if (row.is_paper_corpus()) {
      EXPECT_EQ(replaced.count(row.name), 1u) << row.name << " has no offline stand-in";
    }
}

TEST(DatasetKinds, AMissingPathNamesTheKeyAndWhereToGetTheData) {
  for (const DatasetKind& row : dataset_kinds()) {
    SCOPED_TRACE(row.name);
    const std::string error = missing_data_error(row.name, "/no/such/data");
    if (row.built_on_first_use) {
      EXPECT_EQ(error, "");  // made there on first use
      continue;
    }
    EXPECT_THAT(error, HasSubstr("dataset.path: /no/such/data does not exist"));
    ASSERT_FALSE(row.source.empty()) << "no sentence on where to get it";
    EXPECT_THAT(error, HasSubstr(row.source));
    // A paper corpus's sentence points to its offline stand-in's config.
    if (row.is_paper_corpus()) {
      EXPECT_THAT(row.source, HasSubstr("configs/"));
    }
  }
}

TEST(DatasetKinds, EveryLoaderNamesTheFolderItFindsNoDataIn) {
  for (const DatasetKind& row : dataset_kinds()) {
    if (row.built_on_first_use) continue;  // an empty folder is where it would build
    SCOPED_TRACE(row.name);
    TempDir dir;
    config::DatasetConfig cfg;
    cfg.kind = row.name;
    cfg.path = dir.path().string();
    cfg.cache_dir = (dir.path() / "cache").string();
    const std::string error = testing::error_of([&] { load(cfg); });
    EXPECT_THAT(error, HasSubstr(dir.path().string()));
  }
  config::DatasetConfig unknown;
  unknown.kind = "mnist";
  const std::string error = testing::error_of([&] { load(unknown); });
  EXPECT_THAT(error, HasSubstr("dataset.kind: unknown dataset 'mnist'"));
  for (const DatasetKind& row : dataset_kinds()) EXPECT_THAT(error, HasSubstr(row.name));
}

}  // namespace
}  // namespace qretrain::data
