#include "config/config.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>

#include "config/schema.h"
#include "methods/kinds.h"
#include "util/error.h"
#include "util/registry.h"

namespace qretrain::config {
namespace {

// A user's text made safe for a one-line message: control bytes (a newline
// in a block scalar, a NUL in a quoted string) are written as escapes, so an
// error stays one line and prints what the file holds.
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) {
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch < 0x20 || ch == 0x7f) out += fmt::format("\\x{:02x}", ch);
    else out += static_cast<char>(ch);
  }
  return out;
}

// A node as one line of flow YAML ([1, 2], {a: 1}). yaml-cpp's emitter keeps
// the block style a node was parsed with even after YAML::Flow, which put a
// block list on several lines of an error message.
std::string flow_text(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return n.Scalar();
    case YAML::NodeType::Sequence: {
      std::vector<std::string> items;
      for (const auto& item : n) items.push_back(flow_text(item));
      return fmt::format("[{}]", fmt::join(items, ", "));
    }
    case YAML::NodeType::Map: {
      std::vector<std::string> items;
      for (const auto& kv : n) items.push_back(flow_text(kv.first) + ": " + flow_text(kv.second));
      return fmt::format("{{{}}}", fmt::join(items, ", "));
    }
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string scalar_text(const YAML::Node& n) { return flow_text(n); }

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw UserError(printable(fmt::format("{}: {}", path, message)));
}

