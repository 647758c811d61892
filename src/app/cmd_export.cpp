#include "app/command.h"

#include "config/config.h"
#include "report/export.h"
#include "report/store.h"

namespace qretrain::app {
namespace {

int cmd_export(const CommonOptions& common, const std::string& format, const std::string& output, bool all) {
  require_writable_output_file(output);
  config::ExperimentConfig cfg = load_config(common, true);
  const std::string path = existing_store_path(cfg, common);
  report::Store store(path);
  std::vector<report::RunRecord> runs;
  if (all) runs = store.all_runs_with_curves();
  else
    for (const auto& r : stored_runs(store, cfg, common).runs) runs.push_back(*store.run_with_curve(r.cell_key));
  std::string text = format == "jsonl" ? report::export_jsonl(runs) : report::export_csv(runs);
  write_output(text, output);
  return 0;
}

}  // namespace

Command export_command() {
  return {"export", "every run and every evaluation point of the store (csv or jsonl)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            struct Options {
              std::string format = "csv", output;
              bool all = false;
            };
            auto o = std::make_shared<Options>();
            cli.add_option("--format", o->format, "csv (one row per evaluation point) or jsonl (one object per run)")
                ->check(CLI::IsMember({"csv", "jsonl"}))
                ->capture_default_str();
            cli.add_option("--output,-o", o->output, "write to this file (atomically) instead of standard output")
                ->check(kNonEmptyPath);
            cli.add_flag("--all", o->all,
                         "every run in the store (any experiment, configuration or identity scheme), not only the "
                         "config's");
            return [&common, o] { return cmd_export(common, o->format, o->output, o->all); };
          }};
}

}  // namespace qretrain::app
