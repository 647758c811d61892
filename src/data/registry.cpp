#include "data/dataset.h"
#include "data/kinds.h"

namespace qretrain::data {

Dataset load(const config::DatasetConfig& cfg) {
  const DatasetKind& kind = dataset_kind(cfg.kind);
  Dataset d = kind.load(cfg);
  TORCH_CHECK(d.input_shape == kind.input_shape(cfg) && d.num_classes == kind.classes, "dataset row '", cfg.kind,
              "' declares another input shape or class count than its loader gives");
  return d;
}

std::string metric_of_kind(const std::string& kind) { return dataset_kind(kind).metric; }

}  // namespace qretrain::data
