#include "data/image_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "util/checksum.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::data::image_cache {
namespace {

namespace fs = std::filesystem;

// ---- file layout (host byte order; a byte-order mark rejects others) ----
// [Fixed][meta block][zero padding][tensor][padding][tensor]... each tensor
// at a multiple of kAlign. The meta block lists the key text, the dataset's
// name, classes and input shape, and where each tensor lies.
constexpr char kMagic[8] = {'Q', 'R', 'I', 'M', 'G', 'C', '\r', '\n'};
constexpr std::uint32_t kByteOrder = 0x01020304u;
constexpr std::uint64_t kAlign = 4096;  // pages: every tensor starts page-aligned

struct Fixed {
  char magic[8];
  std::uint32_t byte_order;
  std::uint32_t version;
  std::uint64_t file_size;
  std::uint64_t meta_size;
  std::uint64_t meta_hash;
  std::uint64_t payload_offset;  // first tensor; the checksum covers [payload_offset, file_size)
  std::uint64_t payload_hash;
  std::uint64_t fixed_hash;  // of the bytes above
};
static_assert(sizeof(Fixed) == 64, "no padding in the fixed header");

std::uint64_t fixed_hash(const Fixed& f) { return xxh64(&f, offsetof(Fixed, fixed_hash)); }

struct TensorEntry {
  std::int32_t dtype = 0;  // 0: float32, 1: int64
  std::vector<std::int64_t> sizes;
  std::uint64_t offset = 0, nbytes = 0;
};

struct Meta {
  std::string key_text, name;
  std::int64_t num_classes = 0;
  std::vector<std::int64_t> input_shape;
  TensorEntry tensors[6];  // x, y of train, dev, test
};

class Writer {
 public:
  template <typename T>
  void pod(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod<std::uint64_t>(s.size());
    out += s;
  }
  void ints(const std::vector<std::int64_t>& v) {
    pod<std::uint64_t>(v.size());
    for (auto x : v) pod(x);
  }
  std::string out;
};

// Bounds-checked: a short or inconsistent block throws std::runtime_error.
class Reader {
 public:
  Reader(const char* p, std::size_t n) : p_(p), n_(n) {}
  template <typename T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  std::string str() {
    const auto n = pod<std::uint64_t>();
    need(n);
    std::string s(p_ + at_, n);
    at_ += n;
    return s;
  }
  std::vector<std::int64_t> ints() {
    const auto n = pod<std::uint64_t>();
    if (n > 8) throw std::runtime_error("implausible tensor rank");
    std::vector<std::int64_t> v(n);
    for (auto& x : v) x = pod<std::int64_t>();
    return v;
  }
  bool done() const { return at_ == n_; }

 private:
  void need(std::uint64_t k) const {
    if (k > n_ - at_) throw std::runtime_error("metadata block cut short");
  }
  const char* p_;
  std::size_t n_, at_ = 0;
};

std::string encode_meta(const Meta& m) {
  Writer w;
  w.str(m.key_text);
  w.str(m.name);
  w.pod(m.num_classes);
  w.ints(m.input_shape);
  for (const auto& t : m.tensors) {
    w.pod(t.dtype);
    w.ints(t.sizes);
    w.pod(t.offset);
    w.pod(t.nbytes);
  }
  return w.out;
}

Meta decode_meta(const char* p, std::size_t n) {
  Reader r(p, n);
  Meta m;
  m.key_text = r.str();
  m.name = r.str();
  m.num_classes = r.pod<std::int64_t>();
  m.input_shape = r.ints();
  for (auto& t : m.tensors) {
    t.dtype = r.pod<std::int32_t>();
    t.sizes = r.ints();
    t.offset = r.pod<std::uint64_t>();
    t.nbytes = r.pod<std::uint64_t>();
  }
  if (!r.done()) throw std::runtime_error("trailing bytes after the metadata");
  return m;
}

std::uint64_t align_up(std::uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

std::string errno_text() { return std::strerror(errno); }

// An open file descriptor, closed at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A read-write private mapping of a whole file: pages come from the page
// cache (shared until written); a write to a tensor copies its page and never
// reaches the file.
struct Mapping {
  void* base = MAP_FAILED;
  std::size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

void read_exact(int fd, void* buf, std::size_t n, std::uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error("read failed: " + errno_text());
    if (r == 0) throw std::runtime_error("file cut short");
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
}

void write_all(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(errno_text());
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

std::string source_identity(const std::string& path) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fmt::format("{} missing", abs.string());
  // Size and modification time (ns) catch a replaced file; the hash of its
  // first 64 KiB (the idx or MAT header and the start of the data) also
  // catches one rewritten with a forged time.
  std::string head(std::size_t{1} << 16, '\0');
  std::size_t got = 0;
  if (Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)}; f.fd >= 0) {
    for (ssize_t r; got < head.size() && (r = ::read(f.fd, head.data() + got, head.size() - got)) != 0;) {
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;
      got += static_cast<std::size_t>(r);
    }
  }
  return fmt::format("{} size {} mtime {}.{:09d} head {:016x}", abs.string(), static_cast<long long>(st.st_size),
                     static_cast<long long>(st.st_mtim.tv_sec), static_cast<long>(st.st_mtim.tv_nsec),
                     xxh64(head.data(), got));
}

std::string settings_text(const Key& key) {
  std::error_code ec;
  std::string text = fmt::format("qretrain decoded image dataset, format {}\nkind {}\nfolder {}\n", kFormatVersion,
                                 key.kind, fs::absolute(key.folder, ec).lexically_normal().string());
  for (const auto& [name, value] : key.settings) text += fmt::format("{} {}\n", name, value);
  return text;
}

const Split& split_of(const Dataset& d, int i) { return i == 0 ? d.train : i == 1 ? d.dev : d.test; }
Split& split_of(Dataset& d, int i) { return i == 0 ? d.train : i == 1 ? d.dev : d.test; }

}  // namespace