// "line N" of a node's position in its file, or "" when yaml-cpp has none.
std::string line_of(const YAML::Node& n) {
  const YAML::Mark mark = n.Mark();
  return mark.is_null() ? std::string() : fmt::format("line {}", mark.line + 1);
}
std::string at_line(const YAML::Node& n) {
  const std::string line = line_of(n);
  return line.empty() ? line : line + ": ";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

[[noreturn]] void fail_unknown_key(const std::string& path) {
  std::string best;
  std::size_t best_d = 4;  // suggest only close matches
  for (const auto& f : schema()) {
    std::size_t d = edit_distance(path, f.path);
    if (d < best_d) best_d = d, best = f.path;
  }
  std::string section = path.find('.') == std::string::npos ? "" : path.substr(0, path.rfind('.'));
  std::vector<std::string> siblings;
  for (const auto& f : schema()) {
    std::string parent = f.path.find('.') == std::string::npos ? "" : f.path.substr(0, f.path.rfind('.'));
    if (parent == section) siblings.push_back(f.path);
  }
  std::string hint = best.empty() ? (siblings.empty() ? "" : fmt::format(" (valid: {})", fmt::join(siblings, ", ")))
                                  : fmt::format(" (did you mean '{}'?)", best);
  fail(path, "unknown key" + hint);
}

// Checks one scalar against a scalar kind; returns it unchanged.
void check_scalar(const std::string& path, const YAML::Node& n, Kind kind, const Field& field) {
  if (!n.IsScalar()) fail(path, fmt::format("expected {}, got {}", kind_name(kind), scalar_text(n)));
  try {
    switch (kind) {
      case Kind::Int: n.as<long long>(); break;
      case Kind::Float: {
        double v = n.as<double>();
        if (!std::isfinite(v)) throw YAML::BadConversion(n.Mark());
        break;
      }
      case Kind::Bool: n.as<bool>(); break;
      default: break;
    }
  } catch (const YAML::BadConversion&) {
    fail(path, fmt::format("expected {}, got '{}'", kind_name(kind), n.Scalar()));
  }
  if (!field.choices.empty() && (kind == Kind::String)) {
    if (std::find(field.choices.begin(), field.choices.end(), n.Scalar()) == field.choices.end())
      fail(path, fmt::format("'{}' is not one of: {}", n.Scalar(), fmt::join(field.choices, ", ")));
  }
}

void check_value(const std::string& path, const YAML::Node& n, const Field& field) {
  switch (field.kind) {
    case Kind::IntList:
    case Kind::StringList: {
      if (!n.IsSequence()) fail(path, fmt::format("expected {}, got {}", kind_name(field.kind), scalar_text(n)));
      Kind elem = field.kind == Kind::IntList ? Kind::Int : Kind::String;
      for (std::size_t i = 0; i < n.size(); ++i)
        check_scalar(fmt::format("{}[{}]", path, i), n[i], elem, field);
      break;
    }
    case Kind::IntMap: {
      if (n.IsNull()) break;  // an empty map
      if (!n.IsMap()) fail(path, fmt::format("expected {}, got {}", kind_name(field.kind), scalar_text(n)));
      std::set<std::string> seen;  // yaml-cpp keeps a repeated key; the last would win silently
      for (const auto& kv : n) {
        if (!kv.first.IsScalar() || kv.first.Scalar().empty())
          fail(path, fmt::format("keys must be plain names, got {}", flow_text(kv.first)));
        if (!seen.insert(kv.first.Scalar()).second)
          fail(fmt::format("{}.{}", path, kv.first.Scalar()), "given twice");
        check_scalar(fmt::format("{}.{}", path, kv.first.Scalar()), kv.second, Kind::Int, field);
      }
      break;
    }
    default: check_scalar(path, n, field.kind, field);
  }
}

// Walks the user's YAML: every key must be declared, every value well typed.
// Each key is a plain name given once: yaml-cpp keeps duplicate keys (a
// lookup finds only one of them) and would let a dotted key "train.lr" match
// the declared path, so a value the user wrote would be silently dropped.
void check_tree(const YAML::Node& node, const std::string& prefix, const std::string& file) {
  const std::string where = prefix.empty() ? file : prefix;
  std::map<std::string, std::string> seen;  // key -> "line N" of its first use
  for (const auto& kv : node) {
    if (!kv.first.IsScalar())
      fail(where, fmt::format("{}keys must be plain names, got {}", at_line(kv.first), flow_text(kv.first)));
    const std::string key = kv.first.Scalar();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (key.empty() || key.find('.') != std::string::npos)
      fail(path, fmt::format("{}keys must be plain names; write a dotted path as nested sections (or use "
                             "--set {}=...)",
                             at_line(kv.first), path));
    const auto [first, fresh] = seen.emplace(key, line_of(kv.first));
    if (!fresh)
      fail(path, fmt::format("{}given twice{}", at_line(kv.first),
                             first->second.empty() ? "" : " (first at " + first->second + ")"));
    if (const Field* field = find_field(path)) {
      check_value(path, kv.second, *field);
    } else if (is_section(path)) {
      if (kv.second.IsNull()) continue;  // an empty section means "all defaults"
      if (!kv.second.IsMap()) fail(path, fmt::format("expected a section (a map of keys), got {}", scalar_text(kv.second)));
      check_tree(kv.second, path, file);
    } else {
      fail_unknown_key(path);
    }
  }
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

YAML::Node lookup(const YAML::Node& root, const std::string& path) {
  YAML::Node cur = root;
  for (const auto& part : split_path(path)) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node next = cur[part];
    if (!next.IsDefined()) return next;
    cur.reset(next);
  }
  return cur;
}

void assign(YAML::Node root, const std::string& path, const YAML::Node& value) {
  auto parts = split_path(path);
  YAML::Node cur = root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (!next.IsDefined() || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    if (!next.IsMap())
      fail(path, fmt::format("cannot set: '{}' is not a section", parts[i]));
    cur.reset(next);
  }
  cur[parts.back()] = value;
}

// ---- typed extraction of the resolved tree, with range checks ----

struct Reader {
  const YAML::Node& root;
  YAML::Node at(const std::string& p) const { return lookup(root, p); }
  long long integer(const std::string& p, long long lo, long long hi) const {
    long long v = at(p).as<long long>();
    if (v < lo || v > hi) {
      if (hi == std::numeric_limits<long long>::max()) fail(p, fmt::format("{} must be at least {}", v, lo));
      fail(p, fmt::format("{} is outside {}..{}", v, lo, hi));
    }
    return v;
  }
  double positive(const std::string& p) const {
    double v = at(p).as<double>();
    if (!(v > 0)) fail(p, fmt::format("{} must be > 0", scalar_text(at(p))));
    return v;
  }
  double in_range(const std::string& p, double lo, double hi, const char* range) const {
    double v = at(p).as<double>();
    if (!(v >= lo && v < hi)) fail(p, fmt::format("{} is outside {}", scalar_text(at(p)), range));
    return v;
  }
  std::string str(const std::string& p) const { return at(p).as<std::string>(); }
  bool boolean(const std::string& p) const { return at(p).as<bool>(); }
  std::vector<int> ints(const std::string& p, int lo, int hi, bool unique) const {
    YAML::Node n = at(p);
    if (n.size() == 0) fail(p, "must not be empty");
    std::vector<int> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
      long long v = n[i].as<long long>();
      std::string ip = fmt::format("{}[{}]", p, i);
      if (v < lo || v > hi) fail(ip, fmt::format("{} is outside {}..{}", v, lo, hi));
      if (unique && std::find(out.begin(), out.end(), v) != out.end()) fail(ip, fmt::format("{} is listed twice", v));
      out.push_back(static_cast<int>(v));
    }
    return out;
  }
  std::vector<std::string> strings(const std::string& p) const {
    YAML::Node n = at(p);
    if (n.size() == 0) fail(p, "must not be empty");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
      std::string v = n[i].as<std::string>();
      if (std::find(out.begin(), out.end(), v) != out.end())
        fail(fmt::format("{}[{}]", p, i), fmt::format("'{}' is listed twice", v));
      out.push_back(v);
    }
    return out;
  }
};

