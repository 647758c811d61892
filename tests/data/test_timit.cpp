// TIMIT loader on tiny corpora the tests write in the LDC layout: SPHERE
// audio, .PHN labels, speaker splits, frame labels, context windows, the
// feature cache, and the errors a damaged corpus must give.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "data/dataset.h"
#include "data/sphere.h"
#include "data/timit.h"
#include "data/timit_phones.h"
#include "test_util.h"

namespace qretrain::data::timit {
namespace {

namespace fs = std::filesystem;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;

constexpr int kRate = 16000;

std::string cased(const std::string& s, bool lower) {
  std::string out = s;
  if (lower)
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One utterance: `seconds` of noisy tone, phones split evenly over it.
void write_utterance(const fs::path& root, const std::string& part, const std::string& speaker,
                     const std::string& utt, double seconds, const std::vector<std::string>& phones,
                     bool lower = false, unsigned seed = 1) {
  const fs::path dir = root / cased(part, lower) / cased("DR1", lower) / cased(speaker, lower);
  fs::create_directories(dir);
  const auto n = static_cast<std::int64_t>(seconds * kRate);
  std::vector<std::int16_t> samples(n);
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 300.0);
  for (std::int64_t i = 0; i < n; ++i)
    samples[i] = static_cast<std::int16_t>(3000 * std::sin(2 * M_PI * (200.0 + 50 * seed) * i / kRate) + noise(rng));
  write_sphere((dir / cased(utt + ".WAV", lower)).string(), samples, kRate);
  std::ofstream phn(dir / cased(utt + ".PHN", lower));
  const std::int64_t step = n / static_cast<std::int64_t>(phones.size());
  for (std::size_t i = 0; i < phones.size(); ++i)
    phn << i * step << " " << (i + 1 == phones.size() ? n : static_cast<std::int64_t>(i + 1) * step) << " "
        << phones[i] << "\n";
  std::ofstream(dir / cased(utt + ".TXT", lower)) << "0 " << n << " a test sentence.\n";
}

// Two training speakers, one dev speaker and one core-test speaker of the
// standard lists, plus an SA sentence and a TEST speaker in neither list.
void write_corpus(const fs::path& root, bool lower) {
  const std::vector<std::string> phones = {"h#", "sh", "iy", "q", "ae", "h#"};
  write_utterance(root, "TRAIN", "MABC0", "SX1", 0.50, phones, lower, 1);
  write_utterance(root, "TRAIN", "MABC0", "SI2", 0.40, phones, lower, 2);
  write_utterance(root, "TRAIN", "MABC0", "SA1", 0.40, phones, lower, 3);
  write_utterance(root, "TRAIN", "FXYZ0", "SX3", 0.30, phones, lower, 4);
  write_utterance(root, "TEST", "FAKS0", "SX4", 0.30, phones, lower, 5);     // dev list
  write_utterance(root, "TEST", "MDAB0", "SX5", 0.35, phones, lower, 6);     // core test list
  write_utterance(root, "TEST", "MZZZ9", "SX6", 0.30, phones, lower, 7);     // neither: unused
}

config::DatasetConfig timit_config(const fs::path& root, const fs::path& cache) {
  config::DatasetConfig cfg;
  cfg.kind = "timit";
  cfg.path = root.string();
  cfg.cache_dir = cache.string();
  cfg.context = 5;
  return cfg;
}

std::size_t files_in(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

class TimitCorpus : public ::testing::TestWithParam<bool> {};

TEST_P(TimitCorpus, ScansSplitsBySpeakerListInEitherCase) {
  TempDir dir;
  write_corpus(dir.path(), GetParam());
  CorpusSplits s = scan_corpus(dir.path().string());
  ASSERT_EQ(s.train.size(), 3u);  // SA1 excluded
  EXPECT_EQ(s.train[0].speaker, "FXYZ0");
  EXPECT_EQ(s.train[1].id, "SI2");
  ASSERT_EQ(s.dev.size(), 1u);
  EXPECT_EQ(s.dev[0].speaker, "FAKS0");
  ASSERT_EQ(s.test.size(), 1u);
  EXPECT_EQ(s.test[0].speaker, "MDAB0");
  EXPECT_FALSE(s.standin);
}

TEST_P(TimitCorpus, LoadsFramesLabelsAndContextThenReusesTheCache) {
  TempDir dir;
  write_corpus(dir.path() / "timit", GetParam());
  auto cfg = timit_config(dir.path() / "timit", dir.path() / "cache");
  Dataset d = data::load(cfg);
  features::Options opts;
  EXPECT_EQ(d.num_classes, 61);
  ASSERT_EQ(d.input_shape, (std::vector<std::int64_t>{11 * 123}));
  const std::int64_t expected_train = features::num_frames(8000, opts) + features::num_frames(6400, opts) +
                                      features::num_frames(4800, opts);
  EXPECT_EQ(d.train.size(), expected_train);
  EXPECT_EQ(d.train.utterances, 3);
  EXPECT_EQ(d.train.speakers, 2);
  EXPECT_EQ(d.dev.size(), features::num_frames(4800, opts));
  EXPECT_EQ(d.test.size(), features::num_frames(5600, opts));
  // Normalised with training statistics.
  auto mean = d.train.x.mean(0);
  EXPECT_LT(mean.abs().max().item<double>(), 1e-3);
  // Every label is a phone of the .PHN files.
  for (int phone : {*phone_id("h#"), *phone_id("sh"), *phone_id("iy"), *phone_id("q"), *phone_id("ae")})
    EXPECT_GT(d.train.y.eq(phone).sum().item<std::int64_t>(), 0) << phones61()[phone];
  EXPECT_EQ(d.train.y.numel(), d.train.y.eq(*phone_id("h#")).sum().item<std::int64_t>() +
                                   d.train.y.eq(*phone_id("sh")).sum().item<std::int64_t>() +
                                   d.train.y.eq(*phone_id("iy")).sum().item<std::int64_t>() +
                                   d.train.y.eq(*phone_id("q")).sum().item<std::int64_t>() +
                                   d.train.y.eq(*phone_id("ae")).sum().item<std::int64_t>());
  // 'q' is not scored; the rest fold onto the 39 classes.
  EXPECT_EQ(d.score_map[*phone_id("q")].item<std::int64_t>(), -1);
  EXPECT_EQ(d.score_map[*phone_id("sh")].item<std::int64_t>(), fold_to_39(*phone_id("sh")));
  // An example is its 11-frame window: example 0 repeats frame 0 six times.
  auto first = d.train.inputs(torch::tensor({std::int64_t{0}})).view({11, 123});
  for (int k = 0; k < 6; ++k) EXPECT_TRUE(first[k].equal(d.train.x[0]));
  EXPECT_TRUE(first[6].equal(d.train.x[1]));
  EXPECT_TRUE(d.train.inputs(0, 1).equal(d.train.inputs(torch::tensor({std::int64_t{0}}))));
  ASSERT_EQ(files_in(dir.path() / "cache"), 1u);

  Dataset again = data::load(cfg);  // from the cache
  EXPECT_TRUE(again.train.x.equal(d.train.x));
  EXPECT_TRUE(again.test.y.equal(d.test.y));
  EXPECT_EQ(again.train.speakers, 2);
  EXPECT_EQ(files_in(dir.path() / "cache"), 1u);
}

INSTANTIATE_TEST_SUITE_P(UpperAndLowerCase, TimitCorpus, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "lower" : "upper"; });

TEST(Timit, FrameLimitsPickExamplesNotRows) {
  TempDir dir;
  write_corpus(dir.path() / "timit", false);
  auto cfg = timit_config(dir.path() / "timit", dir.path() / "cache");
  Dataset full = data::load(cfg);
  cfg.train_limit = 20;
  cfg.test_limit = 7;
  Dataset limited = data::load(cfg);
  EXPECT_EQ(limited.train.size(), 20);
  EXPECT_EQ(limited.test.size(), 7);
  EXPECT_EQ(limited.train.x.size(0), full.train.x.size(0));  // windows still reach every frame
}

TEST(Timit, ContextWindowsAreClampedAtUtteranceEdges) {
  // Utterances of 3 and 2 frames, radius 2: hand-written row ids.
  auto index = context_index({3, 2}, 2);
  auto expected = torch::tensor({0, 0, 0, 1, 2,  //
                                 0, 0, 1, 2, 2,  //
                                 0, 1, 2, 2, 2,  //
                                 3, 3, 3, 4, 4,  //
                                 3, 3, 4, 4, 4},
                                torch::kInt64)
                      .view({5, 5});
  EXPECT_TRUE(index.equal(expected)) << index;
}

TEST(Timit, FrameLabelIsThePhoneUnderTheFrameCentre) {
  features::Options opts;  // centres at 200, 360, 520, 680, ...
  std::vector<Segment> segments = {{0, 300, 5}, {300, 600, 7}, {600, 1000, 9}};
  auto labels = frame_labels(segments, 5, opts);
  EXPECT_TRUE(labels.equal(torch::tensor({5, 7, 7, 9, 9}, torch::kInt64))) << labels;
}

TEST(Timit, BadPhnFilesNameTheFileAndLine) {
  TempDir dir;
  auto unknown = dir.write("A.PHN", "0 100 h#\n100 200 zz\n");
  EXPECT_EQ(error_of([&] { read_phn(unknown, 400); }), unknown + ":2: unknown phone label 'zz'");
  auto past = dir.write("B.PHN", "0 100 h#\n100 500 sh\n");
  EXPECT_NE(error_of([&] { read_phn(past, 400); }).find(past + ":2: segment ends at sample 500, past the end"),
            std::string::npos);
  auto garbled = dir.write("C.PHN", "0 100\n");
  EXPECT_NE(error_of([&] { read_phn(garbled, 400); }).find(garbled + ":1: expected"), std::string::npos);
  auto ok = read_phn(dir.write("D.PHN", "0 100 H#\n100 100 q\n100 400 sh\n"), 400);
  ASSERT_EQ(ok.size(), 2u);  // zero-length segment dropped, labels case-insensitive
  EXPECT_EQ(ok[1].phone, *phone_id("sh"));
}

// A damaged corpus fails with the file's name and leaves no cache behind.
void expect_load_error_without_cache(const fs::path& root, const fs::path& cache, const std::string& file,
                                     const std::string& words) {
  const std::string message = error_of([&] { data::load(timit_config(root, cache)); });
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find(words), std::string::npos) << message;
  EXPECT_EQ(files_in(cache), 0u);
}

TEST(Timit, TruncatedSphereIsReportedAndNothingIsCached) {
  TempDir dir;
  write_corpus(dir.path() / "timit", false);
  const fs::path wav = dir.path() / "timit/TRAIN/DR1/MABC0/SI2.WAV";
  fs::resize_file(wav, fs::file_size(wav) - 1000);
  expect_load_error_without_cache(dir.path() / "timit", dir.path() / "cache", wav.string(), "truncated");
}

TEST(Timit, PhnPastTheAudioIsReportedAndNothingIsCached) {
  TempDir dir;
  write_corpus(dir.path() / "timit", false);
  const fs::path phn = dir.path() / "timit/TEST/DR1/MDAB0/SX5.PHN";
  std::ofstream(phn, std::ios::app) << "5600 9000 h#\n";
  expect_load_error_without_cache(dir.path() / "timit", dir.path() / "cache", phn.string(), "past the end");
}

TEST(Timit, UnknownPhoneIsReportedAndNothingIsCached) {
  TempDir dir;
  write_corpus(dir.path() / "timit", false);
  const fs::path phn = dir.path() / "timit/TRAIN/DR1/FXYZ0/SX3.PHN";
  std::ofstream(phn) << "0 4800 xx\n";
  expect_load_error_without_cache(dir.path() / "timit", dir.path() / "cache", phn.string(), "unknown phone label 'xx'");
}

// A damaged cache is a one-line error naming it (c10::Error's what() carries
// a backtrace of many lines); deleting it recomputes the features.
TEST(Timit, CorruptFeatureCacheIsOneLineNamingTheFile) {
  TempDir dir;
  write_corpus(dir.path() / "timit", false);
  auto cfg = timit_config(dir.path() / "timit", dir.path() / "cache");
  data::load(cfg);
  ASSERT_EQ(files_in(dir.path() / "cache"), 1u);
  const fs::path cache = fs::directory_iterator(dir.path() / "cache")->path();
  fs::resize_file(cache, 2000);
  std::string message = error_of([&] { data::load(cfg); });
  EXPECT_NE(message.find(cache.string() + ": unreadable feature cache"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // A readable archive of the wrong tensors.
  torch::save(std::vector<torch::Tensor>(12, torch::zeros({2})), cache.string());
  message = error_of([&] { data::load(cfg); });
  EXPECT_NE(message.find(cache.string() + ": feature cache has the wrong layout"), std::string::npos) << message;
  fs::remove(cache);
  EXPECT_GT(data::load(cfg).train.size(), 0);
}

TEST(Timit, NotATimitFolderIsReported) {
  TempDir dir;
  fs::create_directories(dir.path() / "TRAIN");
  EXPECT_NE(error_of([&] { scan_corpus(dir.path().string()); }).find("not a TIMIT corpus"), std::string::npos);
  write_corpus(dir.path() / "nodev", false);
  fs::remove_all(dir.path() / "nodev/TEST/DR1/FAKS0");
  EXPECT_NE(error_of([&] { scan_corpus((dir.path() / "nodev").string()); }).find("development speakers"),
            std::string::npos);
}

}  // namespace
}  // namespace qretrain::data::timit
