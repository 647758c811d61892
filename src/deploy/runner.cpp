#include "deploy/runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/kinds.h"
#include "data/text.h"
#include "methods/kinds.h"
#include "methods/session.h"
#include "models/kinds.h"
#include "models/lstm_lm.h"
#include "quant/hook.h"
#include "train/task.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::deploy {
namespace fs = std::filesystem;

std::string stored_network_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed) {
  const bool is_float = methods::is_baseline(method);
  std::string identity;
  const std::string path =
      is_float ? methods::baseline_file(cfg, seed, &identity) : methods::checkpoint_file(cfg, method, bits, seed);
  if (!fs::exists(path))
    throw UserError(fmt::format("{}: no stored {} network of {} seed {} on this machine (the kept networks live in "
                                "output.dir, which is not in the repository); run the cell first: qretrain run "
                                "--config {}",
                                path, is_float ? "float" : fmt::format("{} {}-bit", method, bits),
                                models::network_label(cfg.network), seed, cfg.source));
  return path;
}

PackedModel pack_stored_cell(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed,
                             const data::Dataset& data, double stored_test) {
  const bool is_float = methods::is_baseline(method);
  const std::string path = stored_network_file(cfg, method, bits, seed);
  models::Network network = models::make_network(cfg.network, {data.input_shape, data.num_classes});
  const std::vector<double> deltas = train::load_checkpoint(path, *network);
  std::unique_ptr<quant::QuantHook> hook;
  if (!is_float) {
    const quant::HookOptions options = methods::hook_options(cfg, method, bits);
    if (options.granularity == quant::Granularity::Channel)
      throw UserError(fmt::format("{} {}-bit has one Δ per output channel; the packed format (QRPACK01) holds one Δ "
                                  "per tensor, so per-channel cells are not exported yet",
                                  method, bits));
    hook = std::make_unique<quant::QuantHook>(*network, options);
    hook->set_step_sizes(deltas);
  }
  Provenance p;
  p.config_yaml = config::dump(cfg, false);
  p.experiment = cfg.name;
  p.network_label = models::network_label(cfg.network);
  p.network = cfg.network;
  p.cell_key = methods::cell_key(cfg, method, is_float ? 0 : bits, seed);
  p.method = method;
  p.seed = seed;
  p.dataset_kind = cfg.dataset.kind;
  p.normalisation = data::dataset_kind(cfg.dataset.kind).normalisation;
  p.input_shape = data.input_shape;
  p.classes = data.num_classes;
  p.metric = data.metric;
  p.test_metric = stored_test;
  return pack_network(*network, hook.get(), p);
}

config::ExperimentConfig config_of(const PackedModel& model) {
  const fs::path temp = fs::temp_directory_path() / fmt::format("qretrain-packed-config-{}.yaml", ::getpid());
  try {
    atomic_write_text(temp, model.header.at("config").get<std::string>());
    config::ExperimentConfig cfg = config::load(temp.string());
    fs::remove(temp);
    const auto& net = model.header.at("network");
    cfg.network.kind = net.at("kind").get<std::string>();
    cfg.network.hidden = net.at("hidden").get<std::vector<int>>();
    cfg.network.batch_norm = net.at("batch_norm").get<bool>();
    cfg.network.label = model.header.at("cell").at("network").get<std::string>();
    return cfg;
  } catch (const nlohmann::json::exception& e) {
    fs::remove(temp);
    throw UserError(fmt::format("{}: the header's config or network is unreadable: {}", model.source, e.what()));
  } catch (const UserError& e) {
    fs::remove(temp);
    throw UserError(fmt::format("{}: the config in its header does not load: {}", model.source, e.what()));
  }
}

