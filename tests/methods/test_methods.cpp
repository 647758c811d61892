// The quantization methods as the cell runner runs them (methods/*.cpp),
// each checked against an expectation computed here: QStep of the weights a
// stage starts from and trains with, a direct Trainer fit of the same stage,
// a brute-force Δ search, the cells a failed dependency must block.
#include "methods/methods.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>

#include "methods/cells.h"
#include "methods/session.h"
#include "models/network.h"
#include "quant/hook.h"
#include "report/store.h"
#include "report/table.h"
#include "methods/grid_util.h"
#include "test_util.h"
#include "train/resume_util.h"
#include "train/trainer.h"

namespace qretrain::methods {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using qretrain::testing::cell_named;
using qretrain::testing::clusters;
using qretrain::testing::TempDir;
using qretrain::testing::occurrences;
using qretrain::testing::ScopedEnv;

// A tiny experiment for `clusters` data: a 16-unit FFDNN, a 2-bit target, a
// gradual chain 3 -> 2; `train` and `retrain` are the indented keys of those
// sections, `quant_extra` more keys of the quant section.
config::ExperimentConfig experiment(const TempDir& dir, const std::string& methods, const std::string& train,
                                    const std::string& retrain, const std::string& quant_extra = "") {
  return config::load(dir.write("methods.yaml", fmt::format(R"(name: methods
network:
  kind: ffdnn
  hidden: [16]
train:
  batch_size: 32
{}
retrain:
{}
quant:
  bits: [2]
  methods: [{}]
  gradual:
    start_bits: 3
{}
runtime:
  device: cpu
  progress: "off"
output:
  dir: {}
)",
                                                            train, retrain, methods, quant_extra,
                                                            dir.file("out"))));
}

models::Network fresh_network(const config::ExperimentConfig& cfg, const data::Dataset& data) {
  return models::make_network(cfg.network, {data.input_shape, data.num_classes});
}

// A saved network (baseline or kept checkpoint) and the Δ saved with it.
struct Saved {
  models::Network net;
  std::vector<double> deltas;
};

Saved load_saved(const config::ExperimentConfig& cfg, const data::Dataset& data, const std::string& path) {
  EXPECT_TRUE(fs::exists(path)) << path;
  Saved s{fresh_network(cfg, data), {}};
  s.deltas = train::load_checkpoint(path, *s.net);
  return s;
}

Saved baseline_of(const config::ExperimentConfig& cfg, const data::Dataset& data) {
  std::string identity;
  return load_saved(cfg, data, baseline_file(cfg, 1, &identity));
}

// QStep of every weight group's float weights at `bits` (the Δ a fresh
// QuantHook or a refit must produce), computed tensor by tensor.
std::vector<double> qstep_of(torch::nn::Module& net, int bits) {
  auto params = net.named_parameters(true);
  std::vector<double> out;
  for (const auto& name : quant::weight_group_names(net)) out.push_back(quant::qstep_tensor(params[name], bits));
  return out;
}

std::vector<double> qstep_of_state(const config::ExperimentConfig& cfg, const data::Dataset& data,
                                   const std::vector<torch::Tensor>& state, int bits) {
  auto net = fresh_network(cfg, data);
  models::load_state(*net, state);
  return qstep_of(*net, bits);
}

// The dev (or test) metric of `net` quantized at `bits` with the step sizes `deltas`.
double quantized_metric(models::Network net, const data::Dataset& data, const data::Split& split, int bits,
                        const std::vector<double>& deltas) {
  quant::QuantHook hook(*net, bits);
  hook.set_step_sizes(deltas);
  return train::Trainer(net, data, torch::kCPU, &hook).evaluate(split);
}

// One retraining stage done by hand with the Trainer: from `start`, at
// `bits`, under `policy`, with the config's retraining recipe and seed 1,
// recording the float weights and their QStep at every evaluation.
struct Reference {
  train::FitResult fit;
  std::vector<std::vector<torch::Tensor>> states;  // float weights (and buffers) at each evaluation
  std::vector<std::vector<double>> optimum;        // QStep of those weights at `bits`
};

