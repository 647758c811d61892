#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "train/trainer.h"

namespace qretrain::train {

bool progress_enabled(const std::string& setting) {
  if (setting == "on") return true;
  if (setting == "off") return false;
  return ::isatty(STDERR_FILENO) == 1;
}

Progress::Progress(bool enabled, std::string tag)
    : enabled_(enabled), tag_(std::move(tag)), start_(std::chrono::steady_clock::now()) {}

void Progress::step(int epoch, int max_epochs, std::int64_t step, std::int64_t updates_per_epoch, double loss,
                    double lr, double samples_per_s) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(250) && step != updates_per_epoch) return;
  last_draw_ = now;
  drawn_ = true;
  // ETA of the epoch budget; the plateau schedule may stop training earlier.
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double done = epoch + static_cast<double>(step) / updates_per_epoch;
  double eta = done > 0 ? elapsed * (max_epochs - done) / done : 0;
  std::fprintf(stderr, "\r\033[K[%s] epoch %d/%d update %lld/%lld loss %.4f dev %s lr %.3g %.0f samples/s ETA<=%.0fs",
               tag_.c_str(), epoch + 1, max_epochs, static_cast<long long>(step),
               static_cast<long long>(updates_per_epoch), loss, last_dev_.c_str(), lr, samples_per_s, eta);
  std::fflush(stderr);
}

void Progress::evaluation(std::string dev) {
  last_dev_ = std::move(dev);
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");  // the log line that follows replaces the live line
    drawn_ = false;
  }
}

void Progress::finish() {
  if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace qretrain::train
