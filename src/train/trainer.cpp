#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

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
    case When::Epoch: return order == Order::AfterEval ? "epoch" : "epoch:before_eval";
    case When::EveryUpdateFirstEpochs:
      return fmt::format("first_epochs:{}{}", first_epochs, order == Order::AfterEval ? "" : ":before_eval");
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

// Everything fit() carries from update to update: enough, with the model,
// optimizer, task position and generators, to resume exactly.
struct Trainer::FitState {
  FitResult result;
  Snapshot best;
  double lr = 0;
  int bad_evals = 0;
  double loss_sum = 0;              // training loss since the previous evaluation
  std::int64_t loss_count = 0;
  std::int64_t samples = 0;         // training examples / characters seen
  double train_seconds = 0;         // in updates, over completed epochs
  double elapsed_before = 0;        // seconds spent in earlier processes (resumed fits)
  int epoch = 0;                    // the epoch in progress
  std::int64_t next_step = 0;       // its next update
  bool epoch_started = false;       // its order is drawn (held by the task)
};

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

  FitState st;
  st.lr = opt.recipe.lr;
  FitResult& result = st.result;
  Progress progress(opt.progress, opt.tag);
  auto last_save = std::chrono::steady_clock::now();
  auto save = [&] {
    if (opt.resume_path.empty()) return;
    save_state(opt.resume_path, st, *optimizer, generator);
    last_save = std::chrono::steady_clock::now();
  };

  // -- end_of_evaluation: dev metric, best snapshot, plateau schedule.
  // Returns true when training should stop.
  auto evaluate_and_schedule = [&](int epoch) {
    EvalPoint p;
    p.epoch = epoch;
    p.step = result.steps;
    p.lr = st.lr;
    p.train_loss = st.loss_count ? st.loss_sum / static_cast<double>(st.loss_count) : std::nan("");
    p.dev_metric = evaluate(data_.dev);
    p.elapsed_s = st.elapsed_before + seconds_since_start();
    if (hook_) p.deltas = hook_->steps();
    st.loss_sum = 0;
    st.loss_count = 0;
    result.curve.push_back(p);
    const bool improved = result.best_index < 0 || p.dev_metric < result.best_dev;
    if (improved) {
      result.best_dev = p.dev_metric;
      result.best_index = static_cast<int>(result.curve.size()) - 1;
      st.best = snapshot();
      st.bad_evals = 0;
    } else if (++st.bad_evals >= opt.train.patience) {
      st.lr *= opt.train.lr_decay;
      st.bad_evals = 0;
      optimizer->set_lr(st.lr);
    }
    if (opt.after_evaluation) opt.after_evaluation(p);
    progress.evaluation(data_.format_metric(p.dev_metric));
    log->info("{} epoch {} step {} loss {} dev {}{} lr {:.3g}", opt.tag, epoch, p.step,
              std::isnan(p.train_loss) ? "-" : fmt::format("{:.4f}", p.train_loss), data_.format_metric(p.dev_metric),
              improved ? " (best)" : "", p.lr);
    if (st.lr < opt.recipe.lr_min * (1 - 1e-9)) {
      result.stop_reason = fmt::format("learning rate {:.3g} fell below {:.3g}", st.lr, opt.recipe.lr_min);
      return true;
    }
    return false;
  };

  bool resumed = !opt.resume_path.empty() && std::filesystem::exists(opt.resume_path) &&
                 load_state(opt.resume_path, st, *optimizer, generator);
  if (!resumed && !opt.resume_path.empty() && std::filesystem::exists(opt.resume_path)) {
    // A state that failed to load may have reached the optimizer or task.
    optimizer = make_optimizer(model_->parameters(), opt.train, opt.recipe.lr);
    task_ = make_task(model_, data_, opt.train, device_);
  }
  if (resumed) {
    result.resumed = true;
    log->info("{}: resuming from {} at epoch {} update {} of {}", opt.tag, opt.resume_path, st.epoch, st.next_step,
              steps_per_epoch);
  } else {
    // Retraining starts from a network that already has a dev score: record
    // it, so the curve starts at the initial Δ and the best can be the start.
    evaluate_and_schedule(0);
    save();
  }
  bool stop = false;
  while (st.epoch < opt.recipe.max_epochs && !stop) {
    const int epoch = st.epoch;
    model_->train();
    if (!st.epoch_started) {
      task_->begin_epoch(generator);
      // Once per epoch, right after the previous evaluation: the epoch trains
      // with this Δ and its evaluation scores it (a saved state holds it).
      if (hook_ && opt.policy.refit_at_epoch_start(epoch)) hook_->refit_steps();
      st.epoch_started = true;
    }
    auto epoch_start = std::chrono::steady_clock::now();
    auto epoch_seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    };
    for (std::int64_t s = st.next_step; s < steps_per_epoch && !stop; ++s) {
      if (g_stop_requested) {
        st.train_seconds += epoch_seconds();
        save();
        throw Interrupted(fmt::format("{}: interrupted at epoch {} update {}{}", opt.tag, epoch, s,
                                      opt.resume_path.empty() ? "" : " (training state saved)"));
      }
      // -- train_step: forward/backward see w_q; the update lands on the float weights.
      if (hook_ && opt.policy.refit_before_update(epoch)) hook_->refit_steps();
      StepLoss loss;
      {
        quant::QuantizedScope scope(hook_);
        optimizer->zero_grad();
        loss = task_->forward_backward(s);
      }
      if (result.steps == opt.nan_at_step) loss.mean = std::nan("");
      if (!std::isfinite(loss.mean))
        throw Diverged(fmt::format("training loss became {} at epoch {} step {}", loss.mean, epoch, result.steps));
      optimizer->step();
      if (hook_ && opt.policy.refit_after_update(epoch)) hook_->refit_steps();
      ++result.steps;
      st.next_step = s + 1;
      st.loss_sum += loss.mean * static_cast<double>(loss.samples);
      st.loss_count += loss.samples;
      st.samples += loss.samples;
      progress.step(epoch, opt.recipe.max_epochs, s + 1, steps_per_epoch, st.loss_sum / st.loss_count, st.lr,
                    st.samples / std::max(1e-9, st.train_seconds + epoch_seconds()));
      const bool evaluated = opt.train.eval_every > 0 && result.steps % opt.train.eval_every == 0;
      if (evaluated) {
        stop = evaluate_and_schedule(epoch);
        model_->train();  // evaluation left the model in eval mode (batch norm)
      }
      // The epoch's last update is saved by the epoch end below, not twice.
      const bool due = evaluated || std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save).count() >=
                                        opt.checkpoint_every_s;
      if (!stop && due && s + 1 < steps_per_epoch) {
        const double so_far = epoch_seconds();
        st.train_seconds += so_far;  // saved as if the epoch's time so far were complete
        save();
        st.train_seconds -= so_far;
      }
    }
    st.train_seconds += epoch_seconds();
    result.epochs = epoch + 1;
    // The older order (StepPolicy::Order::BeforeEval): the evaluation below
    // scores a Δ refit a moment ago, never trained with.
    if (hook_ && opt.policy.refit_at_epoch_end()) hook_->refit_steps();
    if (opt.train.eval_every == 0 && !stop) stop = evaluate_and_schedule(epoch + 1);
    st.epoch = epoch + 1;
    st.next_step = 0;
    st.epoch_started = false;
    if (!stop) save();
  }
  if (!stop) result.stop_reason = fmt::format("epoch budget of {} spent", opt.recipe.max_epochs);
  progress.finish();
  restore(st.best);
  result.wall_s = st.elapsed_before + seconds_since_start();
  result.samples_per_s = st.train_seconds > 0 ? static_cast<double>(st.samples) / st.train_seconds : 0;
  log->info("{} done: best dev {} at evaluation {} ({}), {:.0f} samples/s, {:.1f} s", opt.tag,
            data_.format_metric(result.best_dev), result.best_index, result.stop_reason, result.samples_per_s,
            result.wall_s);
  return result;
}

