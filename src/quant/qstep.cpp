// QStep: exact global minimiser of the uniform quantizer's L2 error.
//
// With a = |w| sorted and prefix sums of a and a², the error of any Δ costs
// O(L log N): level k holds a ∈ [(k−½)Δ, (k+½)Δ), so E(Δ) = Σa² − 2ΔB + Δ²A
// with B = Σ level·a and A = Σ level². E is continuous and piecewise
// quadratic, and every breakpoint a/(k−½) is a concave kink, so the local
// minima are stationary points Σka/Σk² of single pieces. There are N·L pieces,
// so we branch and bound over Δ (log space) instead of visiting them all.
#include "quant/qstep.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace qretrain::quant {

int max_level(int bits) {
  // Up to 8 bits as in the paper; the exact search grows fast beyond that
  // (about 0.5 s for 12 bits on 1M weights).
  if (bits < 2 || bits > 8) {
    throw std::invalid_argument("quant: bits must be in 2..8, got " + std::to_string(bits));
  }
  return (1 << (bits - 1)) - 1;
}

namespace {

// Q in a branch-free form the compiler vectorises (the hook runs it over every
// weight at every update). floor(|w|/Δ + 0.5) has a positive argument, so
// once clipped to the integer max_lvl, truncation (cvttps2dq) is the floor;
// copysign gives sgn(w)·Δ·level (a signed zero for w = 0).
inline float quantize_one(float w, float delta, float max_lvl) {
  const float scaled = std::min(std::fabs(w) / delta + 0.5f, max_lvl);
  const float level = static_cast<float>(static_cast<std::int32_t>(scaled));
  return std::copysign(delta * level, w);
}

}  // namespace

float quantize_value(float w, float delta, int bits) {
  const float max_lvl = static_cast<float>(max_level(bits));
  if (!(delta > 0.0f)) return 0.0f;
  return quantize_one(w, delta, max_lvl);
}

namespace {

// One kernel per instruction set, picked at load time: exact IEEE operations
// only (built with -ffp-contract=off, see CMakeLists.txt), so every clone
// gives the same bits.
__attribute__((target_clones("avx512f", "avx2", "default"))) void quantize_range(const float* __restrict w,
                                                                                float* __restrict out, std::size_t n,
                                                                                float delta, float max_lvl) {
  for (std::size_t i = 0; i < n; ++i) out[i] = quantize_one(w[i], delta, max_lvl);
}

}  // namespace

void quantize(const float* w, float* out, std::size_t n, float delta, int bits) {
  const float max_lvl = static_cast<float>(max_level(bits));
  if (!(delta > 0.0f)) {
    std::fill(out, out + n, 0.0f);
    return;
  }
  // On the OpenMP threads LibTorch is given (runtime threads), in chunks
  // large enough that small layers stay on one thread.
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  const auto chunks = static_cast<std::int64_t>((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
    quantize_range(w + begin, out + begin, std::min(kChunk, n - begin), delta, max_lvl);
  }
}

double quantization_sse(const float* w, std::size_t n, double delta, int bits) {
  const double max_lvl = max_level(bits);
  double sse = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = std::fabs(static_cast<double>(w[i]));
    const double q = delta > 0.0 ? delta * std::min(std::floor(a / delta + 0.5), max_lvl) : 0.0;
    sse += (q - a) * (q - a);
  }
  return sse;
}

