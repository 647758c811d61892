// `qretrain signal-table`: test metric of a config's stored networks against
// weight bits (float, each quant.bits of one method) x signal bits (float and
// fixed-point word lengths), through the integer reference inference, with
// each row's weight memory (the memory bill).
#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/command.h"
#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "deploy/reference.h"
#include "deploy/runner.h"
#include "methods/kinds.h"
#include "methods/session.h"
#include "models/kinds.h"
#include "report/store.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::app {
namespace {

struct SignalTableOptions {
  std::string method = "adaptive";
  std::string network;
  int seed = 0;
  std::vector<int> signal_bits{8, 6, 4};
  std::int64_t calibration = 0;
  std::string output;
};

int cmd_signal_table(const CommonOptions& common, const SignalTableOptions& opt) {
  if (common.config_path.empty()) throw UserError("--config: required (the config whose cells were run)");
  const config::ExperimentConfig cfg = pick_network(config::load(common.config_path, common.overrides), opt.network);
  methods::method_kind(opt.method);
  if (methods::is_baseline(opt.method)) throw UserError("--method: name a quantization method (the float row is always shown)");
  for (int b : opt.signal_bits)
    if (b < 2 || b > 12) throw UserError(fmt::format("--signal-bits: {} is outside 2..12", b));
  require_writable_output_file(opt.output);
  require_dataset(cfg);
  configure_threads(cfg.runtime, models::network_kind(cfg.network.kind).convolutional);
  const int seed = opt.seed != 0 ? opt.seed : cfg.seeds.front();
  deploy::stored_network_file(cfg, methods::baseline_method(), 0, seed);  // before the data loads
  for (int bits : cfg.quant.bits) deploy::stored_network_file(cfg, opt.method, bits, seed);
  const data::Dataset data = data::load(cfg.dataset);
  const bool lm = data.task == data::Task::LanguageModel;
  const auto started = std::chrono::steady_clock::now();

  std::vector<int> weight_bits{0};
  for (int b : cfg.quant.bits) weight_bits.push_back(b);
  std::ostringstream md;
  md << fmt::format("# {} {}: test {} by weight bits x signal bits\n\n", cfg.name, models::network_label(cfg.network),
                    data.metric);
  md << "| weights | memory (bytes) | vs float32 | float signals |";
  for (int b : opt.signal_bits) md << fmt::format(" {}-bit signals |", b);
  md << "\n|---|---:|---:|---:|";
  for (std::size_t i = 0; i < opt.signal_bits.size(); ++i) md << "---:|";
  md << "\n";
  std::int64_t float_bytes = 0;
  auto show = [&](double v) { return lm ? fmt::format("{:.3f}", v) : fmt::format("{:.2f}", v); };
  for (int bits : weight_bits) {
    const std::string method = bits ? opt.method : methods::baseline_method();
    const std::string key = methods::cell_key(cfg, method, bits, seed);
    deploy::ReferenceNetwork reference(deploy::pack_stored_cell(cfg, method, bits, seed, data, stored_test_metric(cfg, key)));
    std::int64_t bytes = 0;
    for (const auto& t : reference.model().tensors) bytes += t.packed_bytes();
    if (bits == 0) float_bytes = bytes;
    md << fmt::format("| {} | {} | {:.1f}x |", bits ? fmt::format("{} {}-bit", method, bits) : "float", bytes,
                      static_cast<double>(float_bytes) / static_cast<double>(bytes));
    md << fmt::format(" {} |", show(deploy::compare_on_split(reference, nullptr, data, data.test).reference_metric));
    for (int signal : opt.signal_bits) {
      const std::int64_t count = opt.calibration ? opt.calibration : lm ? 65536 : 2000;
      reference.quantize_signals(signal, deploy::calibration_batch(data, count));
      md << fmt::format(" {} |", show(deploy::compare_on_split(reference, nullptr, data, data.test).reference_metric));
      std::cerr << fmt::format("[signal-table] weights {} signals {}: done\n", bits ? std::to_string(bits) : "float",
                               signal);
    }
    md << "\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  md << fmt::format(
      "\nSeed {}, the stored networks of each cell (their kept weights), run by the integer reference "
      "(`qretrain infer`): signals requantized after every layer's activation with a QStep step fitted on the first "
      "{} training {} (see README \"Packed models and integer inference\"). Memory: the packed file's tensors (weights "
      "at their bit width, biases and folded batch norm as float32).\n\n",
      seed, opt.calibration ? opt.calibration : lm ? 65536 : 2000, lm ? "characters" : "examples");
  std::string overrides;
  for (const auto& o : common.overrides) overrides += " --set " + o;
  md << fmt::format("Produced by `qretrain signal-table --config {}{} --method {}{} --signal-bits {}` at commit {} on {}, "
                    "{}, in {:.0f} s.\n",
                    common.config_path, overrides, opt.method, opt.network.empty() ? "" : " --network " + opt.network,
                    fmt::join(opt.signal_bits, ","), build_commit(), machine_description(), current_time_iso(),
                    seconds);
  write_output(md.str(), opt.output);
  return 0;
}

}  // namespace

Command signal_table_command() {
  return {"signal-table", "test metric by weight bits x fixed-point signal bits, with the weight memory",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto o = std::make_shared<SignalTableOptions>();
            cli.add_option("--method", o->method, "retraining method of the quantized rows")->capture_default_str();
            cli.add_option("--network", o->network, "network column label (required for grids)");
            cli.add_option("--seed", o->seed, "training seed (default: the config's first)");
            cli.add_option("--signal-bits", o->signal_bits, "signal word lengths, e.g. 8,6,4")->delimiter(',')
                ->capture_default_str();
            cli.add_option("--calibration", o->calibration, "training examples (characters) that fit the signal steps");
            cli.add_option("-o,--output", o->output, "write the table here (default: standard output)")
                ->check(kNonEmptyPath);
            return [&common, o] { return cmd_signal_table(common, *o); };
          },
          "nothing was written"};
}

}  // namespace qretrain::app
