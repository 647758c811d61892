#include "data/speech_standin.h"

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "data/sphere.h"
#include "data/timit_phones.h"
#include "test_util.h"

namespace qretrain::data::standin {
namespace {

namespace fs = std::filesystem;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;

void write_gzip(const std::string& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  gzclose(file);
}

// A GCIDE-shaped text with plenty of readable sentences, so build tests do
// not pay for parsing the 40 MB dictionary.
std::string fixture_text(int sentences) {
  const char* subjects[] = {"The old miller", "A quiet student", "The young sailor", "My patient neighbour"};
  const char* verbs[] = {"carried", "painted", "repaired", "admired"};
  const char* objects[] = {"the wooden gate", "a broken lantern", "the garden wall", "an iron kettle"};
  std::string text;
  for (int i = 0; i < sentences; ++i) {
    text += fmt::format("Entry{} \\En\"try\\, n. [L. entrare.]\n   {} {} {} near the river.\n   [1913 Webster]\n\n",
                        i, subjects[i % 4], verbs[(i / 4) % 4], objects[(i / 16) % 4]);
  }
  return text;
}

Options tiny_options(const TempDir& dir, const std::string& name) {
  Options options;
  options.out_dir = dir.file(name);
  options.text_path = dir.file("text.gz");
  if (!fs::exists(options.text_path)) write_gzip(options.text_path, fixture_text(64));
  options.train_speakers = options.dev_speakers = options.test_speakers = 1;
  options.utterances_per_speaker = 2;
  options.jobs = 1;
  return options;
}

// Every file below `root`, relative path -> contents.
std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[fs::relative(entry.path(), root).string()] =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return files;
}

// Relative paths whose contents differ or that only one tree has (names only:
// the contents are audio).
std::vector<std::string> differing_files(const fs::path& a, const fs::path& b) {
  const auto files_a = read_tree(a), files_b = read_tree(b);
  std::vector<std::string> out;
  for (const auto& [path, bytes] : files_a) {
    auto it = files_b.find(path);
    if (it == files_b.end() || it->second != bytes) out.push_back(path);
  }
  for (const auto& [path, bytes] : files_b)
    if (!files_a.count(path)) out.push_back(path);
  return out;
}

TEST(SpeechStandin, TinyBuildWritesTimitLayout) {
  TempDir dir;
  const Options options = tiny_options(dir, "corpus");
  const Summary summary = build(options);
  EXPECT_EQ(summary.speakers, 3);
  EXPECT_EQ(summary.utterances, 6);
  EXPECT_GT(summary.audio_seconds, 3.0);
  ASSERT_TRUE(fs::is_directory(dir.path() / "corpus" / "TRAIN"));
  ASSERT_TRUE(fs::is_directory(dir.path() / "corpus" / "TEST"));

  const std::regex speaker_id("[MF][A-Z]{3}[0-9]"), dialect("DR[1-8]"), utterance_id("S[XI][0-9]+");
  std::set<std::string> train_found, test_found;
  int wavs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(options.out_dir)) {
    if (entry.path().extension() != ".WAV") continue;
    ++wavs;
    const fs::path wav = entry.path();
    const std::string speaker = wav.parent_path().filename().string();
    const std::string split = wav.parent_path().parent_path().parent_path().filename().string();
    EXPECT_TRUE(std::regex_match(speaker, speaker_id)) << wav;
    EXPECT_TRUE(std::regex_match(wav.parent_path().parent_path().filename().string(), dialect)) << wav;
    EXPECT_TRUE(std::regex_match(wav.stem().string(), utterance_id)) << wav;
    (split == "TRAIN" ? train_found : test_found).insert(speaker);

    const Audio audio = read_audio(wav.string());
    EXPECT_EQ(audio.sample_rate, 16000);
    const long n = static_cast<long>(audio.samples.size());
    ASSERT_GT(n, 16000) << wav;

    fs::path phn = wav, txt = wav;
    std::ifstream phones(phn.replace_extension(".PHN"));
    ASSERT_TRUE(phones) << phn;
    long expected_start = 0, start = 0, end = 0;
    std::string label, first_label, last_label;
    while (phones >> start >> end >> label) {
      EXPECT_EQ(start, expected_start) << phn;
      EXPECT_LT(start, end) << phn;
      EXPECT_TRUE(timit::phone_id(label).has_value()) << label << " in " << phn;
      if (first_label.empty()) first_label = label;
      last_label = label;
      expected_start = end;
    }
    EXPECT_GT(expected_start, 0) << phn;
    EXPECT_LE(expected_start, n) << phn;
    EXPECT_EQ(first_label, "h#");
    EXPECT_EQ(last_label, "h#");

    std::ifstream text(txt.replace_extension(".TXT"));
    long text_start = -1, text_end = -1;
    std::string sentence;
    text >> text_start >> text_end;
    std::getline(text, sentence);
    EXPECT_EQ(text_start, 0);
    EXPECT_EQ(text_end, n);
    EXPECT_GT(sentence.size(), 10u);
  }
  EXPECT_EQ(wavs, 6);

