#include "report/plot.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::report {
namespace {

namespace fs = std::filesystem;

// gnuplot strings are single-quoted; a quote inside doubles.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// One gnuplot data block per curve (bit width, seed): columns update, Δ of
// group 1..G.
std::string data_blocks(const std::vector<DeltaCurve>& curves) {
  std::string out;
  for (const auto& c : curves) {
    out += fmt::format("# bits {} seed {}: update {}\n", c.bits, c.seed, fmt::join(c.groups, " "));
    for (std::size_t i = 0; i < c.epochs.size(); ++i)
      out += fmt::format("{} {:.9g}\n", c.updates[i], fmt::join(c.deltas[i], " "));
    out += "\n\n";  // gnuplot: two blank lines end a data set (index)
  }
  return out;
}

std::string gnuplot_script(const std::vector<DeltaCurve>& curves, const std::string& title, const std::string& data) {
  std::vector<int> bit_widths;
  for (const auto& c : curves)
    if (std::find(bit_widths.begin(), bit_widths.end(), c.bits) == bit_widths.end()) bit_widths.push_back(c.bits);
  std::string s = fmt::format("set multiplot layout 1,{} title {}\n", bit_widths.size(), quoted(title));
  // Linear axes, as in the paper: the point is how much each layer's Δ moves.
  // Against updates, not epochs: evaluations may fall inside an epoch (train.eval_every).
  s += "set xlabel 'retraining updates'\nset ylabel 'step size {/Symbol D}'\nset key below horizontal\nset grid\n"
       "set yrange [0:*]\n";
  for (int bits : bit_widths) {
    s += fmt::format("set title '{}-bit'\nplot ", bits);
    bool first_curve = true, titled = false;
    for (std::size_t k = 0; k < curves.size(); ++k) {
      const auto& c = curves[k];
      if (c.bits != bits) continue;
      for (std::size_t g = 0; g < c.groups.size(); ++g) {
        // Each group one colour; the first seed's lines carry the legend.
        s += fmt::format("{}{} index {} using 1:{} with linespoints lw 1 pt 7 ps 0.4 lc {} {}", first_curve && !g ? "" : ", ",
                         quoted(data), k, g + 2, g + 1, titled ? "notitle" : "title " + quoted(c.groups[g]));
      }
      first_curve = false;
      titled = true;
    }
    s += "\n";
  }
  return s + "unset multiplot\n";
}

void run_gnuplot(const fs::path& script) {
  const std::string cmd = fmt::format("gnuplot {} 2>&1", quoted(script.string()));
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) throw UserError("plot: cannot start gnuplot");
  std::string messages;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) messages += buf;
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
    throw UserError("plot: gnuplot not found (apt-get install gnuplot-nox)");
  if (WEXITSTATUS(status) != 0) throw UserError(fmt::format("plot: gnuplot failed: {}", messages));
}

std::string without_empty_groups(std::string svg) {
  static const std::regex empty_group(R"(<g [^>]*>\s*</g>\n?)");
  for (std::string next;; svg = std::move(next)) {
    next = std::regex_replace(svg, empty_group, "");
    if (next.size() == svg.size()) return svg;
  }
}

}  // namespace

std::vector<DeltaCurve> delta_curves(const Store& store, const std::vector<RunRecord>& runs,
                                     const std::string& experiment, const std::string& network,
                                     const std::string& method, int seed) {
  std::map<std::pair<int, int>, DeltaCurve> by_bits;
  std::vector<std::string> networks_seen;
  for (const auto& run : runs) {
    if (run.method != method || run.status != "ok" || (seed != 0 && run.seed != seed)) continue;
    networks_seen.push_back(run.network);
    if (run.network != network) continue;
    auto full = store.run_with_curve(run.cell_key);
    DeltaCurve c;
    c.bits = run.bits;
    c.seed = run.seed;
    c.groups = full->group_names;
    for (const auto& p : full->curve) {
      if (p.deltas.size() != c.groups.size()) continue;
      c.epochs.push_back(p.epoch);
      c.updates.push_back(p.updates);
      c.deltas.push_back(p.deltas);
    }
    if (!c.epochs.empty()) by_bits[{run.bits, run.seed}] = std::move(c);
  }
  if (by_bits.empty()) {
    std::sort(networks_seen.begin(), networks_seen.end());
    networks_seen.erase(std::unique(networks_seen.begin(), networks_seen.end()), networks_seen.end());
    throw UserError(fmt::format(
        "plot: no finished '{}' runs of network '{}' ({}) in experiment '{}'{}", method, network,
        seed ? fmt::format("seed {}", seed) : std::string("any seed"),
        experiment,
        networks_seen.empty() ? "; run the config first" : fmt::format(" (networks with such runs: {})",
                                                                       fmt::join(networks_seen, ", "))));
  }
  std::vector<DeltaCurve> out;
  for (auto& kv : by_bits) out.push_back(std::move(kv.second));
  return out;
}

