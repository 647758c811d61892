// `qretrain data build` stopped by a signal: it stops its worker processes,
// removes the partial folder it was building into, and exits with 130, so an
// interrupted build never leaves half a corpus behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>

#include "test_util.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using qretrain::testing::TempDir;

// The folders under `dir` whose names start with "corpus".
std::vector<std::string> corpus_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("corpus", 0) == 0) out.push_back(e.path().filename().string());
  return out;
}

// Whether the build's workers have started writing speakers.
bool writing_speakers(const fs::path& dir) {
  for (const auto& name : corpus_entries(dir)) {
    std::error_code ec;
    if (fs::exists(dir / name / "TRAIN", ec) || fs::exists(dir / name / "TEST", ec)) return true;
  }
  return false;
}

void interrupt_build(bool whole_group, int signal_number) {
  TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group, as a shell job gets: Ctrl-C reaches the workers too
    if (::chdir(dir.path().c_str()) != 0) ::_exit(127);
    if (!std::freopen(".stdout", "w", stdout) || !std::freopen(".stderr", "w", stderr)) ::_exit(127);
    ::execl(QRETRAIN_BINARY, "qretrain", "data", "build", "speech-standin", "--path", "corpus", nullptr);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int status = 0;
  bool exited = false;
  while (!writing_speakers(dir.path()) && std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(exited) << "the build ended before it was interrupted";
  ASSERT_TRUE(writing_speakers(dir.path())) << "the build wrote no speaker within 120 s";
  ::kill(whole_group ? -pid : pid, signal_number);
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > stop_deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "the build did not stop within 60 s of the signal";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream err(dir.path() / ".stderr");
  const std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 130) << text;
  EXPECT_THAT(text, HasSubstr("qretrain: speech stand-in build interrupted; its partial folder was removed"));
  EXPECT_EQ(corpus_entries(dir.path()), std::vector<std::string>{});
}

TEST(DataBuildCli, CtrlCRemovesThePartialFolder) { interrupt_build(true, SIGINT); }

TEST(DataBuildCli, SigtermToTheBuildAloneStopsItsWorkersToo) { interrupt_build(false, SIGTERM); }

}  // namespace
}  // namespace qretrain