Reference reference_stage(const config::ExperimentConfig& cfg, const data::Dataset& data,
                          const std::vector<torch::Tensor>& start, int bits, const train::StepPolicy& policy) {
  auto model = fresh_network(cfg, data);
  models::load_state(*model, start);
  quant::QuantHook hook(*model, bits);
  Reference ref;
  train::FitOptions opt;
  opt.train = cfg.train;
  opt.recipe = cfg.train.retrain_recipe;
  opt.seed = 1;
  opt.policy = policy;
  opt.tag = "reference";
  opt.after_evaluation = [&](const train::EvalPoint&) {
    ref.states.push_back(models::copy_state(*model));
    ref.optimum.push_back(qstep_of(*model, bits));
  };
  ref.fit = train::Trainer(model, data, torch::kCPU, &hook).fit(opt);
  return ref;
}

// The stored curve of a cell is the reference fit's, bit for bit.
void expect_curve_is(const report::RunRecord& r, const train::FitResult& ref) {
  ASSERT_EQ(r.curve.size(), ref.curve.size());
  for (std::size_t i = 0; i < r.curve.size(); ++i) {
    SCOPED_TRACE(fmt::format("evaluation {}", i));
    EXPECT_EQ(r.curve[i].updates, ref.curve[i].updates);
    EXPECT_EQ(r.curve[i].lr, ref.curve[i].lr);
    EXPECT_EQ(r.curve[i].dev_metric, ref.curve[i].dev_metric);
    EXPECT_EQ(r.curve[i].deltas, ref.curve[i].deltas);
  }
  EXPECT_EQ(r.epochs, ref.epochs);
  EXPECT_EQ(r.updates, ref.updates);
  EXPECT_EQ(r.dev_metric, ref.best_dev);
}

