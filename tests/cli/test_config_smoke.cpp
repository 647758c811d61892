// A smoke run of each family of shipped configs, as shipped but with tiny
// limits set on the command line: each trains on a small fixture in the
// dataset's real format, stores runs whose numbers beat chance by a margin a
// broken model does not reach, prints its table (with the paper's numbers
// beside ours) and plots Fig. 2. With the optimizer step removed (a model
// that never learns) the runs score: Fashion-MNIST fixture 88-92% error,
// SVHN fixture 85-92%, speech stand-in 98%, TIMIT fixture 91-92%, GCIDE and
// the wiki text 8.02 bits per character; every threshold below fails them. The grids (table*, fig2, refit_order,
// sweep_bench) list the cells their keys describe, and one grid is swept.
//
// The working folder holds `configs` as a link to the repository's, so the
// configs are run as from the repository root (report.paper is relative).
#include <matio.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>

#include "config/config.h"
#include "data/kinds.h"
#include "data/sphere.h"
#include "report/paper.h"
#include "report/store.h"
#include "methods/grid_util.h"
#include "test_util.h"
#include "util/registry.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using qretrain::testing::expected_cells;
using qretrain::testing::run_qretrain;
using qretrain::testing::TempDir;
using qretrain::testing::split;
using qretrain::testing::lines_of;
using qretrain::testing::slurp;

const fs::path kRepo = QRETRAIN_SOURCE_DIR;

// Loads a config as the program does when run in `cwd` (relative paths in
// it resolve there), restoring the working directory even when it throws.
config::ExperimentConfig load_in(const fs::path& cwd, const std::string& file,
                                 const std::vector<std::string>& overrides) {
  struct Back {
    fs::path to = fs::current_path();
    ~Back() { fs::current_path(to); }
  } back;
  fs::current_path(cwd);
  return config::load(file, overrides);
}

// A working folder laid out like the repository root.
struct Workspace {
  TempDir dir;
  Workspace() { fs::create_directory_symlink(kRepo / "configs", dir.path() / "configs"); }
  const fs::path& path() const { return dir.path(); }
};

// The cells of a Markdown table: (bits, method title) -> the cells of that
// row after the two label columns ("" section titles continue the bit width
// above), with the bold marks removed.
std::map<std::pair<int, std::string>, std::vector<std::string>> markdown_cells(const std::string& md) {
  std::map<std::pair<int, std::string>, std::vector<std::string>> out;
  int bits = -1;
  static const std::regex section(R"((\d)-bit \(\d+ points\))");
  for (const auto& line : lines_of(md)) {
    if (line.rfind("| ", 0) != 0 || line.rfind("| |", 0) == 0 || line.rfind("|---", 0) == 0) continue;
    auto cells = split(line.substr(2, line.size() - 4), " | ");
    if (cells.size() < 3) continue;
    std::smatch m;
    if (cells[0] == "Floating result") bits = 0;
    else if (std::regex_match(cells[0], m, section)) bits = std::stoi(m[1]);
    std::vector<std::string> values(cells.begin() + 2, cells.end());
    for (auto& v : values) v.erase(std::remove(v.begin(), v.end(), '*'), v.end());
    out[{bits, cells[1].empty() ? "Float" : cells[1]}] = values;
  }
  return out;
}

std::string method_title(const std::string& method) {
  if (method == "float") return "Float";
  if (method == "control") return "Control: float + retraining epochs";
  if (method == "adaptive+gradual") return "Adaptive & Gradual";
  std::string t = method;
  t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return t;
}

struct Smoke {
  std::string config;       // e.g. "fmnist_L"
  std::string sets;         // --set overrides making it tiny
  double chance = 0;        // the metric of a model that learnt nothing
  double float_below = 0;   // the float run must score below this
  double retrained_below = 0;  // so must every retrained (adaptive, conventional) run
  std::size_t groups = 0;   // weight groups of the network (Δ per evaluation)
  std::string paper_column; // the paper's column for this network
};

