// Packed model files and the integer reference inference (src/deploy):
// round trips for every network kind at 2, 3 and 4 bits, the Python reader,
// a hand-worked integer network pinned bit for bit, and bad files.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deploy/packed.h"
#include "deploy/reference.h"
#include "deploy/runner.h"
#include "models/kinds.h"
#include "models/lstm_lm.h"
#include "quant/hook.h"
#include "test_util.h"

namespace qretrain {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

struct TinyNetwork {
  std::string name;
  config::NetworkConfig cfg;
  models::NetworkSpec spec;
};

// One small network of every kind (a new kind fails below until it is added).
std::vector<TinyNetwork> tiny_networks() {
  auto net = [](const std::string& kind, std::vector<int> hidden = {}, bool bn = false) {
    config::NetworkConfig c;
    c.kind = kind;
    c.hidden = std::move(hidden);
    c.batch_norm = bn;
    return c;
  };
  return {{"lenet5", net("lenet5"), {{1, 32, 32}, 10}},
          {"cnn_c", net("cnn_c"), {{3, 32, 32}, 10}},
          {"cnn_v", net("cnn_v"), {{1, 16, 16}, 10}},
          {"ffdnn", net("ffdnn", {12, 10}), {{3, 7}, 5}},
          {"ffdnn+bn", net("ffdnn", {12, 10}, true), {{3, 7}, 5}},
          {"lstm_lm", net("lstm_lm", {8, 6}), {{1}, 256}}};
}

// Batch norms with statistics of their own, so folding them is exercised.
void randomise_batch_norms(models::NetworkImpl& network) {
  torch::NoGradGuard no_grad;
  for (auto& item : network.named_buffers(true)) {
    if (item.key().find("running_mean") != std::string::npos) item.value().normal_(0, 0.3);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
  for (auto& item : network.named_parameters(true))
    if (item.key().rfind("bn", 0) == 0 && item.value().dim() == 1) item.value().uniform_(0.5, 1.5);
}

deploy::Provenance provenance_of(const TinyNetwork& t) {
  deploy::Provenance p;
  p.network = t.cfg;
  p.input_shape = t.spec.input_shape;
  p.classes = t.spec.num_classes;
  p.method = "adaptive";
  p.test_metric = std::nan("");
  return p;
}

torch::Tensor sample_input(const TinyNetwork& t, std::int64_t batch) {
  if (t.cfg.kind == "lstm_lm") return torch::randint(0, 256, {batch, 9}, torch::kInt64);
  std::vector<std::int64_t> shape{batch};
  for (auto d : t.spec.input_shape) shape.push_back(d);
  return torch::randn(shape);
}

// -0.0 (a negative weight rounded to level 0) and +0.0 are the same level.
torch::Tensor without_negative_zero(const torch::Tensor& t) { return t + 0.0f; }

TEST(PackedModel, EveryNetworkKindRoundTripsAtTwoThreeAndFourBits) {
  std::set<std::string> kinds_seen;
  for (const auto& t : tiny_networks()) {
    kinds_seen.insert(t.cfg.kind);
    for (int bits : {2, 3, 4}) {
      SCOPED_TRACE(t.name + " " + std::to_string(bits) + " bits");
      torch::manual_seed(bits);
      models::Network network = models::make_network(t.cfg, t.spec);
      randomise_batch_norms(*network);
      network->eval();
      quant::QuantHook hook(*network, bits);
      TempDir dir;
      const std::string path = dir.file("m.qpk");
      deploy::write_packed(deploy::pack_network(*network, &hook, provenance_of(t)), path);
      const deploy::PackedModel back = deploy::read_packed(path);

      // Every weight group: the same w_q bit for bit, at most 2^b - 1 levels,
      // packed at b bits.
      int groups = 0;
      for (const auto& g : hook.groups()) {
        const deploy::PackedTensor& p = back.tensor(g.name);
        const auto wq = without_negative_zero(quant::quantize_tensor(g.weights, g.delta(), bits));
        const auto rebuilt = without_negative_zero(p.dequantized());
        ASSERT_EQ(p.bits, bits);
        EXPECT_EQ(std::memcmp(wq.data_ptr<float>(), rebuilt.contiguous().data_ptr<float>(), wq.numel() * 4), 0);
        EXPECT_LE(std::set<int>(p.levels.begin(), p.levels.end()).size(), (1u << bits) - 1);
        EXPECT_EQ(p.packed_bytes(), (p.numel() * bits + 7) / 8);
        ++groups;
      }
      EXPECT_EQ(groups, static_cast<int>(hook.groups().size()));

      // The integer reference computes what the torch module does with w_q.
      deploy::ReferenceNetwork reference(back);
      auto x = sample_input(t, 5);
      torch::Tensor expected, got;
      {
        torch::NoGradGuard no_grad;
        quant::QuantizedScope scope(&hook);
        expected = network->forward(x);
      }
      if (reference.language_model()) {
        deploy::ReferenceNetwork::LmState state;
        got = reference.forward_lm(x, state);
      } else {
        got = reference.forward(x);
      }
      ASSERT_EQ(got.sizes(), expected.sizes());
      const double scale = expected.abs().max().item<double>() + 1e-6;
      EXPECT_LT((got - expected).abs().max().item<double>() / scale, 1e-4);
      // And so does the module rebuilt from the file alone.
      auto rebuilt = deploy::module_of(back);
      torch::NoGradGuard no_grad;
      EXPECT_LT((rebuilt->forward(x) - expected).abs().max().item<double>() / scale, 1e-4);
    }
  }
  std::set<std::string> all;
  for (const auto& k : models::network_kinds()) all.insert(k.name);
  EXPECT_EQ(kinds_seen, all) << "a network kind without a tiny network here";
}

TEST(PackedModel, PythonReaderRebuildsTheSameWeightsBitForBit) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3 with numpy";
  for (const auto& t : tiny_networks()) {
    for (int bits : {2, 3, 4}) {
      SCOPED_TRACE(t.name + " " + std::to_string(bits) + " bits");
      torch::manual_seed(7);
      models::Network network = models::make_network(t.cfg, t.spec);
      quant::QuantHook hook(*network, bits);
      TempDir dir;
      const auto model = deploy::pack_network(*network, &hook, provenance_of(t));
      deploy::write_packed(model, dir.file("m.qpk"));
      const std::string cmd = "/usr/bin/python3 '" QRETRAIN_SOURCE_DIR "/scripts/read_packed.py' '" + dir.file("m.qpk") +
                              "' --raw-out '" + dir.file("raw") + "' > '" + dir.file("out") + "' 2>&1";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::slurp(dir.file("out"));
      // The C++ reading, which the round-trip test above holds equal to the
      // hook's w_q.
      std::string expected;
      for (const auto& p : model.tensors) {
        auto v = p.dequantized().contiguous();
        expected.append(reinterpret_cast<const char*>(v.data_ptr<float>()), static_cast<std::size_t>(v.numel()) * 4);
      }
      EXPECT_EQ(testing::slurp(dir.file("raw")), expected);
    }
  }
}

// A 2-2-2 network worked by hand: fc1 levels [[1, -1], [0, 1]] with Δ 0.5,
// bias [0.25, -0.5]; out levels [[1, 1], [-1, 0]] with Δ 0.25, bias [0, 0.1];
// 4-bit signals, input step 0.5 (signed, codes -7..7), hidden step 0.25
// (unsigned, 0..15).
deploy::PackedModel hand_worked_network() {
  deploy::PackedModel m;
  m.graph = {models::simple_op("flatten"), models::linear_op("fc1"), models::simple_op("relu"),
             models::linear_op("out")};
  auto levels = [](const std::string& name, std::vector<std::int8_t> l, double delta) {
    deploy::PackedTensor t;
    t.name = name;
    t.shape = {2, 2};
    t.bits = 2;
    t.delta = delta;
    t.levels = std::move(l);
    return t;
  };
  auto values = [](const std::string& name, std::vector<float> v) {
    deploy::PackedTensor t;
    t.name = name;
    t.shape = {2};
    t.values = std::move(v);
    return t;
  };
  m.tensors = {levels("fc1.weight", {1, -1, 0, 1}, 0.5), values("fc1.bias", {0.25f, -0.5f}),
               levels("out.weight", {1, 1, -1, 0}, 0.25), values("out.bias", {0.0f, 0.1f})};
  return m;
}

TEST(IntegerInference, HandWorkedNetworkGivesTheseCodesOnEveryMachine) {
  deploy::ReferenceNetwork reference(hand_worked_network());
  reference.set_signal_steps(4, {{"input", true, 0.5}, {"fc1", false, 0.25}});
  // Row 1: x = (1.2, -0.4) -> codes (2, -1) [2.4 and -0.8 rounded];
  //   fc1 acc = (1*2 + -1*-1, 0*2 + 1*-1) = (3, -1); y = acc*0.5*0.5 + b =
  //   (1.0, -0.75) -> hidden codes (4, 0); out acc = (4 + 0, -4) = (4, -4);
  //   logits = acc*0.25*0.25 + b = (0.25, -0.15).
  // Row 2: x = (0.75, 0.25) -> (2, 1) [1.5 and 0.5: ties away from zero];
  //   acc (1, 1); y = (0.5, -0.25) -> (2, 0); out acc (2, -2); logits (0.125, -0.025).
  // Row 3: x = (9, -9) -> clamped to (7, -7); acc (14, -7); y = (3.75, ...)
  //   -> 15 (3.75/0.25), 0; out acc (15, -15).
  auto x = torch::tensor({1.2f, -0.4f, 0.75f, 0.25f, 9.0f, -9.0f}).reshape({3, 2});
  deploy::IntegerTrace trace;
  auto logits = reference.forward(x, &trace);
  ASSERT_EQ(trace.codes.size(), 2u);
  EXPECT_TRUE(torch::equal(trace.codes[0], torch::tensor({2, -1, 2, 1, 7, -7}, torch::kInt64).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(trace.codes[1], torch::tensor({4, 0, 2, 0, 15, 0}, torch::kInt64).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(trace.output_accumulator, torch::tensor({4, -4, 2, -2, 15, -15}, torch::kInt64).reshape({3, 2})));
  // Logits: acc * (0.25 * 0.25) + bias in double, rounded once to float32.
  const double bias = static_cast<double>(0.1f);
  const std::vector<float> expected{0.25f, static_cast<float>(-4 * 0.0625 + bias), 0.125f,
                                    static_cast<float>(-2 * 0.0625 + bias), 0.9375f, static_cast<float>(-15 * 0.0625 + bias)};
  auto got = logits.contiguous();
  ASSERT_EQ(got.numel(), 6);
  EXPECT_EQ(std::memcmp(got.data_ptr<float>(), expected.data(), sizeof(float) * 6), 0) << got;
}

TEST(IntegerInference, FixedRescaleRoundsHalfUpLikeTheRealProduct) {
  // m = 0.375, o = 0.125 (exact in binary): acc 1 -> 0.5 -> 1 (half up);
  // 5 -> 2.0 -> 2; -1 -> -0.25 -> 0; -2 -> -0.625 -> -1; 100 -> 37.6 -> 20 (clamped).
  auto r = deploy::fixed_rescale(torch::tensor({0.375}, torch::kFloat64), torch::tensor({0.125}, torch::kFloat64));
  EXPECT_GE(r.multiplier.item<std::int64_t>(), std::int64_t{1} << 30);
  EXPECT_LT(r.multiplier.item<std::int64_t>(), std::int64_t{1} << 31);
  auto q = deploy::apply_rescale(torch::tensor({1, 5, -1, -2, 100}, torch::kInt64).reshape({5, 1}), r, -100, 20);
  EXPECT_TRUE(torch::equal(q, torch::tensor({1, 2, 0, -1, 20}, torch::kInt64).reshape({5, 1})));
}

TEST(IntegerInference, FixedPointSignalsTrackFloatSignalsAtEightBits) {
  // Requantization points: the input, each ReLU (and LRN), each LSTM's h.
  const std::map<std::string, std::size_t> points{{"lenet5", 5}, {"cnn_c", 6}, {"cnn_v", 9},
                                                  {"ffdnn", 3},  {"ffdnn+bn", 3}, {"lstm_lm", 2}};
  for (const auto& t : tiny_networks()) {
    SCOPED_TRACE(t.name);
    torch::manual_seed(3);
    models::Network network = models::make_network(t.cfg, t.spec);
    randomise_batch_norms(*network);
    network->eval();
    quant::QuantHook hook(*network, 4);
    deploy::ReferenceNetwork reference(deploy::pack_network(*network, &hook, provenance_of(t)));
    auto x = sample_input(t, 64);
    torch::Tensor float_signals, fixed;
    deploy::ReferenceNetwork::LmState s1, s2;
    float_signals = reference.language_model() ? reference.forward_lm(x, s1) : reference.forward(x);
    reference.quantize_signals(8, x);
    ASSERT_EQ(reference.signal_points().size(), points.at(t.name));
    for (const auto& p : reference.signal_points()) EXPECT_GT(p.step, 0) << p.where;
    fixed = reference.language_model() ? reference.forward_lm(x, s2) : reference.forward(x);
    // 8-bit signals move the logits a little, not a lot; 2-bit ones more.
    const double spread = float_signals.std().item<double>();
    const double error8 = (fixed - float_signals).abs().mean().item<double>();
    EXPECT_LT(error8, 0.2 * spread);
    reference.quantize_signals(2, x);
    deploy::ReferenceNetwork::LmState s3;
    auto coarse = reference.language_model() ? reference.forward_lm(x, s3) : reference.forward(x);
    EXPECT_GT((coarse - float_signals).abs().mean().item<double>(), error8);
  }
}

class BadPackedFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const TinyNetwork t = tiny_networks()[3];  // ffdnn
    torch::manual_seed(1);
    models::Network network = models::make_network(t.cfg, t.spec);
    quant::QuantHook hook(*network, 2);
    deploy::write_packed(deploy::pack_network(*network, &hook, provenance_of(t)), dir.file("m.qpk"));
    bytes = testing::slurp(dir.file("m.qpk"));
  }
  std::string error_reading(const std::string& content) {
    const std::string path = dir.write("bad.qpk", content);
    return testing::error_of([&] { deploy::read_packed(path); });
  }
  TempDir dir;
  std::string bytes;
};

TEST_F(BadPackedFile, TruncatedTamperedOrForeignFilesAreNamedErrors) {
  EXPECT_THAT(error_reading(bytes.substr(0, bytes.size() - 7)), HasSubstr("bad.qpk: not a valid packed model"));
  std::string flipped = bytes;
  flipped[flipped.size() - 20] ^= 0x10;
  EXPECT_THAT(error_reading(flipped), HasSubstr("CRC-32"));
  EXPECT_THAT(error_reading("PK\x03\x04 a zip file"), HasSubstr("does not start with QRPACK01"));
  EXPECT_THAT(error_reading(""), HasSubstr("bad.qpk"));
  EXPECT_THAT(testing::error_of([&] { deploy::read_packed(dir.file("missing.qpk")); }), HasSubstr("missing.qpk"));
  EXPECT_EQ(error_reading(bytes), "");  // the untouched bytes read
}

}  // namespace
}  // namespace qretrain