namespace {

using Index = std::vector<std::uint32_t>;  // idx[k] = first weight at level >= k

std::uint32_t float_bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

float bits_float(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Bit pattern of the smallest float >= t. Non-negative floats order like their
// bit patterns, so every search below compares integers.
std::uint32_t threshold_key(double t) {
  if (!(t > 0.0)) return 0;
  if (t > std::numeric_limits<float>::max()) return 0x7f800000u;  // above every finite |w|
  float f = static_cast<float>(t);
  if (static_cast<double>(f) < t) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return float_bits(f);
}

// |w| as sorted bit patterns: LSD radix sort, 3 passes of 11 bits over the 31
// magnitude bits (std::sort is ~10x slower at 1M weights). The first pass
// reads w directly, so the only extra sweep is the histogram one.
std::unique_ptr<std::uint32_t[]> sorted_magnitude_keys(const float* w, std::size_t n) {
  constexpr int kDigitBits = 11;
  constexpr std::uint32_t kMask = (1u << kDigitBits) - 1;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
  std::vector<std::size_t> hist(3 * kBuckets, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t b = float_bits(w[i]) & 0x7fffffffu;
    if (b >= 0x7f800000u) {
      throw std::invalid_argument("qstep: weight " + std::to_string(i) + " is " +
                                  (b == 0x7f800000u ? "infinite" : "NaN"));
    }
    ++hist[b & kMask];
    ++hist[kBuckets + ((b >> kDigitBits) & kMask)];
    ++hist[2 * kBuckets + (b >> (2 * kDigitBits))];
  }
  std::unique_ptr<std::uint32_t[]> out(new std::uint32_t[n]);
  std::unique_ptr<std::uint32_t[]> tmp(new std::uint32_t[n]);
  const std::uint32_t* src = nullptr;  // nullptr: still in w
  for (int pass = 0; pass < 3; ++pass) {
    std::size_t* h = hist.data() + pass * kBuckets;
    if (src != nullptr && std::find(h, h + kBuckets, n) != h + kBuckets) continue;  // one digit
    std::size_t sum = 0;
    for (std::size_t d = 0; d < kBuckets; ++d) sum += std::exchange(h[d], sum);
    // Each pass writes to whichever buffer is not its source.
    std::uint32_t* dst = src == out.get() ? tmp.get() : out.get();
    const int shift = pass * kDigitBits;
    if (src == nullptr) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t b = float_bits(w[i]) & 0x7fffffffu;
        dst[h[b & kMask]++] = b;
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) dst[h[(src[i] >> shift) & kMask]++] = src[i];
    }
    src = dst;
  }
  return src == out.get() ? std::move(out) : std::move(tmp);
}

struct Sums {
  double s1, s2;  // Σ a and Σ a² over the first i sorted magnitudes
};

// Level boundaries at one Δ: idx[k] = first sorted weight at level >= k
// (idx[0] = 0, idx[L+1] = n), with the moments A = Σ level², B = Σ level·a.
struct Cut {
  Index idx;
  long double A = 0, B = 0;
};
using CutPtr = std::shared_ptr<const Cut>;

struct Bound {
  long double lb;      // lower bound of E over the interval
  double arg;          // minimiser of the bound's quadratic part
  std::size_t unsure;  // weights whose level is not fixed on the interval
};

struct Node {
  double lo, hi;
  long double lb;
  CutPtr at_lo, at_hi;
  bool operator<(const Node& o) const { return lb > o.lb; }  // min-heap on lb
};

class Solver {
 public:
  Solver(const std::uint32_t* a, std::size_t n, const Sums* p, int levels)
      : a_(a), n_(n), p_(p), L_(levels), p1n_(p[n].s1), p2n_(p[n].s2) {}

  StepResult run() {
    const double a_max = bits_float(a_[n_ - 1]);
    const double lo0 = a_max * 1e-9, hi0 = 2.0 * a_max;  // Δ >= 2·a_max quantizes all to 0
    best_delta_ = hi0;
    incumbent_ = p2n_;
    seed(a_max);

    std::priority_queue<Node> queue;
    // E at the bound's argmin is evaluated only where it is exact (no unsure
    // weights): elsewhere it never improved the incumbent in our trials
    // (seeds, midpoints and exact pieces supply it) and costs L searches.
    auto consider = [&](double lo, double hi, CutPtr cl, CutPtr ch) {
      ++nodes_;
      const Bound b = analyse(lo, hi, *cl, *ch);
      if (b.unsure == 0) {
        offer(b.arg, *cl, kNodeLloydSteps);  // the bound's quadratic is E here
      } else if (b.lb < threshold()) {
        queue.push(Node{lo, hi, b.lb, std::move(cl), std::move(ch)});
      }
    };
    consider(lo0, hi0, std::make_shared<Cut>(cut_full(lo0)), std::make_shared<Cut>(cut_full(hi0)));

    while (!queue.empty() && nodes_ < kMaxNodes) {
      const Node node = queue.top();
      queue.pop();
      if (node.lb >= threshold()) break;  // best-first: nothing left can beat the incumbent
      if (node.hi / node.lo - 1.0 < 1e-12) continue;
      const double mid = std::sqrt(node.lo * node.hi);
      auto at_mid = std::make_shared<Cut>(cut_between(mid, *node.at_lo, *node.at_hi));
      offer(mid, *at_mid, kNodeLloydSteps);
      consider(node.lo, mid, node.at_lo, at_mid);
      consider(mid, node.hi, at_mid, node.at_hi);
    }

    const Cut best = cut_full(best_delta_);
    return StepResult{best_delta_, direct_sse(best_delta_, best.idx), nodes_};
  }

