// The idx reader and the Fashion-MNIST loader on fixtures written here in the
// exact distribution format (gzip-compressed idx).
#include <zlib.h>

#include <gmock/gmock.h>

#include "data/dataset.h"
#include "test_util.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

using ::testing::HasSubstr;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;

std::string idx_bytes(std::uint8_t rank, const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& data,
                      std::uint8_t type = 0x08) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(rank)};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((d >> s) & 0xff));
  out.append(data.begin(), data.end());
  return out;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// n images whose pixel (r, c) of image i is (i * 7 + r * 28 + c) % 256; label i % 10.
void write_fixture(const TempDir& dir, const std::string& prefix, std::uint32_t n) {
  std::vector<std::uint8_t> pixels(n * 28 * 28), labels(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    labels[i] = static_cast<std::uint8_t>(i % 10);
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) pixels[i * 784 + r * 28 + c] = static_cast<std::uint8_t>((i * 7 + r * 28 + c) % 256);
  }
  write_gz(dir.file(prefix + "-images-idx3-ubyte.gz"), idx_bytes(3, {n, 28, 28}, pixels));
  write_gz(dir.file(prefix + "-labels-idx1-ubyte.gz"), idx_bytes(1, {n}, labels));
}

config::DatasetConfig fashion_config(const TempDir& dir, int dev_size) {
  config::DatasetConfig cfg;
  cfg.kind = "fashion-mnist";
  cfg.path = dir.path().string();
  cfg.dev_size = dev_size;
  return cfg;
}

TEST(Idx, ReadsDimensionsAndPayload) {
  TempDir dir;
  write_gz(dir.file("a.gz"), idx_bytes(2, {2, 3}, {1, 2, 3, 4, 5, 6}));
  IdxArray a = read_idx(dir.file("a.gz"), 2);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.data, (std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6}));
  // Uncompressed idx files are read too.
  std::ofstream(dir.file("raw"), std::ios::binary) << idx_bytes(1, {3}, {9, 8, 7});
  EXPECT_EQ(read_idx(dir.file("raw"), 1).data, (std::vector<std::uint8_t>{9, 8, 7}));
}

TEST(Idx, BadFilesNameTheFile) {
  TempDir dir;
  write_gz(dir.file("magic.gz"), idx_bytes(1, {3}, {1, 2, 3}, 0x0d));  // float type code
  EXPECT_THAT(error_of([&] { read_idx(dir.file("magic.gz"), 1); }),
              HasSubstr(dir.file("magic.gz") + ": not an idx file of unsigned bytes"));
  write_gz(dir.file("rank.gz"), idx_bytes(1, {3}, {1, 2, 3}));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("rank.gz"), 3); }), HasSubstr("rank.gz: idx rank is 1, expected 3"));
  write_gz(dir.file("short.gz"), idx_bytes(2, {4, 4}, {1, 2, 3}));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("short.gz"), 2); }), HasSubstr("short.gz: truncated"));
  write_gz(dir.file("long.gz"), idx_bytes(1, {2}, {1, 2, 3}));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("long.gz"), 1); }), HasSubstr("long.gz: "));
  dir.write("empty.gz", "");
  EXPECT_THAT(error_of([&] { read_idx(dir.file("empty.gz"), 1); }), HasSubstr("empty.gz: truncated"));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("missing.gz"), 1); }), HasSubstr("missing.gz: file not found"));
  // A gzip stream cut in the middle.
  std::string full;
  {
    std::vector<std::uint8_t> big(5000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 31);
    write_gz(dir.file("cut.gz"), idx_bytes(1, {5000}, big));
    std::ifstream in(dir.file("cut.gz"), std::ios::binary);
    full.assign(std::istreambuf_iterator<char>(in), {});
  }
  dir.write("cut.gz", full.substr(0, full.size() / 2));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("cut.gz"), 1); }), HasSubstr("cut.gz: "));
}