// Runs a config with the smoke's overrides, checks the stored runs against
// the thresholds, the printed and re-read table against the store (with the
// paper's float value in its column), and the Fig. 2 plot's files.
void run_smoke(const Workspace& ws, const Smoke& s) {
  SCOPED_TRACE(s.config);
  // One thread each (runtime.* is not part of a result's identity): the
  // suite's budget is one core, and two OpenBLAS threads on a busy machine
  // spin rather than help.
  const std::string cfg = "--config configs/" + s.config + ".yaml " + s.sets + " --set output.dir=out-" + s.config +
                          " --set runtime.threads=1 --set runtime.blas_threads=1";
  const auto started = std::chrono::steady_clock::now();
  auto run = run_qretrain("run " + cfg + " --set runtime.progress=off", ws.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;

  report::Store store((ws.path() / ("out-" + s.config) / "results.sqlite").string());
  const auto runs = store.runs(s.config);
  ASSERT_GE(runs.size(), 2u);
  // What the config asks for, to count the runs it must have made.
  std::vector<std::string> overrides;
  static const std::regex set_re(R"(--set (\S+))");
  for (std::sregex_iterator it(s.sets.begin(), s.sets.end(), set_re), end; it != end; ++it)
    overrides.push_back((*it)[1]);
  const config::ExperimentConfig resolved = load_in(ws.path(), "configs/" + s.config + ".yaml", overrides);
  EXPECT_EQ(runs.size(), 1 + resolved.quant.bits.size() * resolved.quant.methods.size());
  for (const auto& r : runs) {
    SCOPED_TRACE(r.method + " " + std::to_string(r.bits));
    EXPECT_EQ(r.status, "ok") << r.failure;
    EXPECT_TRUE(std::isfinite(r.test_metric));
    EXPECT_GE(r.test_metric, 0);
    if (r.method == "float") {
      EXPECT_LT(r.test_metric, s.float_below) << "chance is " << s.chance;
    }
    if (r.method == "adaptive" || r.method == "conventional") {
      EXPECT_LT(r.test_metric, s.retrained_below) << "chance is " << s.chance;
    }
  }

  // The table printed by run is the one `table` prints later, and it holds
  // every stored run's test metric, with the paper's float value beside it.
  auto table = run_qretrain("table " + cfg, ws.path());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(run.out, HasSubstr(table.out));
  const auto cells = markdown_cells(table.out);
  const int digits = resolved.dataset.kind == "gcide" || resolved.dataset.kind == "enwik8" ? 3 : 2;
  for (const auto& r : runs) {
    SCOPED_TRACE(r.method + " " + std::to_string(r.bits));
    auto it = cells.find({r.bits, method_title(r.method)});
    ASSERT_NE(it, cells.end()) << table.out;
    ASSERT_GE(it->second.size(), 2u);  // ours, the paper's
    EXPECT_EQ(it->second[0], fmt::format("{:.{}f}", r.test_metric, digits));
  }
  const auto paper = report::load_paper_table((kRepo / resolved.report_paper).string());
  const auto paper_float = paper.find(0, "float", s.paper_column);
  ASSERT_TRUE(paper_float.has_value()) << s.paper_column;
  EXPECT_EQ(cells.at({0, "Float"}).at(1), fmt::format("{:.2f}", *paper_float));

  // Fig. 2 of the adaptive runs: PNG, SVG, and the CSV of every Δ stored.
  if (std::system("gnuplot --version >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "gnuplot is not installed (Debian gnuplot-nox)";
    return;
  }
  auto plot = run_qretrain("plot " + cfg + " -o fig/" + s.config, ws.path());
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  EXPECT_THAT(slurp(ws.path() / "fig" / (s.config + ".png")), StartsWith("\x89PNG"));
  EXPECT_THAT(slurp(ws.path() / "fig" / (s.config + ".svg")), HasSubstr("<svg"));
  std::size_t deltas = 0;
  for (const auto& r : runs)
    if (r.method == "adaptive") {
      const auto full = *store.run_with_curve(r.cell_key);
      EXPECT_EQ(full.group_names.size(), s.groups);
      deltas += full.curve.size() * full.group_names.size();
    }
  ASSERT_GT(deltas, 0u);
  const auto csv = lines_of(slurp(ws.path() / "fig" / (s.config + ".csv")));
  EXPECT_EQ(csv.size(), 1 + deltas);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string metrics;
  for (const auto& r : runs) metrics += fmt::format(" {}{}={:.3f}", r.method, r.bits ? std::to_string(r.bits) : "", r.test_metric);
  std::cerr << fmt::format("[smoke] {}: {:.1f} s,{}\n", s.config, seconds, metrics);
}

// ---- Fashion-MNIST (the SVHN stand-in): L, C and V ----------------------

// The fixture's classes are random pixel masks: chance is 90% error. L
// trains on 1500 images for 2 epochs (all three methods); C needs about 50
// updates of batch 64 before its loss leaves ln 10, so it gets 2000 images
// for 3 epochs and only the adaptive cells; V (batch norm) learns from 400
// images in batches of 16.
TEST(ConfigSmoke, FashionMnistFamily) {
  Workspace ws;
  qretrain::testing::fashion_fixture(ws.dir);
  const std::string tiny = "--set dataset.path=fm --set dataset.dev_size=200 --set dataset.test_limit=300 "
                           "--set retrain.max_epochs=1 --set quant.bits=[2] ";
  run_smoke(ws, {"fmnist_L", tiny + "--set dataset.train_limit=1500 --set train.max_epochs=2", 90, 50, 50, 5, "L"});
  run_smoke(ws, {"fmnist_C",
                 tiny + "--set dataset.train_limit=2000 --set train.max_epochs=3 --set quant.methods=[adaptive]", 90,
                 50, 50, 4, "C"});
  run_smoke(ws, {"fmnist_V", tiny + "--set dataset.train_limit=400 --set train.batch_size=16 --set train.max_epochs=1",
                 90, 50, 50, 9, "V"});
}

// ---- SVHN: MAT-files in SVHN's layout ------------------------------------

// X 32x32x3xN uint8 column-major, y Nx1 double with 10 meaning digit 0.
// Class k (label k, 10 = digit 0) lights a fixed random ~30% of the pixels
// of each channel, as the Fashion-MNIST fixture does: chance is 90% error.
void write_svhn_fixture(const fs::path& path, std::size_t n, std::mt19937& rng,
                        const std::vector<std::vector<bool>>& masks) {
  std::vector<std::uint8_t> x(3072 * n);
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 10);  // cycling, so every class has its dev images
    y[i] = label == 0 ? 10 : label;
    for (std::size_t k = 0; k < 3072; ++k) {
      const std::uint32_t r = rng();
      x[k + 3072 * i] = static_cast<std::uint8_t>(masks[label][k] && (r >> 8) % 10 < 8 ? 160 + (r & 63) : (r & 63));
    }
  }
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr);
  size_t xdims[4] = {32, 32, 3, n}, ydims[2] = {n, 1};
  matvar_t* vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xdims, x.data(), 0);
  matvar_t* vy = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ydims, y.data(), 0);
  Mat_VarWrite(mat, vx, MAT_COMPRESSION_ZLIB);
  Mat_VarWrite(mat, vy, MAT_COMPRESSION_ZLIB);
  Mat_VarFree(vx);
  Mat_VarFree(vy);
  Mat_Close(mat);
}

