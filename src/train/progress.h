// A live progress line on a terminal (epoch, step, loss, dev, lr, samples/s,
// ETA); silent otherwise, where the per-evaluation log lines suffice.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace qretrain::train {

struct EvalPoint;

class Progress {
 public:
  Progress(bool enabled, std::string tag);
  void step(int epoch, int max_epochs, std::int64_t step, std::int64_t steps_per_epoch, double loss, double lr,
            double samples_per_s);
  void evaluation(const EvalPoint& p);
  void finish();

 private:
  bool enabled_;
  std::string tag_;
  double last_dev_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// "auto" = a terminal on stderr.
bool progress_enabled(const std::string& setting);

}  // namespace qretrain::train