struct GridNetwork {
  std::string kind;
  std::vector<int> hidden;  // empty: keep network.hidden
  bool batch_norm = false;  // true: turn batch norm on
};

// "kind[:W1xW2...][+bn]", e.g. "lenet5", "ffdnn:512x512", "ffdnn:64x64+bn".
GridNetwork parse_network_spec(const std::string& text, const std::string& path) {
  GridNetwork spec;
  std::string rest = text;
  const std::string bn_suffix = "+bn";
  if (rest.size() > bn_suffix.size() && rest.compare(rest.size() - bn_suffix.size(), bn_suffix.size(), bn_suffix) == 0) {
    spec.batch_norm = true;
    rest.resize(rest.size() - bn_suffix.size());
  }
  const auto colon = rest.find(':');
  spec.kind = rest.substr(0, colon);
  const Field* kind_field = find_field("network.kind");
  if (std::find(kind_field->choices.begin(), kind_field->choices.end(), spec.kind) == kind_field->choices.end())
    fail(path, fmt::format("'{}': network kind '{}' is not one of: {}", text, spec.kind,
                           fmt::join(kind_field->choices, ", ")));
  if (colon == std::string::npos) return spec;
  const std::string widths = rest.substr(colon + 1);
  for (std::size_t start = 0;;) {
    const std::size_t x = widths.find('x', start);
    const std::string width = widths.substr(start, x == std::string::npos ? std::string::npos : x - start);
    int w = 0;
    auto [end, ec] = std::from_chars(width.data(), width.data() + width.size(), w);
    if (width.empty() || ec != std::errc() || end != width.data() + width.size() || w < 1 || w > (1 << 16))
      fail(path, fmt::format("'{}': hidden widths must be positive integers joined by 'x', e.g. ffdnn:512x512", text));
    spec.hidden.push_back(w);
    if (x == std::string::npos) return spec;
    start = x + 1;
  }
}

Recipe read_recipe(const Reader& r, const std::string& section) {
  Recipe rec;
  rec.lr = r.positive(section + ".lr");
  rec.lr_min = r.positive(section + ".lr_min");
  if (rec.lr_min > rec.lr)
    fail(section + ".lr_min", fmt::format("{} is above {}.lr ({}): training would not start", rec.lr_min, section, rec.lr));
  rec.max_epochs = static_cast<int>(r.integer(section + ".max_epochs", 1, 100000));
  return rec;
}

// The experiment name becomes part of file names (output.dir/logs/NAME.log,
// checkpoints, plots): a '/' or "../" would write outside output.dir and a NUL
// would cut the path, so it must be one plain word.
void check_name(const std::string& name) {
  if (name.empty()) fail("name", "must not be empty");
  const bool plain = std::all_of(name.begin(), name.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '+';
  });
  if (!plain || name.front() == '.' || name.front() == '-' || name.size() > 200)
    fail("name", fmt::format("'{}' is not a plain name: use letters, digits and _ - . + (not first: . -), at most "
                             "200 characters; it is part of file names",
                             name));
}

