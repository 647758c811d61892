// The idx format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// a big-endian magic 0x000008RR (08 = unsigned byte, RR = rank), RR big-endian
// 32-bit dimensions, then the bytes. Files are usually gzip-compressed; zlib's
// gz* functions read both compressed and raw files.
#include <zlib.h>

#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "data/dataset.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

void read_exact(gzFile f, void* buf, std::size_t n, const std::string& path, const char* what) {
  std::size_t got = 0;
  auto* p = static_cast<std::uint8_t*>(buf);
  while (got < n) {
    unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
    int r = gzread(f, p + got, chunk);
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw UserError(fmt::format("{}: corrupt or truncated file while reading {} ({})", path, what, msg));
    }
    if (r == 0)
      throw UserError(fmt::format("{}: truncated: {} needs {} bytes, found {}", path, what, n, got));
    got += static_cast<std::size_t>(r);
  }
}

std::uint32_t big_endian(const std::uint8_t* b) {
  return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_rank) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError(fmt::format("{}: file not found", path));
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw UserError(fmt::format("{}: cannot open", path));

  std::uint8_t header[4];
  read_exact(f.get(), header, 4, path, "the idx header");
  if (header[0] != 0 || header[1] != 0 || header[2] != 0x08)
    throw UserError(fmt::format("{}: not an idx file of unsigned bytes (magic {:02x}{:02x}{:02x}{:02x})", path,
                                header[0], header[1], header[2], header[3]));
  if (header[3] != expected_rank)
    throw UserError(fmt::format("{}: idx rank is {}, expected {}", path, header[3], expected_rank));

  IdxArray out;
  std::size_t total = 1;
  for (int d = 0; d < expected_rank; ++d) {
    std::uint8_t b[4];
    read_exact(f.get(), b, 4, path, "the idx dimensions");
    std::uint32_t dim = big_endian(b);
    if (dim == 0 || dim > (1u << 28)) throw UserError(fmt::format("{}: implausible dimension {}", path, dim));
    out.dims.push_back(dim);
    total *= dim;
  }
  out.data.resize(total);
  read_exact(f.get(), out.data.data(), total, path, "the idx payload");
  std::uint8_t extra;
  if (gzread(f.get(), &extra, 1) > 0)
    throw UserError(fmt::format("{}: {} trailing bytes after the declared payload", path, "unexpected"));
  return out;
}

}  // namespace qretrain::data