TEST(ConfigSmoke, SvhnFamily) {
  Workspace ws;
  fs::create_directories(ws.path() / "svhn");
  std::mt19937 rng(7);
  std::vector<std::vector<bool>> masks(10, std::vector<bool>(3072));
  for (auto& m : masks)
    for (std::size_t k = 0; k < 3072; ++k) m[k] = rng() % 10 < 3;
  write_svhn_fixture(ws.path() / "svhn" / "train_32x32.mat", 1400, rng, masks);
  write_svhn_fixture(ws.path() / "svhn" / "test_32x32.mat", 300, rng, masks);
  // Dev: 20 per class of train_32x32.mat (no extra_32x32.mat): 200 dev, 1200 train.
  run_smoke(ws, {"svhn_L",
                 "--set dataset.path=svhn --set dataset.svhn.dev_per_class_train=20 --set train.max_epochs=2 "
                 "--set retrain.max_epochs=1 --set quant.bits=[2]",
                 90, 50, 50, 5, "L"});
}

// ---- Speech: the flite stand-in and a TIMIT-format fixture ---------------

// The stand-in with one sentence per speaker (76 train, 12 dev, 12 test
// utterances), built on first use. Chance: the largest scoring class
// (silence) holds ~12% of frames, so ~88% frame error.
TEST(ConfigSmoke, SpeechStandinFamilyAndATable2Sweep) {
  Workspace ws;
  const std::string corpus = "--set dataset.path=standin --set dataset.cache_dir=cache "
                             "--set dataset.standin.utterances_per_speaker=1 ";
  run_smoke(ws, {"standin_64", corpus + "--set train.max_epochs=3 --set retrain.max_epochs=1 --set quant.bits=[2]", 88,
                 75, 75, 3, "64x64"});

  // Table 2's grid (four strategies, gradual chains) swept in processes on
  // the same corpus, with a small network and bits 3 and 2: per strategy 2
  // cells (gradual: stages 3 and 2), plus the float baseline and the control
  // row; one seed, a dev evaluation at each epoch end (the tiny corpus has
  // fewer updates per epoch than the shipped eval_every).
  const std::string grid = "--config configs/table2_standin.yaml " + corpus +
                           "--set network.hidden=[32,32] --set quant.bits=[3,2] --set quant.gradual.start_bits=3 "
                           "--set train.max_epochs=3 --set retrain.max_epochs=1 --set output.dir=out-table2 "
                           "--set runtime.threads=1 --set runtime.blas_threads=1 --set 'seeds=[1]' --set train.eval_every=0";
  auto listed = run_qretrain("sweep --list " + grid, ws.path());
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("10 cells: 0 done, 0 failed, 10 to run\n"));
  const auto started = std::chrono::steady_clock::now();
  auto sweep = run_qretrain("sweep --jobs 2 " + grid + " --set runtime.progress=off", ws.path());
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  std::cerr << fmt::format("[smoke] table2_standin sweep: {:.1f} s\n",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  report::Store store((ws.path() / "out-table2" / "results.sqlite").string());
  const auto runs = store.runs("table2_standin");
  ASSERT_EQ(runs.size(), 10u);
  const auto cells = markdown_cells(sweep.out);
  for (const auto& r : runs) {
    SCOPED_TRACE(r.method + " " + std::to_string(r.bits));
    EXPECT_EQ(r.status, "ok") << r.failure;
    EXPECT_LT(r.test_metric, 80.0) << "chance is 88";
    auto it = cells.find({r.bits, method_title(r.method)});
    ASSERT_NE(it, cells.end()) << sweep.out;
    EXPECT_EQ(it->second.at(0), fmt::format("{:.2f}", r.test_metric));
  }
  auto after = run_qretrain("sweep --list " + grid, ws.path());
  EXPECT_THAT(after.out, HasSubstr("10 cells: 10 done, 0 failed, 0 to run\n"));
}

