#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <ATen/record_function.h>
#include <fmt/format.h>

#include "train/optimizer.h"
#include "train/plateau.h"
#include "train/progress.h"
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

std::vector<torch::Tensor> Trainer::trainable() const {
  std::vector<torch::Tensor> params = model_->parameters();
  if (hook_)
    for (const auto& step : hook_->learned_steps()) params.push_back(step);
  return params;
}

Trainer::Snapshot Trainer::snapshot() const {
  Snapshot s;
  s.tensors = models::copy_state(*model_);
  if (hook_) s.deltas = hook_->step_sizes();
  return s;
}

void Trainer::restore(const Snapshot& s) {
  models::load_state(*model_, s.tensors);
  if (hook_) hook_->set_step_sizes(s.deltas);
}

// Everything fit() carries from update to update: enough, with the model,
// optimizer, task position and generators, to resume exactly.
struct Trainer::FitState {
  FitResult result;
  Snapshot best;
  PlateauSchedule schedule{0, 0, 0, 1};  // set from the recipe when the fit starts
  double loss_sum = 0;              // training loss since the previous evaluation
  std::int64_t loss_count = 0;
  std::int64_t samples = 0;         // training examples / characters seen
  double train_seconds = 0;         // in updates, over completed epochs
  double elapsed_before = 0;        // seconds spent in earlier processes (resumed fits)
  int epoch = 0;                    // the epoch in progress
  std::int64_t next_update = 0;       // its next update
  bool epoch_started = false;       // its order is drawn (held by the task)
};

// One call of fit(): its options, the state carried from update to update,
// and the named steps of training, each a function: resume_or_start,
// train_epoch, train_step, evaluate_and_schedule, save.
class Trainer::Fit {
 public:
  Fit(Trainer& trainer, const FitOptions& opt)
      : t_(trainer), opt_(opt), log_(log::get("train")), progress_(opt.progress, opt.tag) {
    torch::manual_seed(opt.seed);
    generator_ = at::detail::createCPUGenerator(static_cast<std::uint64_t>(opt.seed) * 7919 + 17);
    // The optimizer, and the task that cuts epochs into updates.
    optimizer_ = make_optimizer(t_.trainable(), opt.train, opt.recipe.lr);
    t_.task_ = make_task(t_.model_, t_.data_, opt.train, t_.device_);
    updates_per_epoch_ = t_.task_->updates_per_epoch();
    st_.schedule = PlateauSchedule(opt.recipe.lr, opt.recipe.lr_min, opt.train.patience, opt.train.lr_decay);
    start_ = last_save_ = Clock::now();
  }

