#include "sweep/slurm.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::sweep {

namespace fs = std::filesystem;

namespace {

// One shell word, single-quoted.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string slurm_script(const config::ExperimentConfig& cfg, const methods::Grid& grid, const report::Store& store,
                         const SweepOptions& sweep, const SlurmOptions& slurm) {
  if (slurm.cpus_per_cell < 1)
    throw UserError(fmt::format("--cpus-per-cell: must be at least 1, got {}", slurm.cpus_per_cell));
  // Level of each cell still to run: 0 without such dependencies, else one
  // more than its deepest dependency still to run.
  const std::size_t n = grid.cells.size();
  std::vector<int> level(n, -1);
  int levels = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (cell_state(store, grid.cells[i].key, sweep) != CellState::Todo) continue;
    int l = 0;
    for (std::size_t d : grid.cells[i].after)
      if (level[d] >= 0) l = std::max(l, level[d] + 1);
    level[i] = l;
    levels = std::max(levels, l + 1);
  }

  std::string cell_args = "cell --config " + quoted(fs::absolute(sweep.config_path).string());
  for (const auto& o : sweep.overrides) cell_args += " --set " + quoted(o);
  for (const auto& o : thread_overrides(cfg, slurm.cpus_per_cell)) cell_args += " --set " + quoted(o);
  cell_args += " --set runtime.progress=off";
  std::string collect_args = "collect --config " + quoted(fs::absolute(sweep.config_path).string());
  for (const auto& o : sweep.overrides) collect_args += " --set " + quoted(o);
  const std::string logs = (fs::path(cfg.output_dir) / "logs" / "slurm").string();

  std::string s;
  s += "#!/usr/bin/env bash\n";
  s += fmt::format("# Slurm job arrays of the sweep '{}' ({}): {} cells to run in {} arrays.\n", cfg.name,
                   sweep.config_path, std::count_if(level.begin(), level.end(), [](int l) { return l >= 0; }),
                   levels);
  s += fmt::format("# Written by `qretrain sweep --emit slurm` (commit {}) on {}.\n", build_commit(),
                   machine_description());
  s += "# Submit it from a node that sees this folder:  bash THIS_SCRIPT\n";
  s += "# Each array task runs one cell (`qretrain cell --key K`), which writes its result file whole\n";
  s += fmt::format("# under {}/cells/; a last job merges them into the store ({}). Run `qretrain collect`\n",
                   cfg.output_dir, "qretrain collect");
  s += "# by hand at any time; submitting again later runs only the cells still missing.\n";
  s += "# --kill-on-invalid-dep=yes: a job whose dependency can never be met is cancelled, not left pending.\n";
  s += "set -euo pipefail\n";
  s += fmt::format("QRETRAIN=${{QRETRAIN:-{}}}\n", quoted(sweep.program));
  s += fmt::format("cd {}\n", quoted(fs::current_path().string()));
  s += fmt::format("mkdir -p {}\n", quoted(logs));
  s += fmt::format("SBATCH=(sbatch --parsable --kill-on-invalid-dep=yes --cpus-per-task={}{})\n", slurm.cpus_per_cell,
                   slurm.sbatch_args.empty() ? "" : " " + slurm.sbatch_args);
  s += "# submit NAME DEPENDENCY KEY...: one array task per cell key\n";
  s += "submit() {\n";
  s += "  local name=$1 dependency=$2\n";
  s += "  shift 2\n";
  s += "  \"${SBATCH[@]}\" ${dependency:+--dependency=afterany:$dependency} --job-name=\"qretrain-$name\" \\\n";
  s += fmt::format("    --array=0-$(($# - 1)) --output={}/%x-%A_%a.out <<EOF\n", quoted(logs));
  s += "#!/usr/bin/env bash\n";
  s += "KEYS=($*)\n";
  s += fmt::format("exec \"$QRETRAIN\" {} --key \"\\${{KEYS[\\$SLURM_ARRAY_TASK_ID]}}\"\n", cell_args);
  s += "EOF\n";
  s += "}\n";
  if (levels == 0) {
    s += "echo 'every cell of this sweep already has a result' >&2\n";
    return s;
  }
  std::vector<std::string> ids;
  for (int l = 0; l < levels; ++l) {
    std::vector<std::string> keys, names;
    for (std::size_t i = 0; i < n; ++i)
      if (level[i] == l) keys.push_back(grid.cells[i].key), names.push_back(grid.cells[i].name());
    s += fmt::format("# level {}: {}\n", l, fmt::join(names, "; "));
    s += fmt::format("L{}=$(submit {}-{} \"{}\" {})\n", l, cfg.name, l, l == 0 ? "" : fmt::format("$L{}", l - 1),
                     fmt::join(keys, " "));
    ids.push_back(fmt::format("$L{}", l));
  }
  s += fmt::format("COLLECT=$(\"${{SBATCH[@]}}\" --dependency=afterany:{} --job-name=qretrain-{}-collect "
                   "--output={}/%x-%j.out --wrap=\"exec \\\"$QRETRAIN\\\" {}\")\n",
                   fmt::join(ids, ":"), cfg.name, quoted(logs), collect_args);
  s += fmt::format("echo \"arrays {} then collect $COLLECT\"\n", fmt::join(ids, " "));
  return s;
}

}  // namespace qretrain::sweep
