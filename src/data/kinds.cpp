#include "data/kinds.h"

#include "data/dataset.h"
#include "data/text.h"
#include "util/registry.h"

namespace qretrain::data {

const std::vector<DatasetKind>& dataset_kinds() {
  static const std::vector<DatasetKind> rows = {
      {"fashion-mnist", load_fashion_mnist, "error rate", "svhn",
       "Fashion-MNIST comes with Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)",
       false},
      {"svhn", load_svhn, "error rate", "",
       "SVHN is not bundled (download train_32x32.mat, test_32x32.mat and optionally extra_32x32.mat from "
       "http://ufldl.stanford.edu/housenumbers/ into that folder); the offline stand-in is "
       "configs/fmnist_L.yaml (also fmnist_C, fmnist_V)",
       false},
      {"timit", load_timit, "error rate", "",
       "TIMIT is licensed by the LDC (catalog LDC93S1) and is not bundled; point dataset.path at the folder "
       "holding TRAIN/ and TEST/. The offline stand-in is configs/standin_512.yaml (synthetic flite speech in "
       "TIMIT layout)",
       false},
      {"speech-standin", load_speech_standin, "error rate", "timit", "", true},
      {"enwik8", text::load_enwik8_dataset, "bits per character", "",
       "enwik8 is not bundled (download http://mattmahoney.net/dc/enwik8.zip and unzip it; the 100,000,000-byte "
       "file named enwik8 is the dataset); the offline stand-in is configs/gcide_256.yaml (also gcide_64, "
       "gcide_128)",
       false},
      {"gcide", text::load_gcide_dataset, "bits per character", "enwik8",
       "the GCIDE dictionary comes with Debian's dict-gcide package (apt-get install dict-gcide)", false},
  };
  return rows;
}

const DatasetKind& dataset_kind(const std::string& kind) {
  return require_row(dataset_kinds(), kind, "dataset.kind: unknown dataset");
}

}  // namespace qretrain::data