  FitResult run() {
    resume_or_start();
    bool stop = false;
    while (st_.epoch < opt_.recipe.max_epochs && !stop) stop = train_epoch();
    FitResult& result = st_.result;
    if (!stop) result.stop_reason = fmt::format("epoch budget of {} spent", opt_.recipe.max_epochs);
    progress_.finish();
    t_.restore(st_.best);
    result.wall_s = st_.elapsed_before + seconds_since(start_);
    result.samples_per_s = st_.train_seconds > 0 ? static_cast<double>(st_.samples) / st_.train_seconds : 0;
    log_->info("{} done: best dev {} at evaluation {} ({}), {:.0f} samples/s, {:.1f} s", opt_.tag,
               t_.data_.format_metric(result.best_dev), result.best_index, result.stop_reason, result.samples_per_s,
               result.wall_s);
    return result;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

  // A saved training state continues where it stopped; a state that fails to
  // load changes nothing (load_state commits only a whole one, swapping in
  // the optimizer and task it loaded into), and the fit starts afresh.
  void resume_or_start() {
    const bool resumed = !opt_.resume_path.empty() && std::filesystem::exists(opt_.resume_path) &&
                         t_.load_state(opt_.resume_path, opt_, st_, optimizer_, generator_);
    if (resumed) {
      st_.result.resumed = true;
      log_->info("{}: resuming from {} at epoch {} update {} of {}", opt_.tag, opt_.resume_path, st_.epoch,
                 st_.next_update, updates_per_epoch_);
      return;
    }
    // Retraining starts from a network that already has a dev score: record
    // it, so the curve starts at the initial Δ and the best can be the start.
    evaluate_and_schedule(0);
    save();
  }

  // The rest of epoch st_.epoch; returns true when training should stop.
  bool train_epoch() {
    const int epoch = st_.epoch;
    t_.model_->train();
    if (!st_.epoch_started) {
      t_.task_->begin_epoch(generator_);
      // Once per epoch, right after the previous evaluation: the epoch trains
      // with this Δ and its evaluation scores it (a saved state holds it).
      if (t_.hook_ && opt_.policy.refit_at_epoch_start(epoch)) t_.hook_->refit_step_sizes();
      st_.epoch_started = true;
    }
    const Clock::time_point epoch_start = Clock::now();
    bool stop = false;
    for (std::int64_t s = st_.next_update; s < updates_per_epoch_ && !stop; ++s) {
      if (g_stop_requested) {
        st_.train_seconds += seconds_since(epoch_start);
        save();
        throw Interrupted(fmt::format("{}: interrupted at epoch {} update {}{}", opt_.tag, epoch, s,
                                      opt_.resume_path.empty() ? "" : " (training state saved)"));
      }
      train_step(epoch, s);
      progress_.step(epoch, opt_.recipe.max_epochs, s + 1, updates_per_epoch_, st_.loss_sum / st_.loss_count,
                     st_.schedule.lr(), st_.samples / std::max(1e-9, st_.train_seconds + seconds_since(epoch_start)));
      const bool evaluated = opt_.train.eval_every > 0 && st_.result.updates % opt_.train.eval_every == 0;
      if (evaluated) {
        stop = evaluate_and_schedule(epoch);
        t_.model_->train();  // evaluation left the model in eval mode (batch norm)
      }
      // The epoch's last update is saved by the epoch end below, not twice.
      const bool due = evaluated || seconds_since(last_save_) >= opt_.checkpoint_every_s;
      if (!stop && due && s + 1 < updates_per_epoch_) {
        const double so_far = seconds_since(epoch_start);
        st_.train_seconds += so_far;  // saved as if the epoch's time so far were complete
        save();
        st_.train_seconds -= so_far;
      }
    }
    st_.train_seconds += seconds_since(epoch_start);
    st_.result.epochs = epoch + 1;
    // The older order (StepPolicy::Order::BeforeEval): the evaluation below
    // scores a Δ refit a moment ago, never trained with.
    if (t_.hook_ && opt_.policy.refit_at_epoch_end()) t_.hook_->refit_step_sizes();
    if (opt_.train.eval_every == 0 && !stop) stop = evaluate_and_schedule(epoch + 1);
    st_.epoch = epoch + 1;
    st_.next_update = 0;
    st_.epoch_started = false;
    if (!stop) save();
    return stop;
  }

  // Update s of the epoch: forward/backward see w_q, the update lands on the
  // float weights; Δ is refit around it as the policy says.
  void train_step(int epoch, std::int64_t s) {
    quant::QuantHook* hook = t_.hook_;
    if (hook && opt_.policy.refit_before_update(epoch)) hook->refit_step_sizes();
    if (opt_.before_update) opt_.before_update(epoch);
    StepLoss loss;
    {
      quant::QuantizedScope scope(hook);
      optimizer_->zero_grad();
      loss = t_.task_->forward_backward(s);
    }
    if (hook) hook->accumulate_step_gradients();  // learned Δ (LSQ) only
    FitResult& result = st_.result;
    if (result.updates == opt_.nan_at_update) loss.mean = std::nan("");
    if (!std::isfinite(loss.mean))
      throw Diverged(fmt::format("training loss became {} at epoch {} update {}", loss.mean, epoch, result.updates));
    {
      RECORD_FUNCTION("qretrain::optimizer_step", std::vector<c10::IValue>());
      optimizer_->step();
    }
    if (hook) hook->after_update();
    if (hook && opt_.policy.refit_after_update(epoch)) hook->refit_step_sizes();
    ++result.updates;
    st_.next_update = s + 1;
    st_.loss_sum += loss.mean * static_cast<double>(loss.samples);
    st_.loss_count += loss.samples;
    st_.samples += loss.samples;
  }

  // A dev evaluation, the best-dev snapshot and the learning-rate plateau
  // schedule; returns true when training should stop.
  bool evaluate_and_schedule(int epoch) {
    FitResult& result = st_.result;
    EvalPoint p;
    p.epoch = epoch;
    p.updates = result.updates;
    p.lr = st_.schedule.lr();
    p.train_loss = st_.loss_count ? st_.loss_sum / static_cast<double>(st_.loss_count) : std::nan("");
    p.dev_metric = t_.evaluate(t_.data_.dev);
    p.elapsed_s = st_.elapsed_before + seconds_since(start_);
    if (t_.hook_) p.deltas = t_.hook_->group_step_sizes();  // one per layer (a per-channel group: its mean)
    st_.loss_sum = 0;
    st_.loss_count = 0;
    result.curve.push_back(p);
    // The hold is counted in updates, so an evaluation inside an epoch
    // (train.eval_every) after the hold's last update may already decay.
    const bool may_decay = result.updates >= static_cast<std::int64_t>(opt_.recipe.hold_epochs) * updates_per_epoch_;
    const bool improved = st_.schedule.record(p.dev_metric, may_decay);
    if (improved) {
      result.best_dev = p.dev_metric;
      result.best_index = static_cast<int>(result.curve.size()) - 1;
      st_.best = t_.snapshot();
    } else if (st_.schedule.lr() != p.lr) {
      optimizer_->set_lr(st_.schedule.lr());
    }
    if (opt_.after_evaluation) opt_.after_evaluation(p);
    const std::string dev = t_.data_.format_metric(p.dev_metric);
    progress_.evaluation(dev);
    log_->info("{} epoch {} update {} loss {} dev {}{} lr {:.3g}", opt_.tag, epoch, p.updates,
               std::isnan(p.train_loss) ? "-" : fmt::format("{:.4f}", p.train_loss), dev, improved ? " (best)" : "",
               p.lr);
    if (!st_.schedule.finished()) return false;
    result.stop_reason = fmt::format("learning rate {:.3g} fell below {:.3g}", st_.schedule.lr(), opt_.recipe.lr_min);
    return true;
  }

  // The training state to opt.resume_path (if any), saved with the time of
  // every process so far, this one included, so a resumed fit's wall time
  // counts the interrupted processes too.
  void save() {
    if (opt_.resume_path.empty()) return;
    const double before = st_.elapsed_before;
    st_.elapsed_before += seconds_since(start_);
    t_.save_state(opt_.resume_path, st_, *optimizer_, generator_);
    st_.elapsed_before = before;
    last_save_ = Clock::now();
  }

  Trainer& t_;
  const FitOptions& opt_;
  std::shared_ptr<spdlog::logger> log_;
  Progress progress_;
  at::Generator generator_;
  std::unique_ptr<Optimizer> optimizer_;
  std::int64_t updates_per_epoch_ = 0;
  Clock::time_point start_, last_save_;
  FitState st_;
};

FitResult Trainer::fit(const FitOptions& opt) { return Fit(*this, opt).run(); }

namespace {

// Files are flat lists of named tensors plus a checksum over all of them.
// LibTorch's zip reader does not verify CRCs, so a file with flipped bytes
// can still open and hand back different numbers; the checksum catches that
// before anything read from the file is used. It is the sum of one FNV-1a
// hash per field (key, dtype, shape, bytes), so it does not depend on the
// order fields are written or read in, only on reading every one of them.
std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint64_t field_hash(const std::string& key, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  std::uint64_t h = fnv1a(key.data(), key.size());
  const auto type = static_cast<std::int64_t>(c.scalar_type());
  h = fnv1a(&type, sizeof type, h);
  for (const std::int64_t d : c.sizes()) h = fnv1a(&d, sizeof d, h);
  return fnv1a(c.data_ptr(), c.nbytes(), h);
}

torch::Tensor checksum_tensor(std::uint64_t sum) {
  return torch::tensor(static_cast<std::int64_t>(sum), torch::kInt64);  // the bits, reinterpreted
}

class FieldWriter {
 public:
  explicit FieldWriter(torch::serialize::OutputArchive& archive) : archive_(archive) {}
  void add(const std::string& key, const torch::Tensor& t) {
    sum_ += field_hash(key, t);
    archive_.write(key, t);
  }
  void add_tensors(const std::string& prefix, const std::vector<torch::Tensor>& tensors) {
    add(prefix + ".count", torch::tensor(static_cast<std::int64_t>(tensors.size()), torch::kInt64));
    for (std::size_t i = 0; i < tensors.size(); ++i) add(fmt::format("{}.{}", prefix, i), tensors[i]);
  }
  void add_double(const std::string& key, double v) { add(key, torch::tensor(v, torch::kFloat64)); }
  void add_doubles(const std::string& key, const std::vector<double>& v) {
    add(key, torch::tensor(v, torch::kFloat64));
  }
  void add_int(const std::string& key, std::int64_t v) { add(key, torch::tensor(v, torch::kInt64)); }
  void add_bytes(const std::string& key, const std::string& bytes) {
    add(key, torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<std::int64_t>(bytes.size())},
                              torch::kUInt8)
                 .clone());
  }
  // A nested archive (optimizer, task) as one field of bytes, so the
  // checksum covers it too.
  void add_archive(const std::string& key, torch::serialize::OutputArchive& nested) {
    std::ostringstream bytes;
    nested.save_to(bytes);
    add_bytes(key, bytes.str());
  }
  // Adds the checksum of `extra` (a hash the caller computed over data it
  // wrote itself) and of every field added so far.
  void finish(const std::string& key, std::uint64_t extra = 0) { archive_.write(key, checksum_tensor(sum_ + extra)); }

