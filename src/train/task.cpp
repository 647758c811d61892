#include "train/task.h"

#include <algorithm>

#include <ATen/record_function.h>
#include <fmt/format.h>

#include "data/text.h"
#include "util/error.h"

namespace qretrain::train {

std::unique_ptr<Task> make_task(models::Network model, const data::Dataset& data, const config::TrainConfig& train,
                                torch::Device device) {
  if (data.task == data::Task::LanguageModel)
    return std::make_unique<LanguageModelTask>(std::move(model), data, train, device);
  return std::make_unique<ClassificationTask>(std::move(model), data, train.batch_size, device);
}

// ---- classification ----

ClassificationTask::ClassificationTask(models::Network model, const data::Dataset& data, int batch_size,
                                       torch::Device device)
    : model_(std::move(model)), data_(data), batch_(std::max(1, batch_size)), device_(device) {
  const std::int64_t n = data_.train.size();
  // A final batch of one example is dropped: batch normalisation cannot
  // train on it.
  updates_per_epoch_ = n % batch_ == 1 && n > 1 ? n / batch_ : (n + batch_ - 1) / batch_;
}

void ClassificationTask::begin_epoch(at::Generator& generator) {
  order_ = torch::randperm(data_.train.size(), generator, torch::kInt64);
}

StepLoss ClassificationTask::forward_backward(std::int64_t step) {
  const data::Split& train = data_.train;
  auto idx = order_.slice(0, step * batch_, std::min(train.size(), (step + 1) * batch_));
  torch::Tensor x, y;
  {
    RECORD_FUNCTION("qretrain::gather_batch", std::vector<c10::IValue>());
    x = train.inputs(idx).to(device_);
    y = train.y.index_select(0, idx).to(device_);
  }
  auto loss = torch::nn::functional::cross_entropy(model_->forward(x), y);
  loss.backward();
  return {loss.item<double>(), idx.size(0)};
}

std::pair<std::int64_t, std::int64_t> count_errors(const torch::Tensor& predicted, const torch::Tensor& truth,
                                                   const torch::Tensor& score_map) {
  if (!score_map.defined()) return {predicted.ne(truth).sum().item<std::int64_t>(), truth.numel()};
  auto p = score_map.index_select(0, predicted);
  auto t = score_map.index_select(0, truth);
  auto keep = t.ge(0);
  return {p.ne(t).logical_and(keep).sum().item<std::int64_t>(), keep.sum().item<std::int64_t>()};
}

double ClassificationTask::evaluate(const data::Split& split) {
  torch::NoGradGuard no_grad;
  model_->eval();
  constexpr std::int64_t kBatch = 1000;
  std::int64_t wrong = 0;
  std::int64_t scored = 0;
  for (std::int64_t i = 0; i < split.size(); i += kBatch) {
    std::int64_t end = std::min(split.size(), i + kBatch);
    auto predicted = model_->forward(split.inputs(i, end).to(device_)).argmax(1).cpu();
    auto [w, n] = count_errors(predicted, split.y.slice(0, i, end), data_.score_map);
    wrong += w;
    scored += n;
  }
  return scored ? 100.0 * static_cast<double>(wrong) / static_cast<double>(scored) : 0.0;
}

// ---- character language model ----

namespace {

models::LstmLmImpl& as_language_model(const models::Network& model) {
  auto* lm = dynamic_cast<models::LstmLmImpl*>(model.get());
  if (!lm) throw UserError("network.kind: a text dataset needs a language model (lstm_lm)");
  return *lm;
}

}  // namespace

LanguageModelTask::LanguageModelTask(models::Network model, const data::Dataset& data,
                                     const config::TrainConfig& train, torch::Device device)
    : network_(std::move(model)),
      model_(as_language_model(network_)),
      rows_(data::text::as_streams(data.train.x, train.streams)),
      k1_(train.bptt_steps),
      k2_(std::max(train.bptt_unroll, train.bptt_steps)),
      device_(device) {
  const std::int64_t per_update = rows_.size(0) * k1_;
  updates_per_epoch_ = train.epoch_chars > 0 ? (train.epoch_chars + per_update - 1) / per_update
                                           : (rows_.size(1) - 1 + k1_ - 1) / k1_;
}

StepLoss LanguageModelTask::forward_backward(std::int64_t) {
  const std::int64_t columns = rows_.size(1);
  if (cursor_ >= columns - 1) {  // end of the streams: read them again from the zero state
    cursor_ = 0;
    state_col_ = 0;
    state_.clear();
  }
  const std::int64_t new_end = std::min(cursor_ + k1_, columns - 1);
  // The next update re-reads k2 - k1 characters before its new ones: its
  // starting state is the one reached at column `split` of this window.
  const std::int64_t split = std::max(state_col_, new_end - (k2_ - k1_));
  auto inputs = rows_.slice(1, state_col_, new_end).to(device_, torch::kInt64);
  auto targets = rows_.slice(1, cursor_ + 1, new_end + 1).to(device_, torch::kInt64);

  std::vector<torch::Tensor> logits;
  models::LstmState state = state_;
  models::LstmState next = state_;
  if (split > state_col_) {
    models::LmOutput head = model_.forward(inputs.slice(1, 0, split - state_col_), state);
    logits.push_back(head.logits);
    state = std::move(head.state);
    next = models::detached(state);
  }
  if (new_end > split) {
    models::LmOutput tail = model_.forward(inputs.slice(1, split - state_col_), state);
    logits.push_back(tail.logits);
  }
  auto scored = torch::cat(logits, 1).slice(1, cursor_ - state_col_);
  auto loss = torch::nn::functional::cross_entropy(scored.flatten(0, 1), targets.flatten());
  loss.backward();

  state_ = std::move(next);
  state_col_ = split;
  cursor_ = new_end;
  return {loss.item<double>(), targets.numel()};
}

void ClassificationTask::save_position(torch::serialize::OutputArchive& archive) const {
  archive.write("order", order_.defined() ? order_ : torch::empty({0}, torch::kInt64));
}

void ClassificationTask::load_position(torch::serialize::InputArchive& archive) {
  archive.read("order", order_);
  if (order_.numel() == 0) order_ = torch::Tensor();
}

void LanguageModelTask::save_position(torch::serialize::OutputArchive& archive) const {
  archive.write("cursor", torch::tensor({cursor_, state_col_}, torch::kInt64));
  archive.write("layers", torch::tensor(static_cast<std::int64_t>(state_.size()), torch::kInt64));
  for (std::size_t i = 0; i < state_.size(); ++i) {
    archive.write(fmt::format("h{}", i), std::get<0>(state_[i]));
    archive.write(fmt::format("c{}", i), std::get<1>(state_[i]));
  }
}

void LanguageModelTask::load_position(torch::serialize::InputArchive& archive) {
  torch::Tensor cursor, layers;
  archive.read("cursor", cursor);
  archive.read("layers", layers);
  cursor_ = cursor[0].item<std::int64_t>();
  state_col_ = cursor[1].item<std::int64_t>();
  state_.clear();
  for (std::int64_t i = 0; i < layers.item<std::int64_t>(); ++i) {
    torch::Tensor h, c;
    archive.read(fmt::format("h{}", i), h);
    archive.read(fmt::format("c{}", i), c);
    state_.emplace_back(h.to(device_), c.to(device_));
  }
}

double LanguageModelTask::evaluate(const data::Split& split) {
  // Up to 64 streams of at least 1024 bytes, so tiny splits still read as one.
  const std::int64_t streams = std::clamp<std::int64_t>(split.x.numel() / 1024, 1, kEvalStreams);
  return models::evaluate_bits_per_char(model_, data::text::as_streams(split.x, streams), kEvalWindow);
}

}  // namespace qretrain::train
