// The packed model file: a retrained network's weights as integer levels at
// their bit width, with everything a hardware user needs to run it and
// nothing else (README "Packed model files" documents the byte layout;
// scripts/read_packed.py reads it with numpy alone).
//
//   "QRPACK01"                      8 bytes, magic and format version
//   header length H                 uint32, little-endian
//   header                          H bytes of JSON (UTF-8)
//   payload                         the tensors, at the offsets the header gives
//   CRC-32 of all bytes before it   uint32, little-endian (zlib's crc32)
//
// A weight group's levels l in [-L, L], L = 2^(bits-1) - 1, are stored as
// codes l + L in `bits`-bit fields, packed LSB first: element i occupies bits
// i*bits .. i*bits+bits-1 of the tensor's byte string (2 bits: 4 weights per
// byte, 0 = -1, 1 = 0, 2 = +1; code 3 never occurs). w_q = float32(Δ) * l in
// float32, exactly what the training hook computed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/network.h"

namespace qretrain::quant { class QuantHook; }

namespace qretrain::deploy {

struct PackedTensor {
  std::string name;                 // "fc1.weight", "fc1.bias", "bn1.scale", ...
  std::vector<std::int64_t> shape;
  int bits = 0;                     // > 0: integer levels at this width with step `delta`; 0: float32 values
  double delta = 0;
  std::vector<std::int8_t> levels;  // bits > 0
  std::vector<float> values;        // bits == 0

  std::int64_t numel() const;
  // The bytes it takes in the payload.
  std::int64_t packed_bytes() const;
  // As a tensor: the levels (float32 holding integers) or the float values.
  torch::Tensor levels_tensor() const;
  torch::Tensor values_tensor() const;
  // The float weights the levels stand for: float32(Δ) * l, or the values.
  torch::Tensor dequantized() const;
};

struct PackedModel {
  nlohmann::json header;  // everything but the tensors (see pack_network)
  std::vector<models::LayerOp> graph;
  std::vector<PackedTensor> tensors;

  const PackedTensor* find(const std::string& name) const;
  // The tensor `name`; an error naming the file when it is missing.
  const PackedTensor& tensor(const std::string& name) const;
  std::string source;  // the file it was read from, for messages
};

// What the header says about where the model came from.
struct Provenance {
  std::string config_yaml;   // the resolved config of the cell (config::dump without help)
  std::string experiment;    // config name
  std::string network_label;
  config::NetworkConfig network;  // kind, hidden, batch_norm: to rebuild the torch module
  std::string cell_key;
  std::string method;        // float, direct, conventional, adaptive, ...
  int seed = 0;
  std::string dataset_kind;
  std::string normalisation; // how the inputs were scaled before the first layer
  std::vector<std::int64_t> input_shape;
  int classes = 0;
  std::string metric;        // error rate / bits per character
  double test_metric = 0;    // the stored evaluation of the cell (NaN when unknown)
};

// The network's weights, with `hook` its quantized weight groups (levels at
// the hook's bit width and Δ; null: a float network, weights as float32),
// biases as float32 and each batch norm folded into a per-channel scale
// γ/sqrt(σ² + ε) and shift β - scale·μ (tensors NAME.scale, NAME.shift).
PackedModel pack_network(models::NetworkImpl& network, const quant::QuantHook* hook, const Provenance& provenance);

// Writes the file whole (a temporary file renamed into place).
void write_packed(const PackedModel& model, const std::string& path);
// Reads and checks a packed file: magic, CRC, header fields, every tensor's
// size and codes, and that the graph's layers find tensors of consistent
// shapes. Any problem is a UserError naming the file.
PackedModel read_packed(const std::string& path);

// The layer's weight levels of a quantized group, read from w_q and Δ (each
// level checked to rebuild w_q exactly).
std::vector<std::int8_t> levels_of(const torch::Tensor& quantized, double delta, int bits, const std::string& name);

// Bytes of the packed weights of a network at `bits` (every weight group at
// that width, biases and batch-norm pairs as float32): the memory bill.
struct MemoryBill {
  std::int64_t weights = 0;       // parameters in weight groups
  std::int64_t other = 0;         // biases, batch-norm scale and shift
  std::int64_t float_bytes = 0;   // all of them as float32
  std::int64_t packed_bytes = 0;  // weights packed at `bits`, the rest float32
};
MemoryBill memory_bill(const std::vector<std::int64_t>& group_sizes, std::int64_t other_parameters, int bits);
// The same with a bit width per group (quant.layer_bits).
MemoryBill memory_bill(const std::vector<std::int64_t>& group_sizes, std::int64_t other_parameters,
                       const std::vector<int>& group_bits);

}  // namespace qretrain::deploy
