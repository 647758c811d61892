// A live progress line on a terminal (epoch, step, loss, dev, lr, samples/s,
// ETA); silent otherwise, where the per-evaluation log lines suffice.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace qretrain::train {

class Progress {
 public:
  Progress(bool enabled, std::string tag);
  void step(int epoch, int max_epochs, std::int64_t step, std::int64_t updates_per_epoch, double loss, double lr,
            double samples_per_s);
  // A dev evaluation happened; `dev` is its metric as logged ("27.20%").
  void evaluation(std::string dev);
  void finish();

 private:
  bool enabled_;
  std::string tag_;
  std::string last_dev_ = "-";
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// "auto" = a terminal on stderr.
bool progress_enabled(const std::string& setting);

}  // namespace qretrain::train
