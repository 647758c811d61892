// The idx format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// a big-endian magic 0x000008RR (08 = unsigned byte, RR = rank), RR big-endian
// 32-bit dimensions, then the bytes. Files are usually gzip-compressed; zlib's
// gz* functions read both compressed and raw files.
#include <zlib.h>

#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

// The largest payload an idx file may declare. Fashion-MNIST's largest file
// holds 47 MB; a header is only a claim, and allocating from it before the
// bytes exist turned a forged count into std::bad_alloc.
constexpr std::size_t kMaxIdxPayload = std::size_t{1} << 31;

// Reads exactly n bytes into `out`, growing it as the bytes actually arrive
// (a gzip stream's length is unknown until it is read), so memory follows the
// data in the file, not the size its header declares.
void read_payload(gzFile f, std::vector<std::uint8_t>& out, std::size_t n, const std::string& path) {
  constexpr std::size_t kChunk = std::size_t{1} << 24;
  out.clear();
  while (out.size() < n) {
    const std::size_t used = out.size();
    const std::size_t want = std::min(n - used, kChunk);
    out.resize(used + want);
    const int r = gzread(f, out.data() + used, static_cast<unsigned>(want));
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw UserError(fmt::format("{}: corrupt or truncated file while reading the idx payload ({})", path, msg));
    }
    out.resize(used + static_cast<std::size_t>(r));
    if (r == 0)
      throw UserError(fmt::format("{}: truncated: the header declares {} payload bytes, the file holds {}", path, n,
                                  out.size()));
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
    // Each dimension is below 2^29, so the product of the ones before the
    // cap check stays far from overflowing.
    total *= dim;
    if (total > kMaxIdxPayload)
      throw UserError(fmt::format("{}: the header declares dimensions of more than {} bytes ({} so far); not an idx "
                                  "file this program reads",
                                  path, kMaxIdxPayload, fmt::join(out.dims, "x")));
  }
  read_payload(f.get(), out.data, total, path);
  std::uint8_t extra;
  if (gzread(f.get(), &extra, 1) > 0)
    throw UserError(fmt::format("{}: {} trailing bytes after the declared payload", path, "unexpected"));
  return out;
}

}  // namespace qretrain::data
