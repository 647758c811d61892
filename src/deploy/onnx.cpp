#include "deploy/onnx.h"

#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/checker.h>

#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::deploy {
namespace {

using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using ::onnx::ValueInfoProto;

// Opset 13: the one Brevitas and FINN export at. (Opset 14's LSTM layout=1
// would spare the transposes around the LSTMs, but onnxruntime rejects it.)
constexpr int kOpset = 13;
// IR version 8 (ONNX 1.10 to 1.12), what libonnx 1.12 writes.
constexpr int kIrVersion = 8;
// QONNX's custom operators (Quant, BipolarQuant, Trunc) live in this domain;
// the QONNX and FINN tools dispatch on it.
constexpr char kQonnxDomain[] = "qonnx.custom_op.general";

// One dimension of an activation: a size, or a symbolic one ("N", "T").
struct Dim {
  std::int64_t size = -1;
  std::string param;
};
using Shape = std::vector<Dim>;

std::string show(const Shape& shape) {
  std::vector<std::string> dims;
  for (const auto& d : shape) dims.push_back(d.param.empty() ? std::to_string(d.size) : d.param);
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

// The values a tensor stands for: float32(Δ) * level, or the float values.
std::vector<float> values_of(const PackedTensor& t) {
  auto v = t.dequantized().contiguous();
  return {v.data_ptr<float>(), v.data_ptr<float>() + v.numel()};
}

// PyTorch stacks an LSTM's four gate blocks of `hidden` rows as (i, f, g, o)
// in weight_ih, weight_hh and both biases; ONNX's LSTM wants them as
// (i, o, f, c), its c being PyTorch's g (the cell candidate). Row blocks are
// moved whole, so a quantized matrix stays a matrix of levels at the same Δ.
constexpr int kTorchGateOfOnnxGate[4] = {0, 3, 1, 2};

std::vector<float> onnx_gate_order(const std::vector<float>& torch_rows, std::int64_t hidden, std::int64_t row_size) {
  const auto block = static_cast<std::size_t>(hidden * row_size);
  std::vector<float> out;
  out.reserve(torch_rows.size());
  for (int gate : kTorchGateOfOnnxGate) {
    const auto first = torch_rows.begin() + static_cast<std::ptrdiff_t>(gate * block);
    out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(block));
  }
  return out;
}

void set_int(NodeProto* node, const std::string& name, std::int64_t value) {
  AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INT);
  a->set_i(value);
}

void set_ints(NodeProto* node, const std::string& name, const std::vector<std::int64_t>& values) {
  AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INTS);
  for (auto v : values) a->add_ints(v);
}

void set_float(NodeProto* node, const std::string& name, double value) {
  AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::FLOAT);
  a->set_f(static_cast<float>(value));
}

void set_string(NodeProto* node, const std::string& name, const std::string& value) {
  AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::STRING);
  a->set_s(value);
}

void set_tensor_type(ValueInfoProto* info, const std::string& name, int elem_type, const Shape& shape) {
  info->set_name(name);
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  auto* dims = tensor->mutable_shape();
  for (const auto& d : shape) {
    auto* dim = dims->add_dim();
    if (d.param.empty())
      dim->set_dim_value(d.size);
    else
      dim->set_dim_param(d.param);
  }
}

// Builds the graph step by step, tracking the current activation's name and
// shape (the shape decides broadcasting, Gemm against MatMul, and the output's
// declared shape, and catches tensors that do not fit the data).
class Builder {
 public:
  Builder(const PackedModel& model, GraphProto& graph) : model_(model), graph_(graph) {}

