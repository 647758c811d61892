// Resume equals uninterrupted, bit for bit (weights and buffers, Δ, curve),
// for every kind of training state the runner keeps: Adam's moments, plain
// SGD's schedule, batch-norm running statistics, a CNN, speech context
// windows, and, through the cell runner, the float baseline cell and a
// retraining cell, whose saved state is removed once the cell is recorded.
//
// A resumed fit that silently started afresh would also equal the
// uninterrupted one (a fit is deterministic), so every test also checks that
// it did resume: result.resumed at the trainer level, the resume file and
// the "resuming from" log line at the cell level.
#include <atomic>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <gmock/gmock.h>

#include "data/timit.h"
#include "data/timit_phones.h"
#include "methods/cells.h"
#include "methods/methods.h"
#include "methods/session.h"
#include "report/store.h"
#include "methods/grid_util.h"
#include "test_util.h"
#include "train/resume_util.h"
#include "train/trainer.h"

namespace qretrain::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::cell_named;
using qretrain::testing::clusters;
using qretrain::testing::expect_same_fit;
using qretrain::testing::fit_quantized;
using qretrain::testing::FitOutcome;
using qretrain::testing::NetworkFactory;
using qretrain::testing::options;
using qretrain::testing::TempDir;
using qretrain::testing::ScopedEnv;

// Uninterrupted, then crashed at update `crash_at` (the state saved after
// every update, as a kill -9 leaves it) and resumed: the two must agree.
// Returns the uninterrupted outcome for further checks.
FitOutcome expect_crash_resume_equals_uninterrupted(const data::Dataset& data, const FitOptions& opt,
                                                    std::int64_t crash_at, const NetworkFactory& make) {
  const FitOutcome whole = fit_quantized(data, opt, "", make);
  TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  auto crashing = opt;
  crashing.checkpoint_every_s = 0;  // save after every update
  crashing.nan_at_update = crash_at;  // "crash" there
  EXPECT_THROW(fit_quantized(data, crashing, state, make), Diverged);
  EXPECT_TRUE(fs::exists(state));
  const FitOutcome resumed = fit_quantized(data, opt, state, make);
  EXPECT_TRUE(resumed.result.resumed) << "the state was not resumed (a fresh fit equals an uninterrupted one)";
  expect_same_fit(whole, resumed);
  return whole;
}

models::Network ffdnn(const data::Dataset& d, std::vector<int> hidden, bool batch_norm) {
  config::NetworkConfig net;
  net.kind = "ffdnn";
  net.hidden = std::move(hidden);
  net.batch_norm = batch_norm;
  return models::make_network(net, {d.input_shape, d.num_classes});
}

// 320 examples, batch 32: 10 updates per epoch; a crash at update 15 lands
// in the middle of the second epoch.
constexpr std::int64_t kMidSecondEpoch = 15;

TEST(ResumeKinds, AdamMomentsSurviveACrash) {
  auto data = clusters(320, 100);
  auto opt = options(0.01, 3);
  opt.train.optimizer = "adam";
  // Resuming without Adam's moments (exp_avg, exp_avg_sq, step) restarts its
  // bias correction: every update after the crash differs.
  expect_crash_resume_equals_uninterrupted(data, opt, kMidSecondEpoch, qretrain::testing::small_ffdnn);
}

TEST(ResumeKinds, PlainSgdLearningRateScheduleSurvivesACrash) {
  auto data = clusters(320, 100);
  auto opt = options(0.5, 6);
  opt.train.optimizer = "sgd";
  opt.train.momentum = 0;  // plain SGD: no optimizer state but the learning rate
  opt.train.patience = 1;  // the rate halves at every non-improving evaluation
  const std::int64_t crash_at = 55;  // middle of the sixth epoch
  const FitOutcome whole =
      expect_crash_resume_equals_uninterrupted(data, opt, crash_at, qretrain::testing::small_ffdnn);
  // Strict only if the rate had decayed when the fit crashed (dev error
  // reaches its floor by epoch 4 here): the rate of epoch 6 is the one the
  // last evaluation records. A resume that went back to recipe.lr would train
  // the rest of epoch 6 at a multiple of it.
  ASSERT_EQ(whole.result.curve.size(), 7u);
  EXPECT_LT(whole.result.curve[6].lr, opt.recipe.lr) << "no decay before the crash: the schedule is not exercised";
}

