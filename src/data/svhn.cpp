// SVHN in its distribution format (http://ufldl.stanford.edu/housenumbers/):
// MATLAB v5 files train_32x32.mat, test_32x32.mat and optional
// extra_32x32.mat, each with X (32x32x3xN uint8, column-major) and y (Nx1,
// label 10 meaning digit 0), read with libmatio.
//
// Dev split as in Sermanet et al. 2012 (the paper's reference [20]): 400
// images per class from train and 200 per class from extra (when present),
// taken as the first ones of each class in file order; the rest is training
// data. Preprocessing: per-channel mean/std normalisation with training
// statistics.
#include <matio.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "data/dataset.h"
#include "data/sources.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

namespace fs = std::filesystem;

// matio reports problems through a log function; keep the last message for
// our error and keep stderr clean.
thread_local std::string g_matio_message;
void matio_log(int, char* message) { g_matio_message = message ? message : ""; }
void init_matio_logging() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("qretrain", matio_log); });
}

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

MatVar read_var(mat_t* mat, const char* name, const std::string& path) {
  g_matio_message.clear();
  MatVar v(Mat_VarRead(mat, name));
  if (!v)
    throw UserError(fmt::format("{}: cannot read variable '{}'{}", path, name,
                                g_matio_message.empty() ? " (missing, or the file is truncated)"
                                                        : " (" + g_matio_message + ")"));
  if (v->isComplex || v->class_type == MAT_C_SPARSE || v->data == nullptr)
    throw UserError(fmt::format("{}: variable '{}' is not a plain numeric array", path, name));
  return v;
}

std::size_t element_count(const matvar_t* v) {
  std::size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  return n;
}

// Label as double from any numeric matio class.
double label_at(const matvar_t* y, std::size_t i) {
  switch (y->class_type) {
    case MAT_C_DOUBLE: return static_cast<const double*>(y->data)[i];
    case MAT_C_SINGLE: return static_cast<const float*>(y->data)[i];
    case MAT_C_UINT8: return static_cast<const std::uint8_t*>(y->data)[i];
    case MAT_C_INT8: return static_cast<const std::int8_t*>(y->data)[i];
    case MAT_C_UINT16: return static_cast<const std::uint16_t*>(y->data)[i];
    case MAT_C_INT16: return static_cast<const std::int16_t*>(y->data)[i];
    case MAT_C_UINT32: return static_cast<const std::uint32_t*>(y->data)[i];
    case MAT_C_INT32: return static_cast<const std::int32_t*>(y->data)[i];
    default: return -1;
  }
}

}  // namespace

Split read_svhn_mat(const std::string& path) {
  init_matio_logging();
  if (!fs::is_regular_file(path)) throw UserError(fmt::format("{}: file not found", path));
  g_matio_message.clear();
  std::unique_ptr<mat_t, MatCloser> mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!mat) throw UserError(fmt::format("{}: not a readable MAT-file", path));
  MatVar x = read_var(mat.get(), "X", path);
  MatVar y = read_var(mat.get(), "y", path);

  if (x->rank != 4 || x->dims[0] != 32 || x->dims[1] != 32 || x->dims[2] != 3)
    throw UserError(fmt::format("{}: X must be 32x32x3xN, found rank {} with dims {}x{}x{}...", path, x->rank,
                                x->rank > 0 ? x->dims[0] : 0, x->rank > 1 ? x->dims[1] : 0,
                                x->rank > 2 ? x->dims[2] : 0));
  if (x->class_type != MAT_C_UINT8) throw UserError(fmt::format("{}: X must be uint8 pixels", path));
  const std::int64_t n = static_cast<std::int64_t>(x->dims[3]);
  if (static_cast<std::int64_t>(element_count(y.get())) != n || (y->rank == 2 && y->dims[1] != 1 && y->dims[0] != 1))
    throw UserError(fmt::format("{}: y must be an Nx1 vector with N = {} (one label per image)", path, n));

  Split s;
  // Column-major X(r, c, ch, i) is row-major [i][ch][c][r]; swap the last two.
  auto raw = torch::from_blob(x->data, {n, 3, 32, 32}, torch::kUInt8);
  s.x = raw.transpose(2, 3).to(torch::kFloat32).div_(255.0f).contiguous();
  s.y = torch::empty({n}, torch::kInt64);
  auto* labels = s.y.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    double v = label_at(y.get(), static_cast<std::size_t>(i));
    if (v < 1 || v > 10 || v != static_cast<int>(v))
      throw UserError(fmt::format("{}: label {} of image {} is not one of 1..10", path, v, i + 1));
    labels[i] = static_cast<int>(v) % 10;  // 10 means digit 0
  }
  return s;
}

