// The language-model track end to end: a tiny enwik8-format file trained,
// quantized, tabulated in bits per character, and sampled from.
#include <cmath>
#include <map>

#include <gmock/gmock.h>

#include "report/store.h"
#include "test_util.h"

namespace qretrain {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using qretrain::testing::run_qretrain;
using qretrain::testing::TempDir;

const char* kTinyLm = R"(name: tiny_lm
dataset:
  kind: enwik8
  path: enwik8
network:
  kind: lstm_lm
  hidden: [16, 16]
train:
  optimizer: rmsprop
  streams: 4
  bptt_steps: 16
  bptt_unroll: 32
  epoch_chars: 8192
  lr: 2e-2
  lr_min: 1e-5
  max_epochs: 4
retrain:
  lr: 2e-3
  lr_min: 1e-5
  max_epochs: 2
quant:
  bits: [2, 6]
  methods: [direct, adaptive]
  adaptive:
    update: first_epochs
output:
  dir: out
)";

TEST(TextCli, TinyLanguageModelRunTableAndSample) {
  TempDir dir;
  std::string text;
  while (text.size() < 40000) text += "to be or not to be, that is the question. ";
  dir.write("enwik8", text);
  dir.write("lm.yaml", kTinyLm);
  auto r = run_qretrain("run --config lm.yaml --set runtime.progress=off", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("Test bits per character (BPC) of experiment `tiny_lm`"));
  EXPECT_THAT(r.out, HasSubstr("| 6-bit (63 points) | Direct |"));
  report::Store store(dir.file("out/results.sqlite"));
  auto runs = store.runs("tiny_lm");
  ASSERT_EQ(runs.size(), 5u);  // float + 2 bit widths x 2 methods
  // A context-free predictor of this text (its letter frequencies) scores
  // its unigram entropy, 3.43 bpc, and so did a model that learnt nothing
  // else; uniform is 8. The text is periodic, so a model that learnt its
  // context nearly memorizes it. Measured: float 0.001, 6-bit direct and
  // adaptive 0.001, 2-bit adaptive 0.07, 2-bit direct 5.5 (worse than
  // letter frequencies: the paper's point about retraining).
  std::map<char, double> freq;
  for (char c : text) freq[c] += 1.0 / static_cast<double>(text.size());
  double unigram_bpc = 0;
  for (const auto& [c, p] : freq) unigram_bpc -= p * std::log2(p);
  ASSERT_NEAR(unigram_bpc, 3.43, 0.01);
  std::map<std::string, double> bpc;
  for (const auto& run : runs) bpc[run.method + std::to_string(run.bits)] = run.test_metric;
  for (const char* cell : {"float0", "direct6", "adaptive6"}) EXPECT_LT(bpc[cell], 0.3) << cell;
  EXPECT_LT(bpc["adaptive2"], 1.0);
  EXPECT_GT(bpc["direct2"], bpc["adaptive2"] + 1.0);  // retraining recovers what direct 2-bit loses

  auto csv = run_qretrain("table --config lm.yaml --format csv", dir.path());
  EXPECT_THAT(csv.out, StartsWith("bits,method,network,test_bpc_mean,"));

  auto float_text = run_qretrain("sample --config lm.yaml -n 60 --prime \"to be \"", dir.path());
  ASSERT_EQ(float_text.exit_code, 0) << float_text.err;
  EXPECT_THAT(float_text.out, StartsWith("to be "));
  EXPECT_EQ(float_text.out.size(), 6u + 60u + 1u);  // prime, 60 characters, newline
  // The float model predicts the next character with p > 0.999: what it
  // samples after "to be " continues the period.
  const std::string period = "to be or not to be, that is the question. ";
  EXPECT_EQ(float_text.out.substr(0, 40), (period + period).substr(0, 40));
  EXPECT_THAT(float_text.err, HasSubstr("16 float: test"));
  auto quantized = run_qretrain("sample --config lm.yaml --method adaptive --bits 2 -n 60", dir.path());
  ASSERT_EQ(quantized.exit_code, 0) << quantized.err;
  EXPECT_THAT(quantized.err, HasSubstr("16 adaptive 2-bit: test"));

  auto missing = run_qretrain("sample --config lm.yaml --method conventional --bits 2", dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no stored conventional 2-bit network"));
  EXPECT_THAT(run_qretrain("sample --config lm.yaml --bits 2", dir.path()).err, HasSubstr("--bits: the float network"));
}

TEST(TextCli, MissingOrEmptyTextFileIsNamed) {
  TempDir dir;
  dir.write("lm.yaml", kTinyLm);
  auto missing = run_qretrain("run --config lm.yaml", dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("dataset.path: enwik8 does not exist"));
  EXPECT_THAT(missing.err, HasSubstr("configs/gcide_256.yaml"));
  dir.write("enwik8", "");
  auto empty = run_qretrain("run --config lm.yaml", dir.path());
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, HasSubstr("enwik8: empty file"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/results.sqlite")));
}

}  // namespace
}  // namespace qretrain
