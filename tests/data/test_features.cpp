// Expectations here are computed independently of the library: hand values,
// a brute-force double-precision DFT and a separately written HTK filter.
#include "data/features.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace qretrain::data::features {
namespace {

constexpr double kPi = 3.14159265358979323846;

double htk_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }

// Weight of FFT bin k in filter j: a triangle, linear in mel, whose edges are
// equally spaced in mel from low_hz to high_hz.
double htk_weight(int k, int j, const Options& o) {
  const double low = htk_mel(o.low_hz);
  const double step = (htk_mel(o.high_hz) - low) / (o.num_mel + 1);
  const double left = low + j * step, centre = left + step, right = centre + step;
  const double m = htk_mel(k * double(o.sample_rate) / o.fft_size);
  if (m <= left || m >= right) return 0.0;
  return m <= centre ? (m - left) / (centre - left) : (right - m) / (right - centre);
}

std::vector<double> sine(int samples, double hz, double amplitude, double phase) {
  std::vector<double> x(samples);
  for (int i = 0; i < samples; ++i) x[i] = amplitude * std::sin(2 * kPi * hz * i / 16000.0 + phase);
  return x;
}

torch::Tensor to_tensor(const std::vector<double>& x) {
  return torch::tensor(x, torch::kDouble).to(torch::kFloat);
}

// Frame t of x as the documented convention prescribes: DC removed,
// pre-emphasised within the frame, symmetric Hamming window.
std::vector<double> reference_frame(const std::vector<double>& x, int t, const Options& o) {
  const int window = 400, start = 160 * t;
  double mean = 0;
  for (int i = 0; i < window; ++i) mean += x[start + i] / window;
  std::vector<double> frame(window);
  for (int i = 0; i < window; ++i) {
    const double current = x[start + i] - mean;
    const double previous = (i == 0 ? x[start] : x[start + i - 1]) - mean;
    const double hamming = 0.54 - 0.46 * std::cos(2 * kPi * i / (window - 1));
    frame[i] = (current - o.preemphasis * previous) * hamming;
  }
  return frame;
}

std::vector<double> brute_force_power(const std::vector<double>& frame, int fft_size) {
  std::vector<double> power(fft_size / 2 + 1);
  for (int k = 0; k < int(power.size()); ++k) {
    std::complex<double> sum = 0;
    for (int n = 0; n < int(frame.size()); ++n) sum += frame[n] * std::polar(1.0, -2 * kPi * k * n / fft_size);
    power[k] = std::norm(sum);
  }
  return power;
}

TEST(Features, DefaultsGive123DimsAndDescribeTracksEveryOption) {
  const Options defaults;
  EXPECT_EQ(dims(defaults), 123);
  EXPECT_EQ(window_samples(defaults), 400);
  EXPECT_EQ(shift_samples(defaults), 160);
  Options no_energy;
  no_energy.log_energy = false;
  EXPECT_EQ(dims(no_energy), 120);
  EXPECT_EQ(compute(torch::randn({1000}), no_energy).size(1), 120);

  EXPECT_EQ(describe(defaults), describe(Options{}));
  const std::vector<std::function<void(Options&)>> changes = {
      [](Options& o) { o.window_ms = 20; },  [](Options& o) { o.shift_ms = 5; },
      [](Options& o) { o.fft_size = 1024; }, [](Options& o) { o.num_mel = 24; },
      [](Options& o) { o.low_hz = 20; },     [](Options& o) { o.high_hz = 7600; },
      [](Options& o) { o.preemphasis = 0; }, [](Options& o) { o.delta_window = 3; },
      [](Options& o) { o.log_energy = false; }};
  for (const auto& change : changes) {
    Options changed;
    change(changed);
    EXPECT_NE(describe(changed), describe(defaults)) << describe(changed);
  }
}