// A header is a claim: reading must neither allocate from it (2^28 images
// was std::bad_alloc) nor accept it when the file holds less.
TEST(Idx, DeclaredSizesAreCheckedAgainstTheFile) {
  TempDir dir;
  write_gz(dir.file("huge.gz"), idx_bytes(3, {1u << 28, 28, 28}, std::vector<std::uint8_t>(784)));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("huge.gz"), 3); }),
              HasSubstr(dir.file("huge.gz") + ": the header declares dimensions of more than"));
  write_gz(dir.file("more.gz"), idx_bytes(3, {100000, 28, 28}, std::vector<std::uint8_t>(784 * 10)));
  EXPECT_THAT(error_of([&] { read_idx(dir.file("more.gz"), 3); }),
              HasSubstr("more.gz: truncated: the header declares 78400000 payload bytes, the file holds 7840"));
  // Payloads longer than one read chunk still read whole.
  std::vector<std::uint8_t> big(20u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 13);
  write_gz(dir.file("big.gz"), idx_bytes(2, {static_cast<std::uint32_t>(big.size() / 1024), 1024}, big));
  EXPECT_EQ(read_idx(dir.file("big.gz"), 2).data, big);
}

TEST(FashionMnist, LoaderPadsSplitsAndNormalises) {
  TempDir dir;
  write_fixture(dir, "train", 50);
  write_fixture(dir, "t10k", 20);
  config::DatasetConfig cfg = fashion_config(dir, 10);
  Dataset d = load(cfg);
  EXPECT_EQ(d.train.size(), 40);
  EXPECT_EQ(d.dev.size(), 10);  // the last 10 training images
  EXPECT_EQ(d.test.size(), 20);
  EXPECT_EQ(d.train.x.sizes(), (std::vector<std::int64_t>{40, 1, 32, 32}));
  EXPECT_EQ(d.dev.y[0].item<std::int64_t>(), 40 % 10);
  // Training pixels have zero mean and unit variance after normalisation.
  EXPECT_NEAR(d.train.x.mean().item<double>(), 0.0, 1e-4);
  EXPECT_NEAR(d.train.x.std().item<double>(), 1.0, 1e-3);
  // Undo the normalisation to check the pixels and the 2-pixel zero border.
  const double zero = d.train.x[0][0][0][0].item<double>();
  const double one_step = d.train.x[0][0][2][3].item<double>() - d.train.x[0][0][2][2].item<double>();
  auto pixel = [&](const torch::Tensor& x, int i, int r, int c) {
    return std::lround((x[i][0][r][c].item<double>() - zero) / one_step);
  };
  EXPECT_EQ(pixel(d.train.x, 3, 2 + 5, 2 + 6), (3 * 7 + 5 * 28 + 6) % 256);
  EXPECT_EQ(pixel(d.dev.x, 1, 2 + 27, 2 + 27), (41 * 7 + 27 * 28 + 27) % 256);
  EXPECT_EQ(pixel(d.train.x, 5, 31, 31), 0);
  EXPECT_EQ(pixel(d.train.x, 5, 0, 17), 0);
}

TEST(FashionMnist, MismatchedOrMissingFilesNameTheFile) {
  TempDir dir;
  write_fixture(dir, "train", 30);
  config::DatasetConfig cfg = fashion_config(dir, 10);
  EXPECT_THAT(error_of([&] { load(cfg); }), HasSubstr("missing t10k-images-idx3-ubyte.gz"));
  write_fixture(dir, "t10k", 5);
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes(1, {4}, {1, 2, 3, 4}));
  EXPECT_THAT(error_of([&] { load(cfg); }), HasSubstr("t10k-labels-idx1-ubyte.gz: 4 labels for 5 images"));
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes(1, {5}, {1, 2, 3, 4, 12}));
  EXPECT_THAT(error_of([&] { load(cfg); }), HasSubstr("t10k-labels-idx1-ubyte.gz: label 12 outside 0..9"));
  config::DatasetConfig too_big = fashion_config(dir, 30);
  write_fixture(dir, "t10k", 5);
  EXPECT_THAT(error_of([&] { load(too_big); }), HasSubstr("dataset.dev_size: 30 leaves no training images"));
}

}  // namespace
}  // namespace qretrain::data
