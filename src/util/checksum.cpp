#include "util/checksum.h"

#include <new>

#include <xxhash.h>

namespace qretrain {

struct Xxh64::State {
  XXH64_state_t* xxh;
};

std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed) { return XXH64(data, n, seed); }

Xxh64::Xxh64(std::uint64_t seed) : state_(new State{XXH64_createState()}) {
  if (!state_->xxh) throw std::bad_alloc();
  XXH64_reset(state_->xxh, seed);
}

Xxh64::~Xxh64() { XXH64_freeState(state_->xxh); }

void Xxh64::update(const void* data, std::size_t n) { XXH64_update(state_->xxh, data, n); }

std::uint64_t Xxh64::digest() const { return XXH64_digest(state_->xxh); }

}  // namespace qretrain