fs::path file_of(const std::string& cache_dir, const Key& key) {
  return fs::path(cache_dir) / fmt::format("decoded-{}-{}.bin", key.kind, stable_hash(settings_text(key)));
}

std::string key_text(const Key& key) {
  std::string text = settings_text(key);
  for (const auto& s : key.sources) text += "source " + source_identity(s) + "\n";
  return text;
}

void write(const fs::path& file, const std::string& key_text, const Dataset& d) {
  Meta m;
  m.key_text = key_text;
  m.name = d.name;
  m.num_classes = d.num_classes;
  m.input_shape = d.input_shape;
  std::vector<torch::Tensor> tensors;
  for (int i = 0; i < 3; ++i) {
    const Split& s = split_of(d, i);
    if (s.context.defined() || s.x.scalar_type() != torch::kFloat32 || s.y.scalar_type() != torch::kInt64)
      throw std::logic_error("image_cache::write: splits must be float32 images with int64 labels");
    tensors.push_back(s.x.contiguous().cpu());
    tensors.push_back(s.y.contiguous().cpu());
  }
  // Offsets depend on the metadata's size, which depends on the offsets'
  // values only through their fixed width: lay out with zeros, then fill in.
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    m.tensors[k].dtype = tensors[k].scalar_type() == torch::kFloat32 ? 0 : 1;
    m.tensors[k].sizes = tensors[k].sizes().vec();
    m.tensors[k].nbytes = tensors[k].nbytes();
  }
  Fixed f{};
  std::memcpy(f.magic, kMagic, sizeof kMagic);
  f.byte_order = kByteOrder;
  f.version = static_cast<std::uint32_t>(kFormatVersion);
  f.meta_size = encode_meta(m).size();
  std::uint64_t at = align_up(sizeof(Fixed) + f.meta_size);
  f.payload_offset = at;
  for (auto& t : m.tensors) {
    t.offset = at;
    at = align_up(at + t.nbytes);
  }
  f.file_size = at;
  const std::string meta = encode_meta(m);
  f.meta_hash = xxh64(meta.data(), meta.size());
  Xxh64 payload;
  const std::string zeros(kAlign, '\0');
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    payload.update(tensors[k].data_ptr(), m.tensors[k].nbytes);
    const std::uint64_t end = k + 1 < tensors.size() ? m.tensors[k + 1].offset : f.file_size;
    payload.update(zeros.data(), end - (m.tensors[k].offset + m.tensors[k].nbytes));
  }
  f.payload_hash = payload.digest();
  f.fixed_hash = fixed_hash(f);

  atomic_write(file, [&](const fs::path& tmp) {
    Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (out.fd < 0) throw std::runtime_error(fmt::format("{}: {}", tmp.string(), errno_text()));
    std::uint64_t written = 0;
    const auto put = [&](const void* p, std::size_t n) {
      write_all(out.fd, p, n);
      written += n;
    };
    const auto pad_to = [&](std::uint64_t offset) {
      while (written < offset) put(zeros.data(), std::min<std::uint64_t>(offset - written, zeros.size()));
    };
    put(&f, sizeof f);
    put(meta.data(), meta.size());
    for (std::size_t k = 0; k < tensors.size(); ++k) {
      pad_to(m.tensors[k].offset);
      put(tensors[k].data_ptr(), m.tensors[k].nbytes);
    }
    pad_to(f.file_size);
    if (::close(std::exchange(out.fd, -1)) != 0) throw std::runtime_error(errno_text());
  });
}