TEST(ResumeKinds, BatchNormRunningStatisticsSurviveACrash) {
  auto data = clusters(320, 100);
  auto opt = options(0.05, 3);
  auto make = [](const data::Dataset& d) { return ffdnn(d, {32, 32}, true); };
  const FitOutcome whole = expect_crash_resume_equals_uninterrupted(data, opt, kMidSecondEpoch, make);
  // The state compared above holds the buffers: running mean, running var
  // and batch count of both BatchNorm1d layers, after the parameters.
  const auto reference = make(data);
  EXPECT_EQ(reference->buffers().size(), 6u);
  ASSERT_EQ(whole.state.size(), reference->parameters().size() + reference->buffers().size());
  // The statistics moved away from their initial values (0 mean, 1 var), so
  // losing them on resume would show.
  const auto fresh = models::copy_state(*reference);
  bool moved = false;
  for (std::size_t i = reference->parameters().size(); i < fresh.size(); ++i)
    moved = moved || !torch::equal(fresh[i], whole.state[i]);
  EXPECT_TRUE(moved);
}

// Four classes of 16x16 single-channel images: a fixed random pattern per
// class plus noise.
data::Dataset image_clusters(int n_train, int n_eval) {
  torch::manual_seed(17);
  auto patterns = torch::randn({4, 1, 16, 16});
  auto make = [&](int n) {
    auto y = torch::randint(0, 4, {n}, torch::kInt64);
    auto x = patterns.index_select(0, y) + 0.8 * torch::randn({n, 1, 16, 16});
    return data::Split::of(x.contiguous(), y);
  };
  data::Dataset d;
  d.name = "image clusters";
  d.input_shape = {1, 16, 16};
  d.num_classes = 4;
  d.train = make(n_train);
  d.dev = make(n_eval);
  d.test = make(n_eval);
  return d;
}

TEST(ResumeKinds, LeNet5SurvivesACrash) {
  auto data = image_clusters(320, 100);
  auto opt = options(0.02, 3);
  auto make = [](const data::Dataset& d) {
    config::NetworkConfig net;
    net.kind = "lenet5";
    return models::make_network(net, {d.input_shape, d.num_classes});
  };
  const FitOutcome whole = expect_crash_resume_equals_uninterrupted(data, opt, kMidSecondEpoch, make);
  EXPECT_EQ(whole.deltas.size(), 5u);  // conv1, conv2, fc1..fc3 quantized
}

// Speech-shaped data the way the TIMIT / stand-in loader lays it out: frames
// held once ([F, D]), each example the window of 2r+1 frames around its
// frame (timit::context_index, clamped at utterance edges), 61 phone classes
// scored as 39 through score_map. Phones run in segments of a few frames.
data::Dataset speech_frames() {
  torch::manual_seed(23);
  const std::int64_t dims = 6;
  const int radius = 2;
  const std::vector<int> phones = {1, 9, 30, 45};  // four of the 61
  auto centres = torch::randn({61, dims}) * 2.0;
  auto split = [&](int utterances) {
    std::vector<std::int64_t> lengths;
    std::vector<torch::Tensor> frames;
    std::vector<std::int64_t> labels;
    for (int u = 0; u < utterances; ++u) {
      const std::int64_t len = 24 + (u * 7) % 17;
      lengths.push_back(len);
      for (std::int64_t t = 0; t < len; ++t) {
        const int phone = phones[static_cast<std::size_t>((u + t / 6) % 4)];
        labels.push_back(phone);
        frames.push_back(centres[phone] + torch::randn({dims}));
      }
    }
    data::Split s;
    s.x = torch::stack(frames).contiguous();
    s.y = torch::tensor(labels, torch::kInt64);
    s.context = data::timit::context_index(lengths, radius);
    s.utterances = utterances;
    return s;
  };
  data::Dataset d;
  d.name = "speech frames";
  d.input_shape = {(2 * radius + 1) * dims};
  d.num_classes = 61;
  d.score_map = torch::empty({61}, torch::kInt64);
  for (int p = 0; p < 61; ++p) d.score_map[p] = data::timit::fold_to_39(p);
  d.metric = "frame error (39 classes)";
  d.train = split(10);  // ~310 frames
  d.dev = split(3);
  d.test = split(3);
  return d;
}

TEST(ResumeKinds, FfdnnOnSpeechContextWindowsSurvivesACrash) {
  auto data = speech_frames();
  ASSERT_GE(data.train.size(), 300);
  ASSERT_EQ(data.train.inputs(0, 2).size(1), 30);  // 5 frames of 6 dims per example
  auto opt = options(0.05, 3);
  auto make = [](const data::Dataset& d) { return ffdnn(d, {32}, false); };
  expect_crash_resume_equals_uninterrupted(data, opt, kMidSecondEpoch, make);
}

// ---- through the cell runner ----

