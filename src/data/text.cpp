#include "data/text.h"

#include <zlib.h>

#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"

namespace qretrain::data::text {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

}  // namespace

torch::Tensor read_bytes(const std::string& path, std::int64_t max_bytes) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(fmt::format("{}: file not found", path));
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw UserError(fmt::format("{}: cannot open", path));
  gzbuffer(f.get(), 1u << 20);

  // The decompressed size is unknown up front: grow a buffer, then hand it to
  // the tensor without a copy (enwik8 is 100 MB). Reading stops one byte past
  // max_bytes: a gzip bomb (a few hundred KB that inflate to gigabytes) ends
  // here with an error instead of std::bad_alloc.
  const auto cap = static_cast<std::size_t>(std::max<std::int64_t>(max_bytes, 0));
  auto buffer = std::make_unique<std::vector<std::uint8_t>>();
  constexpr std::size_t kChunk = 1u << 24;
  for (;;) {
    const std::size_t used = buffer->size();
    if (used > cap)
      throw UserError(fmt::format("{}: holds more than {} bytes (after decompression); the largest text this "
                                  "program reads (enwik8 is 100 MB)",
                                  path, cap));
    const std::size_t want = std::min(kChunk, cap + 1 - used);
    buffer->resize(used + want);
    const int got = gzread(f.get(), buffer->data() + used, static_cast<unsigned>(want));
    if (got < 0) {
      int errnum = 0;
      throw UserError(fmt::format("{}: corrupt or unreadable ({})", path, gzerror(f.get(), &errnum)));
    }
    buffer->resize(used + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  // A gzip stream cut short reads as a clean end of file; zlib reports it here.
  int errnum = 0;
  const char* message = gzerror(f.get(), &errnum);
  if (errnum != Z_OK)
    throw UserError(fmt::format("{}: corrupt or truncated ({})", path, message));
  if (buffer->empty()) throw UserError(fmt::format("{}: empty file, expected text", path));

  buffer->shrink_to_fit();
  auto* owned = buffer.release();
  return torch::from_blob(
      owned->data(), {static_cast<std::int64_t>(owned->size())},
      [owned](void*) { delete owned; }, torch::kUInt8);
}

ByteCorpus split_corpus(const torch::Tensor& bytes, std::string name) {
  TORCH_CHECK(bytes.dim() == 1, "split_corpus: expected a 1-D byte stream");
  const std::int64_t n = bytes.numel();
  const std::int64_t train = n * 9 / 10;
  const std::int64_t valid = n / 20;
  ByteCorpus c;
  c.name = std::move(name);
  c.train = bytes.slice(0, 0, train);
  c.valid = bytes.slice(0, train, train + valid);
  c.test = bytes.slice(0, train + valid, n);
  return c;
}

ByteCorpus load_enwik8(const std::string& path) {
  return split_corpus(read_bytes(path), fmt::format("enwik8 ({})", path));
}

ByteCorpus load_gcide(const std::string& path) {
  return split_corpus(read_bytes(path), fmt::format("GCIDE dictionary text, stand-in for enwik8 ({})", path));
}

Dataset to_dataset(const ByteCorpus& corpus, const config::DatasetConfig& cfg) {
  auto first = [](const torch::Tensor& bytes, std::int64_t limit) {
    return limit > 0 && limit < bytes.numel() ? bytes.slice(0, 0, limit) : bytes;
  };
  Dataset d;
  d.name = corpus.name;
  d.task = Task::LanguageModel;
  d.input_shape = {1};
  d.num_classes = kSymbols;
  d.metric = "bits per character";
  d.train.x = first(corpus.train, cfg.train_limit);
  d.dev.x = first(corpus.valid, cfg.dev_limit);
  d.test.x = first(corpus.test, cfg.test_limit);
  return d;
}

void check_fits_training(const Dataset& d, const config::ExperimentConfig& cfg) {
  if (d.task != Task::LanguageModel) return;
  // Training cuts the split into train.streams rows of at least 2 bytes (one
  // input, one target); evaluation reads each split as at least one such row.
  const std::int64_t need = 2 * static_cast<std::int64_t>(cfg.train.streams);
  const std::string& path = cfg.dataset.path;
  if (d.train.x.numel() < need)
    throw UserError(fmt::format("{}: the training split ({}) is {} bytes, too short for train.streams = {} (at "
                                "least {} bytes, 2 per stream); use a longer text or fewer streams",
                                path,
                                cfg.dataset.train_limit == d.train.x.numel() ? "dataset.train_limit"
                                                                             : "90% of the text",
                                d.train.x.numel(), cfg.train.streams, need));
  const std::pair<const Split*, const char*> splits[] = {{&d.dev, "validation"}, {&d.test, "test"}};
  for (const auto& [split, name] : splits)
    if (split->x.numel() < 2)
      throw UserError(fmt::format("{}: the {} split is {} bytes, too short to evaluate (at least 2 bytes)", path,
                                  name, split->x.numel()));
}

Dataset load_enwik8_dataset(const config::DatasetConfig& cfg) { return to_dataset(load_enwik8(cfg.path), cfg); }
Dataset load_gcide_dataset(const config::DatasetConfig& cfg) { return to_dataset(load_gcide(cfg.path), cfg); }

torch::Tensor as_streams(const torch::Tensor& bytes, std::int64_t streams) {
  TORCH_CHECK(bytes.dim() == 1 && streams > 0, "as_streams: expected a 1-D stream and streams > 0");
  const std::int64_t length = bytes.numel() / streams;
  if (length < 2)
    throw UserError(fmt::format("text of {} bytes is too short for {} parallel streams", bytes.numel(), streams));
  return bytes.slice(0, 0, streams * length).reshape({streams, length});
}

std::int64_t window_count(const torch::Tensor& rows, std::int64_t length) {
  TORCH_CHECK(length > 0, "window_count: length must be positive");
  return (rows.size(1) - 1 + length - 1) / length;
}

Window window(const torch::Tensor& rows, std::int64_t index, std::int64_t length) {
  const std::int64_t begin = index * length;
  const std::int64_t end = std::min(begin + length, rows.size(1) - 1);
  TORCH_CHECK(begin < end, "window ", index, " of length ", length, " is past the end of ", rows.size(1), " columns");
  return {rows.slice(1, begin, end).to(torch::kInt64), rows.slice(1, begin + 1, end + 1).to(torch::kInt64)};
}

}  // namespace qretrain::data::text
