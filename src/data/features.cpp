#include "data/features.h"

#include <cmath>

#include <fmt/format.h>

#include "util/error.h"

namespace qretrain::data::features {
namespace {

constexpr int kTimitSampleRate = 16000;
// Floor under every log: keeps digital silence finite (ln 1e-10 ≈ −23).
constexpr double kLogFloor = 1e-10;

double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }

torch::Tensor floored_log(const torch::Tensor& x) { return x.clamp_min(kLogFloor).log(); }

// The filter weights in double, without checking the options.
torch::Tensor build_filterbank(const Options& opts) {
  const int64_t bins = opts.fft_size / 2 + 1;
  const auto bin_hz = torch::arange(bins, torch::kDouble) * (double(opts.sample_rate) / opts.fft_size);
  const auto bin_mel = (2595.0 * torch::log10(1.0 + bin_hz / 700.0)).unsqueeze(1);  // [bins, 1]
  const auto edges = torch::linspace(hz_to_mel(opts.low_hz), hz_to_mel(opts.high_hz), opts.num_mel + 2,
                                     torch::kDouble);
  const auto left = edges.narrow(0, 0, opts.num_mel);
  const auto centre = edges.narrow(0, 1, opts.num_mel);
  const auto right = edges.narrow(0, 2, opts.num_mel);
  const auto rising = (bin_mel - left) / (centre - left);
  const auto falling = (right - bin_mel) / (right - centre);
  return torch::min(rising, falling).clamp_min(0.0);
}

}  // namespace

void validate(const Options& opts) {
  auto fail = [](const std::string& what) { throw UserError("features: " + what); };
  if (opts.sample_rate != kTimitSampleRate)
    fail(fmt::format("sample_rate is {} Hz; the TIMIT features need {} Hz", opts.sample_rate, kTimitSampleRate));
  if (!(opts.window_ms > 0) || window_samples(opts) < 2)
    fail(fmt::format("window_ms = {} must span at least 2 samples", opts.window_ms));
  if (!(opts.shift_ms > 0) || shift_samples(opts) < 1)
    fail(fmt::format("shift_ms = {} must span at least 1 sample", opts.shift_ms));
  if (opts.fft_size < window_samples(opts))
    fail(fmt::format("fft_size = {} is shorter than the window (window_ms = {} is {} samples)", opts.fft_size,
                     opts.window_ms, window_samples(opts)));
  if (opts.num_mel < 1) fail(fmt::format("num_mel = {} must be at least 1", opts.num_mel));
  if (!(opts.low_hz >= 0)) fail(fmt::format("low_hz = {} must be at least 0", opts.low_hz));
  if (!(opts.high_hz <= opts.sample_rate / 2.0))
    fail(fmt::format("high_hz = {} exceeds the Nyquist frequency {} Hz", opts.high_hz, opts.sample_rate / 2.0));
  if (!(opts.low_hz < opts.high_hz))
    fail(fmt::format("low_hz = {} must be below high_hz = {}", opts.low_hz, opts.high_hz));
  if (!(opts.preemphasis >= 0 && opts.preemphasis < 1))
    fail(fmt::format("preemphasis = {} must be in [0, 1)", opts.preemphasis));
  if (opts.delta_window < 1) fail(fmt::format("delta_window = {} must be at least 1", opts.delta_window));
  // A filter narrower than the bin spacing would see no bin: a constant log floor.
  const auto peaks = std::get<0>(build_filterbank(opts).max(0));
  const int64_t empty = (peaks <= 0).sum().item<int64_t>();
  if (empty > 0)
    fail(fmt::format("num_mel = {} leaves {} filter(s) without an FFT bin at fft_size = {}; "
                     "use fewer filters or a larger fft_size",
                     opts.num_mel, empty, opts.fft_size));
}

int64_t window_samples(const Options& opts) { return std::lround(opts.window_ms * opts.sample_rate / 1000.0); }
int64_t shift_samples(const Options& opts) { return std::lround(opts.shift_ms * opts.sample_rate / 1000.0); }
int static_dims(const Options& opts) { return opts.num_mel + (opts.log_energy ? 1 : 0); }
int dims(const Options& opts) { return 3 * static_dims(opts); }

int64_t num_frames(int64_t samples, const Options& opts) {
  const int64_t window = window_samples(opts);
  return samples < window ? 0 : 1 + (samples - window) / shift_samples(opts);
}

int64_t frame_center_sample(int64_t t, const Options& opts) {
  return t * shift_samples(opts) + window_samples(opts) / 2;
}