// g_stop_requested for the scope (as SIGINT sets it), cleared at exit.
class ScopedStop {
 public:
  ScopedStop() { g_stop_requested = true; }
  ~ScopedStop() { g_stop_requested = false; }
};

config::ExperimentConfig cell_config(const TempDir& dir, const std::string& methods) {
  return config::load(dir.write("cells.yaml", fmt::format(R"(name: resume-cells
network:
  kind: ffdnn
  hidden: [16]
train:
  lr: 0.05
  max_epochs: 3
  batch_size: 32
retrain:
  lr: 0.02
  max_epochs: 2
quant:
  bits: [2]
  methods: [{}]
runtime:
  device: cpu
  progress: "off"
output:
  dir: {}
)",
                                                                    methods, dir.file("out"))));
}

// The resume file of a cell, written out by hand: output.dir/resume/KEY.pt.
std::string resume_path_of(const TempDir& dir, const std::string& key) {
  return (dir.path() / "out" / "resume" / (key + ".pt")).string();
}

void expect_same_record(const report::RunRecord& a, const report::RunRecord& b) {
  EXPECT_EQ(a.status, "ok");
  EXPECT_EQ(b.status, "ok");
  EXPECT_EQ(a.epochs, b.epochs);
  EXPECT_EQ(a.updates, b.updates);
  EXPECT_EQ(a.test_metric, b.test_metric);
  EXPECT_EQ(a.dev_metric, b.dev_metric);
  ASSERT_EQ(a.curve.size(), b.curve.size());
  for (std::size_t i = 0; i < a.curve.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a.curve[i].updates, b.curve[i].updates);
    EXPECT_EQ(a.curve[i].lr, b.curve[i].lr);
    EXPECT_EQ(a.curve[i].dev_metric, b.curve[i].dev_metric);
    const double la = a.curve[i].train_loss, lb = b.curve[i].train_loss;
    EXPECT_TRUE(la == lb || (std::isnan(la) && std::isnan(lb))) << la << " vs " << lb;
    EXPECT_EQ(a.curve[i].deltas, b.curve[i].deltas);
  }
}

// Weights, buffers and Δ of two saved networks (baselines or kept networks).
void expect_same_checkpoint(const config::ExperimentConfig& cfg, const data::Dataset& data, const std::string& a,
                            const std::string& b) {
  ASSERT_TRUE(fs::exists(a)) << a;
  ASSERT_TRUE(fs::exists(b)) << b;
  auto na = models::make_network(cfg.network, {data.input_shape, data.num_classes});
  auto nb = models::make_network(cfg.network, {data.input_shape, data.num_classes});
  EXPECT_EQ(load_checkpoint(a, *na), load_checkpoint(b, *nb));
  const auto sa = models::copy_state(*na), sb = models::copy_state(*nb);
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i], sb[i])) << i;
}

TEST(CellResume, FloatBaselineCrashedMidEpochResumesBitForBitAndItsStateIsRemoved) {
  auto data = clusters(320, 100);
  TempDir whole_dir, crash_dir;
  const auto whole_cfg = cell_config(whole_dir, "direct");
  {
    report::Store store(whole_dir.file("out/results.sqlite"));
    methods::run_experiment(whole_cfg, data, torch::kCPU, store, false);
  }

  auto cfg = cell_config(crash_dir, "direct");
  cfg.runtime.checkpoint_every_s = 0;  // save after every update (not part of any identity)
  const methods::Grid grid = methods::expand_grid(cfg);
  const methods::Cell& base = cell_named(grid, "16 seed 1 float");
  const std::string state = resume_path_of(crash_dir, base.key);
  {
    // The process dies in the third update of the float training (the
    // divergence aid makes update 2's loss NaN): nothing is recorded.
    ScopedEnv diverge("QRETRAIN_TEST_DIVERGE", "float:0");
    report::Store store(crash_dir.file("out/results.sqlite"));
    methods::Session session(grid.variants[base.variant], data, torch::kCPU, store, 1, false);
    EXPECT_THROW(session.baseline(), Diverged);
    EXPECT_FALSE(store.has_ok(base.key));
  }
  ASSERT_TRUE(fs::exists(state)) << "the float cell saved no training state at output.dir/resume/KEY.pt";

  report::Store store(crash_dir.file("out/results.sqlite"));
  ::testing::internal::CaptureStderr();
  methods::run_experiment(cfg, data, torch::kCPU, store, false);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("resuming from " + state));
  EXPECT_FALSE(fs::exists(state)) << "the resume file outlived its finished cell";

  report::Store whole_store(whole_dir.file("out/results.sqlite"));
  const auto a = whole_store.run_with_curve(base.key), b = store.run_with_curve(base.key);
  ASSERT_TRUE(a && b);
  EXPECT_GE(a->curve.size(), 4u);  // the start and 3 epochs
  expect_same_record(*a, *b);
  std::string identity;
  expect_same_checkpoint(cfg, data, methods::baseline_file(whole_cfg, 1, &identity),
                         methods::baseline_file(cfg, 1, &identity));
  // The cell after it ran from the resumed baseline: the same result.
  const methods::Cell& direct = cell_named(grid, "16 seed 1 direct 2-bit");
  expect_same_checkpoint(cfg, data, methods::checkpoint_file(whole_cfg, "direct", 2, 1),
                         methods::checkpoint_file(cfg, "direct", 2, 1));
  EXPECT_EQ(whole_store.run_with_curve(direct.key)->test_metric, store.run_with_curve(direct.key)->test_metric);
}