  void build() {
    const auto& steps = model_.graph;
    if (steps.empty()) throw bad("the graph has no steps");
    if (steps.front().op == "onehot") {
      value_ = "symbols";
      shape_ = {{-1, "N"}, {-1, "T"}};
      set_tensor_type(graph_.add_input(), value_, TensorProto::INT64, shape_);
    } else {
      value_ = "input";
      shape_ = {{-1, "N"}};
      for (auto d : input_shape()) shape_.push_back({d, ""});
      set_tensor_type(graph_.add_input(), value_, TensorProto::FLOAT, shape_);
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const models::LayerOp& op = steps[i];
      label_ = op.module.empty() ? fmt::format("{}_{}", op.op, i) : op.module;
      if (op.op != "lstm") to_batch_major();
      if (op.op == "onehot" && i > 0) throw bad("onehot must be the first step");
      if (op.op == "conv2d") conv(op);
      else if (op.op == "linear") linear(op);
      else if (op.op == "batchnorm") batchnorm(op);
      else if (op.op == "relu") value_ = node("Relu", {value_});
      else if (op.op == "maxpool" || op.op == "avgpool") pool(op);
      else if (op.op == "lrn") lrn(op);
      else if (op.op == "flatten") flatten();
      else if (op.op == "onehot") onehot(op);
      else if (op.op == "lstm") lstm(op);
      else throw bad(fmt::format("step {} is '{}', which has no ONNX export", i, op.op));
    }
    to_batch_major();
    // The last node's output is the model's output.
    NodeProto& last = *graph_.mutable_node(graph_.node_size() - 1);
    if (last.output(0) != value_) throw std::logic_error("onnx export: the last node does not produce the output");
    last.set_output(0, "logits");
    set_tensor_type(graph_.add_output(), "logits", TensorProto::FLOAT, shape_);
  }

 private:
  UserError bad(const std::string& why) const {
    const std::string file = model_.source.empty() ? "model" : model_.source;
    return UserError(fmt::format("{}: cannot export to ONNX: {}", file, why));
  }

  std::vector<std::int64_t> input_shape() const {
    try {
      return model_.header.at("network").at("input_shape").get<std::vector<std::int64_t>>();
    } catch (const nlohmann::json::exception& e) {
      throw bad(fmt::format("the header has no network.input_shape ({})", e.what()));
    }
  }

  const PackedTensor& tensor(const std::string& name, std::size_t rank) const {
    const PackedTensor& t = model_.tensor(name);
    if (t.shape.size() != rank)
      throw bad(fmt::format("tensor '{}' has shape [{}], {} dimensions expected", name, fmt::join(t.shape, ", "),
                            rank));
    return t;
  }

  // The size of axis `axis` of the current activation, which must equal `expected`.
  void expect_dim(std::size_t axis, std::int64_t expected, const std::string& what) const {
    if (axis >= shape_.size() || shape_[axis].size != expected)
      throw bad(fmt::format("{}: {} expects {} on axis {} of its input, which is {}", label_, what, expected, axis,
                            show(shape_)));
  }

  void expect_rank(std::size_t rank, const std::string& what) const {
    if (shape_.size() != rank)
      throw bad(fmt::format("{}: {} needs data of rank {}, the input is {}", label_, what, rank, show(shape_)));
  }

  // A node `op_type` of this step; returns its (single) output's name.
  std::string node(const std::string& op_type, const std::vector<std::string>& inputs, NodeProto** made = nullptr,
                   const std::string& domain = "") {
    NodeProto* n = graph_.add_node();
    const std::string name = unique(label_ + "/" + op_type);
    n->set_name(name);
    n->set_op_type(op_type);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(name);
    if (made) *made = n;
    return name;
  }

  // A fresh node or value name: `name`, or `name`_2, _3, ... when taken.
  std::string unique(const std::string& name) {
    std::string candidate = name;
    for (int k = 2; !names_.insert(candidate).second; ++k) candidate = fmt::format("{}_{}", name, k);
    return candidate;
  }

  // An initializer's name, which other nodes refer to: it must be free.
  const std::string& claim(const std::string& name) {
    if (!names_.insert(name).second) throw bad(fmt::format("the name '{}' is used twice", name));
    return name;
  }