ExperimentConfig extract(const YAML::Node& resolved) {
  constexpr long long kMax = std::numeric_limits<long long>::max();
  Reader r{resolved};
  ExperimentConfig c;
  c.name = r.str("name");
  check_name(c.name);

  c.dataset.kind = r.str("dataset.kind");
  c.dataset.path = r.str("dataset.path");
  if (c.dataset.path.empty()) fail("dataset.path", "must not be empty");
  c.dataset.dev_size = static_cast<int>(r.integer("dataset.dev_size", 0, 10000000));
  c.dataset.train_limit = r.integer("dataset.train_limit", 0, kMax);
  c.dataset.dev_limit = r.integer("dataset.dev_limit", 0, kMax);
  c.dataset.test_limit = r.integer("dataset.test_limit", 0, kMax);
  c.dataset.svhn_dev_per_class_train = static_cast<int>(r.integer("dataset.svhn.dev_per_class_train", 0, 100000));
  c.dataset.svhn_dev_per_class_extra = static_cast<int>(r.integer("dataset.svhn.dev_per_class_extra", 0, 100000));
  c.dataset.svhn_use_extra = r.boolean("dataset.svhn.use_extra");
  c.dataset.context = static_cast<int>(r.integer("dataset.context", 0, 50));
  c.dataset.cache_dir = r.str("dataset.cache_dir");
  if (c.dataset.cache_dir.empty()) fail("dataset.cache_dir", "must not be empty");
  c.dataset.standin_seed = static_cast<std::uint64_t>(r.integer("dataset.standin.seed", 0, kMax));
  c.dataset.standin_utterances_per_speaker =
      static_cast<int>(r.integer("dataset.standin.utterances_per_speaker", 1, 10000));
  c.dataset.standin_snr_min_db = r.in_range("dataset.standin.snr_min_db", -20.0, 100.0, "[-20, 100)");
  c.dataset.standin_snr_max_db = r.in_range("dataset.standin.snr_max_db", -20.0, 100.0, "[-20, 100)");
  if (c.dataset.standin_snr_max_db < c.dataset.standin_snr_min_db)
    fail("dataset.standin.snr_max_db", fmt::format("{} is below dataset.standin.snr_min_db ({})",
                                                   c.dataset.standin_snr_max_db, c.dataset.standin_snr_min_db));

  c.network.kind = r.str("network.kind");
  c.network.hidden = r.ints("network.hidden", 1, 1 << 16, false);
  c.network.batch_norm = r.boolean("network.batch_norm");
  c.network.label = r.str("network.label");

  c.train.optimizer = r.str("train.optimizer");
  c.train.momentum = r.in_range("train.momentum", 0.0, 1.0, "[0, 1)");
  c.train.weight_decay = r.in_range("train.weight_decay", 0.0, 1.0, "[0, 1)");
  c.train.batch_size = static_cast<int>(r.integer("train.batch_size", 1, 1 << 20));
  c.train.lr_decay = r.in_range("train.lr_decay", 1e-6, 1.0, "(0, 1)");
  c.train.patience = static_cast<int>(r.integer("train.patience", 1, 1000000));
  c.train.eval_every = static_cast<int>(r.integer("train.eval_every", 0, 1 << 30));
  c.train.streams = static_cast<int>(r.integer("train.streams", 1, 1 << 16));
  c.train.bptt_steps = static_cast<int>(r.integer("train.bptt_steps", 1, 1 << 20));
  c.train.bptt_unroll = static_cast<int>(r.integer("train.bptt_unroll", 1, 1 << 20));
  if (c.train.bptt_unroll < c.train.bptt_steps)
    fail("train.bptt_unroll", fmt::format("{} is below train.bptt_steps ({}): an update back-propagates through at "
                                          "least the steps it advances",
                                          c.train.bptt_unroll, c.train.bptt_steps));
  c.train.epoch_chars = r.integer("train.epoch_chars", 0, kMax);
  c.train.float_recipe = read_recipe(r, "train");
  c.train.retrain_recipe = read_recipe(r, "retrain");
  // A hold as long as the budget is allowed: a smoke run shortens
  // train.max_epochs alone, and its baseline then ends on the cap, as the
  // table footers say.
  c.train.float_recipe.hold_epochs = static_cast<int>(r.integer("train.hold_epochs", 0, 100000));

  c.quant.bits = r.ints("quant.bits", 2, 8, true);
  c.quant.methods = r.strings("quant.methods");
  c.quant.adaptive_update = r.str("quant.adaptive.update");
  c.quant.adaptive_first_epochs = static_cast<int>(r.integer("quant.adaptive.first_epochs", 1, 1000000));
  c.quant.adaptive_refit = r.str("quant.adaptive.refit");
  c.quant.exhaustive_search = r.boolean("quant.conventional.exhaustive_search");
  c.quant.search_points = static_cast<int>(r.integer("quant.conventional.search_points", 2, 1000));
  c.quant.gradual_start_bits = static_cast<int>(r.integer("quant.gradual.start_bits", 2, 8));
  c.quant.granularity = r.str("quant.granularity");
  for (const auto& kv : r.at("quant.layer_bits")) {
    const std::string key = kv.first.Scalar();  // may hold dots (out.weight): not a lookup path
    const long long bits = kv.second.as<long long>();
    if (bits < 2 || bits > 8) fail("quant.layer_bits." + key, fmt::format("{} is outside 2..8", bits));
    c.quant.layer_bits[key] = static_cast<int>(bits);
  }
  const bool channel_conventional = std::find(c.quant.methods.begin(), c.quant.methods.end(),
                                               "conventional@channel") != c.quant.methods.end();
  if (c.quant.exhaustive_search && (c.quant.granularity == "channel" || channel_conventional))
    fail("quant.conventional.exhaustive_search",
         "the reference [4] search tunes one Δ per layer; it does not run per channel (quant.granularity: channel "
         "or conventional@channel)");
  c.quant.lsq_init = r.str("quant.lsq.init");
  c.quant.lsq_grad_scale = r.boolean("quant.lsq.grad_scale");
  if (c.train.weight_decay > 0 && std::any_of(c.quant.methods.begin(), c.quant.methods.end(), [](const std::string& m) {
        const methods::MethodKind* kind = find_row(methods::method_kinds(), m);
        return kind && kind->learned_step;
      }))
    fail("train.weight_decay", fmt::format("{} with lsq in quant.methods: the optimizer would decay the learned log "
                                           "step sizes too; use 0",
                                           c.train.weight_decay));
  bool gradual = std::any_of(c.quant.methods.begin(), c.quant.methods.end(),
                             [](const std::string& m) {
                               const methods::MethodKind* kind = find_row(methods::method_kinds(), m);
                               return kind && kind->is_chain();
                             });
  int max_bits = *std::max_element(c.quant.bits.begin(), c.quant.bits.end());
  if (gradual && c.quant.gradual_start_bits < max_bits)
    fail("quant.gradual.start_bits",
         fmt::format("{} is below the largest of quant.bits ({}): gradual only lowers precision",
                     c.quant.gradual_start_bits, max_bits));

  if (r.at("grid.networks").size() > 0) {
    c.grid_networks = r.strings("grid.networks");
    for (std::size_t i = 0; i < c.grid_networks.size(); ++i)
      parse_network_spec(c.grid_networks[i], fmt::format("grid.networks[{}]", i));
  }
  c.seeds = r.ints("seeds", 0, 1 << 30, true);

  c.runtime.device = r.str("runtime.device");
  // Checked here, with the other values, so that a machine without CUDA fails
  // before anything is written (app::resolve_device, at training, was too late).
  if (c.runtime.device == "cuda" && !torch::cuda::is_available())
    fail("runtime.device", "cuda requested, but this LibTorch build sees no CUDA device (use cpu or auto)");
  c.runtime.threads = static_cast<int>(r.integer("runtime.threads", 0, 1024));
  c.runtime.blas_threads = static_cast<int>(r.integer("runtime.blas_threads", 0, 1024));
  c.runtime.cores = static_cast<int>(r.integer("runtime.cores", 0, 1024));
  c.runtime.gemm = r.str("runtime.gemm");
  c.runtime.progress = r.str("runtime.progress");
  c.runtime.checkpoint_every_s = r.in_range("runtime.checkpoint_every_s", 1.0, 1e9, "[1, 1e9]");

  c.report_paper = r.str("report.paper");
  c.output_dir = r.str("output.dir");
  if (c.output_dir.empty()) fail("output.dir", "must not be empty");
  c.output_archive = r.str("output.archive");
  c.resolved = resolved;
  return c;
}

