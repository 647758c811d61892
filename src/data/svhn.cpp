// SVHN in its distribution format (http://ufldl.stanford.edu/housenumbers/):
// MATLAB v5 files train_32x32.mat, test_32x32.mat and optional
// extra_32x32.mat, each with X (32x32x3xN uint8, column-major) and y (Nx1,
// label 10 meaning digit 0), read with libmatio.
//
// Dev split as in Sermanet et al. 2012 (the paper's reference [20]): 400
// images per class from train and 200 per class from extra (when present),
// taken as the first ones of each class in file order; the rest is training
// data. Preprocessing: per-channel mean/std normalisation with training
// statistics. The decoded splits (before normalisation) are cached in
// dataset.cache_dir (data/image_cache.h).
#include <matio.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/dataset.h"
#include "data/image_cache.h"
#include "data/kinds.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

namespace fs = std::filesystem;

// matio reports problems through a log function; keep the last message for
// our error and keep stderr clean.
thread_local std::string g_matio_message;
void matio_log(int, char* message) { g_matio_message = message ? message : ""; }
void init_matio_logging() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("qretrain", matio_log); });
}

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

MatVar read_var(mat_t* mat, const char* name, const std::string& path) {
  g_matio_message.clear();
  MatVar v(Mat_VarRead(mat, name));
  if (!v)
    throw UserError(fmt::format("{}: cannot read variable '{}'{}", path, name,
                                g_matio_message.empty() ? " (missing, or the file is truncated)"
                                                        : " (" + g_matio_message + ")"));
  if (v->isComplex || v->class_type == MAT_C_SPARSE || v->data == nullptr)
    throw UserError(fmt::format("{}: variable '{}' is not a plain numeric array", path, name));
  return v;
}

std::size_t element_count(const matvar_t* v) {
  std::size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  return n;
}

// Label as double from any numeric matio class.
double label_at(const matvar_t* y, std::size_t i) {
  switch (y->class_type) {
    case MAT_C_DOUBLE: return static_cast<const double*>(y->data)[i];
    case MAT_C_SINGLE: return static_cast<const float*>(y->data)[i];
    case MAT_C_UINT8: return static_cast<const std::uint8_t*>(y->data)[i];
    case MAT_C_INT8: return static_cast<const std::int8_t*>(y->data)[i];
    case MAT_C_UINT16: return static_cast<const std::uint16_t*>(y->data)[i];
    case MAT_C_INT16: return static_cast<const std::int16_t*>(y->data)[i];
    case MAT_C_UINT32: return static_cast<const std::uint32_t*>(y->data)[i];
    case MAT_C_INT32: return static_cast<const std::int32_t*>(y->data)[i];
    default: return -1;
  }
}

// ---- what a MAT-file v5 really holds ----
//
// matio sizes a variable from the dimensions in its header and reads no
// further than the data there is: a file declaring 1000 images while holding
// 20 read as 1000 images, the rest uninitialised memory. So before matio
// reads, the data elements are walked here (the format: MathWorks, "MAT-File
// Format", chapter 1) and each variable's declared element count is checked
// against the bytes of its real part that the file holds: for a compressed
// variable, what its zlib stream actually inflates to (counted, not kept).

struct StoredVariable {
  std::vector<std::uint64_t> dims;  // as declared
  std::uint64_t held = 0;           // elements of the real part present in the file
  bool sized = false;               // false: a data type whose size is not known here
};

class Mat5Walker {
 public:
  explicit Mat5Walker(const std::string& path) : path_(path), in_(path, std::ios::binary) {}

  // Every variable of the file by name; empty when the file is not a v5
  // MAT-file this walker reads (v7.3 is HDF5, which checks its own sizes).
  std::map<std::string, StoredVariable> variables() {
    std::map<std::string, StoredVariable> out;
    in_.seekg(0, std::ios::end);
    const std::uint64_t size = static_cast<std::uint64_t>(in_.tellg());
    if (size < 128) return out;
    std::string header = read_at(0, 128);
    if (header.size() < 128) return out;
    if (header.compare(126, 2, "IM") == 0) swap_ = false;
    else if (header.compare(126, 2, "MI") == 0) swap_ = true;
    else return out;
    if (u16(header, 124) != 0x0100) return out;
    for (std::uint64_t at = 128; at + 8 <= size;) {
      const std::string tag = read_at(at, 8);
      const std::uint32_t type = u32(tag, 0);
      const std::uint64_t bytes = u32(tag, 4);
      std::string head;
      std::uint64_t available = 0;  // bytes of the matrix element (tag included) present
      if (type == kMatrix) {
        head = read_at(at, kHead);
        available = std::min<std::uint64_t>(8 + bytes, size - at);
      } else if (type == kCompressed) {
        available = inflate_count(at + 8, std::min<std::uint64_t>(bytes, size - at - 8), head);
      }
      if (!head.empty()) add(head, available, out);
      at += 8 + bytes;
    }
    return out;
  }

