#include "data/sphere.h"

#include <fstream>

#include <fmt/format.h>
#include <sndfile.h>

#include "util/error.h"

namespace qretrain::data {
namespace {

// The sample_count field of a SPHERE header, or -1 when the file is not
// SPHERE or has no such field. libsndfile trusts the file length instead, so a
// truncated file would otherwise go unnoticed.
std::int64_t sphere_declared_samples(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string header(1024, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  header.resize(static_cast<std::size_t>(in.gcount()));
  if (header.rfind("NIST_1A", 0) != 0) return -1;
  const auto pos = header.find("sample_count -i ");
  if (pos == std::string::npos) return -1;
  try {
    return std::stoll(header.substr(pos + 16));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

Audio read_audio(const std::string& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (!file)
    throw UserError(fmt::format("{}: cannot read audio: {} (TIMIT .WAV files must be NIST SPHERE or RIFF "
                                "16-bit PCM; shorten-compressed SPHERE must be decompressed first)",
                                path, sf_strerror(nullptr)));
  Audio audio;
  audio.sample_rate = info.samplerate;
  std::string problem;
  if (info.channels != 1) problem = fmt::format("{} channels, expected mono", info.channels);
  if (problem.empty()) {
    audio.samples.resize(static_cast<std::size_t>(info.frames));
    const sf_count_t got = sf_readf_short(file, audio.samples.data(), info.frames);
    if (got != info.frames)
      problem = fmt::format("read {} of {} samples", got, static_cast<std::int64_t>(info.frames));
  }
  sf_close(file);
  if (problem.empty()) {
    const std::int64_t declared = sphere_declared_samples(path);
    if (declared >= 0 && declared != static_cast<std::int64_t>(audio.samples.size()))
      problem = fmt::format("header declares {} samples but the file holds {} (truncated?)", declared,
                            audio.samples.size());
  }
  if (!problem.empty()) throw UserError(fmt::format("{}: bad audio file: {}", path, problem));
  return audio;
}

void write_sphere(const std::string& path, const std::vector<std::int16_t>& samples, int sample_rate) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_NIST | SF_FORMAT_PCM_16 | SF_ENDIAN_LITTLE;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!file) throw UserError(fmt::format("{}: cannot write audio: {}", path, sf_strerror(nullptr)));
  const auto n = static_cast<sf_count_t>(samples.size());
  const sf_count_t wrote = sf_writef_short(file, samples.data(), n);
  sf_close(file);
  if (wrote != n) throw UserError(fmt::format("{}: wrote {} of {} samples", path, wrote, n));
}

}  // namespace qretrain::data
