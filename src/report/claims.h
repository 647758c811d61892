// The paper's claims (Shin, Boo, Sung 2017), each tested on the stored runs
// of the tables that reproduce it: a verdict (holds / fails / inconclusive /
// no data) with the numbers that decide it, computed, never written by hand.
//
// Every verdict rests on a 95% interval over paired seeds (Student t): a claim
// holds when the whole interval lies on its side of the stated threshold,
// fails when the whole interval lies on the other side, and is inconclusive
// otherwise (one pair has no interval, so one seed is never enough). Lower is
// better throughout (error % or bits per character).
//
//   C1 direct 2-bit quantization is catastrophic: (direct 2-bit - float) /
//      float, paired by network and seed, above 0.5 (at least 1.5x float).
//   C2 retraining recovers to within a few points: (best retrained - float) /
//      float at 2 bits below 0.10, where "best" is the retrained method with
//      the lowest mean in each network's 2-bit cell; also against the control
//      row (float trained on for the retraining budget) where there is one.
//   C3 adaptive <= conventional: conventional - adaptive over every network x
//      bits x seed of a table above 0 (the paper: adaptive better in 44 of 51).
//   C4 the float-quantized gap shrinks as the network grows: the slope of the
//      2-bit adaptive gap (adaptive - float) against log2 of the hidden width
//      of Table 1's FFDNNs (labels WxW; with and without batch norm fitted
//      apart) below 0.
//   C5 during adaptive retraining the last layer's step size moves most and
//      the first layer's least: per run, the relative change of each group's
//      step size from the first evaluation to the last; (last - largest
//      other) above 0 and (smallest other - first) above 0.
//   C6 adaptive+gradual <= adaptive at 3 and 4 bits: adaptive -
//      adaptive+gradual above 0.
// A claim tested on several tables holds when it holds on every table with
// data, fails when it fails on one and holds on none, and is inconclusive
// otherwise.
#pragma once

#include <string>
#include <vector>

#include "report/store.h"

namespace qretrain::report {

struct ClaimTable {
  int number = 0;             // paper table
  std::string source;         // e.g. "Table 1, configs/table1_standin.yaml"
  std::string metric = "error rate";  // or "bits per character"
  std::vector<RunRecord> runs;        // one configuration's runs (Store::select)
};

struct ClaimInput {
  std::vector<ClaimTable> tables;
  // Adaptive retraining runs with their curves (Δ per group at every
  // evaluation), for C5, and where they come from.
  std::string step_size_source;
  std::vector<RunRecord> step_size_runs;
};

struct ClaimVerdict {
  std::string id;         // C1 ... C6
  std::string statement;  // the claim and its test, in words
  std::string verdict;    // holds | fails | inconclusive | no data
  std::vector<std::string> evidence;  // one line per table (or per fit), with the numbers
};

std::vector<ClaimVerdict> evaluate_claims(const ClaimInput& input);

// Markdown: a summary table, then each claim's evidence.
std::string render_claims(const std::vector<ClaimVerdict>& claims, int heading = 2);

}  // namespace qretrain::report