// A TIMIT-format corpus (TRAIN|TEST/DR1/<speaker>/<utt>.WAV + .PHN) whose
// phones sound different: near silence (h#), white noise (s), and tones of
// 300 Hz (iy), 1200 Hz (aa) and 150 + 450 Hz (m). Each utterance is
// h# s iy aa m s iy aa m h# in segments of 0.1-0.14 s; h# and each other
// phone hold about a fifth of the frames, so chance is ~80% frame error.
void write_timit_fixture(const fs::path& root) {
  constexpr int kRate = 16000;
  std::mt19937 rng(11);
  auto utterance = [&](const std::string& part, const std::string& speaker, const std::string& utt) {
    const fs::path dir = root / part / "DR1" / speaker;
    fs::create_directories(dir);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_int_distribution<int> length(1600, 2240);
    std::vector<std::int16_t> samples;
    std::ofstream phn(dir / (utt + ".PHN"));
    for (const char* phone : {"h#", "s", "iy", "aa", "m", "s", "iy", "aa", "m", "h#"}) {
      const std::string p = phone;
      const int n = length(rng);
      const std::size_t start = samples.size();
      for (int i = 0; i < n; ++i) {
        const double t = static_cast<double>(start + i) / kRate;
        double v = 100 * noise(rng);
        if (p == "s") v = 3000 * noise(rng);
        if (p == "iy") v += 6000 * std::sin(2 * M_PI * 300 * t);
        if (p == "aa") v += 6000 * std::sin(2 * M_PI * 1200 * t);
        if (p == "m") v += 4000 * std::sin(2 * M_PI * 150 * t) + 3000 * std::sin(2 * M_PI * 450 * t);
        samples.push_back(static_cast<std::int16_t>(std::clamp(v, -32000.0, 32000.0)));
      }
      phn << start << " " << samples.size() << " " << p << "\n";
    }
    data::write_sphere((dir / (utt + ".WAV")).string(), samples, kRate);
    std::ofstream(dir / (utt + ".TXT")) << "0 " << samples.size() << " a test sentence.\n";
  };
  // Training speakers (any under TRAIN), two of Halberstadt's dev speakers
  // and two of the core test set.
  for (const char* speaker : {"FAAA0", "MBBB0", "FCCC0", "MDDD0", "FEEE0", "MFFF0"})
    for (const char* utt : {"SX1", "SI2"}) utterance("TRAIN", speaker, utt);
  for (const char* speaker : {"FAKS0", "FDAC1", "MDAB0", "MWBT0"}) utterance("TEST", speaker, "SX3");
}

