#include "methods/session.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/kinds.h"
#include "methods/kinds.h"
#include "train/progress.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/gemm.h"
#include "util/log.h"

namespace qretrain::methods {

namespace fs = std::filesystem;

Session::Session(const config::ExperimentConfig& cfg, const data::Dataset& data, torch::Device device,
                 report::Store& store, int seed, bool force)
    : cfg_(cfg),
      data_(data),
      device_(device),
      store_(store),
      seed_(seed),
      force_(force),
      label_(models::network_label(cfg.network)),
      progress_(train::progress_enabled(cfg.runtime.progress)) {}

std::string cell_key(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed) {
  // Everything that changes the cell's result, nothing that doesn't
  // (bit widths and methods of other cells, output, runtime).
  std::vector<std::string> sections = {"dataset", "network", "train"};
  for (const auto& s : method_kind(method).identity_sections) sections.push_back(s);
  return stable_hash(fmt::format("identity{}|{}|{}|{}|{}|{}", config::kIdentityScheme, cfg.name,
                                 config::canonical(cfg.resolved, sections), method, bits, seed));
}

// A method's name as part of a file name ("adaptive+gradual" -> "adaptive-gradual").
std::string file_name_part(std::string method) {
  std::replace(method.begin(), method.end(), '+', '-');
  return method;
}

std::string checkpoint_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed) {
  return (fs::path(cfg.output_dir) / "checkpoints" /
          fmt::format("{}-{}-{}bit-seed{}-{}.pt", models::network_label(cfg.network),
                      file_name_part(method), bits, seed,
                      cell_key(cfg, method, bits, seed)))
      .string();
}

std::string resume_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed) {
  return (fs::path(cfg.output_dir) / "resume" / (cell_key(cfg, method, bits, seed) + ".pt")).string();
}

std::string baseline_file(const config::ExperimentConfig& cfg, int seed, std::string* identity) {
  *identity = fmt::format("identity{}|{}seed={};", config::kIdentityScheme,
                          config::canonical(cfg.resolved, {"dataset", "network", "train"}), seed);
  return (fs::path(cfg.output_dir) / "baselines" /
          fmt::format("{}-seed{}-{}.pt", models::network_label(cfg.network), seed, stable_hash(*identity)))
      .string();
}

quant::HookOptions hook_options(const config::ExperimentConfig& cfg, const std::string& method, int bits) {
  const MethodKind& kind = method_kind(method);
  quant::HookOptions o;
  o.bits = bits;
  o.layer_bits = cfg.quant.layer_bits;
  o.granularity = kind.per_channel || cfg.quant.granularity == "channel" ? quant::Granularity::Channel
                                                                         : quant::Granularity::Tensor;
  o.rule = kind.learned_step ? quant::StepRule::Learned : quant::StepRule::Fitted;
  o.lsq_mean_init = cfg.quant.lsq_init == "mean";
  o.lsq_grad_scale = cfg.quant.lsq_grad_scale;
  return o;
}

void check_layer_bits(const config::ExperimentConfig& cfg) {
  if (cfg.quant.layer_bits.empty()) return;
  const data::DatasetKind& dataset = data::dataset_kind(cfg.dataset.kind);
  models::Network network = models::make_network(cfg.network, {dataset.input_shape(cfg.dataset), dataset.classes});
  const std::vector<std::string> groups = quant::weight_group_names(*network);
  for (const auto& [key, bits] : cfg.quant.layer_bits) {
    try {
      quant::resolve_layer_bits({{key, bits}}, groups);
    } catch (const std::invalid_argument& e) {
      throw UserError(fmt::format("quant.layer_bits.{}: {} ({})", key, e.what(), models::network_label(cfg.network)));
    }
  }
}

std::string Session::cell_key(const std::string& method, int bits) const {
  return methods::cell_key(cfg_, method, bits, seed_);
}

std::string Session::checkpoint_path(const std::string& method, int bits) const {
  return checkpoint_file(cfg_, method, bits, seed_);
}

bool Session::done(const std::string& method, int bits) const {
  return !force_ && store_.has_ok(cell_key(method, bits));
}

train::StepPolicy Session::adaptive_policy() const {
  train::StepPolicy p;
  const auto& q = cfg_.quant;
  if (q.adaptive_update == "epoch") {
    p.when = train::StepPolicy::When::Epoch;
  } else if (q.adaptive_update == "first_epochs") {
    p.when = train::StepPolicy::When::EveryUpdateFirstEpochs;
    p.first_epochs = q.adaptive_first_epochs;
  } else {
    throw std::logic_error("quant.adaptive.update: unhandled value " + q.adaptive_update);
  }
  if (q.adaptive_refit == "after_eval") p.order = train::StepPolicy::Order::AfterEval;
  else if (q.adaptive_refit == "before_eval") p.order = train::StepPolicy::Order::BeforeEval;
  else throw std::logic_error("quant.adaptive.refit: unhandled value " + q.adaptive_refit);
  return p;
}