  EXPECT_TRUE(is_standin(options.out_dir));
  const SplitLists lists = read_split_lists(options.out_dir);
  EXPECT_EQ(lists.dev_speakers, summary.dev_speakers);
  EXPECT_EQ(lists.test_speakers, summary.test_speakers);
  EXPECT_EQ(train_found, std::set<std::string>(summary.train_speakers.begin(), summary.train_speakers.end()));
  std::set<std::string> eval(lists.dev_speakers.begin(), lists.dev_speakers.end());
  eval.insert(lists.test_speakers.begin(), lists.test_speakers.end());
  EXPECT_EQ(test_found, eval);
  // Only the finished corpus is left: no .partial folder beside it.
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();
}

TEST(SpeechStandin, SameSeedIsByteIdenticalOtherSeedDiffers) {
  TempDir dir;
  Options a = tiny_options(dir, "a"), b = tiny_options(dir, "b"), c = tiny_options(dir, "c");
  a.utterances_per_speaker = b.utterances_per_speaker = c.utterances_per_speaker = 1;
  c.seed = 2;
  build(a);
  build(b);
  build(c);
  EXPECT_EQ(differing_files(a.out_dir, b.out_dir), std::vector<std::string>{});
  std::string audio_a, audio_c;
  for (const auto& [path, bytes] : read_tree(a.out_dir))
    if (fs::path(path).extension() == ".WAV") audio_a += bytes;
  for (const auto& [path, bytes] : read_tree(c.out_dir))
    if (fs::path(path).extension() == ".WAV") audio_c += bytes;
  EXPECT_NE(audio_a, audio_c);
}

TEST(SpeechStandin, ForkedWorkersWriteTheSameCorpus) {
  TempDir dir;
  Options serial = tiny_options(dir, "serial"), forked = tiny_options(dir, "forked");
  serial.train_speakers = forked.train_speakers = 2;
  serial.utterances_per_speaker = forked.utterances_per_speaker = 1;
  forked.jobs = 2;
  EXPECT_EQ(build(forked).utterances, 4);
  build(serial);
  EXPECT_EQ(differing_files(serial.out_dir, forked.out_dir), std::vector<std::string>{});
}

double measured_snr_db(const std::vector<std::int16_t>& clean, const std::vector<std::int16_t>& noisy) {
  double signal = 0, noise = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) {
    signal += static_cast<double>(clean[i]) * clean[i];
    const double d = static_cast<double>(noisy[i]) - clean[i];
    noise += d * d;
  }
  return 10 * std::log10(signal / noise);
}

double lag1_correlation(const std::vector<std::int16_t>& clean, const std::vector<std::int16_t>& noisy) {
  double same = 0, next = 0;
  for (std::size_t i = 0; i + 1 < clean.size(); ++i) {
    const double d0 = static_cast<double>(noisy[i]) - clean[i], d1 = static_cast<double>(noisy[i + 1]) - clean[i + 1];
    same += d0 * d0;
    next += d0 * d1;
  }
  return next / same;
}

TEST(SpeechStandin, AddNoiseHitsTheRequestedSnr) {
  // Two seconds of a voiced-like signal with silent gaps, like an utterance.
  std::vector<std::int16_t> clean(32000);
  for (std::size_t i = 0; i < clean.size(); ++i) {
    const double t = static_cast<double>(i) / 16000, envelope = std::sin(3.14159 * t * 3) > 0 ? 1.0 : 0.0;
    clean[i] = static_cast<std::int16_t>(envelope * (3000 * std::sin(2 * 3.14159 * 140 * t) +
                                                     1500 * std::sin(2 * 3.14159 * 1100 * t)));
  }
  for (NoiseColour colour : {NoiseColour::white, NoiseColour::pink}) {
    for (double snr : {5.0, 10.0, 20.0}) {
      std::mt19937_64 rng(7);
      const auto noisy = add_noise(clean, snr, colour, rng);
      ASSERT_EQ(noisy.size(), clean.size());
      EXPECT_NEAR(measured_snr_db(clean, noisy), snr, 0.5) << (colour == NoiseColour::pink ? "pink" : "white");
    }
  }
  // Pink noise is strongly correlated sample to sample; white noise is not.
  std::mt19937_64 rng(7);
  EXPECT_LT(std::abs(lag1_correlation(clean, add_noise(clean, 10, NoiseColour::white, rng))), 0.1);
  EXPECT_GT(lag1_correlation(clean, add_noise(clean, 10, NoiseColour::pink, rng)), 0.5);
}

