#include "deploy/packed.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include "quant/hook.h"
#include "quant/qstep.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::deploy {
namespace {

constexpr char kMagic[8] = {'Q', 'R', 'P', 'A', 'C', 'K', '0', '1'};
constexpr std::int64_t kMaxHeaderBytes = 64ll << 20;
// zlib's crc32 takes a 32-bit length; no network here comes near it.
constexpr std::uintmax_t kMaxFileBytes = (1ull << 32) - 1;

std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int max_level_of(int bits) { return (1 << (bits - 1)) - 1; }

// `bits`-bit codes, LSB first (see packed.h).
std::string pack_codes(const std::vector<std::int8_t>& levels, int bits) {
  const int offset = max_level_of(bits);
  std::string bytes(static_cast<std::size_t>((static_cast<std::int64_t>(levels.size()) * bits + 7) / 8), '\0');
  std::size_t bit = 0;
  for (std::int8_t level : levels) {
    const unsigned code = static_cast<unsigned>(level + offset);
    for (int b = 0; b < bits; ++b, ++bit)
      if (code >> b & 1u) bytes[bit / 8] = static_cast<char>(static_cast<unsigned char>(bytes[bit / 8]) | (1u << (bit % 8)));
  }
  return bytes;
}

std::vector<std::int8_t> unpack_codes(const unsigned char* bytes, std::int64_t count, int bits, const std::string& file,
                                      const std::string& name) {
  const int offset = max_level_of(bits);
  std::vector<std::int8_t> levels(static_cast<std::size_t>(count));
  std::size_t bit = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    unsigned code = 0;
    for (int b = 0; b < bits; ++b, ++bit) code |= static_cast<unsigned>(bytes[bit / 8] >> (bit % 8) & 1u) << b;
    if (code > static_cast<unsigned>(2 * offset))
      throw UserError(fmt::format("{}: tensor '{}' holds code {} at element {}, outside the {} levels of {} bits", file,
                                  name, code, i, 2 * offset + 1, bits));
    levels[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(static_cast<int>(code) - offset);
  }
  return levels;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i) & 0xffu));
}
std::uint32_t get_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

nlohmann::json op_to_json(const models::LayerOp& op) {
  nlohmann::json j{{"op", op.op}};
  if (!op.module.empty()) j["module"] = op.module;
  if (op.op == "conv2d" || op.op == "maxpool" || op.op == "avgpool") {
    j["kernel"] = op.kernel;
    j["stride"] = op.stride;
    j["padding"] = op.padding;
  }
  if (op.op == "lrn" || op.op == "onehot") j["size"] = op.size;
  if (op.op == "lrn") {
    j["alpha"] = op.alpha;
    j["beta"] = op.beta;
    j["k"] = op.k;
  }
  return j;
}

models::LayerOp op_from_json(const nlohmann::json& j) {
  models::LayerOp op;
  op.op = j.at("op").get<std::string>();
  op.module = j.value("module", std::string());
  op.kernel = j.value("kernel", std::int64_t{0});
  op.stride = j.value("stride", std::int64_t{1});
  op.padding = j.value("padding", std::int64_t{0});
  op.size = j.value("size", std::int64_t{0});
  op.alpha = j.value("alpha", 0.0);
  op.beta = j.value("beta", 0.0);
  op.k = j.value("k", 0.0);
  return op;
}

PackedTensor float_tensor(const std::string& name, const torch::Tensor& t) {
  PackedTensor p;
  p.name = name;
  p.shape = t.sizes().vec();
  auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  p.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return p;
}

// The names of the tensors a layer needs, with the rank each must have.
std::vector<std::pair<std::string, int>> tensors_of(const models::LayerOp& op, bool with_bias) {
  if (op.op == "conv2d" || op.op == "linear") {
    std::vector<std::pair<std::string, int>> names{{op.module + ".weight", op.op == "conv2d" ? 4 : 2}};
    if (with_bias) names.emplace_back(op.module + ".bias", 1);
    return names;
  }
  if (op.op == "batchnorm") return {{op.module + ".scale", 1}, {op.module + ".shift", 1}};
  if (op.op == "lstm")
    return {{op.module + ".weight_ih_l0", 2}, {op.module + ".weight_hh_l0", 2}, {op.module + ".bias_ih_l0", 1},
            {op.module + ".bias_hh_l0", 1}};
  return {};
}

