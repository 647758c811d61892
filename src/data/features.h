// Speech features for the TIMIT phoneme track: 40 log mel filterbank energies
// plus log energy, with Δ and ΔΔ (Graves / Mohamed-style, 123 dims per frame).
//
// Conventions (all part of describe(), hence of the feature-cache key):
// - Input: one utterance, 16 kHz mono, a 1-D tensor in int16 units (the
//   samples as read from SPHERE, converted to float). Scaling the input by a
//   shifts every static coefficient by 2·ln(a) and leaves Δ and ΔΔ unchanged.
// - Framing: Kaldi's "snip edges": frame t covers samples
//   [t·shift, t·shift + window); T = 1 + (S − window) / shift for S ≥ window,
//   else 0. No padding, so every frame holds real samples only.
// - Per frame, in this order (Kaldi): remove the frame's mean (DC);
//   log energy = ln Σ x² of that DC-free frame (before pre-emphasis and
//   window, Kaldi's raw_energy); pre-emphasis y[i] = x[i] − 0.97·x[i−1] within
//   the frame, with y[0] = x[0] − 0.97·x[0], so a frame never sees samples
//   outside itself; symmetric Hamming window 0.54 − 0.46·cos(2πn/(N−1)).
// - Power spectrum |X_k|² of the zero-padded 512-point real FFT (not divided
//   by N), k = 0..256.
// - Mel filters: HTK mel 2595·log10(1 + f/700); num_mel triangles whose
//   edges and centres are equally spaced in mel between low_hz and high_hz,
//   linear in mel (as HTK and Kaldi; not librosa's linear-in-Hz). Bin k sits
//   at k·rate/fft Hz; a filter reaches 1 only where a bin falls exactly on its
//   centre. Between the first and last centres the filters sum to 1.
// - Logs are natural, floored: ln(max(x, 1e-10)), so silence stays finite.
// - Δ: d_t = Σ_{n=1..N} n·(c_{t+n} − c_{t−n}) / (2·Σ n²), frames beyond the
//   ends replaced by the first/last frame (HTK); ΔΔ = Δ of Δ.
// - Layout: [static (num_mel + 1), Δ (same), ΔΔ (same)], float32.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace qretrain::data::features {

struct Options {
  int sample_rate = 16000;     // Hz; only 16000 (TIMIT) is accepted
  double window_ms = 25;       // analysis window length
  double shift_ms = 10;        // frame shift
  int fft_size = 512;          // FFT length; must hold the window
  int num_mel = 40;            // triangular mel filters
  double low_hz = 0;           // lower edge of the first filter
  double high_hz = 8000;       // upper edge of the last filter; at most rate/2
  double preemphasis = 0.97;   // in [0, 1); 0 disables it
  int delta_window = 2;        // N of the Δ regression
  bool log_energy = true;      // append ln frame energy to the statics
};

// Throws UserError naming the offending option.
void validate(const Options& opts);

int64_t window_samples(const Options& opts);  // 400 by default
int64_t shift_samples(const Options& opts);   // 160 by default
int static_dims(const Options& opts);         // num_mel (+1 with log energy)
int dims(const Options& opts);                // 3 · static_dims: 123 by default

// Frames of an utterance of `samples` samples (snip edges).
int64_t num_frames(int64_t samples, const Options& opts);
// The sample at the middle of frame t: the one whose phone labels the frame.
int64_t frame_center_sample(int64_t t, const Options& opts);

// Stable one-line text of every setting and convention; changes whenever the
// features would.
std::string describe(const Options& opts);

// [fft_size/2 + 1, num_mel] filter weights (validates opts).
torch::Tensor mel_filterbank(const Options& opts);

// Δ of [T, D] features along T with regression half-width `window`.
torch::Tensor deltas(const torch::Tensor& feats, int window);

// Validates the options and builds the window and filterbank once; then
// extracts any number of utterances. Const methods, so safe to share.
class Extractor {
 public:
  explicit Extractor(Options opts);

  const Options& options() const { return opts_; }
  // [T, fft_size/2 + 1] power spectra of the pre-emphasised, windowed frames.
  torch::Tensor power_spectrum(const torch::Tensor& wave) const;
  // [T, static_dims]: log mel energies, then log energy.
  torch::Tensor static_features(const torch::Tensor& wave) const;
  // [T, dims]: statics, Δ, ΔΔ.
  torch::Tensor compute(const torch::Tensor& wave) const;

 private:
  struct Frames {
    torch::Tensor dc_free;   // [T, window], the frames with their mean removed
    torch::Tensor spectrum;  // [T, fft_size/2 + 1] power
  };
  Frames analyse(const torch::Tensor& wave) const;

  Options opts_;
  torch::Tensor window_;      // [window] Hamming
  torch::Tensor filterbank_;  // [fft_size/2 + 1, num_mel]
};

// One-off conveniences; build an Extractor to process many utterances.
torch::Tensor static_features(const torch::Tensor& wave, const Options& opts);
torch::Tensor compute(const torch::Tensor& wave, const Options& opts);

}  // namespace qretrain::data::features
