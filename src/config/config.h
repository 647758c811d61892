// The experiment configuration: YAML -> typed structs.
//
// Every key is declared once in schema.cpp with its type, default and help.
// Priority: default < YAML file < --set overrides. Unknown keys, wrong types
// and out-of-range values raise UserError naming the key path.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace qretrain::config {

struct DatasetConfig {
  std::string kind;   // a row of data/kinds.h
  std::string path;   // folder or file of the dataset
  int dev_size = 0;   // images held out from the end of the training set
  std::int64_t train_limit = 0;  // 0 = all; small values make quick smoke runs
  std::int64_t dev_limit = 0;    // text only: bytes of the validation split
  std::int64_t test_limit = 0;
  int svhn_dev_per_class_train = 400;  // SVHN dev split (Sermanet et al. 2012)
  int svhn_dev_per_class_extra = 200;
  bool svhn_use_extra = true;
  int context = 5;                 // speech: frames each side of the labelled frame
  std::string cache_dir;           // speech features, decoded images (empty: images not cached)
  std::uint64_t standin_seed = 1;  // speech stand-in corpus build settings
  int standin_utterances_per_speaker = 0;
  double standin_snr_min_db = 0, standin_snr_max_db = 0;
};

struct NetworkConfig {
  std::string kind;             // a row of models/kinds.h
  std::vector<int> hidden;      // hidden layer widths (ffdnn), LSTM layer widths (lstm_lm)
  bool batch_norm = false;
  std::string label;            // table column; derived when empty
};

// One training recipe (float training or quantized retraining).
struct Recipe {
  double lr = 0;
  double lr_min = 0;     // training stops once lr falls below this
  int max_epochs = 0;    // budget cap
  int hold_epochs = 0;   // epochs before the plateau rule may decay the rate (float training only)
};

struct TrainConfig {
  std::string optimizer;
  double momentum = 0;
  double weight_decay = 0;
  int batch_size = 0;
  double lr_decay = 0.5;  // factor applied on a plateau
  int patience = 4;       // non-improving evaluations before a decay
  int eval_every = 0;     // updates between dev evaluations; 0 = epoch end
  // Language models: truncated BPTT over `streams` parallel streams; each
  // update advances bptt_steps (k1) characters and back-propagates through
  // bptt_unroll (k2) steps; an epoch is epoch_chars characters (0 = all).
  int streams = 64;
  int bptt_steps = 128;
  int bptt_unroll = 256;
  std::int64_t epoch_chars = 0;
  Recipe float_recipe;
  Recipe retrain_recipe;
};

struct QuantConfig {
  std::vector<int> bits;
  std::vector<std::string> methods;
  std::string adaptive_update;     // "epoch" | "first_epochs"
  int adaptive_first_epochs = 1;
  std::string adaptive_refit;      // "after_eval" | "before_eval": Δ refit after or before each evaluation
  bool exhaustive_search = false;  // conventional: reference [4] Δ search on dev
  int search_points = 9;
  int gradual_start_bits = 6;
  std::string granularity = "tensor";      // "tensor" | "channel"
  std::map<std::string, int> layer_bits;   // group name or first / last -> bits (names checked against the network)
  std::string lsq_init = "qstep";          // "qstep" | "mean"
  bool lsq_grad_scale = true;
};

struct RuntimeConfig {
  std::string device;   // auto | cpu | cuda
  int threads = 0;      // intra-op (OpenMP) threads; 0 = measured default
  int blas_threads = 0; // OpenBLAS threads; 0 = all cores
  int cores = 0;        // cores the default thread plan fills; 0 = all (a sweep job gets its share)
  std::string gemm;     // auto | openblas | onednn: the library behind float matrix products (util/gemm.h)
  std::string progress; // auto | on | off
  double checkpoint_every_s = 300;  // training state saved at least this often
};

struct ExperimentConfig {
  std::string name;
  DatasetConfig dataset;
  NetworkConfig network;
  TrainConfig train;
  QuantConfig quant;
  std::vector<std::string> grid_networks;  // network kinds to run; empty = network.kind
  std::vector<int> seeds;
  RuntimeConfig runtime;
  std::string output_dir;
  std::string output_archive;  // folder of kept result files (sweeps), "" = none
  std::string report_paper;  // paper numbers file, "" = none

  YAML::Node resolved;   // every declared key with its effective value
  std::string source;    // the file it came from
};

// Loads `path` (or only defaults when empty), applies "a.b=value" overrides,
// validates the whole thing. Throws UserError naming the key path.
ExperimentConfig load(const std::string& path,
                      const std::vector<std::string>& overrides = {});

// One config per network of grid.networks (or {cfg} when it is empty), each
// with network.kind set, so cell identities and caches see the network.
std::vector<ExperimentConfig> expand_networks(const ExperimentConfig& cfg);

// The resolved config as commented YAML (`qretrain config --dump`).
std::string dump(const ExperimentConfig& cfg, bool with_help = true);

// Canonical text of selected sections (for cache keys and run identity):
// the typed value of every key that is part of a result's identity (see
// Field::identity and Field::legacy_yaml in schema.h).
std::string canonical(const YAML::Node& resolved, const std::vector<std::string>& sections);

// The key reference for the README / `qretrain config --help-keys`.
std::string key_reference();

}  // namespace qretrain::config