const std::set<std::string>& known_ops() {
  static const std::set<std::string> ops{"conv2d", "linear",  "batchnorm", "relu", "maxpool",
                                         "avgpool", "lrn",    "flatten",   "onehot", "lstm"};
  return ops;
}

}  // namespace

std::int64_t PackedTensor::numel() const { return product(shape); }

std::int64_t PackedTensor::packed_bytes() const { return bits > 0 ? (numel() * bits + 7) / 8 : numel() * 4; }

torch::Tensor PackedTensor::levels_tensor() const {
  TORCH_CHECK(bits > 0, name, " holds float values, not levels");
  return torch::tensor(std::vector<float>(levels.begin(), levels.end()), torch::kFloat32).reshape(shape);
}

torch::Tensor PackedTensor::values_tensor() const {
  TORCH_CHECK(bits == 0, name, " holds levels, not float values");
  return torch::tensor(values, torch::kFloat32).reshape(shape).clone();
}

torch::Tensor PackedTensor::dequantized() const {
  if (bits == 0) return values_tensor();
  // float32(Δ) * l in float32: the product the hook's quantizer forms.
  return levels_tensor() * torch::scalar_tensor(static_cast<float>(delta), torch::kFloat32);
}

const PackedTensor* PackedModel::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const PackedTensor& PackedModel::tensor(const std::string& name) const {
  if (const PackedTensor* t = find(name)) return *t;
  throw UserError(fmt::format("{}: the packed model has no tensor '{}'", source.empty() ? "model" : source, name));
}

