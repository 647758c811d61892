// What a Trainer trains, apart from the schedule: how an epoch is cut into
// updates, the loss of one update, and the dev/test metric (lower is better).
//
//   ClassificationTask  - shuffled mini-batches of examples, error (%).
//   LanguageModelTask   - truncated BPTT over parallel text streams with the
//                         LSTM state carried across updates, bits per character.
//
// The Trainer wraps every call in the quantized-weight scope, so a task never
// sees the hook: float and quantized training share one code path.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "config/config.h"
#include "data/dataset.h"
#include "models/lstm_lm.h"
#include "models/network.h"

namespace qretrain::train {

struct StepLoss {
  double mean = 0;          // mean loss of the update (nats per example / character)
  std::int64_t samples = 0; // examples or characters it was computed on
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::int64_t updates_per_epoch() const = 0;
  virtual void begin_epoch(at::Generator& generator) = 0;
  // Forward and backward of update `step` of the epoch (gradients accumulate
  // into the parameters; the caller zeroes them and steps the optimizer).
  virtual StepLoss forward_backward(std::int64_t step) = 0;
  // The dataset's metric on a split, under no_grad in eval mode.
  virtual double evaluate(const data::Split& split) = 0;
  // Position within the training data (epoch order, carried state), so an
  // interrupted fit resumes exactly where it stopped.
  virtual void save_position(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load_position(torch::serialize::InputArchive& archive) = 0;
};

// Wrong predictions and predictions scored, in the dataset's scoring classes
// when it has a score_map (TIMIT: 61 phones scored as 39; -1 drops one).
std::pair<std::int64_t, std::int64_t> count_errors(const torch::Tensor& predicted, const torch::Tensor& truth,
                                                   const torch::Tensor& score_map);

std::unique_ptr<Task> make_task(models::Network model, const data::Dataset& data, const config::TrainConfig& train,
                                torch::Device device);

class ClassificationTask : public Task {
 public:
  ClassificationTask(models::Network model, const data::Dataset& data, int batch_size, torch::Device device);
  std::int64_t updates_per_epoch() const override { return updates_per_epoch_; }
  void begin_epoch(at::Generator& generator) override;
  StepLoss forward_backward(std::int64_t step) override;
  double evaluate(const data::Split& split) override;
  void save_position(torch::serialize::OutputArchive& archive) const override;
  void load_position(torch::serialize::InputArchive& archive) override;

 private:
  models::Network model_;
  const data::Dataset& data_;
  std::int64_t batch_, updates_per_epoch_;
  torch::Device device_;
  torch::Tensor order_;
};

// Williams & Peng's TBPTT(k1, k2) over `streams` rows of the training text:
// every update advances each stream by k1 = bptt_steps new characters and
// back-propagates through k2 = bptt_unroll steps (the k2 - k1 characters
// before the new ones are re-read as context, from the state saved at their
// start); the loss is taken on the k1 new characters only. The state flows on
// from update to update and across epochs; it restarts from zero only when a
// stream's end is reached and reading wraps to its start. An epoch is
// epoch_chars characters (all streams together), or the whole split.
class LanguageModelTask : public Task {
 public:
  // Streams a dev/test split is read as, each from the zero state.
  static constexpr std::int64_t kEvalStreams = 64;
  static constexpr std::int64_t kEvalWindow = 256;

  LanguageModelTask(models::Network model, const data::Dataset& data, const config::TrainConfig& train,
                    torch::Device device);
  std::int64_t updates_per_epoch() const override { return updates_per_epoch_; }
  void begin_epoch(at::Generator&) override {}
  StepLoss forward_backward(std::int64_t step) override;
  double evaluate(const data::Split& split) override;
  void save_position(torch::serialize::OutputArchive& archive) const override;
  void load_position(torch::serialize::InputArchive& archive) override;

  // Training position: the column of the next new character and of the
  // carried state (for tests).
  std::int64_t cursor() const { return cursor_; }
  const models::LstmState& carried_state() const { return state_; }

 private:
  models::Network network_;
  models::LstmLmImpl& model_;
  torch::Tensor rows_;  // [streams, L] uint8
  std::int64_t k1_, k2_, updates_per_epoch_;
  torch::Device device_;
  std::int64_t cursor_ = 0;     // first column not yet predicted-from
  std::int64_t state_col_ = 0;  // the column state_ is the state before
  models::LstmState state_;     // detached; empty = zero
};

}  // namespace qretrain::train