TEST(ConfigSmoke, TimitFamily) {
  Workspace ws;
  write_timit_fixture(ws.path() / "timit");
  run_smoke(ws, {"timit_64",
                 "--set dataset.path=timit --set dataset.cache_dir=cache --set train.batch_size=16 "
                 "--set train.max_epochs=3 --set retrain.max_epochs=1 --set quant.bits=[2]",
                 80, 50, 50, 3, "64x64"});
}

// ---- Text: the GCIDE dictionary and an enwik8-format file ----------------

// Bits per character: a model that learnt nothing scores 8 (uniform over
// the 256 byte values) or worse.
const char* kTinyLm = "--set dataset.train_limit=32768 --set dataset.dev_limit=4096 --set dataset.test_limit=4096 "
                      "--set train.streams=16 --set train.bptt_steps=32 --set train.bptt_unroll=32 "
                      "--set train.epoch_chars=0 --set train.max_epochs=1 --set retrain.max_epochs=1 "
                      "--set quant.bits=[2] ";

TEST(ConfigSmoke, GcideFamily) {
  const char* gcide = "/usr/share/dictd/gcide.dict.dz";
  ASSERT_TRUE(fs::exists(gcide)) << gcide << " is missing: scripts/install-deps.sh installs dict-gcide";
  Workspace ws;
  run_smoke(ws, {"gcide_64", kTinyLm, 8, 6, 6, 7, "64"});
}

// Wikipedia-like markup of words drawn from a small vocabulary.
std::string wiki_text(std::size_t bytes) {
  const std::vector<std::string> words = {"the", "of", "and", "in", "a", "to", "was", "is", "for", "on",
                                          "as", "by", "with", "city", "river", "king", "war", "first", "new", "year"};
  std::mt19937 rng(3);
  std::string out;
  for (int page = 0; out.size() < bytes; ++page) {
    out += fmt::format("  <page>\n    <title>{} {}</title>\n    <id>{}</id>\n    <text>", words[rng() % 20],
                       words[rng() % 20], page);
    for (int w = 0; w < 120; ++w) {
      const std::string& word = words[rng() % words.size()];
      out += w % 15 == 0 ? "[[" + word + "]] " : word + (w % 11 == 10 ? ". " : " ");
    }
    out += "</text>\n  </page>\n";
  }
  out.resize(bytes);
  return out;
}

TEST(ConfigSmoke, WikiFamily) {
  Workspace ws;
  ws.dir.write("enwik8", wiki_text(100000));
  run_smoke(ws, {"wiki_64", std::string("--set dataset.path=enwik8 ") + kTinyLm, 8, 6, 6, 7, "64"});
}

// ---- The grids ----------------------------------------------------------

// Every dataset row (data/kinds.h) has a family above that trains on data in
// its real format (a fixture, or the Debian package that is the stand-in): a
// new row fails here until it has one.
TEST(ConfigSmoke, EveryDatasetRowHasAFamily) {
  const std::map<std::string, std::string> family = {
      {"fashion-mnist", "FashionMnistFamily"}, {"svhn", "SvhnFamily"},
      {"timit", "TimitFamily"},                {"speech-standin", "SpeechStandinFamilyAndATable2Sweep"},
      {"enwik8", "WikiFamily"},                {"gcide", "GcideFamily"}};
  std::set<std::string> registered;  // the ConfigSmoke tests of this binary
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (std::string(suite.name()) != "ConfigSmoke") continue;
    for (int j = 0; j < suite.total_test_count(); ++j) registered.insert(suite.GetTestInfo(j)->name());
  }
  for (const data::DatasetKind& row : data::dataset_kinds())
    EXPECT_EQ(family.count(row.name), 1u) << row.name << ": no ConfigSmoke family trains on it";
  for (const auto& [name, test] : family) {
    EXPECT_NE(find_row(data::dataset_kinds(), name), nullptr) << name;
    EXPECT_EQ(registered.count(test), 1u) << "no test ConfigSmoke." << test;
  }
}

