// qretrain's half of the side-by-side speed comparison
// (scripts/bench-vs-pytorch.sh; the other half is bench/speed/pytorch_reference.py).
//
// Trains one model on synthetic data of its real shape through the real
// Trainer (task gather, quantized-weight hook, optimizer, evaluations) and
// prints one JSON line per timed repetition: training examples (characters
// for the LSTM) per second over the whole fit, a tiny dev evaluation at its
// start and end included. The first fit is a warm-up and is not printed.
//
//   qretrain_speed --model lenet5 --mode float --steps 300 --reps 3 --omp 2 --blas 1
//   qretrain_speed --peak --blas 2        # sgemm peak (GFLOP/s) with these threads
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/csrc/autograd/profiler.h>
#include <fmt/format.h>

#include "../bench_util.h"
#include "app/runtime.h"
#include "data/dataset.h"
#include "data/text.h"
#include "data/timit.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"
#include "util/log.h"

namespace {

using namespace qretrain;

struct ModelSetup {
  std::string name;
  config::NetworkConfig net;
  int batch;  // examples per update (streams for the LSTM)
};

ModelSetup setup_of(const std::string& model) {
  ModelSetup s;
  s.name = model;
  if (model == "ffdnn512" || model == "ffdnn1024") {
    const int h = model == "ffdnn512" ? 512 : 1024;
    s.net.kind = "ffdnn";
    s.net.hidden = {h, h};
    s.batch = 256;
  } else if (model == "lstm") {
    s.net.kind = "lstm_lm";
    s.net.hidden = {256, 256, 256};
    s.batch = 64;
  } else if (model == "lenet5" || model == "cnn_c" || model == "cnn_v") {
    s.net.kind = model;
    s.batch = 64;
  } else {
    throw std::runtime_error("unknown --model " + model + " (ffdnn512, ffdnn1024, lstm, lenet5, cnn_c, cnn_v)");
  }
  return s;
}

// Phoneme frames with the speech stand-in's layout: 123-dim frames gathered
// into 11-frame windows (1353 inputs) at batch time, utterances of 300 frames.
data::Dataset synthetic_frames(std::int64_t train_frames) {
  constexpr std::int64_t kDims = 123, kClasses = 61;
  data::Dataset d;
  d.name = "synthetic frames";
  d.input_shape = {11 * kDims};
  d.num_classes = kClasses;
  auto split = [](std::int64_t n) {
    n = (n + 299) / 300 * 300;
    data::Split s = data::Split::of(torch::randn({n, kDims}), torch::randint(0, kClasses, {n}, torch::kInt64));
    s.context = data::timit::context_index(std::vector<std::int64_t>(n / 300, 300), 5);
    return s;
  };
  d.train = split(train_frames);
  d.dev = split(300);
  return d;
}

data::Dataset synthetic_images(std::int64_t n) {
  data::Dataset d;
  d.name = "synthetic images";
  d.input_shape = {1, 32, 32};
  d.num_classes = 10;
  d.train = data::Split::of(torch::randn({n, 1, 32, 32}), torch::randint(0, 10, {n}, torch::kInt64));
  d.dev = data::Split::of(torch::randn({64, 1, 32, 32}), torch::randint(0, 10, {64}, torch::kInt64));
  return d;
}

data::Dataset random_text(std::int64_t bytes) {
  auto stream = torch::randint(0, 256, {bytes}, torch::kUInt8);
  data::text::ByteCorpus corpus{"random bytes", stream, stream.slice(0, 0, 4096), stream.slice(0, 0, 4096)};
  return data::text::to_dataset(corpus, {});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qretrain training throughput, for scripts/bench-vs-pytorch.sh"};
  std::string model = "lenet5", mode = "float";
  std::string gemm_setting = "auto";
  int steps = 100, reps = 3, omp = 0, blas = 0, bits = 2;
  bool peak = false, refit_cost = false;
  std::string trace;
  app.add_option("--model", model, "ffdnn512 | ffdnn1024 | lstm | lenet5 | cnn_c | cnn_v");
  app.add_option("--mode", mode,
                 "float | quant (w_q every update, Δ fixed) | epoch (Δ refit at each of 2 epochs' start) | update "
                 "(Δ refit before every update)");
  app.add_option("--steps", steps, "updates per timed fit");
  app.add_option("--reps", reps, "timed fits after the warm-up");
  app.add_option("--omp", omp, "intra-op (OpenMP) threads; 0 = qretrain's default for the model");
  app.add_option("--blas", blas, "OpenBLAS threads; 0 = qretrain's default for the model");
  app.add_option("--gemm", gemm_setting, "runtime.gemm: auto | openblas | onednn");
  app.add_option("--bits", bits, "weight bits of the quantized modes");
  app.add_option("--trace", trace, "write LibTorch's profiler trace (Chrome JSON) of one more fit to this file");
  app.add_flag("--refit-cost", refit_cost, "print the time of one Δ refit (QStep of every weight group) and exit");
  app.add_flag("--peak", peak, "print the sgemm peak with these threads and exit");
  CLI11_PARSE(app, argc, argv);
  log::set_level(spdlog::level::warn);

  config::RuntimeConfig rt;
  rt.threads = omp;
  rt.blas_threads = blas;
  rt.gemm = gemm_setting;
  if (peak) {
    app::configure_threads(rt, false);
    std::printf("{\"impl\": \"qretrain\", \"sgemm_peak_gflops\": %.2f, \"threads\": \"%s\"}\n",
                bench::sgemm_peak_flops() / 1e9, app::thread_summary().c_str());
    return 0;
  }
  const ModelSetup s = setup_of(model);
  app::configure_threads(rt, models::is_convolutional(s.net.kind));
  torch::manual_seed(0);
  const bool lm = s.net.kind == "lstm_lm";
  constexpr int kUnroll = 128;
  data::Dataset data = lm                       ? random_text(std::int64_t{s.batch} * kUnroll * steps + 4096)
                       : s.net.kind == "ffdnn" ? synthetic_frames(std::int64_t{s.batch} * steps)
                                               : synthetic_images(std::int64_t{s.batch} * steps);
  auto network = models::make_network(s.net, {data.input_shape, data.num_classes});

  auto fit_once = [&](int updates) {
    std::unique_ptr<quant::QuantHook> hook;
    if (mode != "float") hook = std::make_unique<quant::QuantHook>(*network, bits);
    train::FitOptions opt;
    opt.train.optimizer = lm ? "rmsprop" : "sgd_nesterov";
    opt.train.momentum = 0.9;
    opt.train.batch_size = s.batch;
    opt.train.streams = s.batch;
    opt.train.bptt_steps = kUnroll;
    opt.train.bptt_unroll = kUnroll;
    opt.train.patience = 1000;
    int epochs = 1;
    if (mode == "epoch") {
      epochs = 2;  // the refit at the second epoch's start is timed
      opt.policy.when = train::StepPolicy::When::Epoch;
    } else if (mode == "update") {
      opt.policy = {train::StepPolicy::When::EveryUpdateFirstEpochs, 1};
    } else if (mode != "float" && mode != "quant") {
      throw std::runtime_error("unknown --mode " + mode);
    }
    opt.train.epoch_chars = std::int64_t{s.batch} * kUnroll * updates / epochs;
    opt.recipe = {5e-4, 1e-12, epochs};
    opt.tag = "speed";
    // Classification epochs are the whole training split: cut it to `updates`.
    data::Dataset view = data;
    if (!lm) {
      const std::int64_t n = std::int64_t{s.batch} * updates / epochs;
      view.train = data.train;
      view.train.x = data.train.context.defined() ? data.train.x : data.train.x.slice(0, 0, n);
      view.train.y = data.train.y.slice(0, 0, n);
      if (data.train.context.defined()) view.train.context = data.train.context.slice(0, 0, n);
    }
    train::Trainer timed(network, view, torch::kCPU, hook.get());
    const auto start = std::chrono::steady_clock::now();
    timed.fit(opt);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double samples = lm ? double(opt.train.epoch_chars) * epochs : double(view.train.y.size(0)) * epochs;
    return samples / seconds;
  };

  if (refit_cost) {  // what 'Δ refit per epoch' adds to each epoch
    quant::QuantHook hook(*network, bits);
    std::vector<double> ms;
    for (int r = 0; r < 7; ++r) {
      const auto start = std::chrono::steady_clock::now();
      hook.refit_step_sizes();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("{\"impl\": \"qretrain\", \"model\": \"%s\", \"refit_ms\": %.3f, \"bits\": %d, \"threads\": \"%s\"}\n",
                model.c_str(), ms[ms.size() / 2], bits, app::thread_summary().c_str());
    return 0;
  }
  fit_once(std::max(2, steps / 10));  // warm-up: allocator, thread pools, lazy initialisation
  const std::int64_t params = models::count_parameters(*network);
  for (int r = 0; r < reps; ++r) {
    const double per_s = fit_once(steps);
    std::printf(
        "{\"impl\": \"qretrain\", \"model\": \"%s\", \"mode\": \"%s\", \"rep\": %d, \"samples_per_s\": %.3f, "
        "\"params\": %lld, \"threads\": \"%s\"}\n",
        model.c_str(), mode.c_str(), r, per_s, static_cast<long long>(params), app::thread_summary().c_str());
    std::fflush(stdout);
  }
  if (!trace.empty()) {
    torch::autograd::profiler::RecordProfile profile(trace);
    fit_once(steps);
  }
  return 0;
}
