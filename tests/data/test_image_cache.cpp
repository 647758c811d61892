// The cache of decoded image datasets (data/image_cache.h): a warm load gives
// the tensors of a cold one bit for bit; changed sources or settings, and a
// damaged file, are never used; a folder that cannot be written only costs
// the decode.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>

#include "data/dataset.h"
#include "data/image_cache.h"
#include "test_util.h"

namespace qretrain::data {
namespace {

namespace fs = std::filesystem;
using qretrain::testing::fashion_fixture;
using qretrain::testing::TempDir;

config::DatasetConfig fashion_cfg(const TempDir& dir, const std::string& data) {
  config::DatasetConfig cfg;
  cfg.kind = "fashion-mnist";
  cfg.path = (dir.path() / data).string();
  cfg.dev_size = 700;
  cfg.cache_dir = dir.file("cache");
  return cfg;
}

// The one cache file of the folder (fails the test when there is not exactly one).
fs::path only_cache_file(const std::string& cache_dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(cache_dir))
    for (const auto& e : fs::directory_iterator(cache_dir)) files.push_back(e.path());
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files.front();
}

void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.input_shape, b.input_shape);
  EXPECT_EQ(a.num_classes, b.num_classes);
  const Split* sa[] = {&a.train, &a.dev, &a.test};
  const Split* sb[] = {&b.train, &b.dev, &b.test};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i == 0 ? "train" : i == 1 ? "dev" : "test");
    ASSERT_TRUE(sa[i]->x.defined() && sb[i]->x.defined());
    EXPECT_EQ(sa[i]->x.scalar_type(), sb[i]->x.scalar_type());
    EXPECT_EQ(sa[i]->y.scalar_type(), sb[i]->y.scalar_type());
    // torch::equal: same shape and every element equal (bitwise for these floats: no NaNs).
    EXPECT_TRUE(torch::equal(sa[i]->x, sb[i]->x));
    EXPECT_TRUE(torch::equal(sa[i]->y, sb[i]->y));
  }
}

// A load with the cache disabled: what every cached load must equal.
Dataset uncached(config::DatasetConfig cfg) {
  cfg.cache_dir.clear();
  Dataset d = load(cfg);
  EXPECT_FALSE(d.pending_cache_write);
  return d;
}

TEST(ImageCache, WarmLoadEqualsColdLoadBitForBit) {
  TempDir dir;
  const config::DatasetConfig cfg = fashion_cfg(dir, fashion_fixture(dir));
  Dataset cold = load(cfg);
  ASSERT_TRUE(cold.pending_cache_write) << "a cold load decodes and leaves the cache to be written";
  EXPECT_FALSE(fs::exists(cfg.cache_dir)) << "nothing is written before the command saves it";
  write_pending_cache(cold);
  EXPECT_FALSE(cold.pending_cache_write);
  const fs::path file = only_cache_file(cfg.cache_dir);
  EXPECT_EQ(file, image_cache::file_of(cfg.cache_dir, {"fashion-mnist", cfg.path, {{"train_limit", "0"}, {"dev_size", "700"}, {"test_limit", "0"}}, {}}));

  Dataset warm = load(cfg);
  EXPECT_FALSE(warm.pending_cache_write) << "a warm load comes from the cache";
  EXPECT_EQ(warm.train.size(), 6300);
  EXPECT_EQ(warm.dev.size(), 700);
  EXPECT_EQ(warm.test.size(), 1000);
  expect_same(cold, warm);
  expect_same(uncached(cfg), warm);
}

TEST(ImageCache, LimitsAreCachedSeparately) {
  TempDir dir;
  config::DatasetConfig cfg = fashion_cfg(dir, fashion_fixture(dir));
  cfg.train_limit = 1200;
  cfg.test_limit = 300;
  Dataset cold = load(cfg);
  write_pending_cache(cold);
  Dataset warm = load(cfg);
  EXPECT_FALSE(warm.pending_cache_write);
  EXPECT_EQ(warm.train.size(), 1200);
  EXPECT_EQ(warm.test.size(), 300);
  expect_same(uncached(cfg), warm);
  // Another dev_size is another file, decoded afresh.
  cfg.dev_size = 100;
  Dataset other = load(cfg);
  EXPECT_TRUE(other.pending_cache_write);
  expect_same(uncached(cfg), other);
  write_pending_cache(other);
  EXPECT_EQ(std::distance(fs::directory_iterator(cfg.cache_dir), fs::directory_iterator()), 2);
  Dataset other_warm = load(cfg);
  EXPECT_FALSE(other_warm.pending_cache_write);
  expect_same(uncached(cfg), other_warm);
}

TEST(ImageCache, ChangedSourceFileIsNotUsed) {
  TempDir dir;
  const config::DatasetConfig cfg = fashion_cfg(dir, fashion_fixture(dir));
  Dataset first = load(cfg);
  write_pending_cache(first);
  // Another fixture in the same files: other sizes and times.
  qretrain::testing::write_fashion_mnist_fixture(cfg.path, 5000, 800);
  Dataset second = load(cfg);
  EXPECT_TRUE(second.pending_cache_write) << "the old file was made from other sources";
  EXPECT_EQ(second.test.size(), 800);
  expect_same(uncached(cfg), second);
  write_pending_cache(second);
  only_cache_file(cfg.cache_dir);  // replaced, not added
  Dataset third = load(cfg);
  EXPECT_FALSE(third.pending_cache_write);
  expect_same(second, third);
}