 private:
  torch::serialize::OutputArchive& archive_;
  std::uint64_t sum_ = 0;
};

class FieldReader {
 public:
  explicit FieldReader(torch::serialize::InputArchive& archive) : archive_(archive) {}
  bool has(const std::string& key) {
    torch::Tensor t;
    return archive_.try_read(key, t);
  }
  torch::Tensor get(const std::string& key) {
    torch::Tensor t;  // always a fresh tensor: reading into a defined one copies into its storage
    if (!archive_.try_read(key, t)) throw std::runtime_error(fmt::format("no field '{}'", key));
    sum_ += field_hash(key, t);
    return t;
  }
  std::vector<torch::Tensor> get_tensors(const std::string& prefix) {
    const std::int64_t n = get_int(prefix + ".count");
    if (n < 0 || n > 100000) throw std::runtime_error(fmt::format("bad field '{}.count'", prefix));
    std::vector<torch::Tensor> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = get(fmt::format("{}.{}", prefix, i));
    return out;
  }
  std::vector<double> get_doubles(const std::string& key) {
    const torch::Tensor t = typed(key, torch::kFloat64);
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  double get_double(const std::string& key) { return scalar(typed(key, torch::kFloat64)).item<double>(); }
  std::int64_t get_int(const std::string& key) { return scalar(typed(key, torch::kInt64)).item<std::int64_t>(); }
  std::string get_bytes(const std::string& key) {
    const torch::Tensor t = typed(key, torch::kUInt8);
    if (t.numel() == 0) return "";
    return std::string(reinterpret_cast<const char*>(t.data_ptr<std::uint8_t>()), static_cast<std::size_t>(t.numel()));
  }
  void get_archive(const std::string& key, torch::serialize::InputArchive& nested) {
    const std::string bytes = get_bytes(key);
    nested.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
  }
  // Throws unless the stored checksum equals that of every field read so far
  // (plus `extra`, the caller's hash of data it read itself).
  void verify(const std::string& key, std::uint64_t extra = 0) {
    const std::uint64_t expected = sum_ + extra;  // before the checksum field itself is read (and summed)
    const torch::Tensor stored = scalar(typed(key, torch::kInt64));
    if (stored.item<std::int64_t>() != checksum_tensor(expected).item<std::int64_t>())
      throw std::runtime_error("checksum mismatch (the file was changed or damaged)");
  }

 private:
  torch::Tensor typed(const std::string& key, torch::ScalarType type) {
    torch::Tensor t = get(key);
    if (t.scalar_type() != type || t.dim() > 1)
      throw std::runtime_error(fmt::format("field '{}' has an unexpected type", key));
    return t.contiguous();
  }
  static const torch::Tensor& scalar(const torch::Tensor& t) {
    if (t.numel() != 1) throw std::runtime_error("a counter is not one number");
    return t;
  }
  torch::serialize::InputArchive& archive_;
  std::uint64_t sum_ = 0;
};

// A FitResult as named fields: the progress of a fit (in a training state)
// or its whole record (with a float baseline).
void write_result(FieldWriter& f, const std::string& prefix, const FitResult& r) {
  f.add_int(prefix + ".steps", r.updates);  // the key older files were written with
  f.add_int(prefix + ".best_index", r.best_index);
  f.add_double(prefix + ".best_dev", r.best_dev);
  f.add_int(prefix + ".epochs", r.epochs);
  f.add_double(prefix + ".wall_s", r.wall_s);
  f.add_double(prefix + ".samples_per_s", r.samples_per_s);
  f.add_bytes(prefix + ".stop_reason", r.stop_reason);
  f.add_int(prefix + ".resumed", r.resumed ? 1 : 0);
  std::vector<double> curve, curve_deltas;
  for (const auto& p : r.curve) {
    curve.insert(curve.end(), {double(p.epoch), double(p.updates), p.lr, p.train_loss, p.dev_metric, p.elapsed_s,
                               double(p.deltas.size())});
    curve_deltas.insert(curve_deltas.end(), p.deltas.begin(), p.deltas.end());
  }
  f.add_doubles(prefix + ".curve", curve);
  f.add_doubles(prefix + ".curve.deltas", curve_deltas);
}

FitResult read_result(FieldReader& f, const std::string& prefix) {
  FitResult r;
  r.updates = f.get_int(prefix + ".steps");
  r.best_index = static_cast<int>(f.get_int(prefix + ".best_index"));
  r.best_dev = f.get_double(prefix + ".best_dev");
  r.epochs = static_cast<int>(f.get_int(prefix + ".epochs"));
  r.wall_s = f.get_double(prefix + ".wall_s");
  r.samples_per_s = f.get_double(prefix + ".samples_per_s");
  r.stop_reason = f.get_bytes(prefix + ".stop_reason");
  r.resumed = f.get_int(prefix + ".resumed") != 0;
  const auto curve = f.get_doubles(prefix + ".curve");
  const auto curve_deltas = f.get_doubles(prefix + ".curve.deltas");
  if (curve.size() % 7 != 0) throw std::runtime_error("bad curve");
  std::size_t d = 0;
  for (std::size_t i = 0; i < curve.size(); i += 7) {
    EvalPoint p;
    p.epoch = static_cast<int>(curve[i]);
    p.updates = static_cast<std::int64_t>(curve[i + 1]);
    p.lr = curve[i + 2];
    p.train_loss = curve[i + 3];
    p.dev_metric = curve[i + 4];
    p.elapsed_s = curve[i + 5];
    const double n = curve[i + 6];
    if (!(n >= 0) || n > static_cast<double>(curve_deltas.size() - d)) throw std::runtime_error("bad curve");
    p.deltas.assign(curve_deltas.begin() + static_cast<std::ptrdiff_t>(d),
                    curve_deltas.begin() + static_cast<std::ptrdiff_t>(d + static_cast<std::size_t>(n)));
    d += static_cast<std::size_t>(n);
    r.curve.push_back(std::move(p));
  }
  if (d != curve_deltas.size()) throw std::runtime_error("bad curve");
  if (r.updates < 0 || r.epochs < 0 || r.best_index < -1 || r.best_index >= static_cast<int>(r.curve.size()))
    throw std::runtime_error("bad counters");
  return r;
}

// The same tensors, by count, shape and dtype (a state or checkpoint of
// this network).
bool same_layout(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].sizes() != b[i].sizes() || a[i].scalar_type() != b[i].scalar_type()) return false;
  return true;
}

