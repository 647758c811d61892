// Where each dataset comes from, for error messages when it is missing.
// Torch-free so the config validator can use it.
#pragma once

#include <string>

namespace qretrain::data {

// One sentence: where to get the data, where to put it, which stand-in runs offline.
std::string dataset_source_hint(const std::string& kind);

}  // namespace qretrain::data
