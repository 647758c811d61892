#include "report/export.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace qretrain::report {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Shortest text that reads back to the same double; empty for NaN.
std::string number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : ""; }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

std::string json_numbers(const std::vector<double>& values) {
  std::vector<std::string> parts;
  for (double v : values) parts.push_back(json_number(v));
  return fmt::format("[{}]", fmt::join(parts, ","));
}

}  // namespace

std::string export_csv(const std::vector<RunRecord>& runs) {
  std::string out =
      "cell_key,experiment,dataset,network,method,bits,seed,step_policy,status,failure,test_metric,dev_metric,"
      "epochs,updates,wall_s,samples_per_s,commit,machine,started_at,finished_at,note,stop_reason,baseline_digest,"
      "eval_index,eval_epoch,eval_updates,eval_lr,eval_train_loss,eval_dev_metric,eval_elapsed_s,eval_deltas\n";
  for (const auto& r : runs) {
    const std::string run = fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", csv_field(r.cell_key), csv_field(r.experiment),
        csv_field(r.dataset), csv_field(r.network), csv_field(r.method), r.bits, r.seed, csv_field(r.step_policy),
        csv_field(r.status), csv_field(r.failure), number(r.test_metric), number(r.dev_metric), r.epochs, r.updates,
        number(r.wall_s), number(r.samples_per_s), csv_field(r.commit), csv_field(r.machine),
        csv_field(r.started_at), csv_field(r.finished_at), csv_field(r.note), csv_field(r.stop_reason),
        csv_field(r.baseline_digest));
    if (r.curve.empty()) out += run + ",,,,,,,,\n";
    for (std::size_t i = 0; i < r.curve.size(); ++i) {
      const auto& p = r.curve[i];
      std::vector<std::string> deltas;
      for (double d : p.deltas) deltas.push_back(number(d));
      out += fmt::format("{},{},{},{},{},{},{},{},{}\n", run, i, p.epoch, p.updates, number(p.lr), number(p.train_loss),
                         number(p.dev_metric), number(p.elapsed_s), fmt::join(deltas, ";"));
    }
  }
  return out;
}

std::string export_jsonl(const std::vector<RunRecord>& runs) {
  std::string out;
  for (const auto& r : runs) {
    std::vector<std::string> groups, curve;
    for (const auto& g : r.group_names) groups.push_back(json_string(g));
    for (const auto& p : r.curve)
      curve.push_back(fmt::format(
          "{{\"epoch\":{},\"updates\":{},\"lr\":{},\"train_loss\":{},\"dev_metric\":{},\"elapsed_s\":{},\"deltas\":{}}}",
          p.epoch, p.updates, json_number(p.lr), json_number(p.train_loss), json_number(p.dev_metric),
          json_number(p.elapsed_s), json_numbers(p.deltas)));
    out += fmt::format(
        "{{\"cell_key\":{},\"experiment\":{},\"dataset\":{},\"network\":{},\"method\":{},\"bits\":{},\"seed\":{},"
        "\"step_policy\":{},\"status\":{},\"failure\":{},\"test_metric\":{},\"dev_metric\":{},\"epochs\":{},"
        "\"updates\":{},\"wall_s\":{},\"samples_per_s\":{},\"commit\":{},\"machine\":{},\"started_at\":{},"
        "\"finished_at\":{},\"note\":{},\"stop_reason\":{},\"baseline_digest\":{},\"groups\":[{}],\"config\":{},"
        "\"curve\":[{}]}}\n",
        json_string(r.cell_key), json_string(r.experiment), json_string(r.dataset), json_string(r.network),
        json_string(r.method), r.bits, r.seed, json_string(r.step_policy), json_string(r.status),
        json_string(r.failure), json_number(r.test_metric), json_number(r.dev_metric), r.epochs, r.updates,
        json_number(r.wall_s), json_number(r.samples_per_s), json_string(r.commit), json_string(r.machine),
        json_string(r.started_at), json_string(r.finished_at), json_string(r.note), json_string(r.stop_reason),
        json_string(r.baseline_digest), fmt::join(groups, ","), json_string(r.config_yaml),
        fmt::join(curve, ","));
  }
  return out;
}

}  // namespace qretrain::report