  void float_initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                         const std::vector<float>& values) {
    TensorProto* t = graph_.add_initializer();
    t->set_name(claim(name));
    t->set_data_type(TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    std::string raw(values.size() * sizeof(float), '\0');
    std::memcpy(raw.data(), values.data(), raw.size());  // little-endian, as ONNX's raw_data (x86, ARM hosts)
    t->set_raw_data(std::move(raw));
  }

  void int64_initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                         const std::vector<std::int64_t>& values) {
    TensorProto* t = graph_.add_initializer();
    t->set_name(claim(name));
    t->set_data_type(TensorProto::INT64);
    for (auto d : dims) t->add_dims(d);
    for (auto v : values) t->add_int64_data(v);
  }

  // The weight `t`, as `values` (its values, maybe reordered) in `dims`: a
  // plain initializer named `name` for a float tensor; for a quantized one,
  // the initializer holds w_q and the returned value is its QONNX Quant node's
  // output. Quant(x, scale, zeropt, bitwidth) = scale * (clip(round(x / scale
  // + zeropt), lo, hi) - zeropt), with signed = 1 and narrow = 1 making
  // [lo, hi] = [-L, L] (L = 2^(bits-1) - 1), the packed levels; scale,
  // zeropt and bitwidth are float32 scalars, as Brevitas exports them. Since
  // w_q / Δ is an integer level in range, Quant(w_q) == w_q bit for bit.
  std::string weight(const PackedTensor& t, const std::string& name, const std::vector<std::int64_t>& dims,
                     const std::vector<float>& values) {
    float_initializer(name, dims, values);
    if (t.bits == 0) return name;
    float_initializer(name + "_scale", {}, {static_cast<float>(t.delta)});
    float_initializer(name + "_zeropt", {}, {0.0f});
    float_initializer(name + "_bitwidth", {}, {static_cast<float>(t.bits)});
    NodeProto* n = graph_.add_node();
    const std::string out = unique(name + "_quant");
    n->set_name(out);
    n->set_op_type("Quant");
    n->set_domain(kQonnxDomain);
    for (const auto& in : {name, name + "_scale", name + "_zeropt", name + "_bitwidth"}) n->add_input(in);
    n->add_output(out);
    set_int(n, "signed", 1);
    set_int(n, "narrow", 1);
    set_string(n, "rounding_mode", "ROUND");
    return out;
  }

  std::string weight(const PackedTensor& t) { return weight(t, t.name, t.shape, values_of(t)); }

  void conv(const models::LayerOp& op) {
    const PackedTensor& w = tensor(op.module + ".weight", 4);
    expect_rank(4, "conv2d");
    expect_dim(1, w.shape[1], "conv2d");
    const std::int64_t kh = w.shape[2], kw = w.shape[3], s = op.stride, p = op.padding;
    if (s < 1 || p < 0) throw bad(fmt::format("{}: conv2d with stride {} and padding {}", label_, s, p));
    std::vector<std::string> inputs{value_, weight(w)};
    if (const PackedTensor* b = model_.find(op.module + ".bias")) inputs.push_back(weight(*b));
    NodeProto* n;
    value_ = node("Conv", inputs, &n);
    set_ints(n, "kernel_shape", {kh, kw});
    set_ints(n, "strides", {s, s});
    set_ints(n, "pads", {p, p, p, p});
    shape_[1] = {w.shape[0], ""};
    spatial(kh, kw, s, p);
  }

  // The height and width after a window of kh x kw at stride s and padding p (floor mode).
  void spatial(std::int64_t kh, std::int64_t kw, std::int64_t s, std::int64_t p) {
    for (int axis : {2, 3}) {
      const std::int64_t k = axis == 2 ? kh : kw;
      const std::int64_t span = shape_[axis].size + 2 * p - k;
      if (span < 0) throw bad(fmt::format("{}: a {}x{} window does not fit {}", label_, kh, kw, show(shape_)));
      shape_[axis] = {span / s + 1, ""};
    }
  }

  void linear(const models::LayerOp& op) {
    const PackedTensor& w = tensor(op.module + ".weight", 2);
    if (shape_.size() < 2) throw bad(fmt::format("{}: linear on data of shape {}", label_, show(shape_)));
    expect_dim(shape_.size() - 1, w.shape[1], "linear");
    const PackedTensor* b = model_.find(op.module + ".bias");
    const std::string wq = weight(w);
    if (shape_.size() == 2) {
      // y = x W^T + b in one Gemm, as PyTorch's exporter writes nn.Linear.
      std::vector<std::string> inputs{value_, wq};
      if (b) inputs.push_back(weight(*b));
      NodeProto* n;
      value_ = node("Gemm", inputs, &n);
      set_int(n, "transB", 1);
    } else {
      // Gemm takes matrices only: x [..., in] times W^T [in, out], then + b.
      NodeProto* t;
      const std::string wt = node("Transpose", {wq}, &t);
      set_ints(t, "perm", {1, 0});
      value_ = node("MatMul", {value_, wt});
      if (b) value_ = node("Add", {value_, weight(*b)});
    }
    shape_.back() = {w.shape[0], ""};
  }

  // Batch norm folded to y = scale * x + shift per channel (axis 1, as
  // PyTorch's BatchNorm1d/2d): scale and shift stored as [1, C, 1, ...] so
  // that they broadcast over the other axes.
  void batchnorm(const models::LayerOp& op) {
    const PackedTensor& scale = tensor(op.module + ".scale", 1);
    const PackedTensor& shift = tensor(op.module + ".shift", 1);
    if (shape_.size() < 2) throw bad(fmt::format("{}: batchnorm on data of shape {}", label_, show(shape_)));
    expect_dim(1, scale.shape[0], "batchnorm");
    expect_dim(1, shift.shape[0], "batchnorm");
    std::vector<std::int64_t> dims(shape_.size(), 1);
    dims[1] = scale.shape[0];
    value_ = node("Mul", {value_, weight(scale, scale.name, dims, values_of(scale))});
    value_ = node("Add", {value_, weight(shift, shift.name, dims, values_of(shift))});
  }

  void pool(const models::LayerOp& op) {
    expect_rank(4, op.op);
    // The packed pools have no padding (and PyTorch and ONNX would differ on
    // what an average over padding counts).
    if (op.padding != 0 || op.kernel < 1 || op.stride < 1)
      throw bad(fmt::format("{}: {} with kernel {}, stride {}, padding {} (no padding supported)", label_, op.op,
                            op.kernel, op.stride, op.padding));
    NodeProto* n;
    value_ = node(op.op == "maxpool" ? "MaxPool" : "AveragePool", {value_}, &n);
    set_ints(n, "kernel_shape", {op.kernel, op.kernel});
    set_ints(n, "strides", {op.stride, op.stride});
    spatial(op.kernel, op.kernel, op.stride, 0);
  }

  void lrn(const models::LayerOp& op) {
    expect_rank(4, "lrn");
    // PyTorch sums channels c - size/2 .. c + (size-1)/2, ONNX c - (size-1)/2
    // .. c + ceil((size-1)/2): the same window only for odd sizes.
    if (op.size < 1 || op.size % 2 == 0)
      throw bad(fmt::format("{}: lrn of size {} (ONNX LRN matches PyTorch's for odd sizes only)", label_, op.size));
    NodeProto* n;
    value_ = node("LRN", {value_}, &n);
    set_int(n, "size", op.size);
    set_float(n, "alpha", op.alpha);
    set_float(n, "beta", op.beta);
    set_float(n, "bias", op.k);
  }

  void flatten() {
    if (shape_.size() < 2) throw bad(fmt::format("{}: flatten of data of shape {}", label_, show(shape_)));
    NodeProto* n;
    value_ = node("Flatten", {value_}, &n);
    set_int(n, "axis", 1);
    std::int64_t features = 1;
    for (std::size_t a = 1; a < shape_.size(); ++a) features *= shape_[a].size;
    shape_ = {shape_[0], {features, ""}};
  }

  // Symbols [N, T] to one-hot float [N, T, V]: OneHot's output takes the type
  // of its `values` ([off, on] = [0, 1] in float32), so no Cast is needed.
  void onehot(const models::LayerOp& op) {
    if (op.size < 1) throw bad(fmt::format("onehot of vocabulary {}", op.size));
    const std::string depth = label_ + "/depth", values = label_ + "/values";
    int64_initializer(depth, {}, {op.size});
    float_initializer(values, {2}, {0.0f, 1.0f});
    NodeProto* n;
    value_ = node("OneHot", {value_, depth, values}, &n);
    set_int(n, "axis", -1);
    shape_.push_back({op.size, ""});
  }

  // ONNX's LSTM runs time-major ([T, N, in] to Y [T, directions, N, H]); the
  // data is batch-first. One Transpose goes in before a run of LSTM layers
  // and one comes out after it (to_batch_major), not one pair per layer.
  void lstm(const models::LayerOp& op) {
    expect_rank(3, "lstm");
    const PackedTensor& w_ih = tensor(op.module + ".weight_ih_l0", 2);
    const PackedTensor& w_hh = tensor(op.module + ".weight_hh_l0", 2);
    const std::int64_t hidden = w_hh.shape[1], in = w_ih.shape[1];
    if (w_ih.shape[0] != 4 * hidden || w_hh.shape[0] != 4 * hidden)
      throw bad(fmt::format("{}: LSTM weights of shapes [{}] and [{}]", label_, fmt::join(w_ih.shape, ", "),
                            fmt::join(w_hh.shape, ", ")));
    expect_dim(2, in, "lstm");
    if (!time_major_) {
      NodeProto* t;
      value_ = node("Transpose", {value_}, &t);
      set_ints(t, "perm", {1, 0, 2});
      time_major_ = true;
    }
    // Each matrix goes through its own Quant (one per weight group): Quant is
    // elementwise with one Δ, so reordering w_q's gate blocks first is exact.
    const std::string w =
        weight(w_ih, op.module + ".W", {1, 4 * hidden, in}, onnx_gate_order(values_of(w_ih), hidden, in));
    const std::string r =
        weight(w_hh, op.module + ".R", {1, 4 * hidden, hidden}, onnx_gate_order(values_of(w_hh), hidden, hidden));
    std::vector<std::string> inputs{value_, w, r};
    const PackedTensor* b_ih = model_.find(op.module + ".bias_ih_l0");
    const PackedTensor* b_hh = model_.find(op.module + ".bias_hh_l0");
    if (b_ih || b_hh) {
      // B = [Wb, Rb], each (i, o, f, c); PyTorch adds both biases too. A
      // missing one is zero.
      std::vector<float> bias;
      for (const PackedTensor* b : {b_ih, b_hh}) {
        if (b && (b->shape.size() != 1 || b->shape[0] != 4 * hidden))
          throw bad(fmt::format("{}: LSTM bias '{}' of shape [{}]", label_, b->name, fmt::join(b->shape, ", ")));
        const auto part = b ? onnx_gate_order(values_of(*b), hidden, 1)
                            : std::vector<float>(static_cast<std::size_t>(4 * hidden), 0.0f);
        bias.insert(bias.end(), part.begin(), part.end());
      }
      float_initializer(op.module + ".B", {1, 8 * hidden}, bias);
      inputs.push_back(op.module + ".B");
    }
    NodeProto* n;
    const std::string y = node("LSTM", inputs, &n);
    set_int(n, "hidden_size", hidden);
    // Y [T, 1, N, H] without its direction axis.
    const std::string axes = label_ + "/axes";
    int64_initializer(axes, {1}, {1});
    value_ = node("Squeeze", {y, axes});
    shape_[2] = {hidden, ""};
  }

  // Back to [N, T, H] after a run of LSTM layers.
  void to_batch_major() {
    if (!time_major_) return;
    NodeProto* t;
    value_ = node("Transpose", {value_}, &t);
    set_ints(t, "perm", {1, 0, 2});
    time_major_ = false;
  }

  const PackedModel& model_;
  GraphProto& graph_;
  std::set<std::string> names_{"input", "symbols", "logits"};
  std::string label_;   // the step being built: its module, or op_index
  std::string value_;   // the current activation
  Shape shape_;         // its shape, batch-first (even while the data is time-major)
  bool time_major_ = false;
};

