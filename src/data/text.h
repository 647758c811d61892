// Byte corpora for the character language-model track (paper section 3.3):
// enwik8 (the first 100 MB of an English Wikipedia dump) and its embedded
// stand-in, the GNU Collaborative International Dictionary of English
// (Debian's dict-gcide). Every byte is a symbol: 256 classes.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "config/config.h"
#include "data/dataset.h"

namespace qretrain::data::text {

inline constexpr int kSymbols = 256;
inline constexpr const char* kGcidePath = "/usr/share/dictd/gcide.dict.dz";

// Three contiguous pieces of one byte stream, each a 1-D uint8 tensor.
struct ByteCorpus {
  std::string name;  // e.g. "enwik8 (/data/enwik8)", for logs and tables
  torch::Tensor train, valid, test;
};

// The whole file as a 1-D uint8 tensor. zlib reads gzip (and dictzip, which is
// gzip with an index in the header) and passes other files through unchanged.
// Missing, empty, unreadable or corrupt files, and files that hold (after
// decompression) more than max_bytes, throw UserError naming the file.
inline constexpr std::int64_t kMaxTextBytes = std::int64_t{256} << 20;  // enwik8: 100 MB
torch::Tensor read_bytes(const std::string& path, std::int64_t max_bytes = kMaxTextBytes);

// Train / valid / test = the first 90%, the next 5%, the rest. For enwik8's
// 100,000,000 bytes this is the customary 90M / 5M / 5M split; other sizes are
// split in the same proportion (valid = floor(5%), train = floor(90%)).
ByteCorpus split_corpus(const torch::Tensor& bytes, std::string name);

// enwik8 as distributed (raw bytes; a gzip-compressed copy reads too).
ByteCorpus load_enwik8(const std::string& path);
// The dict-gcide stand-in: the whole decompressed dictionary text.
ByteCorpus load_gcide(const std::string& path = kGcidePath);

// A corpus as a language-model Dataset: 256 symbols, each split's bytes in x,
// cut to dataset.train_limit / dev_limit / test_limit bytes when those are set.
Dataset to_dataset(const ByteCorpus& corpus, const config::DatasetConfig& cfg);
// dataset.kind enwik8 / gcide (registry loaders).
Dataset load_enwik8_dataset(const config::DatasetConfig& cfg);
Dataset load_gcide_dataset(const config::DatasetConfig& cfg);

// Throws UserError naming dataset.path and train.streams when a language-model
// dataset is too short for the training layout (streams of at least 2 bytes)
// or a split too short to evaluate. Called as soon as the data is loaded,
// before anything is written or trained; a no-op for other tasks.
void check_fits_training(const Dataset& d, const config::ExperimentConfig& cfg);

// The stream cut into `streams` contiguous pieces of equal length, one per row
// ([streams, n / streams] uint8, a view), so that `streams` sequences are
// trained in parallel with truncated BPTT (64 in the paper). The n % streams
// trailing bytes are dropped. Bytes stay uint8: enwik8 as int64 would be 800 MB.
torch::Tensor as_streams(const torch::Tensor& bytes, std::int64_t streams);

// One truncated-BPTT window of a [streams, L] layout: inputs are columns
// [begin, begin + len), targets the same columns shifted by one (int64 copies).
struct Window {
  torch::Tensor inputs;   // [streams, len] int64
  torch::Tensor targets;  // [streams, len] int64
};
// Windows of `length` steps covering every prediction of a row (L - 1 of
// them); the last window is shorter when `length` does not divide L - 1.
std::int64_t window_count(const torch::Tensor& rows, std::int64_t length);
Window window(const torch::Tensor& rows, std::int64_t index, std::int64_t length);

}  // namespace qretrain::data::text
