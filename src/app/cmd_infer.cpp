// `qretrain infer --model FILE`: the test split through the packed file alone
// with integer weight levels (src/deploy/reference.h), beside the torch
// module holding the same weights and the cell's stored evaluation.
#include <cmath>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/command.h"
#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "deploy/packed.h"
#include "deploy/reference.h"
#include "deploy/runner.h"
#include "models/kinds.h"
#include "util/error.h"

namespace qretrain::app {
namespace {

struct InferOptions {
  std::string model;
  int signal_bits = 0;             // 0: float signals
  std::int64_t calibration = 0;    // 0: 2000 examples, or 65,536 characters
  std::string split = "test";
  bool check = true;               // also the torch module, for the differing predictions
};

int cmd_infer(const CommonOptions& common, const InferOptions& opt) {
  if (opt.signal_bits != 0 && (opt.signal_bits < 2 || opt.signal_bits > 12))
    throw UserError(fmt::format("--signal-bits: {} is outside 2..12 (0 = float signals)", opt.signal_bits));
  if (opt.calibration < 0) throw UserError(fmt::format("--calibration: {} must not be negative", opt.calibration));
  deploy::PackedModel packed = deploy::read_packed(opt.model);
  // The data: from --config when given (the corpus lives elsewhere), else
  // from the config the cell ran with.
  config::ExperimentConfig cfg = common.config_path.empty() ? deploy::config_of(packed) : load_config(common, true);
  require_dataset(cfg);
  const std::string network_kind = packed.header.at("network").at("kind").get<std::string>();
  configure_threads(cfg.runtime, models::network_kind(network_kind).convolutional);
  // The file's network is built first: a header that does not fit its
  // tensors is reported before the data loads.
  models::Network module = opt.check ? deploy::module_of(packed) : nullptr;
  const data::Dataset data = data::load(cfg.dataset);
  deploy::require_fits(packed, data);
  const data::Split& split = opt.split == "dev" ? data.dev : data.test;

  const auto& cell = packed.header.at("cell");
  const int bits = cell.at("bits").get<int>();
  deploy::ReferenceNetwork reference(std::move(packed));
  const bool language_model = data.task == data::Task::LanguageModel;
  if (opt.signal_bits > 0) {
    const std::int64_t count = opt.calibration ? opt.calibration : language_model ? 65536 : 2000;
    reference.quantize_signals(opt.signal_bits, deploy::calibration_batch(data, count));
  }
  const deploy::SplitComparison result = deploy::compare_on_split(reference, module.get(), data, split);

  const auto& header = reference.model().header;
  std::cout << fmt::format("{}: {} {} {} seed {} (cell {}, commit {})\n", opt.model,
                           cell.at("experiment").get<std::string>(), cell.at("network").get<std::string>(),
                           bits ? fmt::format("{} {}-bit", cell.at("method").get<std::string>(), bits) : "float",
                           cell.at("seed").get<int>(), cell.at("key").get<std::string>(),
                           header.at("producer").at("commit").get<std::string>());
  std::cout << fmt::format("weights: {}\n", bits ? "integer levels, one multiplication by the step per layer (no float weight formed)"
                                                 : "float32 (a float network)");
  if (opt.signal_bits == 0) {
    std::cout << "signals: float32\n";
  } else {
    std::vector<std::string> steps;
    for (const auto& p : reference.signal_points())
      steps.push_back(fmt::format("{} {}{:.4g}", p.where, p.is_signed ? "±" : "", p.step));
    std::cout << fmt::format("signals: {}-bit fixed point, steps by QStep on a calibration batch: {}\n",
                             opt.signal_bits, fmt::join(steps, "; "));
  }
  // BPC to 5 decimals: the reference must agree with the module within 1e-3.
  auto show = [&](double v) {
    if (std::isnan(v)) return std::string("-");
    return language_model ? fmt::format("{:.5f} bpc", v) : data.format_metric(v);
  };
  const auto stored = header.at("evaluation").at("test");
  std::cout << fmt::format("{} {}: reference {} | torch module with the same weights {} | stored evaluation {}\n",
                           opt.split, data.metric, show(result.reference_metric), show(result.module_metric),
                           stored.is_null() || opt.split != "test" ? std::string("-") : show(stored.get<double>()));
  if (!stored.is_null() && opt.split == "test")
    std::cout << fmt::format("reference - stored evaluation: {:+.5f}{}\n", result.reference_metric - stored.get<double>(),
                             language_model ? " bpc" : " points");
  if (!language_model && module)
    std::cout << fmt::format("predictions: {}, differing from the torch module: {}; largest logit difference {:.3g}\n",
                             result.predictions, result.differing, result.max_logit_difference);
  std::cout << fmt::format("time: {:.2f} s for {} predictions\n", result.seconds, result.predictions);
  return 0;
}

}  // namespace

Command infer_command() {
  return {"infer", "a packed model file's test metric with integer weights (and fixed-point signals)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto o = std::make_shared<InferOptions>();
            cli.add_option("--model", o->model, "packed model file (qretrain export-model)")
                ->required()
                ->check(kNonEmptyPath);
            cli.add_option("--signal-bits", o->signal_bits, "fixed-point signals of this many bits (0 = float)")
                ->capture_default_str();
            cli.add_option("--calibration", o->calibration,
                           "training examples (characters) that fit the signal steps (default 2000 / 65536)");
            cli.add_option("--split", o->split, "test or dev")->check(CLI::IsMember({"test", "dev"}))->capture_default_str();
            cli.add_flag("!--no-check", o->check, "skip the torch module the reference is compared with");
            return [&common, o] { return cmd_infer(common, *o); };
          },
          "nothing was written"};
}

}  // namespace qretrain::app
