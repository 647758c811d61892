// The SVHN loader on MAT-files written here with libmatio in the exact SVHN
// layout: X 32x32x3xN uint8 (column-major), y Nx1 double, label 10 = digit 0.
#include <matio.h>

#include <cstring>

#include <fmt/format.h>

#include <gmock/gmock.h>

#include "data/dataset.h"
#include "test_util.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

using ::testing::HasSubstr;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;

// Pixel (r, c, ch) of image i: a value the test can recompute.
std::uint8_t pixel_value(std::size_t r, std::size_t c, std::size_t ch, std::size_t i) {
  return static_cast<std::uint8_t>((r * 3 + c * 5 + ch * 71 + i * 13) % 256);
}

// Writes an SVHN-layout file; labels[i] in 1..10. `dims` overrides X's shape.
void write_svhn(const std::string& path, const std::vector<double>& labels, std::vector<std::size_t> dims = {},
                bool compress = true) {
  const std::size_t n = labels.size();
  if (dims.empty()) dims = {32, 32, 3, n};
  std::size_t total = 1;
  for (auto d : dims) total *= d;
  std::vector<std::uint8_t> x(total);
  // Column-major: index = r + 32 c + 1024 ch + 3072 i.
  for (std::size_t k = 0; k < total; ++k) {
    std::size_t r = k % 32, c = (k / 32) % 32, ch = (k / 1024) % 3, i = k / 3072;
    x[k] = pixel_value(r, c, ch, i);
  }
  std::vector<double> y = labels;
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t ydims[2] = {n, 1};
  matvar_t* vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, static_cast<int>(dims.size()), dims.data(), x.data(), 0);
  matvar_t* vy = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ydims, y.data(), 0);
  Mat_VarWrite(mat, vx, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE);
  Mat_VarWrite(mat, vy, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE);
  Mat_VarFree(vx);
  Mat_VarFree(vy);
  Mat_Close(mat);
}

// `per_class` images of each digit, labels cycling 1..10.
std::vector<double> cycling_labels(int per_class) {
  std::vector<double> y;
  for (int k = 0; k < per_class; ++k)
    for (int d = 1; d <= 10; ++d) y.push_back(d);
  return y;
}

TEST(Svhn, ReadsColumnMajorPixelsAndMapsLabelTenToZero) {
  TempDir dir;
  for (bool compress : {true, false}) {
    write_svhn(dir.file("t.mat"), {10, 1, 5, 10}, {}, compress);
    Split s = read_svhn_mat(dir.file("t.mat"));
    ASSERT_EQ(s.x.sizes(), (std::vector<std::int64_t>{4, 3, 32, 32}));
    EXPECT_EQ(s.y[0].item<std::int64_t>(), 0);
    EXPECT_EQ(s.y[1].item<std::int64_t>(), 1);
    EXPECT_EQ(s.y[2].item<std::int64_t>(), 5);
    EXPECT_EQ(s.y[3].item<std::int64_t>(), 0);
    // Every pixel, [i][ch][row][col], against the value written at X(row, col, ch, i).
    auto bytes = s.x.mul(255).round().to(torch::kUInt8).contiguous();
    auto* p = bytes.data_ptr<std::uint8_t>();
    int mismatches = 0;
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t ch = 0; ch < 3; ++ch)
        for (std::size_t r = 0; r < 32; ++r)
          for (std::size_t c = 0; c < 32; ++c)
            mismatches += p[((i * 3 + ch) * 32 + r) * 32 + c] != pixel_value(r, c, ch, i);
    EXPECT_EQ(mismatches, 0);
    EXPECT_NE(pixel_value(1, 2, 0, 0), pixel_value(2, 1, 0, 0));  // a transposition would be caught
  }
}

TEST(Svhn, DevSplitTakesPerClassCountsFromTrainAndExtra) {
  TempDir dir;
  write_svhn(dir.file("train_32x32.mat"), cycling_labels(7));
  write_svhn(dir.file("test_32x32.mat"), cycling_labels(2));
  config::DatasetConfig cfg;
  cfg.kind = "svhn";
  cfg.path = dir.path().string();
  cfg.svhn_dev_per_class_train = 4;
  cfg.svhn_dev_per_class_extra = 2;
  Dataset d = load(cfg);
  EXPECT_EQ(d.dev.size(), 40);
  EXPECT_EQ(d.train.size(), 30);
  EXPECT_EQ(d.test.size(), 20);
  EXPECT_EQ(d.name, "SVHN");
  // Every class is equally represented in the dev split.
  auto counts = torch::bincount(d.dev.y, {}, 10);
  EXPECT_TRUE(torch::equal(counts, torch::full({10}, 4, torch::kInt64)));
  // Per-channel normalisation with training statistics.
  auto mean = d.train.x.mean({0, 2, 3});
  EXPECT_LT(mean.abs().max().item<double>(), 1e-4);

  write_svhn(dir.file("extra_32x32.mat"), cycling_labels(5));
  Dataset e = load(cfg);
  EXPECT_EQ(e.dev.size(), 40 + 20);
  EXPECT_EQ(e.train.size(), 30 + 30);
  EXPECT_EQ(e.name, "SVHN (train+extra)");
}

