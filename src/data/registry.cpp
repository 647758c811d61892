#include "data/dataset.h"
#include "data/kinds.h"

namespace qretrain::data {

Dataset load(const config::DatasetConfig& cfg) { return dataset_kind(cfg.kind).load(cfg); }

std::string metric_of_kind(const std::string& kind) { return dataset_kind(kind).metric; }

}  // namespace qretrain::data