 private:
  static constexpr std::uint32_t kMatrix = 14, kCompressed = 15;
  static constexpr std::size_t kHead = 1024;  // a matrix's tags, dims and name fit in this

  struct Tag {
    std::uint32_t type = 0;
    std::uint64_t bytes = 0, data = 0, next = 0;
  };

  std::string read_at(std::uint64_t at, std::size_t n) {
    std::string buf(n, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(at));
    in_.read(buf.data(), static_cast<std::streamsize>(n));
    buf.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in_.gcount())));
    return buf;
  }
  std::uint32_t u32(const std::string& b, std::size_t at) const {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const auto byte = static_cast<std::uint8_t>(b[at + (swap_ ? 3 - i : i)]);
      v |= std::uint32_t{byte} << (8 * i);
    }
    return v;
  }
  std::uint16_t u16(const std::string& b, std::size_t at) const {
    const auto lo = static_cast<std::uint8_t>(b[at + (swap_ ? 1 : 0)]);
    const auto hi = static_cast<std::uint8_t>(b[at + (swap_ ? 0 : 1)]);
    return static_cast<std::uint16_t>(lo | (hi << 8));
  }
  // A data element tag at `at`, in the long or the small (4-byte) format.
  std::optional<Tag> tag_at(const std::string& b, std::uint64_t at) const {
    if (at + 8 > b.size()) return std::nullopt;
    Tag t;
    const std::uint32_t word = u32(b, at);
    if (word >> 16) {
      t.type = word & 0xffff;
      t.bytes = word >> 16;
      t.data = at + 4;
      t.next = at + 8;
    } else {
      t.type = word;
      t.bytes = u32(b, at + 4);
      t.data = at + 8;
      t.next = at + 8 + (t.bytes + 7) / 8 * 8;
    }
    return t;
  }
  static std::uint64_t type_size(std::uint32_t type) {
    switch (type) {
      case 1: case 2: return 1;            // miINT8, miUINT8
      case 3: case 4: return 2;            // miINT16, miUINT16
      case 5: case 6: case 7: return 4;    // miINT32, miUINT32, miSINGLE
      case 9: case 12: case 13: return 8;  // miDOUBLE, miINT64, miUINT64
      default: return 0;
    }
  }

  // A matrix element's head (from its tag on): flags, dims, name, then the
  // tag of the real part, whose data must lie within `available` bytes.
  void add(const std::string& head, std::uint64_t available, std::map<std::string, StoredVariable>& out) const {
    auto matrix = tag_at(head, 0);
    if (!matrix || matrix->type != kMatrix) return;
    auto flags = tag_at(head, matrix->data);
    auto dims = flags ? tag_at(head, flags->next) : std::nullopt;
    auto name = dims ? tag_at(head, dims->next) : std::nullopt;
    auto real = name ? tag_at(head, name->next) : std::nullopt;
    if (!real || dims->data + dims->bytes > head.size() || name->data + name->bytes > head.size()) return;
    StoredVariable v;
    for (std::uint64_t i = 0; i + 4 <= dims->bytes; i += 4) v.dims.push_back(u32(head, dims->data + i));
    const std::uint64_t end = std::min<std::uint64_t>(matrix->data + matrix->bytes, available);
    const std::uint64_t present = end > real->data ? std::min(real->bytes, end - real->data) : 0;
    if (const std::uint64_t size = type_size(real->type)) {
      v.held = present / size;
      v.sized = true;
    }
    out[head.substr(name->data, name->bytes)] = v;
  }

  // Inflates `bytes` compressed bytes at `at`; returns how many bytes they
  // inflate to, keeping the first kHead of them in `head`.
  std::uint64_t inflate_count(std::uint64_t at, std::uint64_t bytes, std::string& head) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return 0;
    std::vector<char> in(1 << 20), out(1 << 20);
    std::uint64_t total = 0;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(at));
    int rc = Z_OK;
    while (rc == Z_OK && bytes > 0) {
      in_.read(in.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(bytes, in.size())));
      const auto got = static_cast<std::uint64_t>(std::max<std::streamsize>(0, in_.gcount()));
      if (got == 0) break;
      bytes -= got;
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(got);
      // A full output buffer may leave output pending: call again until
      // the input is used up and the output was not filled.
      do {
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        rc = inflate(&z, Z_NO_FLUSH);
        const std::size_t produced = out.size() - z.avail_out;
        if (head.size() < kHead) head.append(out.data(), std::min(produced, kHead - head.size()));
        total += produced;
      } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
      if (rc == Z_BUF_ERROR) rc = Z_OK;  // nothing pending: more input needed
    }
    inflateEnd(&z);
    return total;
  }

  std::string path_;
  std::ifstream in_;
  bool swap_ = false;
};