TEST(SpeechStandin, ExtractsPlainSentencesFromGzipText) {
  TempDir dir;
  const std::string path = dir.file("dict.gz");
  write_gzip(path,
             "Header line that is never read as prose \\Head\"er\\, n. [L. foo.]\n"
             "   The quick brown fox jumps over the lazy dog.\n"
             "   [1913 Webster]\n"
             "\n"
             "Second \\Sec\"ond\\, v. t.\n"
             "   1. (Zool.) To help a friend move into a new house; to assist.\n"
             "      [1913 Webster]\n"
             "\n"
             "            The wind blew cold across the empty northern hills.\n"
             "                                                  --Bp. Hall.\n"
             "      [1913 Webster]\n"
             "\n"
             "   Too short here.\n"
             "   The quick brown fox jumps over the lazy dog.\n"
             "   It cost 5 dollars at the market on Monday.\n"
             "   This sentence has far too many words in it to be a good one for reading aloud.\n"
             "   See {Dichotomy} for the other meaning of this word here.\n"
             "   A caf\xc3\xa9 sells coffee and small cakes all day.\n");
  const std::vector<std::string> expected = {
      "The quick brown fox jumps over the lazy dog.",
      "To help a friend move into a new house; to assist.",
      "The wind blew cold across the empty northern hills.",
      "See Dichotomy for the other meaning of this word here.",
  };
  EXPECT_EQ(extract_sentences(path), expected);
  EXPECT_NE(error_of([&] { extract_sentences(dir.file("absent.gz")); }).find("absent.gz"), std::string::npos);
}

TEST(SpeechStandin, FlitePhonesMapOntoTimitLabels) {
  EXPECT_EQ(timit_label("pau", true), "h#");
  EXPECT_EQ(timit_label("pau", false), "pau");
  // flite's CMU phone set, all of which TIMIT has under the same name.
  for (const char* phone : {"aa", "ae", "ah", "ao", "aw", "ax", "axr", "ay", "b",  "ch", "d",  "dh", "eh", "er",
                            "ey", "f",  "g",  "hh", "ih", "iy", "jh",  "k",  "l",  "m",  "n",  "ng", "ow", "oy",
                            "p",  "r",  "s",  "sh", "t",  "th", "uh", "uw",  "v",  "w",  "y",  "z",  "zh"})
    EXPECT_EQ(timit_label(phone, false), phone);
  EXPECT_NE(error_of([] { timit_label("ssil", false); }).find("ssil"), std::string::npos);
}

TEST(SpeechStandin, ErrorsNameTheFileOrOption) {
  TempDir dir;
  EXPECT_FALSE(is_standin(dir.path().string()));
  EXPECT_NE(error_of([&] { read_split_lists(dir.path().string()); }).find(marker_file_name()), std::string::npos);
  dir.write(marker_file_name(), "seed: 1\ndev_speakers: MKAA0\n");
  EXPECT_NE(error_of([&] { read_split_lists(dir.path().string()); }).find("test_speakers"), std::string::npos);

  Options options = tiny_options(dir, "corpus");
  options.snr_max_db = 1;
  EXPECT_NE(error_of([&] { build(options); }).find("snr_max_db"), std::string::npos);
  options = tiny_options(dir, "corpus");
  options.text_path = dir.file("missing.gz");
  EXPECT_NE(error_of([&] { build(options); }).find("missing.gz"), std::string::npos);
  options = tiny_options(dir, "corpus");
  options.utterances_per_speaker = 100;  // more sentences than the fixture has
  EXPECT_NE(error_of([&] { build(options); }).find("text.gz"), std::string::npos);
  options = tiny_options(dir, "corpus");
  fs::create_directories(options.out_dir);
  EXPECT_NE(error_of([&] { build(options); }).find("already exists"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "corpus" / "TRAIN"));
}

}  // namespace
}  // namespace qretrain::data::standin