std::string Session::baseline_path(std::string* identity) const { return baseline_file(cfg_, seed_, identity); }

models::Network Session::baseline() { return load_or_train_baseline(false); }

void Session::train_baseline() { load_or_train_baseline(true); }

std::optional<train::FitResult> Session::load_cached_baseline(const std::string& path, const std::string& identity,
                                                              models::Network& model) const {
  auto log = log::get("baseline");
  if (!fs::exists(path)) return std::nullopt;
  // A cache entry that cannot be used as it is, but names no other config,
  // is treated as absent: the baseline is retrained and the file replaced
  // whole (atomic_write), which costs only time and needs nobody to delete
  // anything. That covers a damaged or cut-short file, and one written
  // before the identity and training record lived inside it (a sidecar
  // `.config` file): reusing that one would record a float run without its
  // curve, and a kill between its two writes could leave it without a
  // sidecar. A file that names another config is refused instead: it may be
  // another experiment's result, and only a person should delete it.
  // An older format's sidecar is checked first: a file of another network
  // would otherwise fail to load and be retrained over.
  const std::string sidecar = path + ".config";
  if (fs::exists(sidecar) && read_text_file(sidecar) != identity)
    throw UserError(fmt::format("{}: cached baseline was trained with a different config (see {}); delete it "
                                "to retrain",
                                path, sidecar));
  train::CheckpointInfo info;
  try {
    info = train::load_checkpoint(path, *model, identity);
  } catch (const train::CheckpointIdentityMismatch&) {
    throw UserError(fmt::format("{}: cached baseline was trained with a different config; delete it to retrain", path));
  } catch (const UserError& e) {
    log->warn("{}; retraining the float baseline, which replaces it", e.what());
    return std::nullopt;
  }
  if (info.identity.empty() || !info.training) {
    log->warn("{}: cached baseline of an older format (no training record inside); retraining it", path);
    return std::nullopt;
  }
  return info.training;
}

void Session::keep_baseline(const torch::nn::Module& model) {
  baseline_state_ = models::copy_state(model);
  baseline_digest_ = models::state_digest(baseline_state_);
}

models::Network Session::load_or_train_baseline(bool record_cached) {
  auto log = log::get("baseline");
  auto fresh_network = [&] {
    torch::manual_seed(static_cast<std::uint64_t>(seed_));  // the seed decides the initial weights too
    models::Network m = models::make_network(cfg_.network, {data_.input_shape, data_.num_classes});
    m->to(device_);
    return m;
  };
  models::Network model = fresh_network();
  if (baseline_state_.empty()) {
    std::string identity;
    const std::string path = baseline_path(&identity);
    const auto started = std::chrono::steady_clock::now();
    log->info("{} seed {}: {} trainable parameters; {}", label_, seed_, models::count_parameters(*model),
              model->describe());
    const bool existed = fs::exists(path);
    if (std::optional<train::FitResult> cached = load_cached_baseline(path, identity, model)) {
      log->info("{} seed {}: reusing cached float baseline {}", label_, seed_, path);
      // The float cell is recorded with the training record kept in the
      // checkpoint (curve, epochs, updates, stop reason, best dev, speed,
      // wall time), so rerunning it (--force, or another experiment sharing
      // the baseline) replaces a record with an equal one, never with an
      // empty one.
      keep_baseline(*model);
      if (record_cached && !done(baseline_method(), 0)) record(baseline_method(), 0, "-", model, nullptr, *cached, started, path);
    } else {
      if (existed) model = fresh_network();  // a failed load may have written part of its weights
      log->info("{} seed {}: training the float baseline", label_, seed_);
      train::Trainer trainer(model, data_, device_);
      train::CheckpointInfo info;
      info.identity = identity;
      info.training = trainer.fit(fit_options(cfg_.train.float_recipe, {}, baseline_method(), 0));
      // One file, written whole: the identity and training record travel with the weights.
      train::save_checkpoint(path, *model, info);
      std::error_code ignored;
      fs::remove(path + ".config", ignored);  // an older format's sidecar, now stale
      keep_baseline(*model);
      record(baseline_method(), 0, "-", model, nullptr, *info.training, started);
    }
    return model;
  }
  models::load_state(*model, baseline_state_);
  return model;
}

models::Network Session::kept_network(const std::string& method, int bits) {
  const std::string path = checkpoint_path(method, bits);
  if (!fs::exists(path))
    throw UserError(fmt::format("{}: kept network of {} {}-bit is missing (its cell must succeed first; rerun it "
                                "with --force if the file was deleted)",
                                path, method, bits));
  models::Network model = models::make_network(cfg_.network, {data_.input_shape, data_.num_classes});
  model->to(device_);
  train::load_checkpoint(path, *model);
  return model;
}

