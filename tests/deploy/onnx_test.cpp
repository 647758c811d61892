// The ONNX export of packed models (deploy/onnx.h), over every network kind:
// the model passes the ONNX checker, every quantized weight group is one
// QONNX Quant node at the hook's bit width and Δ over an initializer holding
// the hook's w_q (gate blocks reordered for the LSTM), and the file written
// parses back (and passes Python's onnx checker where python3-onnx is there).
#include "deploy/onnx.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>

#include <gtest/gtest.h>
#include <onnx/checker.h>

#include "models/kinds.h"
#include "models/network.h"
#include "quant/hook.h"
#include "test_util.h"
#include "util/error.h"

namespace qretrain::deploy {
namespace {

// A small network of every kind (ffdnn with and without batch norm).
struct Case {
  std::string label;
  config::NetworkConfig cfg;
  models::NetworkSpec spec;
  bool language_model = false;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const auto& row : models::network_kinds()) {
    Case c;
    c.label = row.name;
    c.cfg.kind = row.name;
    c.cfg.hidden = {8, 8};
    c.language_model = row.language_model;
    if (row.language_model)
      c.spec = {{1}, 256};
    else if (row.name == "lenet5")
      c.spec = {{1, 28, 28}, 10};
    else if (row.convolutional)
      c.spec = {{3, 32, 32}, 10};
    else
      c.spec = {{1, 28, 28}, 10};
    out.push_back(c);
    if (!row.convolutional && !row.language_model) {
      c.label += "+bn";
      c.cfg.batch_norm = true;
      out.push_back(c);
    }
  }
  return out;
}

struct Built {
  models::Network net;
  std::unique_ptr<quant::QuantHook> hook;  // null: a float network
  PackedModel packed;
};

Built build(const Case& c, int bits) {
  torch::manual_seed(7);
  Built b;
  b.net = models::make_network(c.cfg, c.spec);
  b.net->eval();
  // Batch-norm statistics other than 0 and 1, so the folded scale and shift mean something.
  torch::NoGradGuard no_grad;
  for (auto& item : b.net->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().uniform_(-0.5, 0.5);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
  if (bits > 0) b.hook = std::make_unique<quant::QuantHook>(*b.net, bits);
  Provenance p;
  p.experiment = "onnx-test";
  p.method = bits > 0 ? "direct" : "float";
  p.input_shape = c.spec.input_shape;
  p.classes = c.spec.num_classes;
  p.test_metric = 0.5;
  b.packed = pack_network(*b.net, b.hook.get(), p);
  return b;
}

// An initializer's float32 values as a tensor of its shape.
torch::Tensor values(const onnx::TensorProto& t) {
  EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT) << t.name();
  std::vector<std::int64_t> dims(t.dims().begin(), t.dims().end());
  std::vector<float> v;
  if (!t.raw_data().empty()) {
    v.resize(t.raw_data().size() / sizeof(float));
    std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
  } else {
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return torch::tensor(v, torch::kFloat32).reshape(dims).clone();
}

std::map<std::string, const onnx::TensorProto*> initializers(const onnx::ModelProto& m) {
  std::map<std::string, const onnx::TensorProto*> out;
  for (const auto& t : m.graph().initializer()) out[t.name()] = &t;
  return out;
}

std::vector<const onnx::NodeProto*> nodes_of(const onnx::ModelProto& m, const std::string& op_type) {
  std::vector<const onnx::NodeProto*> out;
  for (const auto& n : m.graph().node())
    if (n.op_type() == op_type) out.push_back(&n);
  return out;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// The ONNX initializer a weight group's w_q goes to: its own name, or the
// LSTM's W (input weights) and R (recurrent weights).
std::string onnx_name(const std::string& group) {
  for (const auto& [torch_suffix, onnx_suffix] : {std::pair{".weight_ih_l0", ".W"}, std::pair{".weight_hh_l0", ".R"}}) {
    const auto at = group.rfind(torch_suffix);
    if (at != std::string::npos && at + std::strlen(torch_suffix) == group.size())
      return group.substr(0, at) + onnx_suffix;
  }
  return group;
}

// PyTorch's gate blocks are (i, f, g, o), ONNX's (i, o, f, c = g).
constexpr int kTorchGateOfOnnxGate[4] = {0, 3, 1, 2};

bool python_onnx_available() {
  return std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
}

TEST(OnnxExport, EveryKindChecksWithOneQuantNodePerWeightGroup) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    Built b = build(c, 2);
    ASSERT_FALSE(b.hook->groups().empty());
    const onnx::ModelProto m = onnx_model(b.packed);
    EXPECT_NO_THROW(onnx::checker::check_model(m));

    bool has_qonnx_domain = false;
    for (const auto& opset : m.opset_import()) {
      if (opset.domain().empty()) {
        EXPECT_EQ(opset.version(), 13);
      }
      if (opset.domain() == "qonnx.custom_op.general") has_qonnx_domain = true;
    }
    EXPECT_TRUE(has_qonnx_domain);

    // Input and output.
    ASSERT_EQ(m.graph().input_size(), 1);
    ASSERT_EQ(m.graph().output_size(), 1);
    const auto& in = m.graph().input(0);
    const auto& out = m.graph().output(0);
    EXPECT_EQ(in.name(), c.language_model ? "symbols" : "input");
    EXPECT_EQ(in.type().tensor_type().elem_type(),
              c.language_model ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
    EXPECT_EQ(in.type().tensor_type().shape().dim(0).dim_param(), "N");
    EXPECT_EQ(in.type().tensor_type().shape().dim_size(),
              c.language_model ? 2 : 1 + static_cast<int>(c.spec.input_shape.size()));
    EXPECT_EQ(out.name(), "logits");
    const auto& out_shape = out.type().tensor_type().shape();
    ASSERT_EQ(out_shape.dim_size(), c.language_model ? 3 : 2);
    EXPECT_EQ(out_shape.dim(0).dim_param(), "N");
    EXPECT_EQ(out_shape.dim(out_shape.dim_size() - 1).dim_value(), c.spec.num_classes);
    EXPECT_EQ(m.graph().node(m.graph().node_size() - 1).output(0), "logits");

    // One Quant node per weight group, over w_q, at the group's Δ and 2 bits.
    const auto inits = initializers(m);
    const auto quants = nodes_of(m, "Quant");
    EXPECT_EQ(quants.size(), b.hook->groups().size());
    for (const auto& g : b.hook->groups()) {
      SCOPED_TRACE(g.name);
      const std::string name = onnx_name(g.name);
      const onnx::NodeProto* q = nullptr;
      for (const auto* n : quants)
        if (n->input(0) == name) q = n;
      ASSERT_NE(q, nullptr) << "no Quant node over " << name;
      EXPECT_EQ(q->domain(), "qonnx.custom_op.general");
      ASSERT_EQ(q->input_size(), 4);
      ASSERT_NE(attribute(*q, "signed"), nullptr);
      EXPECT_EQ(attribute(*q, "signed")->i(), 1);
      ASSERT_NE(attribute(*q, "narrow"), nullptr);
      EXPECT_EQ(attribute(*q, "narrow")->i(), 1);
      ASSERT_NE(attribute(*q, "rounding_mode"), nullptr);
      EXPECT_EQ(attribute(*q, "rounding_mode")->s(), "ROUND");
      for (int i = 0; i < 4; ++i) ASSERT_TRUE(inits.count(q->input(i))) << q->input(i);
      const auto scale = values(*inits.at(q->input(1)));
      EXPECT_EQ(scale.dim(), 0);
      EXPECT_EQ(scale.item<float>(), static_cast<float>(g.delta()));
      EXPECT_EQ(values(*inits.at(q->input(2))).item<float>(), 0.0f);
      EXPECT_EQ(values(*inits.at(q->input(3))).item<float>(), 2.0f);

      // Some node reads the Quant's output.
      int readers = 0;
      for (const auto& n : m.graph().node())
        for (const auto& input : n.input()) readers += input == q->output(0);
      EXPECT_EQ(readers, 1);

      // The initializer is the hook's w_q, bit for bit.
      const auto wq = quant::quantize_tensor(g.weights.contiguous(), g.delta(), b.hook->bits());
      const auto init = values(*inits.at(name));
      if (name == g.name) {
        EXPECT_TRUE(torch::equal(init, wq));
      } else {
        // LSTM: [1, 4H, in], gate blocks moved from PyTorch's order.
        const std::int64_t hidden = wq.size(0) / 4;
        ASSERT_EQ(init.sizes().vec(), (std::vector<std::int64_t>{1, 4 * hidden, wq.size(1)}));
        const auto onnx_blocks = init.reshape({4, hidden, wq.size(1)});
        const auto torch_blocks = wq.reshape({4, hidden, wq.size(1)});
        for (int gate = 0; gate < 4; ++gate)
          EXPECT_TRUE(torch::equal(onnx_blocks[gate], torch_blocks[kTorchGateOfOnnxGate[gate]])) << "gate " << gate;
      }
    }

    // Float tensors are plain initializers: biases as packed, batch norm
    // broadcast over axis 1, LSTM biases as B = [b_ih, b_hh] reordered.
    for (const auto& t : b.packed.tensors) {
      if (t.bits > 0) continue;
      SCOPED_TRACE(t.name);
      const bool lstm_bias = t.name.find(".bias_ih_l0") != std::string::npos ||
                             t.name.find(".bias_hh_l0") != std::string::npos;
      if (lstm_bias) {
        const std::string module = t.name.substr(0, t.name.rfind('.'));
        ASSERT_TRUE(inits.count(module + ".B"));
        const auto bias = values(*inits.at(module + ".B"));
        const std::int64_t hidden = t.numel() / 4;
        ASSERT_EQ(bias.sizes().vec(), (std::vector<std::int64_t>{1, 8 * hidden}));
        const int half = t.name.find(".bias_ih_l0") != std::string::npos ? 0 : 1;
        const auto onnx_blocks = bias.reshape({2, 4, hidden})[half];
        const auto torch_blocks = t.dequantized().reshape({4, hidden});
        for (int gate = 0; gate < 4; ++gate)
          EXPECT_TRUE(torch::equal(onnx_blocks[gate], torch_blocks[kTorchGateOfOnnxGate[gate]])) << "gate " << gate;
        continue;
      }
      ASSERT_TRUE(inits.count(t.name));
      const auto init = values(*inits.at(t.name));
      EXPECT_EQ(init.numel(), t.numel());
      EXPECT_TRUE(torch::equal(init.reshape({-1}), t.dequantized().reshape({-1})));
      if (t.name.find(".scale") != std::string::npos || t.name.find(".shift") != std::string::npos) {
        ASSERT_GE(init.dim(), 2);
        EXPECT_EQ(init.size(1), t.numel());
      }
    }
  }
}

TEST(OnnxExport, FloatNetworkHasNoQuantNodes) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    Built b = build(c, 0);
    const onnx::ModelProto m = onnx_model(b.packed);
    EXPECT_NO_THROW(onnx::checker::check_model(m));
    EXPECT_TRUE(nodes_of(m, "Quant").empty());
    for (const auto& opset : m.opset_import()) EXPECT_NE(opset.domain(), "qonnx.custom_op.general");
    // The weights are the float weights.
    const auto inits = initializers(m);
    for (const auto& item : b.net->named_parameters()) {
      const std::string name = onnx_name(item.key());
      if (name == item.key() && item.value().dim() >= 2) {
        ASSERT_TRUE(inits.count(name)) << name;
        EXPECT_TRUE(torch::equal(values(*inits.at(name)), item.value().detach()));
      }
    }
  }
}

