#include "config/config.h"

#include <gmock/gmock.h>
#include <torch/cuda.h>

#include "test_util.h"
#include "util/error.h"

namespace qretrain::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
using qretrain::testing::TempDir;

// Loads YAML text and returns the UserError message ("" if it loaded).
std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  TempDir dir;
  try {
    load(dir.write("c.yaml", yaml), overrides);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsResolveEveryKey) {
  TempDir dir;
  ExperimentConfig c = load(dir.write("c.yaml", "name: x\n"));
  EXPECT_EQ(c.name, "x");
  EXPECT_EQ(c.quant.bits, (std::vector<int>{2, 3, 4}));
  EXPECT_DOUBLE_EQ(c.train.retrain_recipe.lr, 5e-4);
  EXPECT_EQ(c.train.patience, 4);
  EXPECT_TRUE(c.resolved["quant"]["adaptive"]["update"].IsDefined());
}

TEST(Config, FileValuesAndOverridesWin) {
  TempDir dir;
  auto path = dir.write("c.yaml", "train:\n  lr: 0.1\n  batch_size: 32\nquant:\n  bits: [2, 6]\n");
  ExperimentConfig c = load(path, {"train.lr=1e-3", "quant.adaptive.update=first_epochs"});
  EXPECT_DOUBLE_EQ(c.train.float_recipe.lr, 1e-3);  // --set beats the file
  EXPECT_EQ(c.train.batch_size, 32);                // the file beats the default
  EXPECT_EQ(c.quant.bits, (std::vector<int>{2, 6}));
  EXPECT_EQ(c.quant.adaptive_update, "first_epochs");
}

TEST(Config, ErrorsNameTheKeyPath) {
  EXPECT_THAT(error_of("train:\n  lrr: 1\n"), HasSubstr("train.lrr: unknown key (did you mean 'train.lr'?)"));
  EXPECT_THAT(error_of("bogus: 1\n"), HasSubstr("bogus: unknown key"));
  EXPECT_THAT(error_of("train:\n  lr: fast\n"), HasSubstr("train.lr: expected a number, got 'fast'"));
  EXPECT_THAT(error_of("train:\n  batch_size: 6.5\n"), HasSubstr("train.batch_size: expected an integer"));
  EXPECT_THAT(error_of("quant:\n  bits: [2, 3, 9]\n"), HasSubstr("quant.bits[2]: 9 is outside 2..8"));
  EXPECT_THAT(error_of("quant:\n  bits: [1]\n"), HasSubstr("quant.bits[0]: 1 is outside 2..8"));
  EXPECT_THAT(error_of("quant:\n  bits: 3\n"), HasSubstr("quant.bits: expected a list of integers"));
  EXPECT_THAT(error_of("quant:\n  bits: [3, 3]\n"), HasSubstr("quant.bits[1]: 3 is listed twice"));
  EXPECT_THAT(error_of("train:\n  lr: 0\n"), HasSubstr("train.lr: 0 must be > 0"));
  EXPECT_THAT(error_of("retrain:\n  lr: -1e-3\n"), HasSubstr("retrain.lr: -1e-3 must be > 0"));
  EXPECT_THAT(error_of("quant:\n  methods: [direct, magic]\n"),
              HasSubstr("quant.methods[1]: 'magic' is not one of: direct, direct@channel, conventional"));
  EXPECT_THAT(error_of("network:\n  kind: resnet\n"), HasSubstr("network.kind: 'resnet' is not one of"));
  EXPECT_THAT(error_of("train: 5\n"), HasSubstr("train: expected a section"));
  EXPECT_THAT(error_of("train:\n  lr: [1\n"), HasSubstr("YAML syntax error"));
  EXPECT_THAT(error_of("", {"train.nope=1"}), HasSubstr("--set train.nope: unknown key"));
  EXPECT_THAT(error_of("", {"train.lr"}), HasSubstr("expected KEY=VALUE"));
  EXPECT_THAT(error_of("", {"quant.bits=[2,12]"}), HasSubstr("quant.bits[1]: 12 is outside 2..8"));
  EXPECT_THAT(error_of("quant:\n  methods: [gradual]\n  bits: [2, 7]\n  gradual:\n    start_bits: 6\n"),
              HasSubstr("quant.gradual.start_bits"));
  EXPECT_THAT(error_of("train:\n  bptt_steps: 128\n  bptt_unroll: 64\n"),
              HasSubstr("train.bptt_unroll: 64 is below train.bptt_steps (128)"));
  EXPECT_THAT(error_of("train:\n  streams: 0\n"), HasSubstr("train.streams: 0 is outside"));
  EXPECT_EQ(error_of("train:\n  max_epochs: 1\n  hold_epochs: 8\n"), "");  // a smoke run's short budget
  EXPECT_THAT(error_of("train:\n  hold_epochs: -1\n"), HasSubstr("train.hold_epochs: -1 is outside"));
  // The config layer checks values and touches no file: a corpus or paper
  // file that is not here is the business of the commands that read them
  // (app::require_dataset, app::require_paper_file; tests/data/test_dataset_kinds.cpp).
  EXPECT_EQ(error_of("dataset:\n  kind: enwik8\n  path: /no/enwik8\nreport:\n  paper: /no/paper.yaml\n"), "");
}

