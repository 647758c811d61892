#include "data/sources.h"

namespace qretrain::data {

std::string dataset_source_hint(const std::string& kind) {
  if (kind == "svhn")
    return "SVHN is not bundled (download train_32x32.mat, test_32x32.mat and optionally extra_32x32.mat from "
           "http://ufldl.stanford.edu/housenumbers/ into that folder); the offline stand-in is "
           "configs/fmnist_L.yaml (also fmnist_C, fmnist_V)";
  if (kind == "fashion-mnist")
    return "Fashion-MNIST comes with Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)";
  if (kind == "timit")
    return "TIMIT is licensed by the LDC (catalog LDC93S1) and is not bundled; point dataset.path at the folder "
           "holding TRAIN/ and TEST/. The offline stand-in is configs/standin_512.yaml (synthetic flite speech in "
           "TIMIT layout)";
  if (kind == "enwik8")
    return "enwik8 is not bundled (download http://mattmahoney.net/dc/enwik8.zip and unzip it; the 100,000,000-byte "
           "file named enwik8 is the dataset); the offline stand-in is configs/gcide_256.yaml (also gcide_64, "
           "gcide_128)";
  if (kind == "gcide")
    return "the GCIDE dictionary comes with Debian's dict-gcide package (apt-get install dict-gcide)";
  return "";
}

}  // namespace qretrain::data