std::optional<Dataset> read(const fs::path& file, const std::string& key_text, std::string* why) {
  const auto fail = [&](const std::string& reason) -> std::optional<Dataset> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  Fd in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  // Missing, or its folder is (ENOTDIR: a file is in the way, reported when writing).
  if (in.fd < 0) return fail(errno == ENOENT || errno == ENOTDIR ? "" : "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) return fail("cannot stat: " + errno_text());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < sizeof(Fixed)) return fail(fmt::format("{} bytes, shorter than its header", size));
  try {
    Fixed f{};
    read_exact(in.fd, &f, sizeof f, 0);
    if (std::memcmp(f.magic, kMagic, sizeof kMagic) != 0) return fail("not a qretrain data cache file");
    if (f.byte_order != kByteOrder) return fail("written on a machine of another byte order");
    if (fixed_hash(f) != f.fixed_hash) return fail("damaged header (checksum mismatch)");
    if (f.version != static_cast<std::uint32_t>(kFormatVersion))
      return fail(fmt::format("format {}, this program reads format {}", f.version, kFormatVersion));
    if (f.file_size != size) return fail(fmt::format("{} bytes, its header declares {} (cut short?)", size, f.file_size));
    if (f.meta_size > size - sizeof f || f.payload_offset < sizeof f + f.meta_size || f.payload_offset > size ||
        f.payload_offset % kAlign != 0)
      return fail("inconsistent header");
    std::string meta_bytes(f.meta_size, '\0');
    read_exact(in.fd, meta_bytes.data(), meta_bytes.size(), sizeof f);
    if (xxh64(meta_bytes.data(), meta_bytes.size()) != f.meta_hash) return fail("damaged metadata (checksum mismatch)");
    const Meta m = decode_meta(meta_bytes.data(), meta_bytes.size());
    if (m.key_text != key_text) return fail("stale: made from other source files or settings");
    // Every tensor inside the payload, in order, page-aligned, of the size
    // its shape and type give.
    std::uint64_t end = f.payload_offset;
    for (const auto& t : m.tensors) {
      std::uint64_t numel = 1;
      for (auto s : t.sizes) {
        if (s < 0 || s > (std::int64_t{1} << 40)) return fail("implausible tensor shape");
        numel *= static_cast<std::uint64_t>(s);
      }
      if ((t.dtype != 0 && t.dtype != 1) || t.offset < end || t.offset % kAlign != 0 ||
          t.nbytes != numel * (t.dtype == 0 ? 4 : 8) || t.nbytes > size - t.offset)
        return fail("inconsistent tensor table");
      end = t.offset + t.nbytes;
    }

    auto map = std::make_shared<Mapping>();
    map->size = static_cast<std::size_t>(size);
    map->base = ::mmap(nullptr, map->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, in.fd, 0);
    if (map->base == MAP_FAILED) return fail("cannot map: " + errno_text());
    // The checksum reads every page anyway: ask for them all at once.
    ::madvise(map->base, map->size, MADV_WILLNEED);
    const auto* base = static_cast<const char*>(map->base);
    if (xxh64(base + f.payload_offset, size - f.payload_offset) != f.payload_hash)
      return fail("damaged data (checksum mismatch)");

    Dataset d;
    d.name = m.name;
    d.num_classes = static_cast<int>(m.num_classes);
    d.input_shape = m.input_shape;
    for (int i = 0; i < 3; ++i) {
      torch::Tensor t[2];
      for (int j = 0; j < 2; ++j) {
        const TensorEntry& e = m.tensors[2 * i + j];
        // The tensor keeps the mapping alive; the last one unmaps it.
        t[j] = torch::from_blob(static_cast<char*>(map->base) + e.offset, e.sizes, [map](void*) {},
                                torch::TensorOptions().dtype(e.dtype == 0 ? torch::kFloat32 : torch::kInt64));
      }
      const torch::Tensor &x = t[0], &y = t[1];
      if (x.scalar_type() != torch::kFloat32 || y.scalar_type() != torch::kInt64 || y.dim() != 1 || x.dim() < 1 ||
          x.size(0) != y.size(0) || x.sizes().slice(1).vec() != m.input_shape)
        return fail("inconsistent tensor table");
      if (y.numel() > 0 && (y.min().item<std::int64_t>() < 0 || y.max().item<std::int64_t>() >= m.num_classes))
        return fail("labels out of range");
      split_of(d, i) = Split::of(x, y);
    }
    return d;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

Dataset load_or_decode(const std::string& cache_dir, const Key& key, const std::function<Dataset()>& decode) {
  if (cache_dir.empty()) return decode();
  auto log = log::get("data");
  const fs::path file = file_of(cache_dir, key);
  const std::string text = key_text(key);
  std::string why;
  if (std::optional<Dataset> cached = read(file, text, &why)) {
    log->info("{}: decoded splits from the cache {}", cached->name, file.string());
    return std::move(*cached);
  }
  if (!why.empty()) log->warn("{}: not used ({}); decoding the data again, the file will be replaced", file.string(), why);
  Dataset d = decode();
  // Written only when the command saves it (after its last check), so a
  // command that stops on a user error leaves no file behind. The decoded
  // tensors are kept until then; normalisation makes new ones.
  Dataset raw;
  raw.name = d.name;
  raw.num_classes = d.num_classes;
  raw.input_shape = d.input_shape;
  raw.train = d.train;
  raw.dev = d.dev;
  raw.test = d.test;
  d.pending_cache_write = [file, text, raw = std::move(raw)] {
    try {
      write(file, text, raw);
      log::get("data")->info("{}: decoded splits cached at {}", raw.name, file.string());
    } catch (const std::exception& e) {
      log::get("data")->warn("cannot write the data cache {} ({}); every run decodes the data again",
                             file.string(), e.what());
    }
  };
  return d;
}

}  // namespace qretrain::data::image_cache