// Throws UserError when a variable declares more elements than the file holds.
void check_declared_sizes(const std::string& path) {
  const auto variables = Mat5Walker(path).variables();
  for (const char* name : {"X", "y"}) {
    auto it = variables.find(name);
    if (it == variables.end() || !it->second.sized) continue;
    const StoredVariable& v = it->second;
    constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t declared = v.dims.empty() ? 0 : 1;
    for (std::uint64_t d : v.dims) declared = d != 0 && declared > kHuge / d ? kHuge : declared * d;
    if (declared > v.held) {
      const bool pixels = std::string(name) == "X";
      const std::uint64_t per_item = pixels ? 32 * 32 * 3 : 1;
      throw UserError(fmt::format("{}: variable '{}' declares {} ({} {}) but the file holds data for {}; truncated "
                                  "or corrupt",
                                  path, name, fmt::join(v.dims, "x"), declared / per_item, pixels ? "images" : "labels",
                                  v.held / per_item));
    }
  }
}

}  // namespace

Split read_svhn_mat(const std::string& path) {
  init_matio_logging();
  if (!fs::is_regular_file(path)) throw UserError(fmt::format("{}: file not found", path));
  g_matio_message.clear();
  std::unique_ptr<mat_t, MatCloser> mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!mat) throw UserError(fmt::format("{}: not a readable MAT-file", path));
  check_declared_sizes(path);
  MatVar x = read_var(mat.get(), "X", path);
  MatVar y = read_var(mat.get(), "y", path);

  if (x->rank != 4 || x->dims[0] != 32 || x->dims[1] != 32 || x->dims[2] != 3)
    throw UserError(fmt::format("{}: X must be 32x32x3xN, found rank {} with dims {}x{}x{}...", path, x->rank,
                                x->rank > 0 ? x->dims[0] : 0, x->rank > 1 ? x->dims[1] : 0,
                                x->rank > 2 ? x->dims[2] : 0));
  if (x->class_type != MAT_C_UINT8) throw UserError(fmt::format("{}: X must be uint8 pixels", path));
  const std::int64_t n = static_cast<std::int64_t>(x->dims[3]);
  if (static_cast<std::int64_t>(element_count(y.get())) != n || (y->rank == 2 && y->dims[1] != 1 && y->dims[0] != 1))
    throw UserError(fmt::format("{}: y must be an Nx1 vector with N = {} (one label per image)", path, n));

  Split s;
  // Column-major X(r, c, ch, i) is row-major [i][ch][c][r]; swap the last two.
  auto raw = torch::from_blob(x->data, {n, 3, 32, 32}, torch::kUInt8);
  s.x = raw.transpose(2, 3).to(torch::kFloat32).div_(255.0f).contiguous();
  s.y = torch::empty({n}, torch::kInt64);
  auto* labels = s.y.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    double v = label_at(y.get(), static_cast<std::size_t>(i));
    if (v < 1 || v > 10 || v != static_cast<int>(v))
      throw UserError(fmt::format("{}: label {} of image {} is not one of 1..10", path, v, i + 1));
    labels[i] = static_cast<int>(v) % 10;  // 10 means digit 0
  }
  return s;
}