bool same_state(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

// ---- every method row ----

// Every row of methods/kinds.h, looped over as ggml's test-quantize-fns loops
// over its types: each runs its cells end to end, is stored "ok" with a
// score, and has its row in the table (a new row is tested for free).
TEST(MethodKinds, EveryRowRunsItsCellsEndToEndAndIsTabled) {
  auto data = clusters(320, 100);
  TempDir dir;
  const auto cfg = experiment(dir, fmt::format("{}", fmt::join(quantization_method_names(), ", ")),
                              "  lr: 0.05\n  max_epochs: 1", "  lr: 0.02\n  max_epochs: 1");
  report::Store store(dir.file("out/results.sqlite"));
  run_experiment(cfg, data, torch::kCPU, store, false);

  const Grid grid = expand_grid(cfg);
  std::vector<std::string> keys;
  for (const Cell& c : grid.cells) keys.push_back(c.key);
  const report::Table table = report::build_table(cfg.name, store.select(cfg.name, keys));
  const std::string markdown = report::render_markdown(table);
  for (const MethodKind& kind : method_kinds()) {
    SCOPED_TRACE(kind.name);
    int cells = 0;
    for (const Cell& c : grid.cells) {
      if (c.method != kind.name) continue;
      ++cells;
      const auto r = store.run_with_curve(c.key);
      ASSERT_TRUE(r) << c.key << " not stored";
      EXPECT_EQ(r->status, "ok") << r->failure;
      EXPECT_EQ(r->method, kind.name);
      EXPECT_TRUE(std::isfinite(r->test_metric));
      EXPECT_LT(r->test_metric, 100);
      // Methods that train have a curve beyond the starting evaluation.
      if (kind.trains) {
        EXPECT_GE(r->curve.size(), 2u);
      }
    }
    EXPECT_GE(cells, 1) << "no cell in the grid";
    EXPECT_NE(markdown.find("| " + kind.title + " |"), std::string::npos) << markdown;
  }
}

// ---- adaptive+gradual ----

TEST(Methods, AdaptiveGradualRunsEveryStageWithTheAdaptivePolicyAndStoresIt) {
  auto data = clusters(320, 100);
  TempDir dir;
  const auto cfg = experiment(dir, "adaptive+gradual", "  lr: 0.05\n  max_epochs: 2", "  lr: 0.02\n  max_epochs: 3");
  report::Store store(dir.file("out/results.sqlite"));
  run_experiment(cfg, data, torch::kCPU, store, false);

  const Grid grid = expand_grid(cfg);
  ASSERT_EQ(grid.cells.size(), 3u);  // float, 3-bit, 2-bit
  Saved start = baseline_of(cfg, data);
  for (int bits : {3, 2}) {
    SCOPED_TRACE(fmt::format("{}-bit stage", bits));
    const Cell& cell = cell_named(grid, fmt::format("16 seed 1 adaptive+gradual {}-bit", bits));
    const auto r = store.run_with_curve(cell.key);
    ASSERT_TRUE(r) << "stage not stored";
    EXPECT_EQ(r->status, "ok") << r->failure;
    EXPECT_EQ(r->method, "adaptive+gradual");
    EXPECT_EQ(r->bits, bits);
    EXPECT_EQ(r->step_policy, "epoch");  // quant.adaptive.update's default
    EXPECT_EQ(r->group_names, (std::vector<std::string>{"fc1.weight", "out.weight"}));
    ASSERT_EQ(r->curve.size(), 4u);  // the start and 3 epochs

    // The adaptive policy, worked out from QStep here: the stage starts at
    // QStep of the weights it starts from at its own precision; epoch 1
    // trains (and evaluation 1 scores) that Δ; every later epoch starts with
    // Δ refit from the float weights of the evaluation before it. (The
    // conventional policy keeps curve[e] == curve[0]; a refit of the
    // quantized weights or at the wrong time misses optimum[e - 1].)
    const Reference ref = reference_stage(cfg, data, models::copy_state(*start.net), bits,
                                          {train::StepPolicy::When::Epoch, 0, train::StepPolicy::Order::AfterEval});
    EXPECT_EQ(r->curve[0].deltas, qstep_of(*start.net, bits));
    EXPECT_EQ(r->curve[1].deltas, r->curve[0].deltas);
    for (std::size_t e = 2; e < r->curve.size(); ++e) {
      EXPECT_EQ(r->curve[e].deltas, ref.optimum[e - 1]) << "evaluation " << e;
      EXPECT_NE(r->curve[e].deltas, r->curve[e - 1].deltas) << "evaluation " << e << ": Δ was not refit";
    }
    // And the whole stage is that fit, bit for bit.
    expect_curve_is(*r, ref.fit);

    // Stored: the kept network is the best evaluation's weights and Δ, and
    // the test error is that network's.
    Saved kept = load_saved(cfg, data, checkpoint_file(cfg, "adaptive+gradual", bits, 1));
    const auto best = static_cast<std::size_t>(ref.fit.best_index);
    EXPECT_EQ(kept.deltas, r->curve[best].deltas);
    EXPECT_TRUE(same_state(models::copy_state(*kept.net), ref.states[best]));
    EXPECT_EQ(r->test_metric, quantized_metric(kept.net, data, data.test, bits, kept.deltas));
    start = std::move(kept);
  }
}

// ---- the conventional method's exhaustive Δ search ----

TEST(Methods, ConventionalExhaustiveSearchPicksTheBruteForceArgmin) {
  auto data = clusters(320, 100);
  TempDir dir;
  const int points = 5;
  const auto cfg = experiment(dir, "conventional", "  lr: 0.05\n  max_epochs: 2", "  lr: 0.02\n  max_epochs: 1",
                              fmt::format("  conventional:\n    exhaustive_search: true\n"
                                          "    search_points: {}",
                                          points));
  report::Store store(dir.file("out/results.sqlite"));
  run_experiment(cfg, data, torch::kCPU, store, false);
  const auto r = store.run_with_curve(cell_named(expand_grid(cfg), "16 seed 1 conventional 2-bit").key);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, "ok") << r->failure;

  // Brute force, layer by layer: every candidate Δ_g * 2^(-1 + 2i/(P-1)),
  // i = 0..P-1 (hand-worked for P = 5), scored on dev with the other layers
  // at their current values; the lowest error wins, the first on a tie.
  // (2^(-1/2) and 2^(1/2) computed as the search computes them: the tie
  // between two candidates must be the same floating-point comparison.)
  const double multipliers[points] = {0.5, std::pow(2.0, -1.0 + 2.0 * 1 / 4), 1.0, std::pow(2.0, -1.0 + 2.0 * 3 / 4),
                                      2.0};
  Saved base = baseline_of(cfg, data);
  const std::vector<double> initial = qstep_of(*base.net, 2);
  std::vector<double> steps = initial;
  double best_err = std::numeric_limits<double>::infinity();
  for (std::size_t g = 0; g < steps.size(); ++g) {
    double best_delta = initial[g];
    best_err = std::numeric_limits<double>::infinity();
    for (double m : multipliers) {
      std::vector<double> trial = steps;
      trial[g] = initial[g] * m;
      const double err = quantized_metric(base.net, data, data.dev, 2, trial);
      if (err < best_err) best_err = err, best_delta = trial[g];
    }
    steps[g] = best_delta;
  }
  const double initial_err = quantized_metric(base.net, data, data.dev, 2, initial);
  // The search must have something to find, or ignoring it would pass.
  ASSERT_NE(steps, initial) << "QStep's Δ is already the argmin here: the test cannot tell a search from none";
  EXPECT_LT(best_err, initial_err);

  // The retraining starts at the searched Δ (curve[0] is scored before any
  // update) and keeps it (conventional: frozen).
  ASSERT_GE(r->curve.size(), 2u);
  ASSERT_EQ(r->curve[0].deltas.size(), steps.size());
  for (std::size_t g = 0; g < steps.size(); ++g) EXPECT_DOUBLE_EQ(r->curve[0].deltas[g], steps[g]) << "group " << g;
  EXPECT_EQ(r->curve[0].dev_metric, best_err);
  for (const auto& p : r->curve) EXPECT_EQ(p.deltas, r->curve[0].deltas);
}

