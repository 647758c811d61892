// The learning-rate plateau rule of the paper's recipes, shaped like
// torch::optim::ReduceLROnPlateauScheduler (mode "min", threshold 0,
// cooldown 0): after `patience` dev evaluations in a row without a new best
// the rate is multiplied by `factor`, and training ends once it has fallen
// below `min_lr`. An evaluation recorded with may_decay false (a fit's
// hold period, train.hold_epochs) can set a new best but counts nothing
// toward the patience. Torch-free and tested alone (tests/train/test_plateau.cpp).
#pragma once

namespace qretrain::train {

class PlateauSchedule {
 public:
  PlateauSchedule(double lr, double min_lr, int patience, double factor)
      : lr_(lr), min_lr_(min_lr), patience_(patience), factor_(factor) {}

  // Records one dev evaluation (lower is better); returns whether it is a
  // new best (the first evaluation always is). A patience of 0 decays at
  // every evaluation that is not a new best.
  bool record(double dev_metric, bool may_decay = true) {
    if (!has_best_ || dev_metric < best_) {
      best_ = dev_metric;
      has_best_ = true;
      bad_evals_ = 0;
      return true;
    }
    if (!may_decay) return false;
    if (++bad_evals_ >= patience_) {
      lr_ *= factor_;
      bad_evals_ = 0;
    }
    return false;
  }

  double lr() const { return lr_; }
  int bad_evals() const { return bad_evals_; }
  // The rate has fallen below min_lr (with a relative tolerance of 1e-9, so
  // that 2e-2 halved 6 times is not "below" 3.125e-4 by a rounding error).
  bool finished() const { return lr_ < min_lr_ * (1 - 1e-9); }

  // A resumed fit: the rate and count saved, and the best so far (none when
  // `has_best` is false).
  void restore(double lr, int bad_evals, bool has_best, double best) {
    lr_ = lr;
    bad_evals_ = bad_evals;
    has_best_ = has_best;
    best_ = best;
  }

 private:
  double lr_, min_lr_;
  int patience_;
  double factor_;
  int bad_evals_ = 0;
  bool has_best_ = false;
  double best_ = 0;
};

}  // namespace qretrain::train