// yaml-cpp keeps duplicate keys and finds only one, and LoadFile reads only
// the first document: each of these silently dropped a value the user wrote.
TEST(Config, YamlStructureIsCheckedNamingTheKeyAndLine) {
  EXPECT_THAT(error_of("train:\n  lr: 0.1\n  batch_size: 3\n  lr: 0.5\n"),
              HasSubstr("train.lr: line 4: given twice (first at line 2)"));
  EXPECT_THAT(error_of("train:\n  lr: 0.1\nquant:\n  bits: [2]\ntrain:\n  batch_size: 3\n"),
              HasSubstr("train: line 5: given twice (first at line 1)"));
  EXPECT_THAT(error_of("train.lr: 0.5\n"), HasSubstr("train.lr: line 1: keys must be plain names"));
  EXPECT_THAT(error_of("quant:\n  adaptive.update: epoch\n"),
              HasSubstr("quant.adaptive.update: line 2: keys must be plain names"));
  EXPECT_THAT(error_of("name: a\n---\ntrain:\n  lr: 0.5\n"), HasSubstr("2 YAML documents"));
  EXPECT_THAT(error_of("? [a, b]\n: 1\n"), HasSubstr("line 1: keys must be plain names, got [a, b]"));
  EXPECT_THAT(error_of("train:\n  ? {x: 1}\n  : 2\n"),
              HasSubstr("train: line 2: keys must be plain names, got {x: 1}"));
  // A leading '---' is one document, and --set still takes dotted paths.
  TempDir dir;
  ExperimentConfig c = load(dir.write("c.yaml", "---\ntrain:\n  lr: 0.1\n"), {"quant.adaptive.update=first_epochs"});
  EXPECT_DOUBLE_EQ(c.train.float_recipe.lr, 0.1);
  EXPECT_EQ(c.quant.adaptive_update, "first_epochs");
}

TEST(Config, MessagesAreOneLine) {
  const std::string list = error_of("train:\n  lr:\n    - 1\n    - 2\n");
  EXPECT_THAT(list, HasSubstr("train.lr: expected a number, got [1, 2]"));
  EXPECT_EQ(list.find('\n'), std::string::npos) << list;
  const std::string section = error_of("train:\n  - 1\n  - {a: [2, 3]}\n");
  EXPECT_THAT(section, HasSubstr("train: expected a section (a map of keys), got [1, {a: [2, 3]}]"));
  const std::string block = error_of("train:\n  lr: |\n    0.1\n    0.2\n");
  EXPECT_THAT(block, HasSubstr("train.lr: expected a number, got '0.1\\n0.2\\n'"));
  EXPECT_EQ(block.find('\n'), std::string::npos) << block;
}

TEST(Config, NameMustBeAPlainWord) {
  // It is part of file names (output.dir/logs/NAME.log): no path, no NUL.
  EXPECT_THAT(error_of("name: ../escaped\n"), HasSubstr("name: '../escaped' is not a plain name"));
  EXPECT_THAT(error_of("name: sub/dir\n"), HasSubstr("name: 'sub/dir' is not a plain name"));
  EXPECT_THAT(error_of("name: .hidden\n"), HasSubstr("is not a plain name"));
  const std::string nul = error_of("name: \"a\\0b\"\n");
  EXPECT_THAT(nul, HasSubstr("name: 'a\\x00b' is not a plain name"));
  EXPECT_EQ(nul.find('\0'), std::string::npos);
  EXPECT_THAT(error_of("name: \"\"\n"), HasSubstr("name: must not be empty"));
  EXPECT_THAT(error_of("", {"name=a/b"}), HasSubstr("name: 'a/b' is not a plain name"));
  for (const char* ok : {"fmnist_L", "table1_standin", "svhn-C.2+bn"})
    EXPECT_EQ(error_of(std::string("name: ") + ok), "") << ok;
}