// `sweep --list` of every grid config (table*, fig*, refit_order*,
// sweep_bench*), run where its data is not (dataset.path pointed at the
// working folder): one line per cell with a distinct 16-digit key, every
// quantized cell after its network's float baseline (a gradual stage after
// the stage above it), and the count its keys describe. Hand-counted for
// the shipped ones: table1 3 seeds x 10 networks x (1 + 3 x 3 + 1) = 330,
// table2 3 seeds x (1 + 4 + 4 + 5 + 5 + 1) = 60, table3 3 seeds x 3 x (1 + 3 x 3 + 1) = 99,
// table4 3 seeds x 3 x (1 + 4 x 3 + 1) = 126,
// fig2 3 seeds x (1 + 3) = 12, refit_order 2 x 3 x (1 + 2 x 2) = 30, sweep_bench 2 x 10.
TEST(ConfigSmoke, GridsListTheirCells) {
  Workspace ws;
  const std::map<std::string, std::size_t> hand_counted = {
      {"table1_standin", 330}, {"table1_timit", 100}, {"table2_standin", 60}, {"table2_timit", 19},
      {"table3_fmnist", 99},   {"table4_gcide", 126},  {"table4_wiki", 39},    {"fig2_standin", 12},
      {"refit_order_standin", 30}, {"sweep_bench_lenet5", 20}};
  std::size_t grids = 0;
  static const std::regex cell_line(R"(^([0-9a-f]{16})  to run  (\S+) seed (\d+) (\S+)(?: (\d)-bit)?(?: \(after (.*)\))?$)");
  for (const auto& e : fs::directory_iterator(kRepo / "configs")) {
    const std::string stem = e.path().stem().string();
    if (e.path().extension() != ".yaml" ||
        !(stem.rfind("table", 0) == 0 || stem.rfind("fig", 0) == 0 || stem.rfind("refit_order", 0) == 0 ||
          stem.rfind("sweep_bench", 0) == 0))
      continue;
    SCOPED_TRACE(stem);
    ++grids;
    const std::string args = "--config configs/" + stem + ".yaml --set dataset.path=. --set output.dir=out-" + stem;
    auto r = run_qretrain("sweep --list " + args, ws.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const config::ExperimentConfig cfg = load_in(ws.path(), "configs/" + stem + ".yaml", {"dataset.path=."});
    const std::size_t expected = expected_cells(cfg);
    if (hand_counted.count(stem)) {
      EXPECT_EQ(expected, hand_counted.at(stem));
    }
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), expected + 1) << r.out;
    EXPECT_EQ(lines.back(), fmt::format("{0} cells: 0 done, 0 failed, {0} to run", expected));
    std::set<std::string> keys, seen;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      std::smatch m;
      ASSERT_TRUE(std::regex_match(lines[i], m, cell_line)) << lines[i];
      keys.insert(m[1]);
      const std::string network = m[2], seed = m[3], method = m[4], bits = m[5], after = m[6];
      const std::string name = network + " seed " + seed + " " + method + (bits.empty() ? "" : " " + bits + "-bit");
      if (method == "float") {
        EXPECT_EQ(after, "");
      } else if ((method == "gradual" || method == "adaptive+gradual") &&
                 std::stoi(bits) < cfg.quant.gradual_start_bits) {
        EXPECT_EQ(after, fmt::format("{} seed {} {} {}-bit", network, seed, method, std::stoi(bits) + 1));
      } else {
        EXPECT_EQ(after, network + " seed " + seed + " float");
      }
      if (!after.empty()) {
        EXPECT_TRUE(seen.count(after)) << "listed before what it waits for: " << after;
      }
      seen.insert(name);
    }
    EXPECT_EQ(keys.size(), expected);
  }
  EXPECT_GE(grids, hand_counted.size());
}

}  // namespace
}  // namespace qretrain