// The format of a training state: a file with another (older: a positional
// `counters` array) is unreadable and the fit starts afresh, which costs only
// the time it had trained.
constexpr std::int64_t kStateFormat = 2;

}  // namespace

void Trainer::save_state(const std::string& path, const FitState& st, const Optimizer& optimizer,
                         const at::Generator& generator) const {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    torch::serialize::OutputArchive archive;
    FieldWriter f(archive);
    f.add_int("format", kStateFormat);
    f.add_tensors("model", models::copy_state(*model_));
    f.add_doubles("deltas", hook_ ? hook_->step_sizes() : std::vector<double>{});
    f.add_tensors("best", st.best.tensors);
    f.add_doubles("best.deltas", st.best.deltas);
    torch::serialize::OutputArchive opt_archive, task_archive;
    optimizer.save(opt_archive);
    f.add_archive("optimizer", opt_archive);
    task_->save_position(task_archive);
    f.add_archive("task", task_archive);
    f.add("generator", generator.get_state());
    f.add("torch_generator", at::detail::getDefaultCPUGenerator().get_state());
    // One named field per counter, so a field can be added or dropped later
    // without the others being read as something else.
    f.add_double("fit.lr", st.schedule.lr());
    f.add_int("fit.bad_evals", st.schedule.bad_evals());
    f.add_double("fit.loss_sum", st.loss_sum);
    f.add_int("fit.loss_count", st.loss_count);
    f.add_int("fit.samples", st.samples);
    f.add_double("fit.train_seconds", st.train_seconds);
    f.add_double("fit.elapsed_before", st.elapsed_before);
    f.add_int("fit.epoch", st.epoch);
    f.add_int("fit.next_step", st.next_update);  // the key older states were written with
    f.add_int("fit.epoch_started", st.epoch_started ? 1 : 0);
    write_result(f, "result", st.result);
    f.finish("checksum");
    archive.save_to(tmp.string());
  });
}