// ---- gradual: a stage starts from the previous stage's kept network ----

TEST(Methods, GradualStageStartsFromThePreviousStagesKeptNetwork) {
  auto data = clusters(320, 100);
  TempDir dir;
  // A float baseline of one slow epoch (far from converged), so the 3-bit
  // stage improves on its start (best evaluation > 0: kept != baseline);
  // retraining stops at its first non-improving evaluation (patience 1, one
  // decay takes the rate below lr_min), so its last evaluation is never the
  // best (kept != last-epoch weights).
  const auto cfg = experiment(dir, "gradual", "  lr: 0.002\n  max_epochs: 1\n  patience: 1",
                              "  lr: 0.05\n  lr_min: 0.03\n  max_epochs: 12");
  report::Store store(dir.file("out/results.sqlite"));
  run_experiment(cfg, data, torch::kCPU, store, false);
  const Grid grid = expand_grid(cfg);
  const auto r3 = store.run_with_curve(cell_named(grid, "16 seed 1 gradual 3-bit").key);
  const auto r2 = store.run_with_curve(cell_named(grid, "16 seed 1 gradual 2-bit").key);
  ASSERT_TRUE(r3 && r2);
  ASSERT_EQ(r3->status, "ok") << r3->failure;
  ASSERT_EQ(r2->status, "ok") << r2->failure;

  // The 3-bit stage done by hand, to know its weights at every evaluation.
  Saved base = baseline_of(cfg, data);
  const auto baseline_state = models::copy_state(*base.net);
  const Reference ref3 = reference_stage(cfg, data, baseline_state, 3, train::StepPolicy{});
  expect_curve_is(*r3, ref3.fit);
  const auto best = static_cast<std::size_t>(ref3.fit.best_index);
  const auto& last_state = ref3.states.back();
  ASSERT_GT(best, 0u) << "the 3-bit stage kept its start: kept and baseline cannot be told apart";
  ASSERT_LT(best + 1, ref3.states.size()) << "the 3-bit stage's best is its last epoch: kept and last-epoch weights "
                                             "cannot be told apart";

  // The kept network is the best evaluation's weights, not the last epoch's.
  Saved kept3 = load_saved(cfg, data, checkpoint_file(cfg, "gradual", 3, 1));
  const auto kept_state = models::copy_state(*kept3.net);
  EXPECT_TRUE(same_state(kept_state, ref3.states[best]));
  EXPECT_FALSE(same_state(kept_state, last_state));

  // The 2-bit stage's first evaluation is scored before any update: it shows
  // the weights and Δ the stage started with. Δ is a fresh QStep at 2 bits of
  // the kept 3-bit weights; from the baseline or the last-epoch weights it
  // would be another.
  const std::vector<double> from_kept = qstep_of(*kept3.net, 2);
  EXPECT_EQ(r2->curve[0].deltas, from_kept);
  EXPECT_NE(from_kept, qstep_of_state(cfg, data, baseline_state, 2));
  EXPECT_NE(from_kept, qstep_of_state(cfg, data, last_state, 2));
  EXPECT_EQ(r2->curve[0].dev_metric, quantized_metric(kept3.net, data, data.dev, 2, from_kept));
  // And the whole 2-bit stage is the fit from those weights.
  const Reference ref2 = reference_stage(cfg, data, kept_state, 2, train::StepPolicy{});
  expect_curve_is(*r2, ref2.fit);
}

// ---- a cell whose dependency failed ----

