// `qretrain export`: every run and every evaluation point of the store, for
// analysis in other tools.
//
//   csv   - one row per evaluation point (the run's columns repeated on each;
//           a run without a curve, e.g. direct, has one row with empty eval_*
//           columns); RFC 4180 quoting, Δ of the weight groups joined by ';'.
//   jsonl - one JSON object per run, with its resolved config, weight-group
//           names and the whole curve; NaN and infinities become null.
#pragma once

#include <string>
#include <vector>

#include "report/store.h"

namespace qretrain::report {

std::string export_csv(const std::vector<RunRecord>& runs);
std::string export_jsonl(const std::vector<RunRecord>& runs);

}  // namespace qretrain::report