std::string render_delta_csv(const std::vector<DeltaCurve>& curves) {
  std::string out = "bits,epoch,group,delta,seed,update\n";
  for (const auto& c : curves)
    for (std::size_t i = 0; i < c.epochs.size(); ++i)
      for (std::size_t g = 0; g < c.groups.size(); ++g)
        out += fmt::format("{},{},{},{:.9g},{},{}\n", c.bits, c.epochs[i], c.groups[g], c.deltas[i][g], c.seed,
                           c.updates[i]);
  return out;
}

void require_gnuplot() {
  if (std::system("gnuplot --version >/dev/null 2>&1") != 0)
    throw UserError("gnuplot not found (apt-get install gnuplot-nox); it draws the figures");
}

std::string gnuplot_quoted(const std::string& s) { return quoted(s); }

void render_gnuplot_figure(const std::string& output_base, int width, int height, const std::string& data,
                           const std::function<std::string(const std::string& data_path)>& script,
                           const std::string& terminal_options) {
  const fs::path base(output_base);
  if (base.has_parent_path()) fs::create_directories(base.parent_path());
  const fs::path work = fs::path(output_base + ".plot-tmp");
  fs::create_directories(work);
  try {
    const fs::path data_file = work / "figure.dat";
    atomic_write_text(data_file, data);
    const std::string extra = terminal_options.empty() ? "" : " " + terminal_options;
    for (const auto& [ext, terminal] :
         {std::pair<std::string, std::string>{
              "png", fmt::format("pngcairo size {},{} font 'sans,10'{}", width, height, extra)},
          {"svg", fmt::format("svg size {},{} dynamic font 'sans,10'{}", width, height, extra)}}) {
      const fs::path image = work / ("figure." + ext);
      const fs::path script_file = work / ("figure-" + ext + ".gp");
      atomic_write_text(script_file, fmt::format("set terminal {}\nset output {}\n", terminal, quoted(image.string())) +
                                         script(data_file.string()));
      run_gnuplot(script_file);
      if (!fs::exists(image) || fs::file_size(image) == 0)
        throw UserError(fmt::format("plot: gnuplot wrote no {} image", ext));
      // gnuplot's SVG holds many empty style groups: a third of the file.
      if (ext == "svg") atomic_write_text(image, without_empty_groups(read_text_file(image)));
      fs::rename(image, output_base + "." + ext);  // same folder: atomic
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(work, ec);
    throw;
  }
  fs::remove_all(work);
}

void plot_delta_curves(const std::vector<DeltaCurve>& curves, const std::string& title,
                       const std::string& output_base) {
  std::vector<int> bit_widths;
  for (const auto& c : curves)
    if (std::find(bit_widths.begin(), bit_widths.end(), c.bits) == bit_widths.end()) bit_widths.push_back(c.bits);
  const int width = static_cast<int>(std::max<std::size_t>(1, bit_widths.size()) * 420);
  render_gnuplot_figure(output_base, width, 420, data_blocks(curves), [&](const std::string& data_path) {
    return gnuplot_script(curves, title, data_path);
  });
  atomic_write_text(output_base + ".csv", render_delta_csv(curves));
}

}  // namespace qretrain::report
