#include "config/schema.h"

#include "data/kinds.h"
#include "methods/kinds.h"
#include "models/kinds.h"
#include "util/registry.h"

namespace qretrain::config {

const std::vector<Field>& schema() {
  static const std::vector<Field> fields = {
      {"name", Kind::String, "experiment", "experiment name; groups runs in the results store and tables", {}, Identity::NotPart},

      {"dataset.kind", Kind::String, "fashion-mnist", "dataset loader", row_names(data::dataset_kinds())},
      {"dataset.path", Kind::String, "/usr/share/datasets/fashion-mnist",
       "dataset folder (Fashion-MNIST: the four *-idx?-ubyte.gz files; TIMIT: the folder holding TRAIN/ and TEST/; "
       "speech-standin: built there on first use; enwik8: the enwik8 file; gcide: /usr/share/dictd/gcide.dict.dz)", {}, Identity::NotPart},
      {"dataset.dev_size", Kind::Int, "5000", "examples held out from the end of the training set as dev set", {}},
      {"dataset.train_limit", Kind::Int, "0",
       "use only N training examples (0 = all; speech: frames, text: the first N bytes); for smoke runs", {}},
      {"dataset.dev_limit", Kind::Int, "0",
       "text: score dev evaluations on the first N bytes of the validation split (0 = all)", {}},
      {"dataset.test_limit", Kind::Int, "0", "use only the first N test examples (0 = all; text: bytes)", {}},
      {"dataset.svhn.dev_per_class_train", Kind::Int, "400", "svhn: dev images per class taken from train_32x32.mat", {}},
      {"dataset.svhn.dev_per_class_extra", Kind::Int, "200", "svhn: dev images per class taken from extra_32x32.mat", {}},
      {"dataset.svhn.use_extra", Kind::Bool, "true", "svhn: add extra_32x32.mat to training when present", {}},
      {"dataset.context", Kind::Int, "5", "timit: frames of context each side (5 = the paper's 11-frame window)", {}},
      {"dataset.cache_dir", Kind::String, "cache", "folder for cached data: timit features, fashion-mnist and svhn decoded splits (recomputed when missing)", {}, Identity::NotPart},
      {"dataset.standin.seed", Kind::Int, "1", "speech-standin: seed of the synthetic corpus", {}},
      {"dataset.standin.utterances_per_speaker", Kind::Int, "42", "speech-standin: sentences read by each speaker", {}},
      {"dataset.standin.snr_min_db", Kind::Float, "5", "speech-standin: lowest SNR of the added noise (dB)", {}},
      {"dataset.standin.snr_max_db", Kind::Float, "20", "speech-standin: highest SNR of the added noise (dB)", {}},

      {"network.kind", Kind::String, "lenet5", "network architecture (lenet5 = the paper's L, cnn_c = C, cnn_v = V)",
       row_names(models::network_kinds())},
      {"network.hidden", Kind::IntList, "[512, 512]", "ffdnn: width of each hidden layer; lstm_lm: cells of each LSTM layer", {}},
      {"network.batch_norm", Kind::Bool, "false", "ffdnn: batch normalisation after each hidden layer", {}},
      {"network.label", Kind::String, "\"\"", "column name in tables (default: derived from kind and size)", {}, Identity::NotPart},

      {"train.optimizer", Kind::String, "sgd_nesterov",
       "optimizer (rmsprop: the AdaDelta-style per-weight scaling used for the LSTMs, see README)",
       {"sgd_nesterov", "sgd", "rmsprop", "adam"}},
      {"train.momentum", Kind::Float, "0.9", "momentum coefficient", {}},
      {"train.weight_decay", Kind::Float, "0", "L2 weight decay", {}},
      {"train.batch_size", Kind::Int, "64", "examples per update", {}},
      {"train.lr", Kind::Float, "0.02", "initial learning rate of float training", {}},
      {"train.lr_min", Kind::Float, "3.125e-4", "float training stops when the learning rate falls below this", {}},
      {"train.max_epochs", Kind::Int, "30", "float training budget cap (epochs)", {}},
      {"train.lr_decay", Kind::Float, "0.5", "learning-rate factor on a dev plateau", {}},
      {"train.patience", Kind::Int, "4", "non-improving dev evaluations before the learning rate decays", {}},
      {"train.eval_every", Kind::Int, "0", "updates between dev evaluations (0 = at each epoch end)", {}},
      {"train.hold_epochs", Kind::Int, "0",
       "float training: epochs before the plateau rule may decay the learning rate (evaluations before then can "
       "set a new best but count nothing toward train.patience); for nets whose dev metric sits still at first, "
       "like a deep LSTM at the unigram rate (results/README, Table 4); 0 = from the first evaluation",
       {}, Identity::Part, "0"},
      {"train.streams", Kind::Int, "64", "text: parallel streams the training text is cut into (the batch)", {}},
      {"train.bptt_steps", Kind::Int, "128", "text: new characters each update advances every stream by (k1)", {}},
      {"train.bptt_unroll", Kind::Int, "256",
       "text: steps each update back-propagates through (k2 >= k1; the k2 - k1 before the new ones are context)", {}},
      {"train.epoch_chars", Kind::Int, "0",
       "text: training characters per epoch, i.e. between dev evaluations (0 = the whole training split)", {}},

      {"retrain.lr", Kind::Float, "5e-4", "initial learning rate of quantized retraining", {}},
      {"retrain.lr_min", Kind::Float, "3.125e-4", "retraining stops when the learning rate falls below this", {}},
      {"retrain.max_epochs", Kind::Int, "10", "retraining budget cap (epochs) per precision", {}},

      {"quant.bits", Kind::IntList, "[2, 3, 4]", "weight bit widths (2..8); M = 2^bits - 1 levels", {}, Identity::NotPart},
      {"quant.methods", Kind::StringList, "[direct, conventional, adaptive]",
       "quantization methods; control = the float network trained on for the retraining budget, unquantized",
       methods::quantization_method_names(), Identity::NotPart},
      {"quant.adaptive.update", Kind::String, "epoch",
       "adaptive step timing: epoch = QStep once per epoch; first_epochs = QStep at every update "
       "during the first k epochs, then frozen (when exactly: quant.adaptive.refit)", {"epoch", "first_epochs"}},
      {"quant.adaptive.first_epochs", Kind::Int, "1", "k for update: first_epochs", {}},
      {"quant.adaptive.refit", Kind::String, "after_eval",
       "order of the Δ refit and the evaluations: after_eval = refit at the start of every epoch after the "
       "first (update: epoch) or before every update (first_epochs), so each evaluation and the kept checkpoint "
       "score a Δ the network trained with; before_eval = the older order, refit at each epoch end right before "
       "its evaluation (or after every update), which scores levels the network never trained with (README, Methods)",
       {"after_eval", "before_eval"}, Identity::Part, "before_eval"},
      {"quant.conventional.exhaustive_search", Kind::Bool, "false",
       "conventional: refine each layer's initial step by the dev-set search of reference [4] over [Δ/2, 2Δ]", {}},
      {"quant.conventional.search_points", Kind::Int, "9", "candidate steps per layer in that search", {}},
      {"quant.gradual.start_bits", Kind::Int, "6", "gradual: first precision; lowered by one bit per stage", {}},
      {"quant.granularity", Kind::String, "tensor",
       "step sizes: tensor = one Δ per weight tensor (the paper); channel = one Δ per output channel, i.e. per "
       "slice along the weight's first dimension: a Linear's rows, a Conv2d's output channels, an LSTM matrix's "
       "rows (one unit of one gate). A method named NAME@channel is per channel whatever this says",
       {"tensor", "channel"}, Identity::Part, "tensor"},
      {"quant.layer_bits", Kind::IntMap, "{}",
       "bit widths (2..8) of single weight groups instead of the cell's: a group name (e.g. out.weight; an unknown "
       "one is an error that lists them) or first / last for the network's first and last group, e.g. "
       "{first: 8, last: 8}",
       {}, Identity::Part, "{}"},
      {"quant.lsq.init", Kind::String, "qstep",
       "lsq: initial Δ: qstep = the L2-optimal step; mean = LSQ's 2·mean(abs(w))/√Q_P", {"qstep", "mean"}},
      {"quant.lsq.grad_scale", Kind::Bool, "true",
       "lsq: multiply the step gradient by LSQ's g = 1/√(N·Q_P), N = weights sharing the Δ, Q_P = 2^(bits-1) - 1", {}},

      {"grid.networks", Kind::StringList, "[]",
       "run the experiment for each of these networks (table columns): a network.kind, optionally with hidden "
       "widths and batch norm, e.g. ffdnn:512x512+bn; empty = the network section only",
       {}, Identity::NotPart},
      {"seeds", Kind::IntList, "[1]", "random seeds; every cell runs once per seed", {}, Identity::NotPart},

      {"runtime.device", Kind::String, "auto", "compute device (auto = cuda when available)", {"auto", "cpu", "cuda"}, Identity::NotPart},
      {"runtime.threads", Kind::Int, "0",
       "intra-op (OpenMP) threads; 0 = measured default: all cores, except 1 for dense/recurrent nets with openblas", {}, Identity::NotPart},
      {"runtime.blas_threads", Kind::Int, "0",
       "OpenBLAS threads; 0 = measured default: 1, except all cores for dense/recurrent nets with openblas", {}, Identity::NotPart},
      {"runtime.cores", Kind::Int, "0",
       "cores the default thread plan uses; 0 = all (a sweep gives each job its share)", {}, Identity::NotPart},
      {"runtime.gemm", Kind::String, "auto",
       "library for float matrix products: onednn (AVX-512 JIT kernels) or openblas; auto = onednn where the CPU "
       "has AVX-512, else openblas (README \"Threads\")",
       {"auto", "openblas", "onednn"}, Identity::NotPart},
      {"runtime.progress", Kind::String, "auto", "live progress line (auto = when stderr is a terminal)",
       {"auto", "on", "off"}, Identity::NotPart},
      {"runtime.checkpoint_every_s", Kind::Float, "300",
       "save the training state of a running cell at least this often (also after every evaluation and on "
       "SIGINT/SIGTERM), so an interrupted cell resumes where it stopped", {}, Identity::NotPart},

      {"report.paper", Kind::String, "\"\"",
       "YAML file with the paper's numbers to show beside ours in tables (configs/paper/tableN.yaml)", {}, Identity::NotPart},
      {"output.dir", Kind::String, "runs", "results store, checkpoints and logs (relative to the working directory)", {}, Identity::NotPart},
      {"output.archive", Kind::String, "\"\"",
       "folder (e.g. results/cells/NAME, committed) that keeps a copy of every finished cell's result file; a sweep "
       "merges it into the store first, so a grid continues on another machine from what was kept", {}, Identity::NotPart},
  };
  return fields;
}

const Field* find_field(const std::string& path) {
  for (const auto& f : schema())
    if (f.path == path) return &f;
  return nullptr;
}

bool is_section(const std::string& path) {
  const std::string prefix = path + ".";
  for (const auto& f : schema())
    if (f.path.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Int: return "an integer";
    case Kind::Float: return "a number";
    case Kind::Bool: return "true or false";
    case Kind::String: return "a string";
    case Kind::IntList: return "a list of integers";
    case Kind::StringList: return "a list of strings";
    case Kind::IntMap: return "a map of names to integers";
  }
  return "?";
}

}  // namespace qretrain::config