TEST(CellResume, InterruptedRetrainingCellResumesAndItsStateIsRemoved) {
  auto data = clusters(320, 100);
  TempDir whole_dir, stop_dir;
  const auto whole_cfg = cell_config(whole_dir, "adaptive");
  {
    report::Store store(whole_dir.file("out/results.sqlite"));
    methods::run_experiment(whole_cfg, data, torch::kCPU, store, false);
  }
  const auto cfg = cell_config(stop_dir, "adaptive");
  const methods::Grid grid = methods::expand_grid(cfg);
  const methods::Cell& cell = cell_named(grid, "16 seed 1 adaptive 2-bit");
  const std::string state = resume_path_of(stop_dir, cell.key);
  report::Store store(stop_dir.file("out/results.sqlite"));
  // The float baseline first, by a run of the same experiment with another
  // method (the float cell is the same cell).
  methods::run_experiment(cell_config(stop_dir, "direct"), data, torch::kCPU, store, false);
  {
    // SIGINT as the retraining starts: Interrupted leaves run_experiment
    // (the cell is not recorded) with the state saved.
    ScopedStop stop;
    EXPECT_THROW(methods::run_experiment(cfg, data, torch::kCPU, store, false), Interrupted);
  }
  EXPECT_FALSE(store.has_ok(cell.key));
  ASSERT_TRUE(fs::exists(state)) << "the interrupted cell left no training state at output.dir/resume/KEY.pt";

  ::testing::internal::CaptureStderr();
  methods::run_experiment(cfg, data, torch::kCPU, store, false);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("resuming from " + state));
  EXPECT_FALSE(fs::exists(state)) << "the resume file outlived its finished cell";
  EXPECT_TRUE(fs::is_empty(stop_dir.path() / "out" / "resume"));

  report::Store whole_store(whole_dir.file("out/results.sqlite"));
  const auto a = whole_store.run_with_curve(cell.key), b = store.run_with_curve(cell.key);
  ASSERT_TRUE(a && b);
  expect_same_record(*a, *b);
  expect_same_checkpoint(cfg, data, methods::checkpoint_file(whole_cfg, "adaptive", 2, 1),
                         methods::checkpoint_file(cfg, "adaptive", 2, 1));
}

// `run --force` redoes every cell from the start, as `sweep --force` does
// (sweep.cpp removes the states of the cells it redoes): a training state
// left by an earlier process, perhaps of older code, is not resumed.
TEST(CellResume, ForcedRunRedoesACellInsteadOfResumingItsState) {
  auto data = clusters(320, 100);
  TempDir dir;
  const auto cfg = cell_config(dir, "adaptive");
  const methods::Grid grid = methods::expand_grid(cfg);
  const methods::Cell& cell = cell_named(grid, "16 seed 1 adaptive 2-bit");
  const std::string state = resume_path_of(dir, cell.key);
  report::Store store(dir.file("out/results.sqlite"));
  methods::run_experiment(cfg, data, torch::kCPU, store, false);
  {
    ScopedStop stop;  // a forced rerun, interrupted as the cell starts training
    EXPECT_THROW(methods::run_experiment(cfg, data, torch::kCPU, store, true), Interrupted);
  }
  ASSERT_TRUE(fs::exists(state));
  ::testing::internal::CaptureStderr();
  methods::run_experiment(cfg, data, torch::kCPU, store, true);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, Not(HasSubstr("resuming from "))) << "--force resumed the cell's old training state";
  EXPECT_THAT(log, HasSubstr("16 adaptive 2-bit done"));  // the cell did run
  EXPECT_FALSE(fs::exists(state));
  EXPECT_TRUE(store.has_ok(cell.key));
}

}  // namespace
}  // namespace qretrain::train
