// In-memory datasets: tensors of examples and labels, split train/dev/test.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::data {

// One split. Images are held whole in x; speech frames are held once in x and
// each example is a window of rows gathered through `context`, so the
// 11-frame inputs (1353 floats each) are never materialised for the corpus.
// Batching and shuffling are done by the trainer over index tensors.
// Text splits hold the byte stream itself in x (1-D uint8) and no labels:
// each byte is the target of the one before it.
struct Split {
  torch::Tensor x;        // [N, ...] float32 examples, [F, D] frames when context is set, or [N] uint8 text
  torch::Tensor y;        // [N] int64 class ids (undefined for text)
  torch::Tensor context;  // optional [N, W] int64: example i = rows context[i] of x, concatenated
  std::int64_t utterances = 0;  // speech only: for `data inspect`
  std::int64_t speakers = 0;

  static Split of(torch::Tensor examples, torch::Tensor labels) {
    Split s;
    s.x = std::move(examples);
    s.y = std::move(labels);
    return s;
  }
  // Examples; for text, bytes.
  std::int64_t size() const { return y.defined() ? y.size(0) : x.defined() ? x.numel() : 0; }
  // The examples idx (int64 [B]) as one float tensor [B, ...].
  torch::Tensor inputs(const torch::Tensor& idx) const;
  // The examples begin..end-1.
  torch::Tensor inputs(std::int64_t begin, std::int64_t end) const;
};

// What is learnt: a class per example (scored as error %), or the next byte of
// a text (scored in bits per character, train::LanguageModelTask).
enum class Task { Classification, LanguageModel };

struct Dataset {
  std::string name;                   // e.g. "Fashion-MNIST (stand-in for SVHN)"
  Task task = Task::Classification;
  std::vector<std::int64_t> input_shape;  // per example, e.g. {1, 32, 32}
  int num_classes = 0;
  std::vector<std::string> class_names;   // optional, for `data inspect`
  // Optional [num_classes] int64: the class each output is scored as (TIMIT
  // trains on 61 phones and is scored on 39); -1 drops an example from scoring.
  torch::Tensor score_map;
  std::string metric = "error rate";      // what evaluate() reports, for logs and tables
  Split train, dev, test;
  // Set when the splits were decoded because dataset.cache_dir held no valid
  // copy of them (data/image_cache.h): writes them there. Commands that train
  // run it through write_pending_cache() once every check that can stop them
  // has passed, so a command that fails on a user error leaves no cache file.
  std::function<void()> pending_cache_write;

  // A value of the metric for logs: "27.20%" or "1.653 bpc".
  std::string format_metric(double value) const;
};

// The metric a dataset kind is scored in, without loading it (tables): its
// row's (data/kinds.h).
std::string metric_of_kind(const std::string& kind);

using Loader = std::function<Dataset(const config::DatasetConfig&)>;

// Loaded by the row of cfg.kind (data/kinds.h). Throws UserError naming the
// files on bad data.
Dataset load(const config::DatasetConfig& cfg);
// Runs and clears d.pending_cache_write, if set; a cache that cannot be
// written is a warning, never an error.
void write_pending_cache(Dataset& d);

// ---- Fashion-MNIST / MNIST idx format (gzip-compressed or raw) ----

struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;
};
// Reads an idx file of unsigned bytes; checks the magic number, the
// dimension count and that the payload holds exactly prod(dims) bytes.
IdxArray read_idx(const std::string& path, int expected_rank);

Dataset load_fashion_mnist(const config::DatasetConfig& cfg);

// ---- SVHN (MATLAB v5 .mat via libmatio) ----

// One .mat file: X (32x32x3xN uint8) -> [N, 3, 32, 32] in [0, 1]; y -> 0..9.
Split read_svhn_mat(const std::string& path);
Dataset load_svhn(const config::DatasetConfig& cfg);

// ---- TIMIT (LDC layout, NIST SPHERE) and its flite stand-in: see timit.h ----
Dataset load_timit(const config::DatasetConfig& cfg);
Dataset load_speech_standin(const config::DatasetConfig& cfg);

}  // namespace qretrain::data