void emit_tree(std::ostringstream& out, const YAML::Node& node, const std::string& prefix, int indent,
               bool with_help) {
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const std::string pad(indent * 2, ' ');
    if (kv.second.IsMap() && !find_field(path)) {  // a section (a map-valued key is written in flow style)
      out << pad << key << ":\n";
      emit_tree(out, kv.second, path, indent + 1, with_help);
      continue;
    }
    YAML::Emitter e;
    e << YAML::Flow << kv.second;
    out << pad << key << ": " << e.c_str();
    const Field* f = find_field(path);
    if (with_help && f) out << "  # " << f->help;
    out << "\n";
  }
}

}  // namespace

namespace {
void check_grid_networks(const ExperimentConfig& cfg);
}  // namespace

ExperimentConfig load(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node user(YAML::NodeType::Map);
  if (!path.empty()) {
    if (!std::filesystem::is_regular_file(path)) throw UserError(fmt::format("--config: {} is not a readable file", path));
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAllFromFile(path);
    } catch (const YAML::ParserException& e) {
      throw UserError(fmt::format("{}:{}:{}: YAML syntax error: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
    }
    // A '---' line starts a second document, which YAML::LoadFile would drop.
    if (documents.size() > 1) {
      const std::string line = line_of(documents[1]);
      throw UserError(fmt::format("{}: {} YAML documents ('---' starts another{}); a config is one document", path,
                                  documents.size(), line.empty() ? "" : ", the second at " + line));
    }
    if (!documents.empty()) user = documents.front();
    if (user.IsNull()) user = YAML::Node(YAML::NodeType::Map);
    if (!user.IsMap()) throw UserError(fmt::format("{}: the top level must be a map of keys", path));
  }
  check_tree(user, "", path);

  for (const auto& ov : overrides) {
    auto eq = ov.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError(fmt::format("--set {}: expected KEY=VALUE, e.g. --set train.lr=1e-3", ov));
    const std::string key = ov.substr(0, eq);
    const Field* field = find_field(key);
    if (!field) {
      try {
        fail_unknown_key(key);
      } catch (const UserError& e) {
        throw UserError(std::string("--set ") + e.what());
      }
    }
    YAML::Node value;
    try {
      value = YAML::Load(ov.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      throw UserError(fmt::format("--set {}: cannot parse value: {}", key, e.msg));
    }
    check_value(key, value, *field);
    assign(user, key, value);
  }

  YAML::Node resolved(YAML::NodeType::Map);
  for (const auto& f : schema()) {
    YAML::Node given = lookup(user, f.path);
    assign(resolved, f.path, given.IsDefined() && !given.IsNull() ? YAML::Clone(given) : YAML::Load(f.default_yaml));
  }
  ExperimentConfig cfg = extract(resolved);
  cfg.source = path;
  check_grid_networks(cfg);
  return cfg;
}

std::vector<ExperimentConfig> expand_networks(const ExperimentConfig& cfg) {
  if (cfg.grid_networks.empty()) return {cfg};
  std::vector<ExperimentConfig> out;
  for (std::size_t i = 0; i < cfg.grid_networks.size(); ++i) {
    GridNetwork spec = parse_network_spec(cfg.grid_networks[i], fmt::format("grid.networks[{}]", i));
    YAML::Node resolved = YAML::Clone(cfg.resolved);
    resolved["network"]["kind"] = spec.kind;
    if (!spec.hidden.empty()) {
      YAML::Node hidden(YAML::NodeType::Sequence);
      for (int w : spec.hidden) hidden.push_back(w);
      resolved["network"]["hidden"] = hidden;
    }
    if (spec.batch_norm) resolved["network"]["batch_norm"] = true;
    ExperimentConfig one = extract(resolved);
    one.source = cfg.source;
    out.push_back(std::move(one));
  }
  return out;
}

namespace {

// grid.networks must name distinct networks, and network.label cannot be
// shared by several (called by load()).
void check_grid_networks(const ExperimentConfig& cfg) {
  if (cfg.grid_networks.size() < 2) return;
  // One label for several columns would merge them in every table.
  if (!cfg.network.label.empty())
    fail("network.label", fmt::format("'{}' would name every network of grid.networks; leave it empty (labels are "
                                      "derived per network)",
                                      cfg.network.label));
  // Two entries that resolve to the same network would be the same cells:
  // the second would silently reuse the first's results.
  const auto networks = expand_networks(cfg);
  for (std::size_t i = 0; i < networks.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (canonical(networks[i].resolved, {"network"}) == canonical(networks[j].resolved, {"network"}))
        fail(fmt::format("grid.networks[{}]", i),
             fmt::format("'{}' is the same network as grid.networks[{}] ('{}')", cfg.grid_networks[i], j,
                         cfg.grid_networks[j]));
}

}  // namespace

std::string dump(const ExperimentConfig& cfg, bool with_help) {
  std::ostringstream out;
  emit_tree(out, cfg.resolved, "", 0, with_help);
  return out.str();
}

namespace {

// One scalar as identity text: numbers and booleans by value (2e-2 and 0.02,
// yes and true are one value), strings quoted so that no two differ only in
// where a separator falls.
std::string typed_scalar(const YAML::Node& n, Kind kind) {
  switch (kind) {
    case Kind::Int:
    case Kind::IntList: return fmt::format("{}", n.as<long long>());
    case Kind::Float: return fmt::format("{}", n.as<double>());  // shortest text that reads back the same double
    case Kind::Bool: return n.as<bool>() ? "true" : "false";
    case Kind::IntMap: break;  // typed_value writes maps
    case Kind::String:
    case Kind::StringList: {
      std::string out = "\"";
      for (char ch : n.as<std::string>()) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      return out + "\"";
    }
  }
  return "?";
}

std::string typed_value(const YAML::Node& n, Kind kind) {
  if (kind == Kind::IntMap) {  // sorted by name, so that the order written does not matter
    std::map<std::string, long long> sorted;
    for (const auto& kv : n) sorted[kv.first.Scalar()] = kv.second.as<long long>();
    std::string out = "{";
    for (const auto& [key, value] : sorted)
      out += fmt::format("{}{}:{}", out.size() > 1 ? "," : "", typed_scalar(YAML::Node(key), Kind::String), value);
    return out + "}";
  }
  if (kind != Kind::IntList && kind != Kind::StringList) return typed_scalar(n, kind);
  std::string out = "[";
  for (std::size_t i = 0; i < n.size(); ++i) out += (i ? "," : "") + typed_scalar(n[i], kind);
  return out + "]";
}

}  // namespace

std::string canonical(const YAML::Node& resolved, const std::vector<std::string>& sections) {
  std::ostringstream out;
  for (const auto& s : sections) {
    // A section is a group of keys ("retrain") or one key ("quant.granularity").
    std::string keys;
    for (const auto& f : schema()) {
      if ((f.path != s && f.path.rfind(s + ".", 0) != 0) || f.identity == Identity::NotPart) continue;
      const std::string value = typed_value(lookup(resolved, f.path), f.kind);
      // A later key at the value that keeps the old behaviour leaves the
      // identities made before it existed unchanged.
      if (!f.legacy_yaml.empty() && value == typed_value(YAML::Load(f.legacy_yaml), f.kind)) continue;
      keys += f.path + "=" + value + ";";
    }
    // Only a section made of later keys, all at their legacy values, is
    // left out whole (every older section has a key of its own scheme).
    if (!keys.empty()) out << s << ":" << keys;
  }
  return out.str();
}

std::string key_reference() {
  std::ostringstream out;
  out << "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& f : schema()) {
    std::string help = f.help;
    if (!f.choices.empty()) help += fmt::format(" (one of: {})", fmt::join(f.choices, ", "));
    out << fmt::format("| `{}` | {} | `{}` | {} |\n", f.path, kind_name(f.kind), f.default_yaml, help);
  }
  return out.str();
}

}  // namespace qretrain::config
