// Everything the quantization methods share for one (experiment, seed): the
// dataset, the cached float baseline, retraining, and recording runs.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"
#include "data/dataset.h"
#include "models/network.h"
#include "quant/hook.h"
#include "report/store.h"
#include "train/trainer.h"

namespace qretrain::methods {

// Identity of a cell's result: a hash of every config section that changes it.
std::string cell_key(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed);
// Where a quantized cell's kept network (float weights + Δ) is saved.
std::string checkpoint_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed);
// Where a cell's unfinished training is saved and resumed from.
std::string resume_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed);
// Where the float baseline of (config, seed) is cached; `identity` receives
// the config text saved inside it, which a reused cache must match.
std::string baseline_file(const config::ExperimentConfig& cfg, int seed, std::string* identity);

// The quantized-weight hook of a cell: its bit width, quant.layer_bits, the
// method's granularity (NAME@channel, or quant.granularity) and step rule
// (learned for lsq), quant.lsq's options.
quant::HookOptions hook_options(const config::ExperimentConfig& cfg, const std::string& method, int bits);
// Checks quant.layer_bits against the groups of cfg's network (built for the
// dataset kind's input shape): a UserError naming the unknown key otherwise.
void check_layer_bits(const config::ExperimentConfig& cfg);

class Session {
 public:
  Session(const config::ExperimentConfig& cfg, const data::Dataset& data, torch::Device device, report::Store& store,
          int seed, bool force);

  const config::ExperimentConfig& cfg() const { return cfg_; }
  int seed() const { return seed_; }
  const data::Dataset& data() const { return data_; }
  const std::string& network_label() const { return label_; }

  // A fresh network holding the float baseline's weights. The baseline is
  // trained once per (dataset, network, train recipe, seed) and cached on
  // disk with its identity and training record inside; a cache entry made
  // with another config is never reused, an unreadable one is retrained.
  // Training it records the float run; loading it from the cache records
  // nothing.
  models::Network baseline();
  // The float cell: the baseline, recorded also when it came from the cache
  // and the store lacks it (or --force), with the training record stored in
  // the cache and a note saying it was reused.
  void train_baseline();
  // A fresh network holding the kept weights of a stored quantized cell
  // (gradual: the previous stage).
  models::Network kept_network(const std::string& method, int bits);

  // True when the store already holds a successful run of this cell (and
  // --force was not given).
  bool done(const std::string& method, int bits) const;

  // Retrains `model` with w_q from `hook` (float when null: the control)
  // under the retraining recipe, resuming the cell's saved training state.
  train::FitResult retrain(models::Network& model, quant::QuantHook* hook, const train::StepPolicy& policy,
                           const std::string& method, int bits);
  double evaluate(models::Network& model, quant::QuantHook* hook, const data::Split& split);

  // Stores the run (test error measured here, with w_q when quantized).
  // `reused_from`: the cache file the network came from, when it was not
  // trained now (`fit` is then the record of the training that made it).
  void record(const std::string& method, int bits, const std::string& step_policy, models::Network& model,
              quant::QuantHook* hook, const train::FitResult& fit, std::chrono::steady_clock::time_point started,
              const std::string& reused_from = "");
  // Stores a failed run with its reason; the caller goes on with other cells.
  void record_failure(const std::string& method, int bits, const std::string& reason,
                      std::chrono::steady_clock::time_point started);

  std::string cell_key(const std::string& method, int bits) const;
  // Where a quantized cell's kept network (weights + Δ) is saved.
  std::string checkpoint_path(const std::string& method, int bits) const;
  train::StepPolicy adaptive_policy() const;
  quant::HookOptions hook_options(const std::string& method, int bits) const {
    return methods::hook_options(cfg_, method, bits);
  }

 private:
  std::string baseline_path(std::string* identity) const;
  models::Network load_or_train_baseline(bool record_cached);
  void keep_baseline(const torch::nn::Module& model);  // sets baseline_state_ and its digest
  // Loads the cached baseline at `path` into `model` and returns its training
  // record; nullopt when there is none to reuse (see the definition).
  std::optional<train::FitResult> load_cached_baseline(const std::string& path, const std::string& identity,
                                                       models::Network& model) const;
  train::FitOptions fit_options(const config::Recipe& recipe, const train::StepPolicy& policy,
                                const std::string& method, int bits) const;
  report::RunRecord base_record(const std::string& method, int bits, std::chrono::steady_clock::time_point started,
                                std::optional<double> wall_s = std::nullopt) const;

  const config::ExperimentConfig& cfg_;
  const data::Dataset& data_;
  torch::Device device_;
  report::Store& store_;
  int seed_;
  bool force_;
  std::string label_;
  bool progress_;
  std::vector<torch::Tensor> baseline_state_;  // parameters then buffers
  std::string baseline_digest_;                // models::state_digest of it, stored with every run
};

}  // namespace qretrain::methods
