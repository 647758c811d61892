// A fast 64-bit checksum for large files (caches of hundreds of MB checked on
// every load): XXH64 from Debian's libxxhash (Yann Collet's xxHash). Not
// cryptographic; it catches damage, not forgery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace qretrain {

// XXH64 of n bytes, as `xxhsum -H1` prints it.
std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed = 0);

// Streaming form: the hash of the concatenation of every update().
class Xxh64 {
 public:
  explicit Xxh64(std::uint64_t seed = 0);
  ~Xxh64();
  Xxh64(const Xxh64&) = delete;
  Xxh64& operator=(const Xxh64&) = delete;
  void update(const void* data, std::size_t n);
  std::uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace qretrain
