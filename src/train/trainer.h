// One Trainer for float training and quantized retraining. One fit's steps
// are functions of Trainer::Fit (trainer.cpp): resume_or_start, train_epoch,
// train_step, evaluate_and_schedule (best-dev snapshot + the learning-rate
// PlateauSchedule of plateau.h), save. The quantized-weight hook, when given,
// supplies w_q to every forward/backward and every evaluation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"
#include "data/dataset.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/eval_point.h"
#include "train/optimizer.h"
#include "train/stop.h"
#include "train/task.h"
#include "util/error.h"

namespace qretrain::train {

// When Δ is re-estimated (QStep of the float weights) during retraining.
//
// Every evaluation must score a Δ the network has trained with: refitting
// Δ and then evaluating at once scores levels the network never saw (on the
// speech stand-in that alone turned adaptive from a tie with conventional
// into a 7-point loss). So by default (Order::AfterEval) the epoch-level
// refit happens at the start of every epoch after the first, i.e. right
// after the previous evaluation, and the per-update refit before each
// update. Order::BeforeEval keeps the older order for comparison: refit at
// each epoch end just before its evaluation, or after each update.
struct StepPolicy {
  enum class When { Fixed, Epoch, EveryUpdateFirstEpochs };
  enum class Order { AfterEval, BeforeEval };
  When when = When::Fixed;
  int first_epochs = 0;
  Order order = Order::AfterEval;
  bool refit_at_epoch_start(int epoch) const { return when == When::Epoch && order == Order::AfterEval && epoch > 0; }
  bool refit_at_epoch_end() const { return when == When::Epoch && order == Order::BeforeEval; }
  bool refit_before_update(int epoch) const { return per_update(epoch) && order == Order::AfterEval; }
  bool refit_after_update(int epoch) const { return per_update(epoch) && order == Order::BeforeEval; }
  std::string describe() const;

 private:
  bool per_update(int epoch) const { return when == When::EveryUpdateFirstEpochs && epoch < first_epochs; }
};

struct FitOptions {
  config::TrainConfig train;
  config::Recipe recipe;
  int seed = 1;
  StepPolicy policy;
  std::string tag;            // shown in progress and logs, e.g. "L adaptive 2-bit"
  bool progress = false;      // live progress line on stderr
  // Where the training state is saved (after every evaluation, every
  // checkpoint_every_s seconds, and when interrupted) and resumed from when
  // it exists; empty = never. The caller removes it once the result is kept.
  std::string resume_path;
  double checkpoint_every_s = 300;
  std::int64_t nan_at_update = -1;  // testing aid: this update's loss is NaN (divergence)
  // Testing aid: called right after every evaluation has been recorded (with
  // the float weights in place and the Δ that was scored).
  std::function<void(const EvalPoint&)> after_evaluation;
  // Testing aid: called before every update's forward pass, once any refit
  // for it is done (the float weights in place; the hook holds the Δ used).
  std::function<void(int epoch)> before_update;
};

struct FitResult {
  std::vector<EvalPoint> curve;
  int best_index = -1;
  double best_dev = 0;
  int epochs = 0;
  std::int64_t updates = 0;
  double wall_s = 0;
  double samples_per_s = 0;   // training throughput (updates only): examples or characters per second
  std::string stop_reason;
  bool resumed = false;       // continued from a saved training state
};

// Raised when the training loss becomes NaN or infinite.
class Diverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Trainer {
 public:
  Trainer(models::Network model, const data::Dataset& data, torch::Device device, quant::QuantHook* hook = nullptr);

  // Trains until the learning rate falls below recipe.lr_min or the epoch
  // budget is spent; leaves the model (and Δ) at the best-dev evaluation.
  FitResult fit(const FitOptions& options);

  // The dataset's metric on a split (error % or bits per character), with
  // w_q when quantized.
  double evaluate(const data::Split& split);

 private:
  struct Snapshot {
    std::vector<torch::Tensor> tensors;  // models::copy_state: float weights and buffers
    std::vector<double> deltas;
  };
  struct FitState;
  class Fit;  // one call of fit(), its steps as functions (trainer.cpp)
  Snapshot snapshot() const;
  // The model's parameters and the hook's learned steps (LSQ), for the optimizer.
  std::vector<torch::Tensor> trainable() const;
  void restore(const Snapshot& s);
  void save_state(const std::string& path, const FitState& state, const Optimizer& optimizer,
                  const at::Generator& generator) const;
  // False when the file is unreadable or does not match this fit (it is then
  // ignored and nothing was changed). True when every field decoded: only
  // then are the model, Δ, `state`, the generators, and a fresh optimizer
  // and task (made for `opt`, replacing `optimizer` and task_) committed.
  bool load_state(const std::string& path, const FitOptions& opt, FitState& state,
                  std::unique_ptr<Optimizer>& optimizer, at::Generator& generator);

  models::Network model_;
  const data::Dataset& data_;
  torch::Device device_;
  quant::QuantHook* hook_;
  std::unique_ptr<Task> task_;
};

// The float baseline and retrained networks are stored as LibTorch archives
// holding parameters, buffers and the Δ of every weight group, and a
// checksum over all of it (LibTorch's zip reader does not check CRCs, so
// flipped bytes would otherwise load as different weights).
void save_checkpoint(const std::string& path, torch::nn::Module& model, const std::vector<double>& deltas);
std::vector<double> load_checkpoint(const std::string& path, torch::nn::Module& model);

// What a checkpoint holds besides the weights. A float baseline also keeps
// the identity of the config it was trained with and its training record,
// inside the one file (written atomically), so a reused cache entry is
// checked and recorded without a second file that a kill could leave behind
// or out of step.
struct CheckpointInfo {
  std::vector<double> deltas;
  std::string identity;               // empty: none stored (kept networks, older baselines)
  std::optional<FitResult> training;  // absent: none stored
};
void save_checkpoint(const std::string& path, torch::nn::Module& model, const CheckpointInfo& info);

// The stored identity differs from the expected one (see load_checkpoint).
class CheckpointIdentityMismatch : public UserError {
 public:
  using UserError::UserError;
};
// Loads `path` into `model`. When `expected_identity` is not empty it is
// compared with the stored identity before any weight is touched: another
// identity throws CheckpointIdentityMismatch, a file with none stored loads
// with an empty `identity` (the caller decides). An unreadable, incompatible
// or corrupt file throws UserError naming it; `model` may then hold part of
// the file's weights, so a caller that goes on must make a fresh one.
CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model,
                               const std::string& expected_identity);

}  // namespace qretrain::train