TEST(Config, CudaWithoutCudaFailsAtLoad) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THAT(error_of("runtime:\n  device: cuda\n"), HasSubstr("runtime.device: cuda requested"));
  EXPECT_EQ(error_of("runtime:\n  device: auto\n"), "");
}

TEST(Config, GridNetworksGiveWidthsAndBatchNorm) {
  TempDir dir;
  ExperimentConfig c = load(dir.write("c.yaml", "grid:\n  networks: [lenet5, ffdnn:64x32, ffdnn:128x128x128+bn]\n"));
  auto nets = expand_networks(c);
  ASSERT_EQ(nets.size(), 3u);
  EXPECT_EQ(nets[0].network.kind, "lenet5");
  EXPECT_EQ(nets[1].network.kind, "ffdnn");
  EXPECT_EQ(nets[1].network.hidden, (std::vector<int>{64, 32}));
  EXPECT_FALSE(nets[1].network.batch_norm);
  EXPECT_EQ(nets[2].network.hidden, (std::vector<int>{128, 128, 128}));
  EXPECT_TRUE(nets[2].network.batch_norm);
  EXPECT_THAT(error_of("grid:\n  networks: [ffdnn:64x]\n"),
              HasSubstr("grid.networks[0]: 'ffdnn:64x': hidden widths must be positive integers"));
  EXPECT_THAT(error_of("grid:\n  networks: [lenet5, resnet+bn]\n"),
              HasSubstr("grid.networks[1]: 'resnet+bn': network kind 'resnet' is not one of"));
  EXPECT_THAT(error_of("grid:\n  networks: [ffdnn:0x5]\n"), HasSubstr("grid.networks[0]"));
  // network.hidden defaults to [512, 512]: "ffdnn" and "ffdnn:512x512" are one network.
  EXPECT_THAT(error_of("grid:\n  networks: [ffdnn, lenet5, ffdnn:512x512]\n"),
              HasSubstr("grid.networks[2]: 'ffdnn:512x512' is the same network as grid.networks[0] ('ffdnn')"));
  EXPECT_THAT(error_of("network:\n  label: X\ngrid:\n  networks: [lenet5, cnn_c]\n"),
              HasSubstr("network.label: 'X' would name every network of grid.networks"));
  EXPECT_THAT(error_of("dataset:\n  standin:\n    snr_min_db: 30\n    snr_max_db: 20\n"),
              HasSubstr("dataset.standin.snr_max_db: 20 is below dataset.standin.snr_min_db (30)"));
}

TEST(Config, DumpLoadsBackToTheSameConfig) {
  TempDir dir;
  ExperimentConfig c = load(dir.write("a.yaml", "name: round\nquant:\n  bits: [2, 5]\n"), {"train.lr=0.05"});
  ExperimentConfig back = load(dir.write("b.yaml", dump(c, true)));
  EXPECT_EQ(dump(back, false), dump(c, false));
  EXPECT_EQ(canonical(back.resolved, {"train", "quant"}), canonical(c.resolved, {"train", "quant"}));
}

TEST(Config, CanonicalTextSeesEveryChange) {
  TempDir dir;
  auto a = load(dir.write("a.yaml", "name: a\n"));
  auto b = load(dir.write("b.yaml", "name: a\ntrain:\n  momentum: 0.8\n"));
  EXPECT_NE(canonical(a.resolved, {"train"}), canonical(b.resolved, {"train"}));
  EXPECT_EQ(canonical(a.resolved, {"network"}), canonical(b.resolved, {"network"}));
}

TEST(Config, IdentityIsTypedValuesNotText) {
  // One value spelled two ways is one identity: numbers as numbers, booleans
  // as booleans, lists element by element.
  TempDir dir;
  auto a = load(dir.write("a.yaml", "name: a\ntrain:\n  lr: 2e-2\nnetwork:\n  hidden: [64, 64]\n  batch_norm: yes\n"));
  auto b = load(dir.write("b.yaml", "name: a\ntrain:\n  lr: 0.02\nnetwork:\n  hidden: [ 64,64 ]\n  batch_norm: true\n"));
  EXPECT_EQ(canonical(a.resolved, {"train", "network"}), canonical(b.resolved, {"train", "network"}));
  EXPECT_THAT(canonical(a.resolved, {"train"}), HasSubstr("train.lr=0.02;"));
  EXPECT_THAT(canonical(a.resolved, {"network"}), HasSubstr("network.hidden=[64,64];network.batch_norm=true;"));
  // Writing a default out changes nothing either.
  auto implicit = load(dir.write("c.yaml", "name: a\n"));
  auto spelled = load(dir.write("d.yaml", "name: a\ntrain:\n  momentum: 0.9\n  streams: 64\n"));
  EXPECT_EQ(canonical(implicit.resolved, {"train"}), canonical(spelled.resolved, {"train"}));
}

