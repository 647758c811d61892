// Every fact about each dataset, one row per dataset.kind: what the config's
// choices, the loader, tables and error messages need to know about a
// dataset reads its row, so adding a dataset is one row here plus its load
// function. Torch-free (the config layer reads it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace qretrain::data {

struct Dataset;

struct DatasetKind {
  std::string name;  // dataset.kind
  // Reads the splits; a UserError naming the file on bad or missing data.
  Dataset (*load)(const config::DatasetConfig& cfg);
  std::string metric;        // what evaluations report: "error rate" or "bits per character"
  std::string stand_in_for;  // the paper corpus it replaces offline; empty for the paper's own corpora
  // One sentence: where to get the data, where to put it, which stand-in
  // runs offline (for the message when dataset.path is missing).
  std::string source;
  bool built_on_first_use;  // dataset.path need not exist: the data is made there (speech-standin)
  // How the loader scales the inputs before the first layer (the packed
  // model file's header repeats it for whoever runs the network elsewhere).
  std::string normalisation;
  // What one example is and how many classes the outputs score, known
  // without reading the data (the memory bill of `table --memory` builds the
  // networks from them); data::load checks its loader agrees.
  std::vector<std::int64_t> (*input_shape)(const config::DatasetConfig& cfg);
  int classes;

  bool is_paper_corpus() const { return stand_in_for.empty(); }
};

// In the order of the config reference: fashion-mnist, svhn, timit,
// speech-standin, enwik8, gcide.
const std::vector<DatasetKind>& dataset_kinds();
// The row of `kind`; a UserError "dataset.kind: unknown dataset ..." listing
// the known ones otherwise.
const DatasetKind& dataset_kind(const std::string& kind);

}  // namespace qretrain::data
