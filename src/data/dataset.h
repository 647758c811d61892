// In-memory datasets: tensors of examples and labels, split train/dev/test.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::data {

// One split held as two tensors. size() / get(i) is the access protocol;
// batching and shuffling are done by the trainer over index tensors.
struct Split {
  torch::Tensor x;  // [N, ...] float32
  torch::Tensor y;  // [N] int64 class ids
  std::int64_t size() const { return y.defined() ? y.size(0) : 0; }
  std::pair<torch::Tensor, torch::Tensor> get(std::int64_t i) const { return {x[i], y[i]}; }
};

struct Dataset {
  std::string name;                   // e.g. "Fashion-MNIST (stand-in for SVHN)"
  std::vector<std::int64_t> input_shape;  // per example, e.g. {1, 32, 32}
  int num_classes = 0;
  Split train, dev, test;
};

using Loader = std::function<Dataset(const config::DatasetConfig&)>;

// Registry keyed by dataset.kind. Throws UserError naming the files on bad data.
Dataset load(const config::DatasetConfig& cfg);
std::vector<std::string> registered_kinds();

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

}  // namespace qretrain::data