TEST(Config, IdentityLeavesOutPathsCachesRuntimeAndOutput) {
  TempDir dir;
  fs::create_directories(dir.path() / "elsewhere");
  const std::vector<std::string> sections = {"dataset", "network", "train", "retrain", "quant.adaptive",
                                             "quant.conventional", "quant.gradual", "runtime", "output", "report"};
  auto a = load(dir.write("a.yaml", "name: a\n"));
  auto b = load(dir.write("b.yaml", "name: a\n"),
                {"dataset.path=" + dir.file("elsewhere"), "dataset.cache_dir=/tmp/other-cache", "runtime.threads=2",
                 "runtime.blas_threads=1", "runtime.checkpoint_every_s=5", "output.dir=other", "network.label=Net"});
  EXPECT_EQ(canonical(a.resolved, sections), canonical(b.resolved, sections));
  // Every other key is part of it.
  auto c = load(dir.write("c.yaml", "name: a\n"), {"dataset.dev_size=100"});
  EXPECT_NE(canonical(a.resolved, {"dataset"}), canonical(c.resolved, {"dataset"}));
}

TEST(Config, ALaterKeyAtItsLegacyValueKeepsTheOldIdentity) {
  // quant.adaptive.refit came after identity scheme 2 was fixed: before it,
  // the program refit Δ before each evaluation. That value, not the default,
  // is left out, so the default (which changes results) changes the identity.
  TempDir dir;
  auto older = load(dir.write("a.yaml", "name: a\n"), {"quant.adaptive.refit=before_eval"});
  auto current = load(dir.write("b.yaml", "name: a\n"));
  EXPECT_THAT(canonical(older.resolved, {"quant.adaptive"}), Not(HasSubstr("refit")));
  EXPECT_THAT(canonical(current.resolved, {"quant.adaptive"}), HasSubstr("quant.adaptive.refit=\"after_eval\";"));
}

TEST(Config, IdentityOfTheDefaultConfigIsPinned) {
  // A change that moves identities (a new key without its legacy value, a
  // changed format) orphans every stored result and cached baseline: it must
  // fail here and be made on purpose (a new kIdentityScheme).
  TempDir dir;
  auto c = load(dir.write("a.yaml", "name: a\n"));
  EXPECT_EQ(canonical(c.resolved, {"dataset", "network", "train", "retrain", "quant.adaptive", "quant.conventional",
                                   "quant.gradual"}),
            "dataset:dataset.kind=\"fashion-mnist\";dataset.dev_size=5000;dataset.train_limit=0;dataset.dev_limit=0;"
            "dataset.test_limit=0;dataset.svhn.dev_per_class_train=400;dataset.svhn.dev_per_class_extra=200;"
            "dataset.svhn.use_extra=true;dataset.context=5;dataset.standin.seed=1;dataset.standin.utterances_per_speaker=42;"
            "dataset.standin.snr_min_db=5;dataset.standin.snr_max_db=20;"
            "network:network.kind=\"lenet5\";network.hidden=[512,512];network.batch_norm=false;"
            "train:train.optimizer=\"sgd_nesterov\";train.momentum=0.9;train.weight_decay=0;train.batch_size=64;"
            "train.lr=0.02;train.lr_min=0.0003125;train.max_epochs=30;train.lr_decay=0.5;train.patience=4;"
            "train.eval_every=0;train.streams=64;train.bptt_steps=128;train.bptt_unroll=256;train.epoch_chars=0;"
            "retrain:retrain.lr=0.0005;retrain.lr_min=0.0003125;retrain.max_epochs=10;"
            "quant.adaptive:quant.adaptive.update=\"epoch\";quant.adaptive.first_epochs=1;"
            "quant.adaptive.refit=\"after_eval\";"
            "quant.conventional:quant.conventional.exhaustive_search=false;quant.conventional.search_points=9;"
            "quant.gradual:quant.gradual.start_bits=6;");
}

}  // namespace
}  // namespace qretrain::config