TEST(OnnxExport, OpsMapToTheirOnnxOperators) {
  std::map<std::string, std::vector<std::string>> expected{
      {"lenet5", {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"}},
      {"cnn_c", {"Conv", "MaxPool", "AveragePool", "LRN", "Flatten", "Gemm"}},
      {"cnn_v", {"Conv", "Mul", "Add", "MaxPool", "Gemm"}},
      {"ffdnn+bn", {"Flatten", "Gemm", "Mul", "Add", "Relu"}},
      {"lstm_lm", {"OneHot", "Transpose", "LSTM", "Squeeze", "MatMul", "Add"}},
  };
  for (const Case& c : cases()) {
    if (!expected.count(c.label)) continue;
    SCOPED_TRACE(c.label);
    const onnx::ModelProto m = onnx_model(build(c, 2).packed);
    for (const auto& op : expected[c.label]) EXPECT_FALSE(nodes_of(m, op).empty()) << op;
    if (c.label == "lstm_lm") {
      // Two LSTM layers share one transpose in and one out.
      EXPECT_EQ(nodes_of(m, "LSTM").size(), 2u);
      EXPECT_EQ(nodes_of(m, "Transpose").size(), 3u);  // in, out, and out.weight's W^T
      EXPECT_TRUE(nodes_of(m, "Cast").empty());
      const auto* lstm = nodes_of(m, "LSTM").front();
      ASSERT_NE(attribute(*lstm, "hidden_size"), nullptr);
      EXPECT_EQ(attribute(*lstm, "hidden_size")->i(), 8);
    }
    if (c.label == "cnn_c") {
      const auto* lrn = nodes_of(m, "LRN").front();
      EXPECT_EQ(attribute(*lrn, "size")->i(), 3);
      EXPECT_FLOAT_EQ(attribute(*lrn, "bias")->f(), 1.0f);
    }
  }
}

TEST(OnnxExport, RejectsStepsOnnxComputesDifferently) {
  for (const Case& c : cases()) {
    if (c.label != "cnn_c") continue;
    PackedModel packed = build(c, 2).packed;
    for (auto& op : packed.graph)
      if (op.op == "lrn") op.size = 4;  // ONNX centres an even window differently from PyTorch
    EXPECT_THROW(onnx_model(packed), UserError);
  }
}

TEST(OnnxExport, WriteOnnxWritesAFileThatParsesBack) {
  qretrain::testing::TempDir dir;
  std::vector<std::string> files;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    Built b = build(c, 2);
    const std::string path = dir.file(c.label + ".onnx");
    write_onnx(b.packed, path);
    const std::string bytes = qretrain::testing::slurp(path);
    ASSERT_FALSE(bytes.empty());
    onnx::ModelProto back;
    ASSERT_TRUE(back.ParseFromString(bytes));
    EXPECT_NO_THROW(onnx::checker::check_model(back));
    EXPECT_EQ(back.SerializeAsString(), onnx_model(b.packed).SerializeAsString());
    files.push_back(path);
  }
  // No temporary left beside the files.
  EXPECT_EQ(static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir.path()),
                                                   std::filesystem::directory_iterator())),
            files.size());

  if (!python_onnx_available()) GTEST_SKIP() << "python3-onnx is not installed: Python's checker not run";
  for (const auto& path : files) {
    const std::string command =
        "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))\" '" + path + "'";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
}

}  // namespace
}  // namespace qretrain::deploy