bool Trainer::load_state(const std::string& path, const FitOptions& opt, FitState& st,
                         std::unique_ptr<Optimizer>& optimizer, at::Generator& generator) {
  auto log = log::get("train");
  try {
    // -- decode every field into temporaries; nothing of this fit changes
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::Device(torch::kCPU));
    FieldReader f(archive);
    if (f.get_int("format") != kStateFormat) throw std::runtime_error("another format");
    const auto model_state = f.get_tensors("model");
    const auto best = f.get_tensors("best");
    const auto current = models::copy_state(*model_);
    const auto deltas = f.get_doubles("deltas");
    const auto best_deltas = f.get_doubles("best.deltas");
    const std::size_t groups = hook_ ? hook_->step_sizes().size() : 0;
    if (!same_layout(model_state, current) || !same_layout(best, current) || deltas.size() != groups ||
        best_deltas.size() != groups) {
      log->warn("{}: training state of another network; starting afresh", path);
      return false;
    }
    FitState next;
    next.best.tensors = best;
    next.best.deltas = best_deltas;
    const double lr = f.get_double("fit.lr");
    const auto bad_evals = f.get_int("fit.bad_evals");
    next.loss_sum = f.get_double("fit.loss_sum");
    next.loss_count = f.get_int("fit.loss_count");
    next.samples = f.get_int("fit.samples");
    next.train_seconds = f.get_double("fit.train_seconds");
    next.elapsed_before = f.get_double("fit.elapsed_before");
    next.epoch = static_cast<int>(f.get_int("fit.epoch"));
    next.next_update = f.get_int("fit.next_step");
    next.epoch_started = f.get_int("fit.epoch_started") != 0;
    next.result = read_result(f, "result");
    if (!(lr > 0) || bad_evals < 0 || next.loss_count < 0 || next.samples < 0 || next.epoch < 0 ||
        next.next_update < 0 || next.next_update > task_->updates_per_epoch())
      throw std::runtime_error("bad counters");
    next.schedule = PlateauSchedule(opt.recipe.lr, opt.recipe.lr_min, opt.train.patience, opt.train.lr_decay);
    next.schedule.restore(lr, static_cast<int>(bad_evals), next.result.best_index >= 0, next.result.best_dev);
    // The generators' states are tried on scratch generators first: a state
    // they refuse must not reach the ones in use.
    at::Generator next_generator = at::detail::createCPUGenerator();
    next_generator.set_state(f.get("generator"));
    const torch::Tensor global_state = f.get("torch_generator");
    at::Generator scratch = at::detail::createCPUGenerator();
    scratch.set_state(global_state);
    // The optimizer and task load in place, so they load into fresh ones
    // made for this fit and replace the ones in use only at the commit.
    torch::serialize::InputArchive opt_archive, task_archive;
    f.get_archive("optimizer", opt_archive);
    f.get_archive("task", task_archive);
    f.verify("checksum");
    auto next_optimizer = make_optimizer(trainable(), opt.train, opt.recipe.lr);
    next_optimizer->load(opt_archive);
    next_optimizer->set_lr(lr);
    auto next_task = make_task(model_, data_, opt.train, device_);
    next_task->load_position(task_archive);

    // -- commit: every step below has been checked not to fail
    models::load_state(*model_, model_state);
    if (hook_) hook_->set_step_sizes(deltas);
    generator = next_generator;
    at::Generator global = at::detail::getDefaultCPUGenerator();  // a handle to the global generator
    global.set_state(global_state);
    optimizer = std::move(next_optimizer);
    task_ = std::move(next_task);
    st = std::move(next);
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

namespace {

// The checksum of a module's weights and buffers by name: what
// Module::save/load write and read, which FieldWriter does not see.
std::uint64_t module_hash(const torch::nn::Module& model) {
  std::uint64_t sum = 0;
  for (const auto& p : model.named_parameters()) sum += field_hash(p.key(), p.value());
  for (const auto& b : model.named_buffers()) sum += field_hash(b.key(), b.value());
  return sum;
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model, const std::vector<double>& deltas) {
  CheckpointInfo info;
  info.deltas = deltas;
  save_checkpoint(path, model, info);
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, const CheckpointInfo& info) {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    FieldWriter f(archive);
    f.add_doubles("qretrain.deltas", info.deltas);
    if (!info.identity.empty()) f.add_bytes("qretrain.identity", info.identity);
    if (info.training) write_result(f, "qretrain.training", *info.training);
    f.finish("qretrain.checksum", module_hash(model));
    archive.save_to(tmp.string());
  });
}