std::string describe(const Options& opts) {
  return fmt::format(
      "fbank-v1 rate={} window={}ms/hamming-symmetric shift={}ms snip-edges dc=frame "
      "energy={} preemph={}/in-frame power=rfft{} mel={}x-htk-tri-in-mel {}-{}Hz log=ln-floor{} "
      "delta=N{}-edge-replicate dims={}",
      opts.sample_rate, opts.window_ms, opts.shift_ms, opts.log_energy ? "raw-dc-free" : "none",
      opts.preemphasis, opts.fft_size, opts.num_mel, opts.low_hz, opts.high_hz, kLogFloor,
      opts.delta_window, dims(opts));
}

torch::Tensor mel_filterbank(const Options& opts) {
  validate(opts);
  return build_filterbank(opts).to(torch::kFloat);
}

torch::Tensor deltas(const torch::Tensor& feats, int window) {
  TORCH_CHECK(feats.dim() == 2, "deltas: expected [T, D] features, got ", feats.sizes());
  TORCH_CHECK(window >= 1, "deltas: window must be at least 1, got ", window);
  const int64_t frames = feats.size(0);
  if (frames == 0) return feats.clone();
  const int64_t width = feats.size(1);
  // Replicate the edge frames so every t has N neighbours on each side (HTK).
  const auto padded = torch::cat({feats.narrow(0, 0, 1).expand({window, width}), feats,
                                  feats.narrow(0, frames - 1, 1).expand({window, width})});
  auto sum = torch::zeros_like(feats);
  double norm = 0;
  for (int n = 1; n <= window; ++n) {
    sum += n * (padded.narrow(0, window + n, frames) - padded.narrow(0, window - n, frames));
    norm += n * n;
  }
  return sum / (2 * norm);
}

Extractor::Extractor(Options opts) : opts_(opts) {
  validate(opts_);
  window_ = torch::hamming_window(window_samples(opts_), /*periodic=*/false, torch::kFloat);
  filterbank_ = build_filterbank(opts_).to(torch::kFloat);
}

Extractor::Frames Extractor::analyse(const torch::Tensor& wave) const {
  TORCH_CHECK(wave.dim() == 1, "features: expected a 1-D waveform, got ", wave.sizes());
  const int64_t window = window_samples(opts_);
  const int64_t frames = num_frames(wave.size(0), opts_);
  // rfft rejects an empty batch, so an utterance shorter than a window stops here.
  if (frames == 0) return {torch::empty({0, window}), torch::empty({0, opts_.fft_size / 2 + 1})};
  // unfold yields the snip-edges frames as a strided view, no copy.
  const auto raw = wave.to(torch::kFloat).unfold(0, window, shift_samples(opts_));
  Frames out;
  out.dc_free = raw - raw.mean(1, /*keepdim=*/true);
  // Pre-emphasis inside the frame: the first sample is its own predecessor.
  const auto previous =
      torch::cat({out.dc_free.narrow(1, 0, 1), out.dc_free.narrow(1, 0, window - 1)}, /*dim=*/1);
  const auto emphasised = out.dc_free - opts_.preemphasis * previous;
  const auto spectrum = torch::fft::rfft(emphasised * window_, opts_.fft_size, /*dim=*/1);
  out.spectrum = torch::view_as_real(spectrum).square().sum(-1);
  return out;
}

torch::Tensor Extractor::power_spectrum(const torch::Tensor& wave) const { return analyse(wave).spectrum; }

torch::Tensor Extractor::static_features(const torch::Tensor& wave) const {
  const auto frames = analyse(wave);
  const auto log_mel = floored_log(frames.spectrum.matmul(filterbank_));
  if (!opts_.log_energy) return log_mel;
  const auto log_energy = floored_log(frames.dc_free.square().sum(1, /*keepdim=*/true));
  return torch::cat({log_mel, log_energy}, /*dim=*/1);
}

torch::Tensor Extractor::compute(const torch::Tensor& wave) const {
  const auto statics = static_features(wave);
  const auto delta = deltas(statics, opts_.delta_window);
  return torch::cat({statics, delta, deltas(delta, opts_.delta_window)}, /*dim=*/1);
}

torch::Tensor static_features(const torch::Tensor& wave, const Options& opts) {
  return Extractor(opts).static_features(wave);
}

torch::Tensor compute(const torch::Tensor& wave, const Options& opts) { return Extractor(opts).compute(wave); }

}  // namespace qretrain::data::features
