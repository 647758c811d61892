#include "util/checksum.h"

#include <algorithm>
#include <cstring>

namespace qretrain {
namespace {

constexpr std::uint64_t kP1 = 11400714785074694791ULL;
constexpr std::uint64_t kP2 = 14029467366897019727ULL;
constexpr std::uint64_t kP3 = 1609587929392839161ULL;
constexpr std::uint64_t kP4 = 9650029242287828579ULL;
constexpr std::uint64_t kP5 = 2870177450012600261ULL;

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
// Little-endian loads (the format is defined little-endian; memcpy is the
// aliasing-safe unaligned load, and x86 and arm64 Linux are little-endian).
inline std::uint64_t load64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t load32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t round(std::uint64_t acc, std::uint64_t input) {
  acc += input * kP2;
  return rotl(acc, 31) * kP1;
}
inline std::uint64_t merge(std::uint64_t acc, std::uint64_t v) {
  acc ^= round(0, v);
  return acc * kP1 + kP4;
}

// The four lanes over whole 32-byte stripes; returns the bytes consumed.
std::size_t stripes(std::uint64_t acc[4], const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc[0] = round(acc[0], load64(p + i));
    acc[1] = round(acc[1], load64(p + i + 8));
    acc[2] = round(acc[2], load64(p + i + 16));
    acc[3] = round(acc[3], load64(p + i + 24));
  }
  return i;
}

std::uint64_t finish(const std::uint64_t acc[4], std::uint64_t seed, std::uint64_t total, const unsigned char* p,
                     std::size_t n) {
  std::uint64_t h;
  if (total >= 32) {
    h = rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18);
    for (int k = 0; k < 4; ++k) h = merge(h, acc[k]);
  } else {
    h = seed + kP5;
  }
  h += total;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h ^= round(0, load64(p + i));
    h = rotl(h, 27) * kP1 + kP4;
  }
  if (i + 4 <= n) {
    h ^= static_cast<std::uint64_t>(load32(p + i)) * kP1;
    h = rotl(h, 23) * kP2 + kP3;
    i += 4;
  }
  for (; i < n; ++i) {
    h ^= p[i] * kP5;
    h = rotl(h, 11) * kP1;
  }
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

}  // namespace

Xxh64::Xxh64(std::uint64_t seed) : acc_{seed + kP1 + kP2, seed + kP2, seed, seed - kP1}, seed_(seed), buf_{} {}

void Xxh64::update(const void* data, std::size_t n) {
  if (n == 0) return;  // data may be null then
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += n;
  if (buffered_ > 0) {
    const std::size_t take = std::min(n, sizeof buf_ - buffered_);
    std::memcpy(buf_ + buffered_, p, take);
    buffered_ += take;
    p += take;
    n -= take;
    if (buffered_ < sizeof buf_) return;
    stripes(acc_, buf_, sizeof buf_);
    buffered_ = 0;
  }
  const std::size_t used = stripes(acc_, p, n);
  buffered_ = n - used;
  std::memcpy(buf_, p + used, buffered_);
}

std::uint64_t Xxh64::digest() const { return finish(acc_, seed_, total_, buf_, buffered_); }

std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed) {
  Xxh64 h(seed);
  h.update(data, n);
  return h.digest();
}

}  // namespace qretrain
