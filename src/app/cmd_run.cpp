#include "app/command.h"

#include <iostream>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "methods/methods.h"
#include "report/store.h"
#include "util/log.h"

namespace qretrain::app {
namespace {

int cmd_run(const CommonOptions& common, bool force) {
  config::ExperimentConfig cfg = load_config(common, true);
  require_dataset(cfg);
  require_paper_file(cfg);
  require_writable_output_dir(cfg);
  configure_threads(cfg.runtime, uses_convolutions(cfg));
  install_stop_handlers();
  // Data problems surface before anything is written under output.dir.
  data::Dataset data = data::load(cfg.dataset);
  check_before_writing(cfg, data);
  data::write_pending_cache(data);
  log::add_file(experiment_log_file(cfg));
  report::Store store(store_path(cfg));
  methods::run_experiment(cfg, data, resolve_device(cfg.runtime.device), store, force);
  std::cout << render_table(common, cfg, store, "md");
  return 0;
}

}  // namespace

Command run_command() {
  return {"run", "train the float baseline (cached) and every quantized cell of a config",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto force = std::make_shared<bool>(false);
            cli.add_flag("--force", *force, "redo cells already in the results store");
            return [&common, force] { return cmd_run(common, *force); };
          }};
}

}  // namespace qretrain::app