std::vector<std::int8_t> levels_of(const torch::Tensor& quantized, double delta, int bits, const std::string& name) {
  auto wq = quantized.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const float* w = wq.data_ptr<float>();
  const float step = static_cast<float>(delta);
  const int max_level = max_level_of(bits);
  std::vector<std::int8_t> levels(static_cast<std::size_t>(wq.numel()));
  for (std::int64_t i = 0; i < wq.numel(); ++i) {
    const long level = step > 0 ? std::lround(w[i] / step) : 0;
    // The level must give back w_q exactly (a -0.0 of a negative weight
    // rounded to level 0 compares equal to +0.0).
    if (std::labs(level) > max_level || step * static_cast<float>(level) != w[i])
      throw std::runtime_error(fmt::format("{}: weight {} = {} is not a {}-bit level of step {}", name, i, w[i], bits,
                                           delta));
    levels[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(level);
  }
  return levels;
}

PackedModel pack_network(models::NetworkImpl& network, const quant::QuantHook* hook, const Provenance& provenance) {
  PackedModel model;
  model.graph = network.graph();
  auto params = network.named_parameters(true);
  auto buffers = network.named_buffers(true);
  auto modules = network.named_modules("", false);
  std::map<std::string, const quant::WeightGroup*> groups;
  if (hook)
    for (const auto& g : hook->groups()) groups[g.name] = &g;
  std::set<std::string> packed_params;

  for (const auto& op : model.graph) {
    if (op.op == "batchnorm") {
      const double eps = modules[op.module]->as<torch::nn::BatchNorm1dImpl>()
                             ? modules[op.module]->as<torch::nn::BatchNorm1dImpl>()->options.eps()
                             : modules[op.module]->as<torch::nn::BatchNorm2dImpl>()->options.eps();
      auto gamma = params[op.module + ".weight"].detach().to(torch::kFloat64);
      auto beta = params[op.module + ".bias"].detach().to(torch::kFloat64);
      auto mean = buffers[op.module + ".running_mean"].to(torch::kFloat64);
      auto var = buffers[op.module + ".running_var"].to(torch::kFloat64);
      auto scale = gamma / torch::sqrt(var + eps);
      model.tensors.push_back(float_tensor(op.module + ".scale", scale));
      model.tensors.push_back(float_tensor(op.module + ".shift", beta - scale * mean));
      packed_params.insert(op.module + ".weight");
      packed_params.insert(op.module + ".bias");
      continue;
    }
    for (const auto& [name, rank] : tensors_of(op, params.contains(op.module + ".bias"))) {
      const torch::Tensor& param = params[name];
      packed_params.insert(name);
      auto group = groups.find(name);
      if (group == groups.end()) {
        model.tensors.push_back(float_tensor(name, param));
        continue;
      }
      PackedTensor t;
      t.name = name;
      t.shape = param.sizes().vec();
      t.bits = group->second->bits;  // quant.layer_bits may give a group its own
      t.delta = group->second->delta();
      t.levels = levels_of(quant::quantize_tensor(group->second->weights.contiguous(), t.delta, t.bits), t.delta,
                           t.bits, name);
      model.tensors.push_back(std::move(t));
    }
  }
  for (const auto& item : params)
    TORCH_CHECK(packed_params.count(item.key()), "pack_network: parameter ", item.key(),
                " is not used by the network's graph()");

  nlohmann::json graph = nlohmann::json::array();
  for (const auto& op : model.graph) graph.push_back(op_to_json(op));
  const auto& p = provenance;
  // Built key by key: GCC 12 crashes on this as one nested initializer list.
  nlohmann::json& h = model.header;
  h["format"] = "qretrain-packed";
  h["version"] = 1;
  h["producer"]["program"] = "qretrain";
  h["producer"]["version"] = QRETRAIN_VERSION;
  h["producer"]["commit"] = build_commit();
  h["producer"]["created"] = current_time_iso();
  h["cell"]["experiment"] = p.experiment;
  h["cell"]["network"] = p.network_label;
  h["cell"]["key"] = p.cell_key;
  h["cell"]["method"] = p.method;
  h["cell"]["bits"] = hook ? hook->bits() : 0;
  h["cell"]["seed"] = p.seed;
  h["network"]["kind"] = p.network.kind;
  h["network"]["hidden"] = p.network.hidden;
  h["network"]["batch_norm"] = p.network.batch_norm;
  h["network"]["describe"] = network.describe();
  h["network"]["input_shape"] = p.input_shape;
  h["network"]["classes"] = p.classes;
  h["input"]["dataset"] = p.dataset_kind;
  h["input"]["normalisation"] = p.normalisation;
  h["evaluation"]["metric"] = p.metric;
  h["evaluation"]["test"] = std::isfinite(p.test_metric) ? nlohmann::json(p.test_metric) : nlohmann::json(nullptr);
  h["graph"] = graph;
  h["config"] = p.config_yaml;
  return model;
}

void write_packed(const PackedModel& model, const std::string& path) {
  nlohmann::json header = model.header;
  header["tensors"] = nlohmann::json::array();
  std::string payload;
  for (const auto& t : model.tensors) {
    std::string bytes;
    if (t.bits > 0) {
      bytes = pack_codes(t.levels, t.bits);
    } else {
      bytes.resize(t.values.size() * sizeof(float));
      std::memcpy(bytes.data(), t.values.data(), bytes.size());  // little-endian hosts only (x86, ARM)
    }
    nlohmann::json entry{{"name", t.name}, {"shape", t.shape}, {"offset", payload.size()}, {"bytes", bytes.size()}};
    if (t.bits > 0) {
      entry["encoding"] = "levels";
      entry["bits"] = t.bits;
      entry["delta"] = t.delta;
    } else {
      entry["encoding"] = "float32";
    }
    header["tensors"].push_back(entry);
    payload += bytes;
  }
  const std::string text = header.dump(1);
  std::string file(kMagic, sizeof kMagic);
  put_u32(file, static_cast<std::uint32_t>(text.size()));
  file += text;
  file += payload;
  put_u32(file, static_cast<std::uint32_t>(
                    crc32(0L, reinterpret_cast<const Bytef*>(file.data()), static_cast<uInt>(file.size()))));
  atomic_write_text(path, file);
}

PackedModel read_packed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("{}: cannot open the packed model file", path));
  std::error_code size_error;
  if (std::filesystem::file_size(path, size_error) > kMaxFileBytes)
    throw UserError(fmt::format("{}: not a valid packed model: larger than {} bytes", path, kMaxFileBytes));
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* bytes = reinterpret_cast<const unsigned char*>(file.data());
  auto bad = [&](const std::string& why) { return UserError(fmt::format("{}: not a valid packed model: {}", path, why)); };
  if (file.size() < sizeof kMagic + 8 || std::memcmp(bytes, kMagic, sizeof kMagic) != 0)
    throw bad("it does not start with QRPACK01 (written by `qretrain export-model`)");
  const std::uint32_t stored_crc = get_u32(bytes + file.size() - 4);
  const auto crc = static_cast<std::uint32_t>(crc32(0L, bytes, static_cast<uInt>(file.size() - 4)));
  if (crc != stored_crc) throw bad(fmt::format("CRC-32 {:08x} differs from the stored {:08x} (truncated or altered)", crc, stored_crc));
  const std::uint32_t header_size = get_u32(bytes + sizeof kMagic);
  const std::size_t payload_start = sizeof kMagic + 4 + header_size;
  if (header_size > kMaxHeaderBytes || payload_start > file.size() - 4) throw bad("the header runs past the end of the file");
  const std::size_t payload_size = file.size() - 4 - payload_start;

  PackedModel model;
  model.source = path;
  try {
    model.header = nlohmann::json::parse(file.substr(sizeof kMagic + 4, header_size));
    if (model.header.at("format") != "qretrain-packed" || model.header.at("version") != 1)
      throw bad("the header is not format qretrain-packed version 1");
    // Every field a reader of the file uses, with its type: a json error here
    // names the file (below), not a crash later.
    const auto& h = model.header;
    for (const char* key : {"experiment", "network", "key", "method"}) h.at("cell").at(key).get<std::string>();
    for (const char* key : {"bits", "seed"}) h.at("cell").at(key).get<int>();
    h.at("network").at("kind").get<std::string>();
    h.at("network").at("hidden").get<std::vector<int>>();
    h.at("network").at("batch_norm").get<bool>();
    h.at("network").at("input_shape").get<std::vector<std::int64_t>>();
    h.at("network").at("classes").get<int>();
    h.at("evaluation").at("metric").get<std::string>();
    if (!h.at("evaluation").at("test").is_null()) h.at("evaluation").at("test").get<double>();
    h.at("producer").at("commit").get<std::string>();
    h.at("config").get<std::string>();
    for (const auto& op : h.at("graph")) {
      model.graph.push_back(op_from_json(op));
      const models::LayerOp& o = model.graph.back();
      if (!known_ops().count(o.op)) throw bad(fmt::format("unknown layer '{}'", o.op));
      // What the reference computes: unit-stride convolutions, unpadded pools.
      const bool pool = o.op == "maxpool" || o.op == "avgpool";
      if ((o.op == "conv2d" || pool) && (o.kernel < 1 || o.stride < 1 || o.padding < 0 || o.kernel > 64))
        throw bad(fmt::format("layer '{}' {} has kernel {}, stride {}, padding {}", o.module, o.op, o.kernel, o.stride, o.padding));
      if ((o.op == "conv2d" && o.stride != 1) || (pool && o.padding != 0))
        throw bad(fmt::format("layer '{}': a {} with stride {} and padding {} is not supported", o.module, o.op, o.stride, o.padding));
      if ((o.op == "lrn" || o.op == "onehot") && (o.size < 1 || o.size > 65536))
        throw bad(fmt::format("layer {} has size {}", o.op, o.size));
    }
    for (const auto& entry : model.header.at("tensors")) {
      PackedTensor t;
      t.name = entry.at("name").get<std::string>();
      t.shape = entry.at("shape").get<std::vector<std::int64_t>>();
      // Sizes bounded before any product: at most 4 dimensions of 2^24, and
      // no more elements than the payload could hold.
      if (t.shape.empty() || t.shape.size() > 4) throw bad(fmt::format("tensor '{}' has {} dimensions", t.name, t.shape.size()));
      std::uint64_t elements = 1;
      for (auto d : t.shape) {
        if (d <= 0 || d > (1 << 24)) throw bad(fmt::format("tensor '{}' has a dimension of {}", t.name, d));
        elements *= static_cast<std::uint64_t>(d);
        if (elements > 8 * static_cast<std::uint64_t>(payload_size))
          throw bad(fmt::format("tensor '{}' of shape {} is larger than the payload", t.name, fmt::join(t.shape, "x")));
      }
      const auto offset = entry.at("offset").get<std::uint64_t>();
      const auto size = entry.at("bytes").get<std::uint64_t>();
      const std::string encoding = entry.at("encoding").get<std::string>();
      if (encoding == "levels") {
        t.bits = entry.at("bits").get<int>();
        t.delta = entry.at("delta").get<double>();
        if (t.bits < 2 || t.bits > 8) throw bad(fmt::format("tensor '{}' has {} bits (2..8 supported)", t.name, t.bits));
        if (!(t.delta > 0) || !std::isfinite(t.delta)) throw bad(fmt::format("tensor '{}' has step {}", t.name, t.delta));
      } else if (encoding != "float32") {
        throw bad(fmt::format("tensor '{}' has encoding '{}'", t.name, encoding));
      }
      if (size != static_cast<std::uint64_t>(t.packed_bytes()) || offset > payload_size || size > payload_size - offset)
        throw bad(fmt::format("tensor '{}' of shape {} needs {} bytes, the header gives {} at offset {} of a {}-byte payload",
                              t.name, fmt::join(t.shape, "x"), t.packed_bytes(), size, offset, payload_size));
      const unsigned char* data = bytes + payload_start + offset;
      if (t.bits > 0) {
        t.levels = unpack_codes(data, t.numel(), t.bits, path, t.name);
      } else {
        t.values.resize(static_cast<std::size_t>(t.numel()));
        std::memcpy(t.values.data(), data, size);
        for (float v : t.values)
          if (!std::isfinite(v)) throw bad(fmt::format("tensor '{}' holds a value {}", t.name, v));
      }
      model.tensors.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(fmt::format("header: {}", e.what()));
  }

  // Every layer finds its tensors, of the rank it needs.
  for (const auto& op : model.graph) {
    const bool has_bias = model.find(op.module + ".bias") != nullptr;
    for (const auto& [name, rank] : tensors_of(op, has_bias)) {
      const PackedTensor* t = model.find(name);
      if (!t) throw bad(fmt::format("layer '{}' needs tensor '{}', which the file lacks", op.module, name));
      if (static_cast<int>(t->shape.size()) != rank)
        throw bad(fmt::format("tensor '{}' has {} dimensions, its {} layer needs {}", name, t->shape.size(), op.op, rank));
    }
  }
  // Sizes that must agree between a layer's tensors and its neighbours.
  std::int64_t outputs = 0;  // of the last weight layer
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw bad(what);
  };
  for (const auto& op : model.graph) {
    if (op.op == "conv2d" || op.op == "linear") {
      outputs = model.tensor(op.module + ".weight").shape[0];
      if (const PackedTensor* b = model.find(op.module + ".bias"))
        require(b->numel() == outputs, fmt::format("bias of '{}' has {} values for {} outputs", op.module, b->numel(), outputs));
    } else if (op.op == "batchnorm") {
      for (const char* part : {".scale", ".shift"})
        require(model.tensor(op.module + part).numel() == outputs,
                fmt::format("batch norm '{}' has {} channels after a layer of {}", op.module,
                            model.tensor(op.module + part).numel(), outputs));
    } else if (op.op == "lstm") {
      const auto& ih = model.tensor(op.module + ".weight_ih_l0").shape;
      const auto& hh = model.tensor(op.module + ".weight_hh_l0").shape;
      require(hh[0] == 4 * hh[1] && ih[0] == hh[0] && model.tensor(op.module + ".bias_ih_l0").numel() == hh[0] &&
                  model.tensor(op.module + ".bias_hh_l0").numel() == hh[0],
              fmt::format("LSTM '{}' has tensors of inconsistent sizes", op.module));
      require(outputs == 0 || ih[1] == outputs,
              fmt::format("LSTM '{}' reads {} inputs after a layer of {}", op.module, ih[1], outputs));
      outputs = hh[1];
    } else if (op.op == "onehot") {
      outputs = op.size;
    }
  }
  return model;
}

MemoryBill memory_bill(const std::vector<std::int64_t>& group_sizes, std::int64_t other_parameters, int bits) {
  return memory_bill(group_sizes, other_parameters, std::vector<int>(group_sizes.size(), bits));
}

MemoryBill memory_bill(const std::vector<std::int64_t>& group_sizes, std::int64_t other_parameters,
                       const std::vector<int>& group_bits) {
  TORCH_CHECK(group_bits.size() == group_sizes.size(), "memory_bill: ", group_bits.size(), " bit widths for ",
              group_sizes.size(), " groups");
  MemoryBill bill;
  bill.other = other_parameters;
  for (std::size_t i = 0; i < group_sizes.size(); ++i) {
    const std::int64_t n = group_sizes[i];
    bill.weights += n;
    bill.packed_bytes += (n * group_bits[i] + 7) / 8;
  }
  bill.float_bytes = 4 * (bill.weights + bill.other);
  bill.packed_bytes += 4 * bill.other;
  return bill;
}

}  // namespace qretrain::deploy
