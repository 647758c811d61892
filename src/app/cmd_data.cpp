#include "app/command.h"

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "data/timit.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::app {
namespace {

using NamedSplit = std::pair<const char*, const data::Split*>;

std::vector<std::int64_t> class_counts(const data::Split& split, int classes) {
  auto counts = torch::bincount(split.y, {}, classes);
  return {counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + counts.numel()};
}

void print_image_splits(const data::Dataset& d, const std::vector<NamedSplit>& splits) {
  std::cout << "| split | examples | pixel mean | pixel std | min | max | examples per class 0.." << d.num_classes - 1
            << " |\n|---|---:|---:|---:|---:|---:|---|\n";
  for (const auto& [name, split] : splits)
    std::cout << fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.3f} | {:.3f} | {} |\n", name, split->size(),
                             split->x.mean().item<double>(), split->x.std().item<double>(),
                             split->x.min().item<double>(), split->x.max().item<double>(),
                             fmt::join(class_counts(*split, d.num_classes), " "));
  std::cout << "\n(pixel statistics after the loader's normalisation with training-set statistics)\n";
}

// Speech: per-split counts, then the frame histogram over the 61 phones and
// how many of the scoring classes occur at all.
void print_speech_splits(const data::Dataset& d, const std::vector<NamedSplit>& splits) {
  std::cout << "| split | speakers | utterances | frames | hours | scoring classes present |\n"
               "|---|---:|---:|---:|---:|---:|\n";
  const auto classes = static_cast<std::int64_t>(torch::max(d.score_map).item<std::int64_t>() + 1);
  for (const auto& [name, split] : splits) {
    auto scored = d.score_map.index_select(0, split->y);
    auto present = torch::bincount(scored.masked_select(scored.ge(0)), {}, classes).gt(0).sum().item<std::int64_t>();
    std::cout << fmt::format("| {} | {} | {} | {} | {:.2f} | {} of {} |\n", name, split->speakers, split->utterances,
                             split->size(), static_cast<double>(split->size()) / 360000.0, present, classes);
  }
  std::cout << "\n(frames are 10 ms; a train_limit/test_limit in the config counts frames)\n\n";
  std::cout << "Frames per phone (61 training labels):\n\n| phone | train | dev | test |\n|---|---:|---:|---:|\n";
  std::vector<std::vector<std::int64_t>> counts;
  for (const auto& named : splits) counts.push_back(class_counts(*named.second, d.num_classes));
  std::vector<std::string> absent;
  for (int c = 0; c < d.num_classes; ++c) {
    if (counts[0][c] + counts[1][c] + counts[2][c] == 0) {
      absent.push_back(d.class_names[c]);
      continue;
    }
    std::cout << fmt::format("| {} | {} | {} | {} |\n", d.class_names[c], counts[0][c], counts[1][c], counts[2][c]);
  }
  std::cout << fmt::format("\nPhones with no frames: {}\n", absent.empty() ? "none" : fmt::format("{}", fmt::join(absent, " ")));
}

// Text: bytes, distinct symbols and the unigram entropy of each split, the
// bits per character a model without context would score.
void print_text_splits(const std::vector<NamedSplit>& splits) {
  std::cout << "| split | bytes | distinct byte values | unigram entropy (bits per character) |\n|---|---:|---:|---:|\n";
  for (const auto& [name, split] : splits) {
    auto counts = torch::bincount(split->x.to(torch::kInt64), {}, 256).to(torch::kFloat64);
    auto p = counts.masked_select(counts.gt(0)) / counts.sum();
    // Clamped at 0: a split of one symbol sums to 0, whose negation printed "-0.000".
    const double entropy = std::max(0.0, -(p * p.log2()).sum().item<double>());
    std::cout << fmt::format("| {} | {} | {} | {:.3f} |\n", name, split->size(), p.numel(), entropy);
  }
  std::cout << "\n(a train_limit/dev_limit/test_limit in the config counts bytes)\n";
}

int cmd_data_inspect(const CommonOptions& common) {
  config::ExperimentConfig cfg = load_config(common, true);
  require_dataset(cfg);
  configure_threads(cfg.runtime, uses_convolutions(cfg));
  data::Dataset d = data::load(cfg.dataset);
  std::cout << fmt::format("dataset: {} (kind {}, path {})\n", d.name, cfg.dataset.kind, cfg.dataset.path);
  std::cout << fmt::format("example shape: [{}], classes: {}, metric: {}\n\n", fmt::join(d.input_shape, ", "),
                           d.num_classes, d.metric);
  const std::vector<NamedSplit> splits = {{"train", &d.train}, {"dev", &d.dev}, {"test", &d.test}};
  if (d.task == data::Task::LanguageModel) print_text_splits(splits);
  else if (d.train.context.defined()) print_speech_splits(d, splits);
  else print_image_splits(d, splits);
  return 0;
}

int cmd_data_build(const CommonOptions& common, const std::string& kind, const std::string& path) {
  if (kind != "speech-standin") throw UserError(fmt::format("data build: unknown corpus '{}' (known: speech-standin)", kind));
  // Build settings come from the config's dataset.standin.* keys (defaults without --config).
  CommonOptions with_kind = common;
  with_kind.overrides.push_back("dataset.kind=speech-standin");
  if (!path.empty()) with_kind.overrides.push_back("dataset.path=" + path);
  else if (common.config_path.empty()) with_kind.overrides.push_back("dataset.path=data/speech-standin");
  config::ExperimentConfig cfg = load_config(with_kind, false);
  if (data::standin::is_standin(cfg.dataset.path)) {
    std::cout << fmt::format("{}: the stand-in corpus is already built (delete the folder to rebuild)\n",
                             cfg.dataset.path);
    return 0;
  }
  require_writable_dir(cfg.dataset.path, path.empty() ? "dataset.path" : "--path");
  // An interrupted build removes its partial folder (the build polls the flag).
  install_stop_handlers();
  auto summary = data::build_speech_standin(cfg.dataset, &train::g_stop_requested);
  std::cout << fmt::format("built {}: {} speakers, {} utterances, {:.2f} h of audio in {:.1f} s\n", cfg.dataset.path,
                           summary.speakers, summary.utterances, summary.audio_seconds / 3600.0,
                           summary.build_seconds);
  return 0;
}

}  // namespace

Command data_command() {
  return {"data", "datasets: inspect, build", [](CLI::App& cli, const CommonOptions& common) -> Runner {
            cli.require_subcommand(1);
            auto* inspect = cli.add_subcommand("inspect", "counts per split, shapes, class histograms, pixel statistics");
            inspect->fallthrough();
            struct Options {
              std::string corpus, path;
            };
            auto o = std::make_shared<Options>();
            auto* build =
                cli.add_subcommand("build", "build an embedded stand-in corpus now (otherwise built on first use)");
            build->fallthrough();
            build->add_option("corpus", o->corpus, "speech-standin")
                ->required()
                ->check(CLI::IsMember({"speech-standin"}));
            build->add_option("--path", o->path, "where to build it (default: the config's dataset.path)")
                ->check(kNonEmptyPath);
            return [&common, o, inspect] {
              if (*inspect) return cmd_data_inspect(common);
              return cmd_data_build(common, o->corpus, o->path);
            };
          },
          // An interrupted build removes its partial folder: nothing is kept.
          ""};
}

}  // namespace qretrain::app