train::FitOptions Session::fit_options(const config::Recipe& recipe, const train::StepPolicy& policy,
                                       const std::string& method, int bits) const {
  train::FitOptions opt;
  opt.train = cfg_.train;
  opt.recipe = recipe;
  opt.seed = seed_;
  opt.policy = policy;
  opt.tag = bits ? fmt::format("{} {} {}-bit", label_, method, bits) : fmt::format("{} {}", label_, method);
  opt.progress = progress_;
  opt.resume_path = resume_file(cfg_, method, bits, seed_);
  opt.checkpoint_every_s = cfg_.runtime.checkpoint_every_s;
  // Testing aid: QRETRAIN_TEST_DIVERGE=method:bits makes that cell's training
  // loss NaN, to exercise the path of a diverging run end to end.
  if (const char* env = std::getenv("QRETRAIN_TEST_DIVERGE"); env && fmt::format("{}:{}", method, bits) == env)
    opt.nan_at_update = 2;
  return opt;
}

train::FitResult Session::retrain(models::Network& model, quant::QuantHook* hook, const train::StepPolicy& policy,
                                  const std::string& method, int bits) {
  train::Trainer trainer(model, data_, device_, hook);
  return trainer.fit(fit_options(cfg_.train.retrain_recipe, policy, method, bits));
}

double Session::evaluate(models::Network& model, quant::QuantHook* hook, const data::Split& split) {
  train::Trainer trainer(model, data_, device_, hook);
  return trainer.evaluate(split);
}

report::RunRecord Session::base_record(const std::string& method, int bits,
                                       std::chrono::steady_clock::time_point started,
                                       std::optional<double> wall_s) const {
  report::RunRecord r;
  r.cell_key = cell_key(method, bits);
  r.identity_scheme = config::kIdentityScheme;
  r.experiment = cfg_.name;
  r.dataset = data_.name;
  r.network = label_;
  r.method = method;
  r.bits = bits;
  r.seed = seed_;
  r.config_yaml = config::dump(cfg_, false);
  r.commit = build_commit();
  // The numeric setup beside the CPU: with them, it decides the rounding.
  r.machine = fmt::format("{}; {}", machine_description(), gemm::numerics_summary());
  r.finished_at = current_time_iso();
  r.wall_s = wall_s ? *wall_s : std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Start time derived from the wall time so both describe the same interval.
  std::time_t start = std::time(nullptr) - static_cast<std::time_t>(r.wall_s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&start));
  r.started_at = buf;
  return r;
}

void Session::record(const std::string& method, int bits, const std::string& step_policy, models::Network& model,
                     quant::QuantHook* hook, const train::FitResult& fit,
                     std::chrono::steady_clock::time_point started, const std::string& reused_from) {
  // A run reused from the cache is described by the training that made it:
  // its wall time, and a note saying where it came from.
  report::RunRecord r =
      base_record(method, bits, started, reused_from.empty() ? std::nullopt : std::optional<double>(fit.wall_s));
  if (!reused_from.empty())
    r.note = fmt::format("reused from the cache {} (its training record: {})", reused_from, fit.stop_reason);
  r.step_policy = step_policy;
  r.test_metric = evaluate(model, hook, data_.test);
  r.dev_metric = fit.best_index >= 0 ? fit.best_dev : evaluate(model, hook, data_.dev);
  r.epochs = fit.epochs;
  r.updates = fit.updates;
  r.stop_reason = fit.stop_reason;
  // Stages of a gradual chain below its start load the previous stage's
  // network, not the baseline: '' unless this process loaded the baseline
  // too (the sweep re-runs a stale stage's later stages with it).
  r.baseline_digest = baseline_digest_;
  r.samples_per_s = fit.samples_per_s;
  r.curve = fit.curve;
  if (hook) {
    for (const auto& g : hook->groups()) r.group_names.push_back(g.name);
    // The kept network: float weights and the Δ they were scored with, so
    // w_q = Q(w, Δ) can be rebuilt exactly (written before the record).
    train::save_checkpoint(checkpoint_path(method, bits), *model, hook->step_sizes());
  }
  store_.put(r);
  log::get("result")->info("{} {}: test {} {} (dev {}){}", label_,
                           bits ? fmt::format("{} {}-bit", method, bits) : method, data_.metric,
                           data_.format_metric(r.test_metric), data_.format_metric(r.dev_metric),
                           hook ? fmt::format(", Δ = [{:.4g}]", fmt::join(hook->group_step_sizes(), ", ")) : "");
}

void Session::record_failure(const std::string& method, int bits, const std::string& reason,
                             std::chrono::steady_clock::time_point started) {
  report::RunRecord r = base_record(method, bits, started);
  r.step_policy = "-";
  r.status = "failed";
  r.failure = reason;
  r.test_metric = std::nan("");
  r.dev_metric = std::nan("");
  store_.put(r);
  log::get("result")->error("{} {} {}-bit failed: {}", label_, method, bits, reason);
}

}  // namespace qretrain::methods
