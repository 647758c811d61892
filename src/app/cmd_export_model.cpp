// `qretrain export-model`: a stored cell's network as a packed low-bit file
// (src/deploy/packed.h) and, with --onnx, as an ONNX model with QONNX Quant
// nodes, for whoever runs it outside qretrain.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "app/command.h"
#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "deploy/onnx.h"
#include "deploy/packed.h"
#include "deploy/runner.h"
#include "methods/kinds.h"
#include "methods/session.h"
#include "models/kinds.h"
#include "report/store.h"
#include "util/error.h"

namespace qretrain::app {
namespace {

struct CellChoice {
  std::string method;
  int bits = 0;
  std::string network;
  int seed = 0;
};

void add_cell_options(CLI::App& cli, CellChoice& c) {
  cli.add_option("--method", c.method, "float, direct, conventional, adaptive, ...")->required();
  cli.add_option("--bits", c.bits, "weight bit width of the cell (2..8; not for float)");
  cli.add_option("--network", c.network, "network column label, e.g. 512 or L (required for grids)");
  cli.add_option("--seed", c.seed, "training seed of the cell (default: the config's first)");
}

int cmd_export_model(const CommonOptions& common, const CellChoice& c, const std::string& output,
                     const std::string& onnx_output) {
  if (common.config_path.empty()) throw UserError("--config: required (the config that ran the cell)");
  const config::ExperimentConfig cfg = pick_network(config::load(common.config_path, common.overrides), c.network);
  methods::method_kind(c.method);  // an unknown method is an error naming the known ones
  const bool is_float = methods::is_baseline(c.method);
  if (is_float == (c.bits != 0))
    throw UserError(is_float ? "--bits: the float network has no bit width (leave --bits out)"
                             : fmt::format("--bits: required for method '{}' (e.g. --bits 2)", c.method));
  if (!is_float && (c.bits < 2 || c.bits > 8)) throw UserError(fmt::format("--bits: {} is outside 2..8", c.bits));
  require_writable_output_file(output);
  require_writable_output_file(onnx_output);
  require_dataset(cfg);
  configure_threads(cfg.runtime, models::network_kind(cfg.network.kind).convolutional);
  const int seed = c.seed != 0 ? c.seed : cfg.seeds.front();
  deploy::stored_network_file(cfg, c.method, c.bits, seed);  // before the data loads

  const data::Dataset data = data::load(cfg.dataset);
  const std::string key = methods::cell_key(cfg, c.method, is_float ? 0 : c.bits, seed);
  const deploy::PackedModel packed =
      deploy::pack_stored_cell(cfg, c.method, c.bits, seed, data, stored_test_metric(cfg, key));
  deploy::write_packed(packed, output);

  // Read back: the file must give the same weights bit for bit.
  const deploy::PackedModel back = deploy::read_packed(output);
  std::int64_t weights = 0, other = 0, float_bytes = 0, packed_bytes = 0;
  for (std::size_t i = 0; i < packed.tensors.size(); ++i) {
    const auto& t = packed.tensors[i];
    if (!torch::equal(back.tensors[i].dequantized(), t.dequantized()))
      throw std::runtime_error(fmt::format("{}: tensor {} does not read back equal", output, t.name));
    (t.bits > 0 ? weights : other) += t.numel();
    float_bytes += 4 * t.numel();
    packed_bytes += t.packed_bytes();
  }
  const auto file_bytes = std::filesystem::file_size(output);
  std::cout << fmt::format("{}: {} {} {}seed {} ({}), {} weights as {}-bit levels + {} float32 values\n", output,
                           packed.header["cell"]["network"].get<std::string>(), c.method,
                           is_float ? "" : fmt::format("{}-bit ", c.bits), seed, key, weights, c.bits, other);
  std::cout << fmt::format("  tensors {} bytes (float32: {} bytes, {:.1f}x smaller); file {} bytes with its header\n",
                           packed_bytes, float_bytes, static_cast<double>(float_bytes) / packed_bytes, file_bytes);
  if (!onnx_output.empty()) {
    deploy::write_onnx(packed, onnx_output);
    std::cout << fmt::format("{}: ONNX (QONNX Quant nodes), {} bytes\n", onnx_output,
                             std::filesystem::file_size(onnx_output));
  }
  return 0;
}

}  // namespace

Command export_model_command() {
  return {"export-model", "a stored cell's network as a packed low-bit file (and ONNX with QONNX Quant nodes)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto choice = std::make_shared<CellChoice>();
            auto output = std::make_shared<std::string>();
            auto onnx = std::make_shared<std::string>();
            add_cell_options(cli, *choice);
            cli.add_option("-o,--output", *output, "packed model file to write (e.g. L-adaptive-2bit.qpk)")
                ->required()
                ->check(kNonEmptyPath);
            cli.add_option("--onnx", *onnx, "also write the network as ONNX to this file")->check(kNonEmptyPath);
            return [&common, choice, output, onnx] { return cmd_export_model(common, *choice, *output, *onnx); };
          },
          "nothing is written until the file is complete"};
}

}  // namespace qretrain::app