// A cell recorded as failed because of `dependency`, that trained nothing.
void expect_blocked(const report::Store& store, const config::ExperimentConfig& cfg, const Grid& grid,
                    const std::string& name, const std::string& dependency) {
  SCOPED_TRACE(name);
  const Cell& cell = cell_named(grid, name);
  const auto r = store.run_with_curve(cell.key);
  ASSERT_TRUE(r) << "not recorded";
  EXPECT_EQ(r->status, "failed");
  EXPECT_EQ(r->failure, "dependency failed: " + dependency);
  EXPECT_EQ(r->epochs, 0);
  EXPECT_EQ(r->updates, 0);
  EXPECT_TRUE(r->curve.empty());
  EXPECT_TRUE(std::isnan(r->test_metric));
  EXPECT_FALSE(fs::exists(checkpoint_file(cfg, cell.method, cell.bits, cell.seed))) << "it saved a kept network";
  EXPECT_FALSE(fs::exists(resume_file(cfg, cell.method, cell.bits, cell.seed))) << "it saved a training state";
}

TEST(Methods, CellsAfterAFailedBaselineAreRecordedAsBlockedAndDoNotTrain) {
  auto data = clusters(320, 100);
  TempDir dir;
  const auto cfg = experiment(dir, "direct, gradual", "  lr: 0.05\n  max_epochs: 1", "  lr: 0.02\n  max_epochs: 1");
  report::Store store(dir.file("out/results.sqlite"));
  {
    ScopedEnv diverge("QRETRAIN_TEST_DIVERGE", "float:0");  // the float baseline's loss becomes NaN
    ::testing::internal::CaptureStderr();
    // A failed cell is recorded; the experiment goes on with the others.
    EXPECT_NO_THROW(run_experiment(cfg, data, torch::kCPU, store, false));
    const std::string log = ::testing::internal::GetCapturedStderr();
    // Only the float cell trained; a dependent cell that ran anyway would
    // train (and fail) the baseline again, with the divergence as its reason.
    EXPECT_EQ(occurrences(log, "training the float baseline"), 1) << log;
  }
  const Grid grid = expand_grid(cfg);
  ASSERT_EQ(grid.cells.size(), 4u);
  const auto base = store.run_with_curve(cell_named(grid, "16 seed 1 float").key);
  ASSERT_TRUE(base);
  EXPECT_EQ(base->status, "failed");
  EXPECT_THAT(base->failure, HasSubstr("training loss became nan"));
  expect_blocked(store, cfg, grid, "16 seed 1 direct 2-bit", "16 seed 1 float");
  expect_blocked(store, cfg, grid, "16 seed 1 gradual 3-bit", "16 seed 1 float");
  expect_blocked(store, cfg, grid, "16 seed 1 gradual 2-bit", "16 seed 1 gradual 3-bit");
  std::string identity;
  EXPECT_FALSE(fs::exists(baseline_file(cfg, 1, &identity))) << "a diverged baseline was cached";
}

TEST(Methods, GradualStageAfterAFailedStageIsBlockedWhileOtherCellsRun) {
  auto data = clusters(320, 100);
  TempDir dir;
  const auto cfg = experiment(dir, "direct, gradual", "  lr: 0.05\n  max_epochs: 1", "  lr: 0.02\n  max_epochs: 1");
  report::Store store(dir.file("out/results.sqlite"));
  {
    ScopedEnv diverge("QRETRAIN_TEST_DIVERGE", "gradual:3");  // the first stage diverges
    // The 2-bit stage, run anyway, would stop the experiment: its start (the
    // 3-bit kept network) does not exist.
    EXPECT_NO_THROW(run_experiment(cfg, data, torch::kCPU, store, false));
  }
  const Grid grid = expand_grid(cfg);
  EXPECT_TRUE(store.has_ok(cell_named(grid, "16 seed 1 float").key));
  EXPECT_TRUE(store.has_ok(cell_named(grid, "16 seed 1 direct 2-bit").key));
  const auto stage3 = store.run_with_curve(cell_named(grid, "16 seed 1 gradual 3-bit").key);
  ASSERT_TRUE(stage3);
  EXPECT_EQ(stage3->status, "failed");
  EXPECT_THAT(stage3->failure, HasSubstr("training loss became nan"));
  EXPECT_FALSE(fs::exists(checkpoint_file(cfg, "gradual", 3, 1)));
  expect_blocked(store, cfg, grid, "16 seed 1 gradual 2-bit", "16 seed 1 gradual 3-bit");
}

}  // namespace
}  // namespace qretrain::methods
