// Fig. 2 from the store: Δ curves picked by network/method/seed, the CSV of
// the plotted numbers, and the PNG/SVG that gnuplot draws.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>

#include "report/plot.h"
#include "test_util.h"

namespace qretrain::report {
namespace {

using ::testing::HasSubstr;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;
using qretrain::testing::slurp;

RunRecord adaptive_run(const std::string& network, int bits, int seed) {
  RunRecord r;
  r.cell_key = network + std::to_string(bits) + "-" + std::to_string(seed);
  r.experiment = "fig";
  r.dataset = "stand-in";
  r.network = network;
  r.method = "adaptive";
  r.bits = bits;
  r.seed = seed;
  r.updates = 3;
  r.group_names = {"fc1.weight", "out.weight"};
  for (int epoch = 0; epoch < 3; ++epoch) {
    train::EvalPoint p;
    p.epoch = epoch;
    p.updates = 7 * epoch;
    p.deltas = {0.01 * bits, 0.1 * bits + 0.01 * epoch};
    r.curve.push_back(p);
  }
  return r;
}

TEST(Plot, PicksTheRunsOfOneNetworkAndSeedByBitWidth) {
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(adaptive_run("256x256", 3, 1));
  store.put(adaptive_run("256x256", 2, 1));
  store.put(adaptive_run("512x512", 2, 1));
  store.put(adaptive_run("256x256", 4, 2));
  auto curves = delta_curves(store, store.runs("fig"), "fig", "256x256", "adaptive", 1);
  ASSERT_EQ(curves.size(), 2u);
  EXPECT_EQ(curves[0].bits, 2);
  EXPECT_EQ(curves[1].bits, 3);
  EXPECT_EQ(curves[1].epochs, (std::vector<int>{0, 1, 2}));
  EXPECT_DOUBLE_EQ(curves[1].deltas[2][1], 0.32);
  EXPECT_EQ(render_delta_csv({curves[0]}),
            "bits,epoch,group,delta,seed,update\n"
            "2,0,fc1.weight,0.02,1,0\n2,0,out.weight,0.2,1,0\n"
            "2,1,fc1.weight,0.02,1,7\n2,1,out.weight,0.21,1,7\n"
            "2,2,fc1.weight,0.02,1,14\n2,2,out.weight,0.22,1,14\n");
  // Seed 0: every seed, by bit width then seed.
  store.put(adaptive_run("256x256", 2, 2));
  auto every = delta_curves(store, store.runs("fig"), "fig", "256x256", "adaptive", 0);
  ASSERT_EQ(every.size(), 4u);
  EXPECT_EQ(std::make_pair(every[0].bits, every[0].seed), std::make_pair(2, 1));
  EXPECT_EQ(std::make_pair(every[1].bits, every[1].seed), std::make_pair(2, 2));
  EXPECT_EQ(std::make_pair(every[2].bits, every[2].seed), std::make_pair(3, 1));
  EXPECT_EQ(std::make_pair(every[3].bits, every[3].seed), std::make_pair(4, 2));
  EXPECT_THAT(error_of([&] { delta_curves(store, store.runs("fig"), "fig", "64x64", "adaptive", 1); }),
              HasSubstr("networks with such runs: 256x256, 512x512"));
  EXPECT_THAT(error_of([&] { delta_curves(store, store.runs("fig"), "fig", "256x256", "gradual", 1); }), HasSubstr("run the config first"));
}

TEST(Plot, GnuplotWritesPngSvgAndTheCsv) {
  ASSERT_EQ(std::system("gnuplot --version >/dev/null 2>&1"), 0) << "gnuplot is missing: scripts/install-deps.sh installs gnuplot-nox";
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(adaptive_run("256x256", 2, 1));
  store.put(adaptive_run("256x256", 4, 1));
  auto curves = delta_curves(store, store.runs("fig"), "fig", "256x256", "adaptive", 1);
  const std::string base = dir.file("plots/fig2");
  plot_delta_curves(curves, "Δ per layer (it's a test)", base);
  EXPECT_EQ(slurp(base + ".png").substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const std::string svg = slurp(base + ".svg");
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("out.weight"));
  EXPECT_EQ(slurp(base + ".csv"), render_delta_csv(curves));
  EXPECT_FALSE(std::filesystem::exists(base + ".plot-tmp"));  // scratch removed
}

}  // namespace
}  // namespace qretrain::report