TEST(Features, MelFilterbankMatchesHandComputedHtkWeights) {
  // Bins every 1000 Hz; two filters over 0..8000 Hz: edges at 0, 946.67,
  // 1893.35 and 2840.02 mel. Weights worked out by hand from the HTK formula.
  Options o;
  o.fft_size = 16;
  o.window_ms = 1;  // 16 samples, so it fits the FFT
  o.num_mel = 2;
  const double expected[9][2] = {{0, 0},         {0.943686, 0.056314}, {0.392943, 0.607057},
                                 {0.017846, 0.982154}, {0, 0.733049}, {0, 0.503401},
                                 {0, 0.310971},  {0, 0.145360},        {0, 0}};
  const auto bank = mel_filterbank(o);
  ASSERT_EQ(bank.sizes(), (std::vector<int64_t>{9, 2}));
  for (int k = 0; k < 9; ++k)
    for (int j = 0; j < 2; ++j) EXPECT_NEAR(bank[k][j].item<double>(), expected[k][j], 2e-6) << k << "," << j;
}

TEST(Features, FilterCentredOnABinPeaksAtOneThere) {
  // One filter from 0 Hz to f with 1 + f/700 = (17/7)^2, so mel(f) = 2 mel(1000):
  // its centre is exactly 1000 Hz, bin 1 of a 16-point FFT at 16 kHz.
  Options o;
  o.fft_size = 16;
  o.window_ms = 1;
  o.num_mel = 1;
  o.high_hz = 24000.0 / 7;
  const auto bank = mel_filterbank(o);
  EXPECT_NEAR(bank[1][0].item<double>(), 1.0, 1e-6);
  EXPECT_EQ(bank[0][0].item<double>(), 0.0);
  EXPECT_NEAR(bank[2][0].item<double>(), htk_weight(2, 0, o), 1e-6);
  EXPECT_GT(bank[2][0].item<double>(), 0.0);
  for (int k = 4; k < 9; ++k) EXPECT_EQ(bank[k][0].item<double>(), 0.0) << "bin " << k << " is above high_hz";
}

TEST(Features, DefaultFilterbankMatchesHtkAndTilesTheBand) {
  const Options o;
  const auto bank = mel_filterbank(o);
  ASSERT_EQ(bank.sizes(), (std::vector<int64_t>{257, 40}));
  const double mel_step = htk_mel(8000) / 41;
  for (int k = 0; k < 257; ++k) {
    double row = 0;
    for (int j = 0; j < 40; ++j) {
      EXPECT_NEAR(bank[k][j].item<double>(), htk_weight(k, j, o), 1e-6) << k << "," << j;
      row += bank[k][j].item<double>();
    }
    // Between the first and last centres neighbouring triangles sum to 1.
    const double m = htk_mel(k * 16000.0 / 512);
    if (m >= mel_step && m <= 40 * mel_step) {
      EXPECT_NEAR(row, 1.0, 1e-5) << "bin " << k;
    }
  }
  EXPECT_EQ(bank[0].sum().item<double>(), 0.0);    // 0 Hz is the first filter's left edge
  EXPECT_EQ(bank[256].sum().item<double>(), 0.0);  // 8000 Hz is the last filter's right edge
  for (int j = 0; j < 40; ++j) {
    // Each filter peaks at one of the two bins around its centre, at most 1.
    const double centre_bin = 700 * (std::pow(10.0, (j + 1) * mel_step / 2595) - 1) * 512 / 16000;
    const int64_t peak_bin = bank.select(1, j).argmax().item<int64_t>();
    EXPECT_TRUE(peak_bin == int64_t(std::floor(centre_bin)) || peak_bin == int64_t(std::ceil(centre_bin)))
        << "filter " << j << " peaks at bin " << peak_bin << ", centre at " << centre_bin;
    EXPECT_LE(bank.select(1, j).max().item<double>(), 1.0);
  }
}

TEST(Features, PureTonePowerSpectrumMatchesBruteForceDft) {
  // 1000 Hz is bin 32 of a 512-point FFT at 16 kHz.
  const Options o;
  const auto x = sine(800, 1000, 10000, 0.3);
  const auto power = Extractor(o).power_spectrum(to_tensor(x));
  ASSERT_EQ(power.sizes(), (std::vector<int64_t>{3, 257}));
  const auto expected = brute_force_power(reference_frame(x, 1, o), 512);
  const double peak = expected[32];
  for (int k = 0; k < 257; ++k) {
    EXPECT_NEAR(power[1][k].item<double>(), expected[k], 1e-4 * expected[k] + 1e-8 * peak) << "bin " << k;
    EXPECT_LE(expected[k], peak) << "the tone's bin is the spectrum's peak";
  }
}

