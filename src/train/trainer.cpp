#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "train/progress.h"
#include "train/optimizer.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::train {

std::atomic<bool> g_stop_requested{false};

std::string StepPolicy::describe() const {
  switch (when) {
    case When::Fixed: return "fixed";
    case When::EpochEnd: return "epoch";
    case When::EveryUpdateFirstEpochs: return fmt::format("first_epochs:{}", first_epochs);
  }
  return "?";
}

Trainer::Trainer(models::Network model, const data::Dataset& data, torch::Device device, quant::QuantHook* hook)
    : model_(std::move(model)), data_(data), device_(device), hook_(hook) {}

double Trainer::evaluate(const data::Split& split) {
  torch::NoGradGuard no_grad;
  quant::QuantizedScope scope(hook_);
  // Evaluation does not depend on the training settings (window lengths
  // only change speed), so defaults suffice when fit() has not made a task.
  if (!task_) task_ = make_task(model_, data_, config::TrainConfig{}, device_);
  return task_->evaluate(split);
}

Trainer::Snapshot Trainer::snapshot() const {
  Snapshot s;
  s.tensors = models::copy_state(*model_);
  if (hook_) s.deltas = hook_->steps();
  return s;
}

void Trainer::restore(const Snapshot& s) {
  models::load_state(*model_, s.tensors);
  if (hook_) hook_->set_steps(s.deltas);
}

FitResult Trainer::fit(const FitOptions& opt) {
  auto log = log::get("train");
  torch::manual_seed(opt.seed);
  auto generator = at::detail::createCPUGenerator(static_cast<std::uint64_t>(opt.seed) * 7919 + 17);

  // -- make_optimizer, and the task that cuts epochs into updates
  auto optimizer = make_optimizer(model_->parameters(), opt.train, opt.recipe.lr);
  task_ = make_task(model_, data_, opt.train, device_);
  const std::int64_t steps_per_epoch = task_->steps_per_epoch();
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since_start = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  FitResult result;
  Snapshot best;
  double lr = opt.recipe.lr;
  int bad_evals = 0;
  double loss_sum = 0;
  std::int64_t loss_count = 0, samples = 0;
  double train_seconds = 0;
  Progress progress(opt.progress, opt.tag);

  // -- end_of_evaluation: dev metric, best snapshot, plateau schedule.
  // Returns true when training should stop.
  auto evaluate_and_schedule = [&](int epoch) {
    EvalPoint p;
    p.epoch = epoch;
    p.step = result.steps;
    p.lr = lr;
    p.train_loss = loss_count ? loss_sum / static_cast<double>(loss_count) : std::nan("");
    p.dev_metric = evaluate(data_.dev);
    p.elapsed_s = seconds_since_start();
    if (hook_) p.deltas = hook_->steps();
    loss_sum = 0;
    loss_count = 0;
    result.curve.push_back(p);
    const bool improved = result.best_index < 0 || p.dev_metric < result.best_dev;
    if (improved) {
      result.best_dev = p.dev_metric;
      result.best_index = static_cast<int>(result.curve.size()) - 1;
      best = snapshot();
      bad_evals = 0;
    } else if (++bad_evals >= opt.train.patience) {
      lr *= opt.train.lr_decay;
      bad_evals = 0;
      optimizer->set_lr(lr);
    }
    progress.evaluation(data_.format_metric(p.dev_metric));
    log->info("{} epoch {} step {} loss {} dev {}{} lr {:.3g}", opt.tag, epoch, p.step,
              std::isnan(p.train_loss) ? "-" : fmt::format("{:.4f}", p.train_loss), data_.format_metric(p.dev_metric),
              improved ? " (best)" : "", p.lr);
    if (lr < opt.recipe.lr_min * (1 - 1e-9)) {
      result.stop_reason = fmt::format("learning rate {:.3g} fell below {:.3g}", lr, opt.recipe.lr_min);
      return true;
    }
    return false;
  };

  // Retraining starts from a network that already has a dev score: record it,
  // so the curve starts at the initial Δ and the best can be the start.
  evaluate_and_schedule(0);
  bool stop = false;
  for (int epoch = 0; epoch < opt.recipe.max_epochs && !stop; ++epoch) {
    model_->train();
    task_->begin_epoch(generator);
    auto epoch_start = std::chrono::steady_clock::now();
    for (std::int64_t s = 0; s < steps_per_epoch && !stop; ++s) {
      if (g_stop_requested) throw Interrupted(fmt::format("{}: interrupted at epoch {}", opt.tag, epoch));
      // -- train_step: forward/backward see w_q; the update lands on the float weights.
      StepLoss loss;
      {
        quant::QuantizedScope scope(hook_);
        optimizer->zero_grad();
        loss = task_->forward_backward(s);
      }
      if (!std::isfinite(loss.mean))
        throw Diverged(fmt::format("training loss became {} at epoch {} step {}", loss.mean, epoch, result.steps));
      optimizer->step();
      if (hook_ && opt.policy.refit_after_update(epoch)) hook_->refit_steps();
      ++result.steps;
      loss_sum += loss.mean * static_cast<double>(loss.samples);
      loss_count += loss.samples;
      samples += loss.samples;
      progress.step(epoch, opt.recipe.max_epochs, s + 1, steps_per_epoch, loss_sum / loss_count, lr,
                    samples / std::max(1e-9, train_seconds + std::chrono::duration<double>(
                                                                  std::chrono::steady_clock::now() - epoch_start)
                                                                  .count()));
      if (opt.train.eval_every > 0 && result.steps % opt.train.eval_every == 0) {
        stop = evaluate_and_schedule(epoch);
        model_->train();  // evaluation left the model in eval mode (batch norm)
      }
    }
    train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    result.epochs = epoch + 1;
    // Δ re-estimated at an epoch end is followed by the evaluation that decides
    // the kept checkpoint, so the stored Δ is the one that was scored.
    if (hook_ && opt.policy.refit_at_epoch_end()) hook_->refit_steps();
    if (opt.train.eval_every == 0 && !stop) stop = evaluate_and_schedule(epoch + 1);
  }
  if (!stop) result.stop_reason = fmt::format("epoch budget of {} spent", opt.recipe.max_epochs);
  progress.finish();
  restore(best);
  result.wall_s = seconds_since_start();
  result.samples_per_s = train_seconds > 0 ? static_cast<double>(samples) / train_seconds : 0;
  log->info("{} done: best dev {} at evaluation {} ({}), {:.0f} samples/s, {:.1f} s", opt.tag,
            data_.format_metric(result.best_dev),
            result.best_index, result.stop_reason, result.samples_per_s, result.wall_s);
  return result;
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, const std::vector<double>& deltas) {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.write("qretrain.deltas", torch::tensor(deltas, torch::kFloat64));
    archive.save_to(tmp.string());
  });
}

std::vector<double> load_checkpoint(const std::string& path, torch::nn::Module& model) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
    model.load(archive);
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: unreadable or incompatible checkpoint ({})", path,
                                std::string(e.what_without_backtrace()).substr(0, 200)));
  }
  torch::Tensor d;
  archive.read("qretrain.deltas", d);
  std::vector<double> deltas(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  return deltas;
}

}  // namespace qretrain::train