models::Network module_of(const PackedModel& model) {
  const config::ExperimentConfig cfg = config_of(model);
  const auto& net = model.header.at("network");
  models::Network network = models::make_network(
      cfg.network, {net.at("input_shape").get<std::vector<std::int64_t>>(), net.at("classes").get<int>()});
  torch::NoGradGuard no_grad;
  auto params = network->named_parameters(true);
  auto buffers = network->named_buffers(true);
  for (const auto& op : model.graph) {
    if (op.op != "batchnorm") continue;
    params[op.module + ".weight"].copy_(model.tensor(op.module + ".scale").values_tensor());
    params[op.module + ".bias"].copy_(model.tensor(op.module + ".shift").values_tensor());
    buffers[op.module + ".running_mean"].zero_();
    buffers[op.module + ".running_var"].fill_(1.0);
    // With eps 0 the module computes x * scale + shift exactly.
    auto module = network->named_modules("", false)[op.module];
    if (auto* bn1 = module->as<torch::nn::BatchNorm1dImpl>()) bn1->options.eps(0.0);
    if (auto* bn2 = module->as<torch::nn::BatchNorm2dImpl>()) bn2->options.eps(0.0);
  }
  for (const auto& t : model.tensors) {
    if (!params.contains(t.name)) continue;
    if (params[t.name].sizes().vec() != t.shape)
      throw UserError(fmt::format("{}: tensor '{}' has shape {}, the network of its header needs {}", model.source,
                                  t.name, fmt::join(t.shape, "x"), fmt::join(params[t.name].sizes(), "x")));
    params[t.name].copy_(t.dequantized());
  }
  network->eval();
  return network;
}

void require_fits(const PackedModel& model, const data::Dataset& data) {
  const auto& net = model.header.at("network");
  const auto shape = net.at("input_shape").get<std::vector<std::int64_t>>();
  const int classes = net.at("classes").get<int>();
  if (shape != data.input_shape || classes != data.num_classes)
    throw UserError(fmt::format("{}: its network takes inputs [{}] and {} classes, the dataset '{}' has [{}] and {}",
                                model.source, fmt::join(shape, ", "), classes, data.name,
                                fmt::join(data.input_shape, ", "), data.num_classes));
}

SplitComparison compare_on_split(const ReferenceNetwork& reference, models::NetworkImpl* module,
                                 const data::Dataset& data, const data::Split& split) {
  SplitComparison out;
  out.module_metric = std::nan("");
  torch::NoGradGuard no_grad;
  if (module) module->eval();
  double seconds = 0;
  auto timed = [&](auto&& f) {
    const auto start = std::chrono::steady_clock::now();
    auto result = f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  if (data.task == data::Task::LanguageModel) {
    const std::int64_t streams =
        std::clamp<std::int64_t>(split.x.numel() / 1024, 1, train::LanguageModelTask::kEvalStreams);
    auto rows = data::text::as_streams(split.x, streams);
    out.reference_metric =
        timed([&] { return reference.evaluate_bits_per_char(rows, train::LanguageModelTask::kEvalWindow); });
    out.predictions = rows.numel() - rows.size(0);
    if (module)
      out.module_metric = models::evaluate_bits_per_char(dynamic_cast<models::LstmLmImpl&>(*module), rows,
                                                         train::LanguageModelTask::kEvalWindow);
    out.seconds = seconds;
    return out;
  }
  constexpr std::int64_t kBatch = 1000;
  std::int64_t wrong_reference = 0, wrong_module = 0, scored = 0;
  for (std::int64_t i = 0; i < split.size(); i += kBatch) {
    const std::int64_t end = std::min(split.size(), i + kBatch);
    auto x = split.inputs(i, end);
    auto truth = split.y.slice(0, i, end);
    auto logits = timed([&] { return reference.forward(x); });
    auto predicted = logits.argmax(1);
    auto [wrong, n] = train::count_errors(predicted, truth, data.score_map);
    wrong_reference += wrong;
    scored += n;
    out.predictions += end - i;
    if (module) {
      auto module_logits = module->forward(x);
      auto module_predicted = module_logits.argmax(1);
      wrong_module += train::count_errors(module_predicted, truth, data.score_map).first;
      out.differing += predicted.ne(module_predicted).sum().item<std::int64_t>();
      out.max_logit_difference =
          std::max(out.max_logit_difference, (logits.to(torch::kFloat64) - module_logits.to(torch::kFloat64)).abs().max().item<double>());
    }
  }
  auto percent = [&](std::int64_t wrong) { return scored ? 100.0 * static_cast<double>(wrong) / static_cast<double>(scored) : 0.0; };
  out.reference_metric = percent(wrong_reference);
  if (module) out.module_metric = percent(wrong_module);
  out.seconds = seconds;
  return out;
}

torch::Tensor calibration_batch(const data::Dataset& data, std::int64_t count) {
  if (data.task == data::Task::LanguageModel) {
    const std::int64_t length = std::min<std::int64_t>(count, data.train.x.numel());
    return data::text::as_streams(data.train.x.slice(0, 0, length), 16).to(torch::kInt64);
  }
  return data.train.inputs(0, std::min(count, data.train.size()));
}

}  // namespace qretrain::deploy
