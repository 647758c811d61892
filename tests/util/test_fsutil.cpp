// The up-front path checks: a path that cannot be written fails naming the
// key and the path, one that can passes, and neither leaves anything behind.
// Cases are chosen to fail for root too (it ignores permission bits).
#include "util/fsutil.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "test_util.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;

// Every entry under `dir`, so a check can be shown to leave nothing behind.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FsUtil, WritableFoldersPassAndNothingIsCreated) {
  TempDir dir;
  fs::create_directories(dir.path() / "have");
  const auto before = listing(dir.path());
  EXPECT_EQ(error_of([&] { require_writable_dir(dir.path() / "have", "output.dir"); }), "");
  EXPECT_EQ(error_of([&] { require_writable_dir(dir.path() / "new" / "deeper" / "", "output.dir"); }), "");
  EXPECT_EQ(error_of([&] { require_writable_file(dir.path() / "new" / "x.md", "-o"); }), "");
  dir.write("have/old.md", "x");
  EXPECT_EQ(error_of([&] { require_writable_file(dir.path() / "have" / "old.md", "-o"); }), "");
  fs::remove(dir.path() / "have" / "old.md");
  EXPECT_EQ(listing(dir.path()), before);
}

TEST(FsUtil, UnwritableFoldersNameTheKeyAndThePath) {
  TempDir dir;
  const std::string file = dir.write("file", "x");
  const auto before = listing(dir.path());
  EXPECT_THAT(error_of([&] { require_writable_dir(file, "output.dir"); }),
              HasSubstr("output.dir: " + file + ": exists and is not a folder"));
  EXPECT_THAT(error_of([&] { require_writable_dir(file + "/sub/x", "output.dir"); }),
              HasSubstr("output.dir: " + file + "/sub/x: " + file + " exists and is not a folder"));
  EXPECT_THAT(error_of([&] { require_writable_dir("/dev/null", "output.dir"); }),
              HasSubstr("output.dir: /dev/null: exists and is not a folder"));
  EXPECT_THAT(error_of([&] { require_writable_dir("/proc/qretrain-test-out", "output.dir"); }),
              HasSubstr("output.dir: /proc/qretrain-test-out: cannot create files in /proc"));
  EXPECT_THAT(error_of([&] { require_writable_dir(dir.path() / std::string(300, 'a') / "x", "dataset.cache_dir"); }),
              HasSubstr("dataset.cache_dir: "));
  EXPECT_THAT(error_of([&] { require_writable_dir(dir.path() / std::string(300, 'a'), "k"); }),
              HasSubstr("file name too long (300 characters"));
  fs::create_symlink("loop", dir.path() / "loop");
  EXPECT_THAT(error_of([&] { require_writable_dir(dir.path() / "loop" / "x", "output.dir"); }),
              HasSubstr("/loop cannot be looked up (Too many levels of symbolic links)"));
  fs::create_symlink("nowhere", dir.path() / "dangling");
  EXPECT_THAT(error_of([&] { require_writable_dir(dir.path() / "dangling", "output.dir"); }),
              HasSubstr("dangling: is a symbolic link to nothing"));
  fs::remove(dir.path() / "loop");
  fs::remove(dir.path() / "dangling");
  EXPECT_EQ(listing(dir.path()), before);
}

TEST(FsUtil, UnwritableFilesNameTheFlagAndThePath) {
  TempDir dir;
  const std::string file = dir.write("file", "x");
  EXPECT_THAT(error_of([&] { require_writable_file(file + "/x.md", "-o"); }),
              HasSubstr("-o: " + file + "/x.md: " + file + " exists and is not a folder"));
  EXPECT_THAT(error_of([&] { require_writable_file(dir.path(), "-o"); }),
              HasSubstr("-o: " + dir.path().string() + ": is a folder; expected a file name"));
  EXPECT_THAT(error_of([&] { require_writable_file(dir.path() / "sub" / "", "-o"); }),
              HasSubstr("names a folder; expected a file name"));
  // Replacing it by a rename would put a plain file in place of the device.
  EXPECT_THAT(error_of([&] { require_writable_file("/dev/null", "-o"); }),
              HasSubstr("-o: /dev/null: is not a regular file"));
  // The temporary written beside the file needs room for its suffix too.
  EXPECT_THAT(error_of([&] { require_writable_file(dir.path() / (std::string(250, 'n') + ".log"), "name"); }),
              HasSubstr("name: "));
  EXPECT_EQ(error_of([&] { require_writable_file(dir.path() / (std::string(200, 'n') + ".log"), "name"); }), "");
}

}  // namespace
}  // namespace qretrain
