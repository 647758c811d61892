// Training throughput (images/s) of the CNNs through the real Trainer: float
// training vs quantized retraining (w_q swapped in for every forward/backward)
// with Δ re-estimated at epoch ends and after every update (first_epochs).
// Synthetic 1x32x32 inputs, the shape of the Fashion-MNIST stand-in; the
// arithmetic is the same as on real images.
#include <benchmark/benchmark.h>

#include "app/runtime.h"
#include "data/dataset.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"

namespace {

using namespace qretrain;

const char* kNetworks[] = {"lenet5", "cnn_c", "cnn_v", "ffdnn"};  // ffdnn: 1024-512-512-10
const char* kModes[] = {"float", "quantized, adaptive: epoch", "quantized, adaptive: first_epochs 1"};

data::Dataset synthetic_images(std::int64_t n) {
  torch::manual_seed(0);
  data::Dataset d;
  d.name = "synthetic";
  d.input_shape = {1, 32, 32};
  d.num_classes = 10;
  d.train = data::Split::of(torch::randn({n, 1, 32, 32}), torch::randint(0, 10, {n}, torch::kInt64));
  d.dev = data::Split::of(torch::randn({64, 1, 32, 32}), torch::randint(0, 10, {64}, torch::kInt64));
  return d;
}

// Args: network (0 L, 1 C, 2 V, 3 FFDNN 2x512), mode (0 float, 1 Δ per epoch, 2 Δ after every
// update), OpenMP intra-op threads, OpenBLAS threads.
void BM_TrainCNN(benchmark::State& state) {
  const int network = static_cast<int>(state.range(0));
  const int mode = static_cast<int>(state.range(1));
  config::RuntimeConfig rt;
  rt.threads = static_cast<int>(state.range(2));
  rt.blas_threads = static_cast<int>(state.range(3));
  app::configure_threads(rt, models::is_convolutional(kNetworks[network]));
  static data::Dataset data = synthetic_images(64 * 100);
  config::NetworkConfig net;
  net.kind = kNetworks[network];
  net.hidden = {512, 512};
  double samples_per_s = 0;
  for (auto _ : state) {
    auto model = models::make_network(net, {data.input_shape, data.num_classes});
    std::unique_ptr<quant::QuantHook> hook;
    if (mode > 0) hook = std::make_unique<quant::QuantHook>(*model, 2);
    train::Trainer trainer(model, data, torch::kCPU, hook.get());
    train::FitOptions opt;
    opt.train.optimizer = "sgd_nesterov";
    opt.train.momentum = 0.9;
    opt.train.batch_size = 64;
    opt.train.patience = 4;
    opt.recipe = {5e-4, 1e-9, 1};
    if (mode == 1) opt.policy.when = train::StepPolicy::When::Epoch;
    if (mode == 2) opt.policy = {train::StepPolicy::When::EveryUpdateFirstEpochs, 1};
    opt.tag = "bench";
    samples_per_s = trainer.fit(opt).samples_per_s;
  }
  state.counters["images_per_s"] = samples_per_s;
  state.SetLabel(std::string(kNetworks[network]) + ", " + kModes[mode] + "; " + app::thread_summary());
}
BENCHMARK(BM_TrainCNN)
    ->ArgNames({"net", "mode", "omp", "blas"})
    // LeNet-5: the three modes at the default CNN setup, then the alternatives.
    ->Args({0, 0, 2, 1})
    ->Args({0, 1, 2, 1})
    ->Args({0, 2, 2, 1})
    ->Args({0, 0, 1, 2})
    ->Args({0, 0, 1, 1})
    ->Args({0, 0, 2, 2})
    ->Args({1, 0, 2, 1})
    ->Args({1, 1, 2, 1})
    ->Args({1, 2, 2, 1})
    ->Args({1, 0, 1, 2})
    ->Args({2, 0, 2, 1})
    ->Args({2, 1, 2, 1})
    ->Args({2, 0, 1, 2})
    // FFDNN: the default dense setup (1 OpenMP + 2 OpenBLAS), then the alternative.
    ->Args({3, 0, 1, 2})
    ->Args({3, 1, 1, 2})
    ->Args({3, 0, 2, 1})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