 private:
  static constexpr std::size_t kMaxNodes = 1000000;  // never hang; ~1000 at 8 bits
  static constexpr int kNodeLloydSteps = 4;
  static constexpr int kSeedLloydSteps = 64;
  static constexpr std::uint32_t kDirectSumMax = 16;

  // Prune margin: relative 1e-12, plus an absolute floor far above the long
  // double rounding of Σa² for the all-representable case (incumbent ≈ 0).
  long double threshold() const { return incumbent_ * (1.0L - 1e-12L) - 1e-18L * p2n_; }

  // lower_bound over [first, last) with conditional moves instead of
  // unpredictable branches. Invariant: the answer lies in [base, base + len].
  std::uint32_t search(std::uint32_t key, std::uint32_t first, std::uint32_t last) const {
    const std::uint32_t* base = a_ + first;
    std::uint32_t len = last - first;
    while (len > 1) {
      const std::uint32_t half = len / 2;
      base = base[half - 1] < key ? base + half : base;
      len -= half;
    }
    return static_cast<std::uint32_t>(base - a_) + (len == 1 && base[0] < key ? 1 : 0);
  }

  // Exponential search from a nearby index: Lloyd steps and grid points move
  // the boundaries only a little.
  std::uint32_t gallop(std::uint32_t key, std::uint32_t hint) const {
    const std::size_t n = n_;
    std::size_t lo = 0, hi = n;  // the answer lies in [lo, hi]
    if (hint < n && a_[hint] < key) {
      lo = std::size_t{hint} + 1;
      std::size_t step = 1;
      while (lo + step <= n && a_[lo + step - 1] < key) {
        lo += step;
        step *= 2;
      }
      hi = std::min(n, lo + step - 1);
    } else {
      hi = hint;
      std::size_t step = 1;
      while (hi >= step && a_[hi - step] >= key) {
        hi -= step;
        step *= 2;
      }
      lo = hi >= step ? hi - step + 1 : 0;
    }
    return search(key, static_cast<std::uint32_t>(lo), static_cast<std::uint32_t>(hi));
  }

  // A = Σ level², B = Σ level·a, telescoped over the boundaries so that each
  // stored prefix sum enters once (keeps the cancellation error small).
  void set_moments(Cut& c) const {
    c.A = static_cast<long double>(L_) * L_ * n_;
    c.B = static_cast<long double>(L_) * p1n_;
    for (int k = 1; k <= L_; ++k) {
      c.A -= static_cast<long double>(2 * k - 1) * c.idx[k];
      c.B -= p_[c.idx[k]].s1;
    }
  }

  Cut cut_full(double delta) const {
    Cut c;
    c.idx.assign(L_ + 2, 0);
    c.idx[L_ + 1] = static_cast<std::uint32_t>(n_);
    std::uint32_t from = 0;
    for (int k = 1; k <= L_; ++k) {
      from = search(threshold_key((k - 0.5) * delta), from, static_cast<std::uint32_t>(n_));
      c.idx[k] = from;
    }
    set_moments(c);
    return c;
  }

