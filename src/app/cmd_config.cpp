#include "app/command.h"

#include <iostream>

#include "config/config.h"

namespace qretrain::app {
namespace {

int cmd_config(const CommonOptions& common, bool keys_reference) {
  if (keys_reference) {
    std::cout << config::key_reference();
    return 0;
  }
  config::ExperimentConfig cfg = load_config(common, false);
  std::cout << config::dump(cfg, true);
  return 0;
}

}  // namespace

Command config_command() {
  return {"config", "print the resolved config", [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto keys = std::make_shared<bool>(false);
            cli.add_flag("--dump", "print the resolved config with every key's help (the default)");
            cli.add_flag("--keys", *keys, "print the reference of every config key (Markdown)");
            return [&common, keys] { return cmd_config(common, *keys); };
          }};
}

}  // namespace qretrain::app
