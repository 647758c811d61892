// A fast 64-bit checksum for large files (caches of hundreds of MB checked on
// every load): XXH64 (Yann Collet's xxHash, 64-bit variant), implemented here
// so no library is needed. Not cryptographic; it catches damage, not forgery.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qretrain {

// XXH64 of n bytes; the same value as the reference implementation's
// XXH64(data, n, seed), so it can be checked against `xxhsum -H1`.
std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed = 0);

// Streaming form: the hash of the concatenation of every update().
class Xxh64 {
 public:
  explicit Xxh64(std::uint64_t seed = 0);
  void update(const void* data, std::size_t n);
  std::uint64_t digest() const;

 private:
  std::uint64_t acc_[4];
  std::uint64_t seed_;
  std::uint64_t total_ = 0;
  unsigned char buf_[32];
  std::size_t buffered_ = 0;
};

}  // namespace qretrain