  // Boundaries at delta ∈ [lo, hi] lie between those at lo and at hi.
  Cut cut_between(double delta, const Cut& cl, const Cut& ch) const {
    Cut c;
    c.idx = cl.idx;
    for (int k = 1; k <= L_; ++k) {
      if (cl.idx[k] != ch.idx[k]) {
        c.idx[k] = search(threshold_key((k - 0.5) * delta), cl.idx[k], ch.idx[k]);
      }
    }
    set_moments(c);
    return c;
  }

  void move_cut(double delta, Cut& c) const {
    for (int k = 1; k <= L_; ++k) c.idx[k] = gallop(threshold_key((k - 0.5) * delta), c.idx[k]);
    set_moments(c);
  }

  long double energy(double delta, const Cut& c) const {
    const long double d = delta;
    return p2n_ - 2.0L * d * c.B + d * d * c.A;
  }

  // Σ a and Σ a² over sorted positions [i, j): direct when short, so deep
  // nodes do not pay the rounding of two large prefix sums.
  void range_sums(std::uint32_t i, std::uint32_t j, long double& s1, long double& s2) const {
    if (j - i <= kDirectSumMax) {
      s1 = s2 = 0;
      for (std::uint32_t t = i; t < j; ++t) {
        const long double x = bits_float(a_[t]);
        s1 += x;
        s2 += x * x;
      }
    } else {
      s1 = static_cast<long double>(p_[j].s1) - p_[i].s1;
      s2 = static_cast<long double>(p_[j].s2) - p_[i].s2;
    }
  }

  // Lower bound of E on [lo, hi]. Weights between the boundaries at lo and at
  // hi ("unsure") may sit at level k or k−1; the others keep their level, so
  // their error is one quadratic in Δ, minimised exactly.
  Bound analyse(double lo, double hi, const Cut& cl, const Cut& ch) const {
    const Index& il = cl.idx;
    const Index& ih = ch.idx;
    // Narrow (always once hi/lo <= (L−½)/(L−1½)): the unsure zones of
    // neighbouring boundaries do not overlap, so each unsure weight is at
    // level k or k−1 and its error is bounded below.
    bool narrow = true;
    for (int k = 1; k < L_ && narrow; ++k) narrow = ih[k] <= il[k + 1];
    long double A = 0, B = 0, C = 0, unsure_err = 0;
    std::size_t unsure = 0;
    if (narrow) {
      // Stable sets are the levels at lo minus the unsure zones.
      A = cl.A;
      B = cl.B;
      C = p2n_;
      for (int k = 1; k <= L_; ++k) {
        const std::uint32_t u = ih[k] - il[k];
        if (u == 0) continue;
        unsure += u;
        long double s1, s2;
        range_sums(il[k], ih[k], s1, s2);
        A -= static_cast<long double>(k) * k * u;
        B -= k * s1;
        C -= s2;
        const double gap = std::max(
            0.0, std::min(k * lo - (k - 0.5) * hi, (k - 0.5) * lo - (k - 1) * hi));
        unsure_err += static_cast<long double>(u) * gap * gap;
      }
    } else {
      C = p_[il[1]].s2;  // level 0 for every Δ in the interval
      for (int k = 1; k <= L_; ++k) {
        unsure += ih[k] - il[k];
        const std::uint32_t s = ih[k], e = il[k + 1];
        if (e <= s) continue;
        A += static_cast<long double>(k) * k * (e - s);
        B += k * (static_cast<long double>(p_[e].s1) - p_[s].s1);
        C += static_cast<long double>(p_[e].s2) - p_[s].s2;
      }
    }
    const double arg =
        A > 0 ? std::clamp(static_cast<double>(B / A), lo, hi) : std::sqrt(lo * hi);
    const long double d = arg;
    return Bound{C - 2.0L * d * B + d * d * A + unsure_err, arg, unsure};
  }

  void record(double delta, long double e) {
    if (e < incumbent_) {
      incumbent_ = e;
      best_delta_ = delta;
    }
  }

