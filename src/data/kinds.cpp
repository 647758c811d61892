#include "data/kinds.h"

#include "data/dataset.h"
#include "data/features.h"
#include "data/text.h"
#include "util/registry.h"

namespace qretrain::data {

namespace {

std::vector<std::int64_t> grey_images(const config::DatasetConfig&) { return {1, 32, 32}; }
std::vector<std::int64_t> colour_images(const config::DatasetConfig&) { return {3, 32, 32}; }
std::vector<std::int64_t> speech_frames(const config::DatasetConfig& cfg) {
  return {(2 * cfg.context + 1) * features::dims(features::Options{})};
}
std::vector<std::int64_t> text_symbols(const config::DatasetConfig&) { return {1}; }

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  static const std::vector<DatasetKind> rows = {
      {"fashion-mnist", load_fashion_mnist, "error rate", "svhn",
       "Fashion-MNIST comes with Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)",
       false, "images zero-padded to 32x32; pixels/255, then minus the training split's mean and divided by its standard deviation", grey_images, 10},
      {"svhn", load_svhn, "error rate", "",
       "SVHN is not bundled (download train_32x32.mat, test_32x32.mat and optionally extra_32x32.mat from "
       "http://ufldl.stanford.edu/housenumbers/ into that folder); the offline stand-in is "
       "configs/fmnist_L.yaml (also fmnist_C, fmnist_V)",
       false, "pixels/255, then per channel minus the training split's mean and divided by its standard deviation", colour_images, 10},
      {"timit", load_timit, "error rate", "",
       "TIMIT is licensed by the LDC (catalog LDC93S1) and is not bundled; point dataset.path at the folder "
       "holding TRAIN/ and TEST/. The offline stand-in is configs/standin_512.yaml (synthetic flite speech in "
       "TIMIT layout)",
       false, "each feature dimension minus the training split's mean and divided by its standard deviation; 2 * dataset.context + 1 frames concatenated", speech_frames, 61},
      {"speech-standin", load_speech_standin, "error rate", "timit", "", true, "each feature dimension minus the training split's mean and divided by its standard deviation; 2 * dataset.context + 1 frames concatenated", speech_frames, 61},
      {"enwik8", text::load_enwik8_dataset, "bits per character", "",
       "enwik8 is not bundled (download http://mattmahoney.net/dc/enwik8.zip and unzip it; the 100,000,000-byte "
       "file named enwik8 is the dataset); the offline stand-in is configs/gcide_256.yaml (also gcide_64, "
       "gcide_128)",
       false, "bytes as one-hot vectors of 256", text_symbols, text::kSymbols},
      {"gcide", text::load_gcide_dataset, "bits per character", "enwik8",
       "the GCIDE dictionary comes with Debian's dict-gcide package (apt-get install dict-gcide)", false,
       "bytes as one-hot vectors of 256", text_symbols, text::kSymbols},
  };
  return rows;
}

const DatasetKind& dataset_kind(const std::string& kind) {
  return require_row(dataset_kinds(), kind, "dataset.kind: unknown dataset");
}

}  // namespace qretrain::data