namespace {

// Moves the first `per_class` images of each class from `from` into the
// returned dev part; `from` keeps the rest, in order.
Split take_per_class(Split& from, int per_class, const std::string& path) {
  std::vector<std::int64_t> dev_idx, rest_idx;
  std::vector<int> taken(10, 0);
  auto* y = from.y.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < from.size(); ++i) {
    if (taken[y[i]] < per_class) {
      ++taken[y[i]];
      dev_idx.push_back(i);
    } else {
      rest_idx.push_back(i);
    }
  }
  for (int c = 0; c < 10; ++c)
    if (taken[c] < per_class)
      throw UserError(fmt::format("{}: only {} images of digit {} for a dev split of {} per class", path, taken[c], c,
                                  per_class));
  auto dev_t = torch::tensor(dev_idx, torch::kInt64), rest_t = torch::tensor(rest_idx, torch::kInt64);
  Split dev = Split::of(from.x.index_select(0, dev_t), from.y.index_select(0, dev_t));
  from = Split::of(from.x.index_select(0, rest_t), from.y.index_select(0, rest_t));
  return dev;
}

}  // namespace

Dataset load_svhn(const config::DatasetConfig& cfg) {
  const fs::path dir = cfg.path;
  auto file = [&](const char* name) { return (dir / name).string(); };
  for (const char* required : {"train_32x32.mat", "test_32x32.mat"})
    if (!fs::exists(dir / required))
      throw UserError(fmt::format("{}: missing; {}", file(required), dataset_source_hint("svhn")));

  Dataset d;
  d.input_shape = {3, 32, 32};
  d.num_classes = 10;
  Split train = read_svhn_mat(file("train_32x32.mat"));
  Split dev = take_per_class(train, cfg.svhn_dev_per_class_train, file("train_32x32.mat"));
  d.name = "SVHN";
  if (fs::exists(dir / "extra_32x32.mat") && cfg.svhn_use_extra) {
    Split extra = read_svhn_mat(file("extra_32x32.mat"));
    Split extra_dev = take_per_class(extra, cfg.svhn_dev_per_class_extra, file("extra_32x32.mat"));
    train = Split::of(torch::cat({train.x, extra.x}), torch::cat({train.y, extra.y}));
    dev = Split::of(torch::cat({dev.x, extra_dev.x}), torch::cat({dev.y, extra_dev.y}));
    d.name = "SVHN (train+extra)";
  }
  d.test = read_svhn_mat(file("test_32x32.mat"));
  if (cfg.train_limit > 0 && cfg.train_limit < train.size())
    train = Split::of(train.x.slice(0, 0, cfg.train_limit), train.y.slice(0, 0, cfg.train_limit));
  if (cfg.test_limit > 0 && cfg.test_limit < d.test.size())
    d.test = Split::of(d.test.x.slice(0, 0, cfg.test_limit), d.test.y.slice(0, 0, cfg.test_limit));
  d.train = train;
  d.dev = dev;

  // Per-channel normalisation with training statistics.
  auto mean = d.train.x.mean({0, 2, 3}, true);
  auto stdev = d.train.x.std({0, 2, 3}, true, true);
  for (Split* s : {&d.train, &d.dev, &d.test}) s->x = s->x.sub(mean).div_(stdev).contiguous();
  return d;
}

}  // namespace qretrain::data