namespace {

void write_tensors(torch::serialize::OutputArchive& archive, const std::string& prefix,
                   const std::vector<torch::Tensor>& tensors) {
  archive.write(prefix + ".count", torch::tensor(static_cast<std::int64_t>(tensors.size())));
  for (std::size_t i = 0; i < tensors.size(); ++i) archive.write(fmt::format("{}.{}", prefix, i), tensors[i]);
}

std::vector<torch::Tensor> read_tensors(torch::serialize::InputArchive& archive, const std::string& prefix) {
  torch::Tensor count;
  archive.read(prefix + ".count", count);
  std::vector<torch::Tensor> out(static_cast<std::size_t>(count.item<std::int64_t>()));
  for (std::size_t i = 0; i < out.size(); ++i) archive.read(fmt::format("{}.{}", prefix, i), out[i]);
  return out;
}

torch::Tensor doubles(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

std::vector<double> to_doubles(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

void Trainer::save_state(const std::string& path, const FitState& st, const Optimizer& optimizer,
                         const at::Generator& generator) const {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    torch::serialize::OutputArchive archive;
    write_tensors(archive, "model", models::copy_state(*model_));
    archive.write("deltas", doubles(hook_ ? hook_->steps() : std::vector<double>{}));
    write_tensors(archive, "best", st.best.tensors);
    archive.write("best.deltas", doubles(st.best.deltas));
    torch::serialize::OutputArchive opt_archive, task_archive;
    optimizer.save(opt_archive);
    archive.write("optimizer", opt_archive);
    task_->save_position(task_archive);
    archive.write("task", task_archive);
    archive.write("generator", generator.get_state());
    archive.write("torch_generator", at::detail::getDefaultCPUGenerator().get_state());
    const FitResult& r = st.result;
    archive.write("counters", doubles({st.lr, double(st.bad_evals), st.loss_sum, double(st.loss_count),
                                       double(st.samples), st.train_seconds, st.elapsed_before + 0.0, double(st.epoch),
                                       double(st.next_step), st.epoch_started ? 1.0 : 0.0, double(r.steps),
                                       double(r.best_index), r.best_dev, double(r.epochs)}));
    std::vector<double> curve, curve_deltas;
    for (const auto& p : r.curve) {
      curve.insert(curve.end(), {double(p.epoch), double(p.step), p.lr, p.train_loss, p.dev_metric, p.elapsed_s,
                                 double(p.deltas.size())});
      curve_deltas.insert(curve_deltas.end(), p.deltas.begin(), p.deltas.end());
    }
    archive.write("curve", doubles(curve));
    archive.write("curve.deltas", doubles(curve_deltas));
    archive.save_to(tmp.string());
  });
}

bool Trainer::load_state(const std::string& path, FitState& st, Optimizer& optimizer, at::Generator& generator) {
  auto log = log::get("train");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    auto read = [&](const std::string& key) {
      torch::Tensor t;  // always a fresh tensor: reading into a defined one copies into its storage
      archive.read(key, t);
      return t;
    };
    auto model_state = read_tensors(archive, "model");
    auto best = read_tensors(archive, "best");
    const std::size_t expected = models::copy_state(*model_).size();
    const auto deltas = to_doubles(read("deltas"));
    if (model_state.size() != expected || best.size() != expected ||
        deltas.size() != (hook_ ? hook_->steps().size() : 0)) {
      log->warn("{}: training state of another network; starting afresh", path);
      return false;
    }
    const auto best_deltas = to_doubles(read("best.deltas"));
    const auto c = to_doubles(read("counters"));
    const auto curve = to_doubles(read("curve"));
    const auto curve_deltas = to_doubles(read("curve.deltas"));
    const torch::Tensor generator_state = read("generator"), global_state = read("torch_generator");
    if (c.size() != 14) throw std::runtime_error("bad counters");
    // In-place loads last but one: when they fail, the caller makes a fresh
    // optimizer and task and starts afresh.
    torch::serialize::InputArchive opt_archive, task_archive;
    archive.read("optimizer", opt_archive);
    optimizer.load(opt_archive);
    archive.read("task", task_archive);
    task_->load_position(task_archive);

    models::load_state(*model_, model_state);
    if (hook_) hook_->set_steps(deltas);
    st.best.tensors = best;
    st.best.deltas = best_deltas;
    generator.set_state(generator_state);
    at::Generator global = at::detail::getDefaultCPUGenerator();  // a handle to the global generator
    global.set_state(global_state);
    st.lr = c[0];
    st.bad_evals = static_cast<int>(c[1]);
    st.loss_sum = c[2];
    st.loss_count = static_cast<std::int64_t>(c[3]);
    st.samples = static_cast<std::int64_t>(c[4]);
    st.train_seconds = c[5];
    st.elapsed_before = c[6];
    st.epoch = static_cast<int>(c[7]);
    st.next_step = static_cast<std::int64_t>(c[8]);
    st.epoch_started = c[9] != 0;
    st.result.steps = static_cast<std::int64_t>(c[10]);
    st.result.best_index = static_cast<int>(c[11]);
    st.result.best_dev = c[12];
    st.result.epochs = static_cast<int>(c[13]);
    optimizer.set_lr(st.lr);
    std::size_t d = 0;
    for (std::size_t i = 0; i + 7 <= curve.size(); i += 7) {
      EvalPoint p;
      p.epoch = static_cast<int>(curve[i]);
      p.step = static_cast<std::int64_t>(curve[i + 1]);
      p.lr = curve[i + 2];
      p.train_loss = curve[i + 3];
      p.dev_metric = curve[i + 4];
      p.elapsed_s = curve[i + 5];
      const auto n = static_cast<std::size_t>(curve[i + 6]);
      if (d + n > curve_deltas.size()) throw std::runtime_error("bad curve");
      p.deltas.assign(curve_deltas.begin() + static_cast<std::ptrdiff_t>(d),
                      curve_deltas.begin() + static_cast<std::ptrdiff_t>(d + n));
      d += n;
      st.result.curve.push_back(p);
    }
    return true;
  } catch (const c10::Error& e) {
    log->warn("{}: unreadable training state ({}); starting afresh", path,
              std::string(e.what_without_backtrace()).substr(0, 200));
    return false;
  } catch (const std::exception& e) {
    log->warn("{}: unreadable training state ({}); starting afresh", path, std::string(e.what()).substr(0, 200));
    return false;
  }
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