namespace {

// Moves the first `per_class` images of each class from `from` into the
// returned dev part; `from` keeps the rest, in order.
Split take_per_class(Split& from, int per_class, const std::string& path) {
  std::vector<std::int64_t> dev_idx, rest_idx;
  std::vector<int> taken(10, 0);
  auto* y = from.y.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < from.size(); ++i) {
    if (taken[y[i]] < per_class) {
      ++taken[y[i]];
      dev_idx.push_back(i);
    } else {
      rest_idx.push_back(i);
    }
  }
  for (int c = 0; c < 10; ++c)
    if (taken[c] < per_class)
      throw UserError(fmt::format("{}: only {} images of digit {} for a dev split of {} per class", path, taken[c], c,
                                  per_class));
  auto dev_t = torch::tensor(dev_idx, torch::kInt64), rest_t = torch::tensor(rest_idx, torch::kInt64);
  Split dev = Split::of(from.x.index_select(0, dev_t), from.y.index_select(0, dev_t));
  from = Split::of(from.x.index_select(0, rest_t), from.y.index_select(0, rest_t));
  return dev;
}

// The splits before normalisation: what the cache holds.
Dataset decode(const config::DatasetConfig& cfg, const fs::path& dir) {
  auto file = [&](const char* name) { return (dir / name).string(); };
  Dataset d;
  d.input_shape = {3, 32, 32};
  d.num_classes = 10;
  Split train = read_svhn_mat(file("train_32x32.mat"));
  Split dev = take_per_class(train, cfg.svhn_dev_per_class_train, file("train_32x32.mat"));
  d.name = "SVHN";
  if (fs::exists(dir / "extra_32x32.mat") && cfg.svhn_use_extra) {
    Split extra = read_svhn_mat(file("extra_32x32.mat"));
    Split extra_dev = take_per_class(extra, cfg.svhn_dev_per_class_extra, file("extra_32x32.mat"));
    train = Split::of(torch::cat({train.x, extra.x}), torch::cat({train.y, extra.y}));
    dev = Split::of(torch::cat({dev.x, extra_dev.x}), torch::cat({dev.y, extra_dev.y}));
    d.name = "SVHN (train+extra)";
  }
  d.test = read_svhn_mat(file("test_32x32.mat"));
  if (cfg.train_limit > 0 && cfg.train_limit < train.size())
    train = Split::of(train.x.slice(0, 0, cfg.train_limit), train.y.slice(0, 0, cfg.train_limit));
  if (cfg.test_limit > 0 && cfg.test_limit < d.test.size())
    d.test = Split::of(d.test.x.slice(0, 0, cfg.test_limit), d.test.y.slice(0, 0, cfg.test_limit));
  d.train = train;
  d.dev = dev;
  return d;
}

}  // namespace

Dataset load_svhn(const config::DatasetConfig& cfg) {
  const fs::path dir = cfg.path;
  auto file = [&](const char* name) { return (dir / name).string(); };
  for (const char* required : {"train_32x32.mat", "test_32x32.mat"})
    if (!fs::exists(dir / required))
      throw UserError(fmt::format("{}: missing; {}", file(required), dataset_kind("svhn").source));

  image_cache::Key key;
  key.kind = "svhn";
  key.folder = cfg.path;
  key.settings = {{"train_limit", std::to_string(cfg.train_limit)},
                  {"test_limit", std::to_string(cfg.test_limit)},
                  {"dev_per_class_train", std::to_string(cfg.svhn_dev_per_class_train)},
                  {"dev_per_class_extra", std::to_string(cfg.svhn_dev_per_class_extra)},
                  {"use_extra", cfg.svhn_use_extra ? "true" : "false"}};
  key.sources = {file("train_32x32.mat"), file("test_32x32.mat")};
  // Whether extra_32x32.mat exists changes the data, so its identity (or
  // absence) is part of the key whenever it would be read.
  if (cfg.svhn_use_extra) key.sources.push_back(file("extra_32x32.mat"));
  Dataset d = image_cache::load_or_decode(cfg.cache_dir, key, [&] { return decode(cfg, dir); });

  // Per-channel normalisation with training statistics, on every load
  // (cached or not, see image_cache.h).
  auto mean = d.train.x.mean({0, 2, 3}, true);
  auto stdev = d.train.x.std({0, 2, 3}, true, true);
  for (Split* s : {&d.train, &d.dev, &d.test}) s->x = s->x.sub(mean).div_(stdev).contiguous();
  return d;
}

}  // namespace qretrain::data
