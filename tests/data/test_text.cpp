// Byte corpora for the language-model track: reading, splitting, stream layout.
#include "data/text.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "test_util.h"

namespace qretrain::data::text {
namespace {

using qretrain::testing::error_of;
using qretrain::testing::TempDir;

std::string as_string(const torch::Tensor& bytes) {
  auto b = bytes.contiguous().to(torch::kUInt8);
  return std::string(reinterpret_cast<const char*>(b.data_ptr<std::uint8_t>()), static_cast<std::size_t>(b.numel()));
}

std::string numbered_bytes(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 251));
  return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST(Text, SplitsByProportionContiguousAndInOrder) {
  TempDir dir;
  const std::string text = numbered_bytes(1000);
  ByteCorpus c = load_enwik8(dir.write("enwik8", text));
  EXPECT_EQ(c.train.numel(), 900);
  EXPECT_EQ(c.valid.numel(), 50);
  EXPECT_EQ(c.test.numel(), 50);
  EXPECT_EQ(as_string(c.train), text.substr(0, 900));
  EXPECT_EQ(as_string(c.valid), text.substr(900, 50));
  EXPECT_EQ(as_string(c.test), text.substr(950));
  EXPECT_NE(c.name.find("enwik8"), std::string::npos);
}

TEST(Text, SplitOfEnwik8SizeIsNinetyFiveFiveMillion) {
  // No 100 MB file needed: the split depends on the length only.
  ByteCorpus c = split_corpus(torch::zeros({100'000'000}, torch::kUInt8), "enwik8");
  EXPECT_EQ(c.train.numel(), 90'000'000);
  EXPECT_EQ(c.valid.numel(), 5'000'000);
  EXPECT_EQ(c.test.numel(), 5'000'000);
}

TEST(Text, OddSizesKeepEveryByte) {
  ByteCorpus c = split_corpus(torch::arange(37, torch::kUInt8), "x");
  EXPECT_EQ(c.train.numel(), 33);  // floor(0.9 * 37)
  EXPECT_EQ(c.valid.numel(), 1);   // floor(0.05 * 37)
  EXPECT_EQ(c.test.numel(), 3);
  EXPECT_TRUE(torch::equal(torch::cat({c.train, c.valid, c.test}), torch::arange(37, torch::kUInt8)));
}

TEST(Text, StreamsLayOutContiguousPiecesAsRows) {
  // 12 bytes into 3 streams of 4; 14 bytes into 4 streams of 3 (2 dropped).
  auto rows = as_streams(torch::arange(12, torch::kUInt8), 3);
  EXPECT_TRUE(torch::equal(rows, torch::tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, torch::kUInt8).reshape({3, 4})));
  auto cut = as_streams(torch::arange(14, torch::kUInt8), 4);
  EXPECT_TRUE(torch::equal(cut, torch::tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, torch::kUInt8).reshape({4, 3})));
  EXPECT_FALSE(error_of([] { as_streams(torch::arange(7, torch::kUInt8), 4); }).empty());  // rows of 1 byte
}

TEST(Text, WindowsShiftTargetsByOneAndCoverEveryPrediction) {
  auto rows = as_streams(torch::arange(12, torch::kUInt8), 2);  // [[0..5], [6..11]]: 5 predictions per row
  ASSERT_EQ(window_count(rows, 2), 3);
  Window first = window(rows, 0, 2);
  EXPECT_EQ(first.inputs.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(first.inputs, torch::tensor({0, 1, 6, 7}, torch::kInt64).reshape({2, 2})));
  EXPECT_TRUE(torch::equal(first.targets, torch::tensor({1, 2, 7, 8}, torch::kInt64).reshape({2, 2})));
  Window last = window(rows, 2, 2);  // one step left
  EXPECT_TRUE(torch::equal(last.inputs, torch::tensor({4, 10}, torch::kInt64).reshape({2, 1})));
  EXPECT_TRUE(torch::equal(last.targets, torch::tensor({5, 11}, torch::kInt64).reshape({2, 1})));
  EXPECT_EQ(window_count(rows, 5), 1);
}

TEST(Text, GzipFileReadsBack) {
  TempDir dir;
  const std::string text = "A dictionary entry.\n" + numbered_bytes(5000);
  write_gz(dir.file("gcide.dict.dz"), text);
  EXPECT_EQ(as_string(read_bytes(dir.file("gcide.dict.dz"))), text);
  ByteCorpus c = load_gcide(dir.file("gcide.dict.dz"));
  EXPECT_EQ(c.train.numel() + c.valid.numel() + c.test.numel(), static_cast<std::int64_t>(text.size()));
}