void add_metadata(ModelProto& proto, const std::string& key, const nlohmann::json& value) {
  auto* entry = proto.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value.is_string() ? value.get<std::string>() : value.dump());
}

}  // namespace

::onnx::ModelProto onnx_model(const PackedModel& model) {
  ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name("qretrain");
  proto.set_producer_version(QRETRAIN_VERSION);
  auto* standard = proto.add_opset_import();
  standard->set_domain("");
  standard->set_version(kOpset);

  GraphProto& graph = *proto.mutable_graph();
  graph.set_name("qretrain");
  const nlohmann::json& h = model.header;
  if (h.contains("network") && h["network"].contains("describe")) {
    graph.set_doc_string(h["network"]["describe"].get<std::string>());
    add_metadata(proto, "qretrain.network", h["network"]);
  }
  // Where the weights came from and how the inputs must be scaled.
  for (const char* key : {"cell", "input", "evaluation"})
    if (h.contains(key)) add_metadata(proto, fmt::format("qretrain.{}", key), h[key]);

  Builder(model, graph).build();
  // The QONNX domain, where Quant nodes use it (not in a float network's model).
  for (const NodeProto& node : graph.node())
    if (node.domain() == kQonnxDomain) {
      auto* qonnx = proto.add_opset_import();
      qonnx->set_domain(kQonnxDomain);
      qonnx->set_version(1);
      break;
    }
  return proto;
}

void write_onnx(const PackedModel& model, const std::string& path) {
  const ModelProto proto = onnx_model(model);
  try {
    ::onnx::checker::check_model(proto);
  } catch (const ::onnx::checker::ValidationError& e) {
    throw std::runtime_error(fmt::format("{}: the ONNX export fails onnx::checker: {}", path, e.what()));
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    throw std::runtime_error(fmt::format("{}: cannot serialise the ONNX model (over protobuf's 2 GiB?)", path));
  atomic_write_text(path, bytes);
}

}  // namespace qretrain::deploy
