// Fashion-MNIST (Debian package dataset-fashion-mnist): 60k training and 10k
// test 28x28 grey images of 10 clothing classes. The CNN track's stand-in for
// SVHN: images are zero-padded to 32x32 like SVHN's, the last dev_size
// training images are the dev set, pixels are normalised with the training
// split's mean and standard deviation. The decoded splits (before
// normalisation) are cached in dataset.cache_dir (data/image_cache.h).
#include <filesystem>

#include <fmt/format.h>

#include "data/dataset.h"
#include "data/image_cache.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

namespace fs = std::filesystem;

std::string find_file(const fs::path& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    fs::path p = dir / (stem + ext);
    if (fs::exists(p)) return p.string();
  }
  throw UserError(fmt::format("{}: missing {}.gz (Fashion-MNIST comes with Debian's dataset-fashion-mnist package: "
                              "apt-get install dataset-fashion-mnist)",
                              dir.string(), stem));
}

struct SplitFiles {
  std::string images, labels;
};
SplitFiles split_files(const fs::path& dir, const std::string& prefix) {
  return {find_file(dir, prefix + "-images-idx3-ubyte"), find_file(dir, prefix + "-labels-idx1-ubyte")};
}

Split read_split(const SplitFiles& files, std::int64_t limit) {
  const std::string& image_path = files.images;
  const std::string& label_path = files.labels;
  IdxArray images = read_idx(image_path, 3);
  IdxArray labels = read_idx(label_path, 1);
  if (images.dims[1] != 28 || images.dims[2] != 28)
    throw UserError(fmt::format("{}: images are {}x{}, expected 28x28", image_path, images.dims[1], images.dims[2]));
  if (images.dims[0] != labels.dims[0])
    throw UserError(fmt::format("{}: {} labels for {} images in {}", label_path, labels.dims[0], images.dims[0],
                                image_path));
  for (std::uint8_t l : labels.data)
    if (l > 9) throw UserError(fmt::format("{}: label {} outside 0..9", label_path, int(l)));

  std::int64_t n = images.dims[0];
  if (limit > 0) n = std::min(n, limit);
  auto raw = torch::from_blob(images.data.data(), {n, 1, 28, 28}, torch::kUInt8).to(torch::kFloat32).div_(255.0f);
  Split s;
  // Zero padding to 32x32 (LeNet-5's input size and SVHN's image size).
  s.x = torch::constant_pad_nd(raw, {2, 2, 2, 2}, 0.0);
  s.y = torch::from_blob(labels.data.data(), {n}, torch::kUInt8).to(torch::kInt64);
  return s;
}

// The splits before normalisation: what the cache holds.
Dataset decode(const config::DatasetConfig& cfg, const SplitFiles& train_files, const SplitFiles& test_files) {
  Split train_all = read_split(train_files, cfg.train_limit > 0 ? cfg.train_limit + cfg.dev_size : 0);
  Dataset d;
  d.name = "Fashion-MNIST";
  d.input_shape = {1, 32, 32};
  d.num_classes = 10;
  d.test = read_split(test_files, cfg.test_limit);

  const std::int64_t n = train_all.size();
  if (cfg.dev_size >= n)
    throw UserError(fmt::format("dataset.dev_size: {} leaves no training images ({} available)", cfg.dev_size, n));
  const std::int64_t n_train = n - cfg.dev_size;
  d.train = Split::of(train_all.x.slice(0, 0, n_train), train_all.y.slice(0, 0, n_train));
  d.dev = Split::of(train_all.x.slice(0, n_train, n), train_all.y.slice(0, n_train, n));
  return d;
}

}  // namespace

Dataset load_fashion_mnist(const config::DatasetConfig& cfg) {
  const fs::path dir = cfg.path;
  if (!fs::is_directory(dir))
    throw UserError(fmt::format("dataset.path: {} is not a folder holding the Fashion-MNIST idx files", cfg.path));
  const SplitFiles train_files = split_files(dir, "train"), test_files = split_files(dir, "t10k");
  image_cache::Key key;
  key.kind = "fashion-mnist";
  key.folder = cfg.path;
  key.settings = {{"train_limit", std::to_string(cfg.train_limit)},
                  {"dev_size", std::to_string(cfg.dev_size)},
                  {"test_limit", std::to_string(cfg.test_limit)}};
  key.sources = {train_files.images, train_files.labels, test_files.images, test_files.labels};
  Dataset d = image_cache::load_or_decode(cfg.cache_dir, key, [&] { return decode(cfg, train_files, test_files); });

  // Normalise with training-set statistics only (no peeking at dev/test).
  // Computed on every load, cached or not (see image_cache.h).
  const float mean = d.train.x.mean().item<float>();
  const float stdev = d.train.x.std().item<float>();
  for (Split* s : {&d.train, &d.dev, &d.test}) s->x = s->x.sub(mean).div_(stdev).contiguous();
  return d;
}

}  // namespace qretrain::data