// The decoded splits are cached (data/image_cache.h): a warm load equals a
// decode bit for bit, and an extra_32x32.mat appearing is a new key.
TEST(Svhn, CachedSplitsEqualDecodedOnesAndFollowTheFiles) {
  TempDir dir;
  write_svhn(dir.file("train_32x32.mat"), cycling_labels(7));
  write_svhn(dir.file("test_32x32.mat"), cycling_labels(2));
  config::DatasetConfig cfg;
  cfg.kind = "svhn";
  cfg.path = dir.path().string();
  cfg.svhn_dev_per_class_train = 4;
  cfg.svhn_dev_per_class_extra = 2;
  config::DatasetConfig no_cache = cfg;
  cfg.cache_dir = dir.file("cache");
  const auto expect_same = [](const Dataset& a, const Dataset& b) {
    EXPECT_EQ(a.name, b.name);
    for (auto split : {&Dataset::train, &Dataset::dev, &Dataset::test}) {
      EXPECT_TRUE(torch::equal((a.*split).x, (b.*split).x));
      EXPECT_TRUE(torch::equal((a.*split).y, (b.*split).y));
    }
  };
  Dataset cold = load(cfg);
  ASSERT_TRUE(cold.pending_cache_write);
  write_pending_cache(cold);
  Dataset warm = load(cfg);
  EXPECT_FALSE(warm.pending_cache_write);
  expect_same(load(no_cache), warm);

  write_svhn(dir.file("extra_32x32.mat"), cycling_labels(5));
  Dataset e = load(cfg);
  EXPECT_TRUE(e.pending_cache_write);
  EXPECT_EQ(e.name, "SVHN (train+extra)");
  expect_same(load(no_cache), e);
  write_pending_cache(e);
  Dataset e_warm = load(cfg);
  EXPECT_FALSE(e_warm.pending_cache_write);
  expect_same(load(no_cache), e_warm);
}

// matio sizes a variable from its header and reads what is there: a file
// declaring more images than it holds read as uninitialised pixels.
TEST(Svhn, DeclaredCountsAreCheckedAgainstTheData) {
  TempDir dir;
  write_svhn(dir.file("ok.mat"), cycling_labels(2), {}, false);
  std::ifstream in(dir.file("ok.mat"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  // Uncompressed, X's dimensions are int32s at byte 160 (after the 128-byte
  // header, the matrix tag, the array flags and the dimensions tag).
  auto declare = [&](std::int32_t n) {
    std::string forged = bytes;
    std::memcpy(&forged[172], &n, 4);
    return dir.write("forged.mat", forged);
  };
  ASSERT_EQ(std::memcmp(&bytes[172], "\x14\0\0\0", 4), 0);  // 20 images
  for (std::int32_t n : {1000, 100000})
    EXPECT_THAT(error_of([&] { read_svhn_mat(declare(n)); }),
                HasSubstr(fmt::format("forged.mat: variable 'X' declares 32x32x3x{} ({} images) but the file holds "
                                      "data for 20",
                                      n, n)));
  // Compressed files (as MATLAB writes them) are checked on what they inflate to.
  write_svhn(dir.file("z.mat"), cycling_labels(2));
  EXPECT_EQ(read_svhn_mat(dir.file("z.mat")).size(), 20);
}

TEST(Svhn, BadFilesNameTheFile) {
  TempDir dir;
  write_svhn(dir.file("shape.mat"), {1, 2}, {32, 28, 3, 2});
  EXPECT_THAT(error_of([&] { read_svhn_mat(dir.file("shape.mat")); }),
              HasSubstr("shape.mat: X must be 32x32x3xN"));
  write_svhn(dir.file("label.mat"), {1, 11});
  EXPECT_THAT(error_of([&] { read_svhn_mat(dir.file("label.mat")); }),
              HasSubstr("label.mat: label 11 of image 2 is not one of 1..10"));
  // A file cut in the middle of X.
  write_svhn(dir.file("full.mat"), cycling_labels(3), {}, false);
  std::ifstream in(dir.file("full.mat"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  dir.write("cut.mat", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(error_of([&] { read_svhn_mat(dir.file("cut.mat")); }), HasSubstr("cut.mat: "));
  dir.write("text.mat", "this is not a MAT-file at all, just some text that is long enough to have a header..."
                        "................................................................................"
                        "................................................................................");
  EXPECT_THAT(error_of([&] { read_svhn_mat(dir.file("text.mat")); }), HasSubstr("text.mat: "));
  EXPECT_THAT(error_of([&] { read_svhn_mat(dir.file("none.mat")); }), HasSubstr("none.mat: file not found"));
  // A folder without the files says where SVHN comes from and what runs offline.
  config::DatasetConfig cfg;
  cfg.kind = "svhn";
  cfg.path = dir.path().string();
  std::filesystem::remove(dir.file("train_32x32.mat"));
  EXPECT_THAT(error_of([&] { load(cfg); }),
              AllOf(HasSubstr("train_32x32.mat: missing"), HasSubstr("ufldl.stanford.edu/housenumbers"),
                    HasSubstr("configs/fmnist_L.yaml")));
}

}  // namespace
}  // namespace qretrain::data