TEST(ImageCache, SourceChangedInPlaceKeepingSizeAndTimeIsNotUsed) {
  // Uncompressed idx files (the loader reads them too): one label changed in
  // place, the size and modification time put back.
  TempDir dir;
  const fs::path data = dir.path() / "raw";
  fs::create_directories(data);
  const auto idx = [](std::uint8_t rank, std::vector<std::uint32_t> dims, const std::string& payload) {
    std::string out = {0, 0, 0x08, static_cast<char>(rank)};
    for (auto d : dims)
      for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((d >> s) & 0xff));
    return out + payload;
  };
  std::string pixels;
  for (int i = 0; i < 60 * 784; ++i) pixels.push_back(static_cast<char>((i * 31) % 251));
  std::string labels;
  for (int i = 0; i < 60; ++i) labels.push_back(static_cast<char>(i % 10));
  for (const char* prefix : {"train", "t10k"}) {
    std::ofstream(data / (std::string(prefix) + "-images-idx3-ubyte"), std::ios::binary) << idx(3, {60, 28, 28}, pixels);
    std::ofstream(data / (std::string(prefix) + "-labels-idx1-ubyte"), std::ios::binary) << idx(1, {60}, labels);
  }
  config::DatasetConfig cfg = fashion_cfg(dir, "raw");
  cfg.dev_size = 10;
  Dataset first = load(cfg);
  write_pending_cache(first);
  ASSERT_FALSE(load(cfg).pending_cache_write);

  const fs::path test_labels = data / "t10k-labels-idx1-ubyte";
  const auto time = fs::last_write_time(test_labels);
  labels[0] = 9;
  std::ofstream(test_labels, std::ios::binary) << idx(1, {60}, labels);
  fs::last_write_time(test_labels, time);
  Dataset second = load(cfg);
  EXPECT_TRUE(second.pending_cache_write);
  EXPECT_EQ(second.test.y[0].item<std::int64_t>(), 9);
  expect_same(uncached(cfg), second);
}

void flip_byte(std::fstream& f, std::streamoff at) {
  f.seekg(at);
  const char c = static_cast<char>(f.get());
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x55));
}

// A cache file damaged in any of these ways is decoded again and replaced.
TEST(ImageCache, TruncatedOrDamagedFileIsRebuilt) {
  TempDir dir;
  const config::DatasetConfig cfg = fashion_cfg(dir, fashion_fixture(dir));
  Dataset cold = load(cfg);
  write_pending_cache(cold);
  const fs::path file = only_cache_file(cfg.cache_dir);
  const auto full_size = fs::file_size(file);
  const std::string good = qretrain::testing::slurp(file);

  const auto damage_and_reload = [&](const std::string& what, const std::function<void()>& damage) {
    SCOPED_TRACE(what);
    damage();
    Dataset d = load(cfg);
    EXPECT_TRUE(d.pending_cache_write) << "a damaged cache file is not used";
    expect_same(cold, d);
    write_pending_cache(d);
    EXPECT_EQ(fs::file_size(file), full_size);
    EXPECT_FALSE(load(cfg).pending_cache_write) << "the rewritten file is used";
  };
  damage_and_reload("cut in half", [&] { fs::resize_file(file, full_size / 2); });
  damage_and_reload("cut inside the header", [&] { fs::resize_file(file, 10); });
  damage_and_reload("empty", [&] { fs::resize_file(file, 0); });
  damage_and_reload("one pixel flipped", [&] {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    flip_byte(f, static_cast<std::streamoff>(full_size - 123456));
  });
  damage_and_reload("one metadata byte flipped", [&] {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    flip_byte(f, 100);
  });
  damage_and_reload("grown", [&] { std::ofstream(file, std::ios::app | std::ios::binary) << "tail"; });
  damage_and_reload("not a cache file", [&] { std::ofstream(file, std::ios::binary) << std::string(good.size(), 'x'); });
  EXPECT_EQ(qretrain::testing::slurp(file), good) << "the same data is written the same way";
}

TEST(ImageCache, UnwritableCacheFolderFallsBackToDecoding) {
  TempDir dir;
  config::DatasetConfig cfg = fashion_cfg(dir, fashion_fixture(dir));
  // A folder under a plain file cannot be created, even by root.
  dir.write("file", "x");
  cfg.cache_dir = dir.file("file") + "/cache";
  Dataset d = load(cfg);
  ASSERT_TRUE(d.pending_cache_write);
  EXPECT_NO_THROW(write_pending_cache(d));  // a warning only
  expect_same(uncached(cfg), d);
  EXPECT_TRUE(load(cfg).pending_cache_write);
  // A read-only folder (root may write it anyway: then the cache just works).
  const fs::path ro = dir.path() / "read-only";
  fs::create_directories(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  cfg.cache_dir = ro.string();
  Dataset r = load(cfg);
  EXPECT_NO_THROW(write_pending_cache(r));
  expect_same(uncached(cfg), r);
  expect_same(uncached(cfg), load(cfg));
  fs::permissions(ro, fs::perms::owner_all);
}

}  // namespace
}  // namespace qretrain::data