  // Lloyd steps (Δ ← Σka/Σk², then reassign) never increase E; they carry a
  // candidate to the stationary point of its piece.
  void polish(double delta, Cut c, long double e, int steps) {
    for (int s = 0; s < steps && c.A > 0; ++s) {
      const double next = static_cast<double>(c.B / c.A);
      if (next == delta) break;
      move_cut(next, c);
      const long double e_next = energy(next, c);
      if (!(e_next < e)) break;
      delta = next;
      e = e_next;
      record(delta, e);
    }
  }

  // Record E at delta; polish candidates that improve the incumbent, which
  // tightens pruning early.
  void offer(double delta, const Cut& c, int lloyd_steps) {
    const long double e = energy(delta, c);
    if (!(e < incumbent_)) return;
    record(delta, e);
    polish(delta, c, e, lloyd_steps);
  }

  // A good incumbent before the search prunes most intervals at once: a
  // coarse log grid, then Lloyd from its two best points.
  void seed(double a_max) {
    constexpr int kGrid = 24;
    const double g_lo = a_max / (16.0 * (L_ + 1)), g_hi = a_max;
    const double ratio = std::pow(g_hi / g_lo, 1.0 / (kGrid - 1));
    std::vector<std::pair<long double, double>> grid;
    Cut c = cut_full(g_lo);
    double delta = g_lo;
    for (int g = 0; g < kGrid; ++g, delta *= ratio) {
      if (g > 0) move_cut(delta, c);
      grid.emplace_back(energy(delta, c), delta);
      record(delta, grid.back().first);
    }
    std::sort(grid.begin(), grid.end());
    for (int s = 0; s < 2; ++s) {
      polish(grid[s].second, cut_full(grid[s].second), grid[s].first, kSeedLloydSteps);
    }
  }

  double direct_sse(double delta, const Index& idx) const {
    double acc[4] = {0.0, 0.0, 0.0, 0.0};  // independent chains: add latency bound
    for (int k = 0; k <= L_; ++k) {
      const double q = k * delta;
      for (std::uint32_t i = idx[k]; i < idx[k + 1]; ++i) {
        const double r = q - bits_float(a_[i]);
        acc[i & 3] += r * r;
      }
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }

  const std::uint32_t* a_;
  std::size_t n_;
  const Sums* p_;
  int L_;
  long double p1n_, p2n_;
  long double incumbent_ = 0;
  double best_delta_ = 0;
  std::size_t nodes_ = 0;
};

}  // namespace

StepResult qstep(const float* w, std::size_t n, int bits) { return qstep_levels(w, n, max_level(bits)); }

StepResult qstep_levels(const float* w, std::size_t n, int levels) {
  if (levels < 1) throw std::invalid_argument("qstep: the largest level must be at least 1");
  if (n >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("qstep: at most 2^32 - 2 weights per group");
  }
  if (n == 0) return {};
  const auto keys = sorted_magnitude_keys(w, n);
  if (keys[n - 1] == 0) return {};  // all zeros: any Δ is exact

  // Prefix sums accumulated in long double, stored rounded to double.
  std::unique_ptr<Sums[]> prefix(new Sums[n + 1]);
  long double s1 = 0, s2 = 0;
  prefix[0] = Sums{0.0, 0.0};
  for (std::size_t i = 0; i < n; ++i) {
    const long double x = bits_float(keys[i]);
    s1 += x;
    s2 += x * x;
    prefix[i + 1] = Sums{static_cast<double>(s1), static_cast<double>(s2)};
  }
  return Solver(keys.get(), n, prefix.get(), levels).run();
}

std::vector<StepResult> qstep_each(const std::vector<WeightSpan>& groups, int bits) {
  std::vector<StepResult> out(groups.size());
  std::vector<std::size_t> order(groups.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return groups[a].size > groups[b].size; });
  const auto n = static_cast<std::int64_t>(order.size());
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
  for (std::int64_t i = 0; i < n; ++i) {
    const WeightSpan& g = groups[order[static_cast<std::size_t>(i)]];
    out[order[static_cast<std::size_t>(i)]] = qstep(g.data, g.size, bits);
  }
  return out;
}

}  // namespace qretrain::quant
