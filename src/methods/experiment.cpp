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
  for (const auto& one : config::expand_networks(cfg)) {
    for (int seed : one.seeds) {
      Session session(one, data, device, store, seed, force);
      session.baseline();
      for (const auto& name : one.quant.methods) find(name).run(session, one.quant.bits);
    }
  }
  log->info("all cells of '{}' are in {}", cfg.name, store.path());
}

}  // namespace qretrain::methods