TEST(Features, PureToneLogMelAndLogEnergyMatchBruteForce) {
  const Options o;
  const auto x = sine(800, 1000, 10000, 0.3);
  const auto statics = static_features(to_tensor(x), o);
  ASSERT_EQ(statics.sizes(), (std::vector<int64_t>{3, 41}));

  const auto power = brute_force_power(reference_frame(x, 1, o), 512);
  std::vector<double> mel(40, 0.0);
  for (int j = 0; j < 40; ++j)
    for (int k = 0; k < 257; ++k) mel[j] += htk_weight(k, j, o) * power[k];
  const double strongest = *std::max_element(mel.begin(), mel.end());
  for (int j = 0; j < 40; ++j) {
    // Relative 1e-4 (1e-4 in the log), looser only far below the tone's filter.
    const double got = std::exp(statics[1][j].item<double>());
    EXPECT_NEAR(got, mel[j], 1e-4 * mel[j] + 1e-8 * strongest) << "filter " << j;
  }

  double mean = 0, energy = 0;
  for (int i = 160; i < 560; ++i) mean += x[i] / 400;
  for (int i = 160; i < 560; ++i) energy += (x[i] - mean) * (x[i] - mean);
  EXPECT_NEAR(statics[1][40].item<double>(), std::log(energy), 1e-5);
}

TEST(Features, PreEmphasisStaysWithinEachFrame) {
  // Frame 1 starts at sample 160: changing sample 159 moves frame 0 only.
  const Options o;
  torch::manual_seed(3);
  const auto wave = 1000 * torch::randn({720});
  auto nudged = wave.clone();
  nudged[159] += 5000;
  const auto before = static_features(wave, o), after = static_features(nudged, o);
  EXPECT_FALSE(torch::allclose(before[0], after[0]));
  EXPECT_TRUE(torch::equal(before.narrow(0, 1, 2), after.narrow(0, 1, 2)));
}

TEST(Features, ScalingTheInputShiftsStaticsOnly) {
  const Options o;
  torch::manual_seed(4);
  const auto wave = 1000 * torch::randn({4000});
  const auto base = compute(wave, o), doubled = compute(2 * wave, o);
  EXPECT_TRUE(torch::allclose(doubled.narrow(1, 0, 41), base.narrow(1, 0, 41) + std::log(4.0), 0, 1e-4));
  EXPECT_TRUE(torch::allclose(doubled.narrow(1, 41, 82), base.narrow(1, 41, 82), 0, 1e-4));
}

TEST(Features, DeltaOfRampIsSlopeInsideAndReplicatesEdges) {
  // Column 0: c_t = 3t + 1; column 1: c_t = -0.5t + 2. N = 2, so 2 Σn² = 10.
  const auto t = torch::arange(8, torch::kFloat);
  const auto ramp = torch::stack({3 * t + 1, -0.5 * t + 2}, 1);
  const auto d = deltas(ramp, 2);
  // t=0: (1(c1-c0) + 2(c2-c0))/10 = 0.5a; t=1: (1(c2-c0) + 2(c3-c0))/10 = 0.8a;
  // mirrored at the end.
  const double factor[8] = {0.5, 0.8, 1, 1, 1, 1, 0.8, 0.5};
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(d[i][0].item<double>(), 3 * factor[i], 1e-5) << "t=" << i;
    EXPECT_NEAR(d[i][1].item<double>(), -0.5 * factor[i], 1e-5) << "t=" << i;
  }
}

