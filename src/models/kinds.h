// Every fact about each network architecture, one row per network.kind:
// what the config's choices, table labels, the thread plan and commands need
// to know about a network reads its row, so adding a network is one row here
// plus its make function. Torch-free (the config layer reads it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace qretrain::models {

class NetworkImpl;
struct NetworkSpec;

struct NetworkKind {
  std::string name;  // network.kind
  std::string help;  // one line for the config reference
  // Builds the module for a dataset's input shape and classes.
  std::shared_ptr<NetworkImpl> (*make)(const config::NetworkConfig& cfg, const NetworkSpec& spec);
  // Its column in tables when network.label is empty: the paper's letter
  // ("L"), or its size ("512x512+BN", "256").
  std::string (*label)(const config::NetworkConfig& cfg);
  // Dominated by convolutions (oneDNN) rather than matrix products: decides
  // the default thread plan (src/app/runtime.cpp).
  bool convolutional;
  // Predicts the next byte of a text (a character language model): `sample`
  // generates text with it.
  bool language_model;
};

// In the order of the config reference: lenet5, cnn_c, cnn_v, ffdnn, lstm_lm.
const std::vector<NetworkKind>& network_kinds();
// The row of `kind`; a UserError "network.kind: unknown network ..." listing
// the known ones otherwise.
const NetworkKind& network_kind(const std::string& kind);

}  // namespace qretrain::models
