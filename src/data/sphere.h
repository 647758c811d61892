// NIST SPHERE audio (TIMIT's .WAV files) read and written through libsndfile,
// which handles the header and byte order; we add the checks TIMIT needs.
// Torch-free so the stand-in builder can use it without LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qretrain::data {

struct Audio {
  int sample_rate = 0;
  std::vector<std::int16_t> samples;  // mono, 16-bit linear PCM
};

// Reads a mono 16-bit file in any format libsndfile knows (NIST SPHERE, RIFF
// WAV). Throws UserError naming the file when it is unreadable, not mono, or
// shorter than its header says (a truncated download).
Audio read_audio(const std::string& path);

// Writes a NIST SPHERE file (16-bit little-endian PCM), as on the TIMIT discs.
// Throws UserError naming the file on failure.
void write_sphere(const std::string& path, const std::vector<std::int16_t>& samples,
                  int sample_rate);

}  // namespace qretrain::data