TEST(Features, DeltaDeltaOfRampIsZeroAndOfQuadraticConstantInside) {
  // ΔΔ at t reads Δ at t-2..t+2, all interior for t in [4, T-5].
  const auto t = torch::arange(12, torch::kFloat);
  const auto ramp = (3 * t + 1).unsqueeze(1);
  const auto quadratic = (0.5 * t * t).unsqueeze(1);  // Δ = t inside, so ΔΔ = 1
  const auto ramp_dd = deltas(deltas(ramp, 2), 2), quad_dd = deltas(deltas(quadratic, 2), 2);
  EXPECT_NEAR(deltas(quadratic, 2)[5][0].item<double>(), 5.0, 1e-5);
  for (int i = 4; i <= 7; ++i) {
    EXPECT_NEAR(ramp_dd[i][0].item<double>(), 0.0, 1e-5) << "t=" << i;
    EXPECT_NEAR(quad_dd[i][0].item<double>(), 1.0, 1e-5) << "t=" << i;
  }
}

TEST(Features, ComputeLaysOutStaticsThenDeltaThenDeltaDelta) {
  const Options o;
  torch::manual_seed(5);
  const auto wave = 1000 * torch::randn({3200});
  const auto all = compute(wave, o);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{18, 123}));
  const auto statics = static_features(wave, o);
  EXPECT_TRUE(torch::allclose(all.narrow(1, 0, 41), statics));
  EXPECT_TRUE(torch::allclose(all.narrow(1, 41, 41), deltas(statics, 2)));
  EXPECT_TRUE(torch::allclose(all.narrow(1, 82, 41), deltas(deltas(statics, 2), 2)));
}

TEST(Features, FrameCountsAndCentresFollowSnipEdges) {
  const Options o;
  EXPECT_EQ(num_frames(0, o), 0);
  EXPECT_EQ(num_frames(399, o), 0);
  EXPECT_EQ(num_frames(400, o), 1);
  EXPECT_EQ(num_frames(559, o), 1);
  EXPECT_EQ(num_frames(560, o), 2);
  EXPECT_EQ(num_frames(48000, o), 298);
  EXPECT_EQ(frame_center_sample(0, o), 200);
  EXPECT_EQ(frame_center_sample(3, o), 680);
  EXPECT_EQ(compute(torch::zeros({399}), o).sizes(), (std::vector<int64_t>{0, 123}));
  EXPECT_EQ(compute(torch::zeros({560}), o).sizes(), (std::vector<int64_t>{2, 123}));
}

TEST(Features, SilenceGivesTheLogFloorNotInfinity) {
  const auto all = compute(torch::zeros({1600}), Options{});
  EXPECT_TRUE(torch::isfinite(all).all().item<bool>());
  EXPECT_TRUE(torch::allclose(all.narrow(1, 0, 41), torch::full({8, 41}, std::log(1e-10))));
  EXPECT_TRUE(torch::equal(all.narrow(1, 41, 82), torch::zeros({8, 82})));
}

TEST(Features, BadOptionsAreUserErrorsNamingTheOption) {
  struct Case {
    std::string option;
    std::function<void(Options&)> spoil;
  };
  const std::vector<Case> cases = {
      {"sample_rate", [](Options& o) { o.sample_rate = 8000; }},
      {"window_ms", [](Options& o) { o.window_ms = 0; }},
      {"shift_ms", [](Options& o) { o.shift_ms = -10; }},
      {"fft_size", [](Options& o) { o.fft_size = 256; }},
      {"num_mel", [](Options& o) { o.num_mel = 0; }},
      {"num_mel", [](Options& o) { o.num_mel = 200; }},  // filters narrower than a bin
      {"low_hz", [](Options& o) { o.low_hz = -1; }},
      {"low_hz", [](Options& o) { o.low_hz = 8000; }},
      {"high_hz", [](Options& o) { o.high_hz = 9000; }},
      {"preemphasis", [](Options& o) { o.preemphasis = 1; }},
      {"delta_window", [](Options& o) { o.delta_window = 0; }},
  };
  for (const auto& c : cases) {
    Options o;
    c.spoil(o);
    try {
      Extractor{o};
      ADD_FAILURE() << "accepted a bad " << c.option;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(c.option), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(validate(Options{}));
}

}  // namespace
}  // namespace qretrain::data::features
