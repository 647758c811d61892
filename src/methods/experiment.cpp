#include <filesystem>

#include <fmt/format.h>

#include "app/runtime.h"
#include "methods/methods.h"
#include "util/log.h"

namespace qretrain::methods {

void run_experiment(const config::ExperimentConfig& cfg, const data::Dataset& data, report::Store& store,
                    bool force) {
  auto log = log::get("run");
  for (const auto& m : cfg.quant.methods) find(m);  // fail before any work
  const torch::Device device = app::resolve_device(cfg.runtime.device);
  log->info("experiment '{}' from {}; device {}, {}", cfg.name, cfg.source.empty() ? "defaults" : cfg.source,
            device.str(), app::thread_summary());
  log->info("dataset {}: {} train / {} dev / {} test examples of shape [{}]", data.name, data.train.size(),
            data.dev.size(), data.test.size(), fmt::join(data.input_shape, "x"));
  for (int seed : cfg.seeds) {
    Session session(cfg, data, device, store, seed, force);
    session.baseline();
    for (const auto& name : cfg.quant.methods) find(name).run(session, cfg.quant.bits);
  }
  log->info("all cells of '{}' are in {}", cfg.name, store.path());
}

}  // namespace qretrain::methods
