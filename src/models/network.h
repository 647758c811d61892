// Networks: torch modules with a plain forward(x) -> logits, built from the
// config by the row of network.kind (models/kinds.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::models {

// One step of a network's forward pass, in order. export-model writes the
// list into the packed file's header and the integer reference inference
// (src/deploy) runs it without the torch module, so each network's list must
// compute exactly what its forward does (tests/deploy checks every kind).
struct LayerOp {
  // conv2d, linear, batchnorm, relu, maxpool, avgpool, lrn, flatten,
  // onehot (a symbol to a one-hot vector), lstm (one layer, state carried).
  std::string op;
  std::string module;  // parameter prefix: "conv1" for conv1.weight / conv1.bias; empty for parameter-free ops
  std::int64_t kernel = 0, stride = 1, padding = 0;  // conv2d, maxpool, avgpool
  std::int64_t size = 0;                             // lrn: channels summed; onehot: vocabulary
  double alpha = 0, beta = 0, k = 0;                 // lrn: x / (k + alpha/size * sum x^2)^beta
};

class NetworkImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // Layer-by-layer description for the run log and README.
  virtual std::string describe() const = 0;
  // The forward pass as a list of steps (see LayerOp).
  virtual std::vector<LayerOp> graph() const = 0;
};
using Network = std::shared_ptr<NetworkImpl>;

struct NetworkSpec {
  std::vector<std::int64_t> input_shape;  // per example, e.g. {1, 32, 32}
  int num_classes = 10;
};

// Built by the row of cfg.kind (models/kinds.h).
Network make_network(const config::NetworkConfig& cfg, const NetworkSpec& spec);
// Whether a network kind is dominated by convolutions (thread setup).
bool is_convolutional(const std::string& kind);

// Column name in tables: "L" for LeNet-5, "512" for a 2x512 FFDNN, ...
std::string network_label(const config::NetworkConfig& cfg);

std::int64_t count_parameters(const torch::nn::Module& m);

// A copy of a module's parameters then buffers (the float weights and, e.g.,
// batch-norm statistics), and its inverse: in-memory snapshots.
std::vector<torch::Tensor> copy_state(const torch::nn::Module& m);
void load_state(torch::nn::Module& m, const std::vector<torch::Tensor>& state);
// XXH64 of such a snapshot's bytes, shapes and dtypes, as 16 hex digits:
// equal exactly when the weights are equal bit for bit.
std::string state_digest(const std::vector<torch::Tensor>& state);

// Graph steps, for the networks' graph() lists.
LayerOp conv_op(const std::string& module, std::int64_t kernel, std::int64_t padding = 0);
LayerOp linear_op(const std::string& module);
LayerOp batchnorm_op(const std::string& module);
LayerOp simple_op(const std::string& op);  // relu, flatten
LayerOp pool_op(const std::string& op, std::int64_t kernel, std::int64_t stride);

// Throws a network.kind error unless the input is square images of at least
// `min_side` pixels whose side is a multiple of `multiple`.
void require_square_images(const NetworkSpec& spec, const std::string& kind, std::int64_t min_side,
                           std::int64_t multiple = 1);

Network make_lenet5(const config::NetworkConfig& cfg, const NetworkSpec& spec);
Network make_ffdnn(const config::NetworkConfig& cfg, const NetworkSpec& spec);
Network make_cnn_c(const config::NetworkConfig& cfg, const NetworkSpec& spec);
Network make_cnn_v(const config::NetworkConfig& cfg, const NetworkSpec& spec);

}  // namespace qretrain::models