std::vector<double> load_checkpoint(const std::string& path, torch::nn::Module& model) {
  return load_checkpoint(path, model, "").deltas;
}

CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model,
                               const std::string& expected_identity) {
  CheckpointInfo info;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::Device(torch::kCPU));  // a checkpoint saved on a GPU loads on any machine
    FieldReader f(archive);
    if (f.has("qretrain.identity")) info.identity = f.get_bytes("qretrain.identity");
    if (!expected_identity.empty() && !info.identity.empty() && info.identity != expected_identity)
      throw CheckpointIdentityMismatch(fmt::format("{}: trained with a different config", path));
    model.load(archive);
    info.deltas = f.get_doubles("qretrain.deltas");
    if (f.has("qretrain.training.steps")) info.training = read_result(f, "qretrain.training");
    // Checkpoints written before the checksum existed load unchecked.
    if (f.has("qretrain.checksum")) f.verify("qretrain.checksum", module_hash(model));
  } catch (const UserError&) {
    throw;
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: unreadable or incompatible checkpoint ({})", path,
                                std::string(e.what_without_backtrace()).substr(0, 200)));
  } catch (const std::exception& e) {
    throw UserError(fmt::format("{}: unreadable or incompatible checkpoint ({})", path, e.what()));
  }
  return info;
}

}  // namespace qretrain::train
