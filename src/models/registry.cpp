#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/lstm_lm.h"
#include "models/network.h"
#include "util/checksum.h"
#include "util/error.h"

namespace qretrain::models {
namespace {

using Factory = Network (*)(const config::NetworkConfig&, const NetworkSpec&);

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = {
      {"lenet5", make_lenet5},
      {"cnn_c", make_cnn_c},
      {"cnn_v", make_cnn_v},
      {"ffdnn", make_ffdnn},
      {"lstm_lm", make_lstm_lm},
  };
  return table;
}

}  // namespace

std::vector<std::string> registered_kinds() {
  std::vector<std::string> kinds;
  for (const auto& kv : factories()) kinds.push_back(kv.first);
  return kinds;
}

Network make_network(const config::NetworkConfig& cfg, const NetworkSpec& spec) {
  auto it = factories().find(cfg.kind);
  if (it == factories().end())
    throw UserError(fmt::format("network.kind: unknown network '{}' (known: {})", cfg.kind,
                                fmt::join(registered_kinds(), ", ")));
  return it->second(cfg, spec);
}

bool is_convolutional(const std::string& kind) { return kind == "lenet5" || kind == "cnn_c" || kind == "cnn_v"; }

std::string network_label(const config::NetworkConfig& cfg) {
  if (!cfg.label.empty()) return cfg.label;
  if (cfg.kind == "lenet5") return "L";
  if (cfg.kind == "cnn_c") return "C";
  if (cfg.kind == "cnn_v") return "V";
  if (cfg.kind == "ffdnn")
    return fmt::format("{}{}", fmt::join(cfg.hidden, "x"), cfg.batch_norm ? "+BN" : "");
  if (cfg.kind == "lstm_lm" && !cfg.hidden.empty()) {
    // Paper Table 4 names a network by its cells per layer.
    const bool uniform = std::all_of(cfg.hidden.begin(), cfg.hidden.end(), [&](int w) { return w == cfg.hidden[0]; });
    return uniform ? std::to_string(cfg.hidden[0]) : fmt::format("{}", fmt::join(cfg.hidden, "x"));
  }
  return cfg.kind;
}

void require_square_images(const NetworkSpec& spec, const std::string& kind, std::int64_t min_side,
                           std::int64_t multiple) {
  const auto& s = spec.input_shape;
  if (s.size() != 3 || s[1] != s[2] || s[1] < min_side || s[1] % multiple != 0)
    throw UserError(fmt::format("network.kind: {} needs square images (channels, height, width) of at least {}x{} "
                                "pixels{}, got [{}]",
                                kind, min_side, min_side,
                                multiple > 1 ? fmt::format(" with a side divisible by {}", multiple) : "",
                                fmt::join(s, "x")));
}

std::vector<torch::Tensor> copy_state(const torch::nn::Module& m) {
  std::vector<torch::Tensor> state;
  for (const auto& p : m.parameters()) state.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) state.push_back(b.detach().clone());
  return state;
}

std::string state_digest(const std::vector<torch::Tensor>& state) {
  Xxh64 h;
  for (const auto& t : state) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::int64_t dtype = static_cast<std::int64_t>(c.scalar_type());
    h.update(&dtype, sizeof dtype);
    for (const std::int64_t d : c.sizes()) h.update(&d, sizeof d);
    h.update(c.data_ptr(), c.nbytes());
  }
  return fmt::format("{:016x}", h.digest());
}

void load_state(torch::nn::Module& m, const std::vector<torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  std::size_t i = 0;
  for (auto& p : m.parameters()) p.copy_(state.at(i++));
  for (auto& b : m.buffers()) b.copy_(state.at(i++));
}

std::int64_t count_parameters(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace qretrain::models
