#include "models/kinds.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/lstm_lm.h"
#include "models/network.h"
#include "util/registry.h"

namespace qretrain::models {
namespace {

std::string sized_label(const config::NetworkConfig& cfg) {
  return fmt::format("{}{}", fmt::join(cfg.hidden, "x"), cfg.batch_norm ? "+BN" : "");
}

// Paper Table 4 names a language model by its cells per layer.
std::string cells_label(const config::NetworkConfig& cfg) {
  if (cfg.hidden.empty()) return cfg.kind;
  const bool uniform = std::all_of(cfg.hidden.begin(), cfg.hidden.end(), [&](int w) { return w == cfg.hidden[0]; });
  return uniform ? std::to_string(cfg.hidden[0]) : fmt::format("{}", fmt::join(cfg.hidden, "x"));
}

}  // namespace

const std::vector<NetworkKind>& network_kinds() {
  static const std::vector<NetworkKind> rows = {
      {"lenet5", "the paper's L: LeNet-5", make_lenet5, [](const config::NetworkConfig&) { return std::string("L"); },
       true, false},
      {"cnn_c", "the paper's C: cuda-convnet layers-18pct", make_cnn_c,
       [](const config::NetworkConfig&) { return std::string("C"); }, true, false},
      {"cnn_v", "the paper's V: VGG/BinaryConnect style", make_cnn_v,
       [](const config::NetworkConfig&) { return std::string("V"); }, true, false},
      {"ffdnn", "feed-forward net, network.hidden wide, optional batch norm", make_ffdnn, sized_label, false, false},
      {"lstm_lm", "character LSTM language model, network.hidden cells per layer", make_lstm_lm, cells_label, false,
       true},
  };
  return rows;
}

const NetworkKind& network_kind(const std::string& kind) {
  return require_row(network_kinds(), kind, "network.kind: unknown network");
}

}  // namespace qretrain::models