TEST(Text, GcideStandInSplitsWhenInstalled) {
  ASSERT_TRUE(std::filesystem::exists(kGcidePath)) << kGcidePath << " is missing: scripts/install-deps.sh installs dict-gcide";
  ByteCorpus c = load_gcide();
  const std::int64_t n = c.train.numel() + c.valid.numel() + c.test.numel();
  EXPECT_GT(n, 30'000'000);  // dict-gcide 0.48: 39,952,321 bytes of text
  EXPECT_EQ(c.valid.numel(), n / 20);
  EXPECT_NE(as_string(c.train.slice(0, 0, 400)).find("Collaborative International Dictionary"), std::string::npos);
}

TEST(Text, MissingEmptyOrCorruptFileNamesIt) {
  TempDir dir;
  const std::string missing = dir.file("no-such-enwik8");
  EXPECT_NE(error_of([&] { load_enwik8(missing); }).find(missing), std::string::npos);
  const std::string empty = dir.write("empty", "");
  std::string message = error_of([&] { load_enwik8(empty); });
  EXPECT_NE(message.find(empty), std::string::npos);
  EXPECT_NE(message.find("empty"), std::string::npos);
  EXPECT_NE(error_of([&] { load_gcide(missing); }).find(missing), std::string::npos);

  // A gzip file cut in half: zlib sees the stream end early.
  const std::string whole = dir.file("whole.gz");
  write_gz(whole, numbered_bytes(20000));
  std::ifstream in(whole, std::ios::binary);
  const std::string zipped((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = dir.write("cut.dict.dz", zipped.substr(0, zipped.size() / 2));
  message = error_of([&] { load_gcide(cut); });
  EXPECT_NE(message.find(cut), std::string::npos);
  EXPECT_NE(message.find("corrupt"), std::string::npos);
}

// A gzip bomb must end in an error naming the file, not std::bad_alloc.
TEST(Text, ReadingStopsAtTheSizeCap) {
  TempDir dir;
  const std::string path = dir.file("bomb.gz");
  write_gz(path, std::string(5000, '\0'));
  EXPECT_EQ(read_bytes(path, 5000).numel(), 5000);  // exactly the cap reads
  const std::string message = error_of([&] { read_bytes(path, 4999); });
  EXPECT_NE(message.find(path + ": holds more than 4999 bytes"), std::string::npos) << message;
  EXPECT_GT(kMaxTextBytes, 100'000'000);  // enwik8 reads
}

TEST(Text, TooShortForTheStreamsNamesTheFileAndKey) {
  TempDir dir;
  config::ExperimentConfig cfg;
  cfg.dataset.kind = "gcide";
  cfg.dataset.path = dir.write("tiny.txt", numbered_bytes(100));
  cfg.train.streams = 64;
  const Dataset d = data::load(cfg.dataset);
  const std::string message = error_of([&] { check_fits_training(d, cfg); });
  EXPECT_NE(message.find("tiny.txt: the training split (90% of the text) is 90 bytes, too short for "
                         "train.streams = 64 (at least 128 bytes"),
            std::string::npos)
      << message;
  cfg.train.streams = 45;
  EXPECT_EQ(error_of([&] { check_fits_training(d, cfg); }), "");
  cfg.dataset.path = dir.write("three.txt", "abc");
  cfg.train.streams = 1;
  const Dataset t = data::load(cfg.dataset);  // 2 / 0 / 1 bytes
  EXPECT_NE(error_of([&] { check_fits_training(t, cfg); }).find("three.txt: the validation split is 0 bytes"),
            std::string::npos);
}

TEST(Text, RegisteredDatasetCutsSplitsToTheByteLimits) {
  TempDir dir;
  const std::string path = dir.write("enwik8", numbered_bytes(10000));
  config::DatasetConfig cfg;
  cfg.kind = "enwik8";
  cfg.path = path;
  cfg.train_limit = 5000;
  cfg.dev_limit = 300;
  Dataset d = data::load(cfg);
  EXPECT_EQ(d.task, Task::LanguageModel);
  EXPECT_EQ(d.num_classes, 256);
  EXPECT_EQ(d.metric, "bits per character");
  EXPECT_EQ(d.train.size(), 5000);
  EXPECT_EQ(d.dev.size(), 300);
  EXPECT_EQ(d.test.size(), 500);  // no test limit: the whole last 5%
  EXPECT_EQ(as_string(d.dev.x), numbered_bytes(9300).substr(9000));
  EXPECT_EQ(d.format_metric(1.6534), "1.653 bpc");
  cfg.path = dir.file("missing");
  EXPECT_NE(error_of([&] { data::load(cfg); }).find(cfg.path), std::string::npos);
}

}  // namespace
}  // namespace qretrain::data::text
