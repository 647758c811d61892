// Stop signals never land on a computing thread (app::route_stop_signals_to_a_watcher).
// oneDNN's sgemm does not survive signals arriving on the thread that runs it:
// under a storm of signals handled on that thread, training on a 2-core Xeon
// (AVX-512) aborted with a corrupted heap or a segfault after 1,400-11,000
// signals; with the watcher thread it took 1,054,768 and finished. The child
// below trains through qretrain's sgemm_ -> oneDNN while this test sends it
// SIGTERM as fast as it can; it must finish cleanly.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "app/runtime.h"
#include "test_util.h"
#include "util/gemm.h"

namespace qretrain {
namespace {

constexpr const char* kChildEnv = "QRETRAIN_STORM_CHILD";

// Runs only in the child the storm test starts: routes the stop signals as
// main() does, installs the training stop handler, then trains.
TEST(StopSignals, StormChildTrainsThroughOneDnn) {
  const char* ready_file = std::getenv(kChildEnv);
  if (!ready_file) GTEST_SKIP() << "run by StopSignals.AStormOfSigtermDuringTrainingIsHarmless";
  app::route_stop_signals_to_a_watcher();
  app::install_stop_handlers();
  gemm::set_backend(gemm::Backend::OneDnn);
  torch::set_num_threads(1);
  torch::manual_seed(1);
  auto net = torch::nn::Sequential(torch::nn::Linear(1024, 16), torch::nn::ReLU(), torch::nn::Linear(16, 10));
  torch::optim::SGD opt(net->parameters(), 0.02);
  const auto x = torch::randn({300, 1024});
  const auto y = torch::randint(0, 10, {300});
  std::ofstream(ready_file) << "ready\n";
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    const auto idx = torch::randperm(300).slice(0, 0, 64);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(net->forward(x.index_select(0, idx)), y.index_select(0, idx)).backward();
    opt.step();
    torch::NoGradGuard no_grad;
    EXPECT_EQ(net->forward(x).argmax(1).numel(), 300);
  }
}

TEST(StopSignals, AStormOfSigtermDuringTrainingIsHarmless) {
  testing::TempDir dir;
  const std::string ready = dir.file("ready");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv(kChildEnv, ready.c_str(), 1);
    ::execl("/proc/self/exe", "qretrain_tests", "--gtest_filter=StopSignals.StormChildTrainsThroughOneDnn",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(ready) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  long sent = 0;
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up) {
    ::kill(child, SIGTERM);
    ++sent;
  }
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "the child did not finish within 120 s";
  }
  EXPECT_GT(sent, 1000) << "too few signals to say anything";
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status) << " after " << sent
                                 << " SIGTERMs";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace qretrain
