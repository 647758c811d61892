// TIMIT loader: LDC layout, SPHERE audio via libsndfile (data/sphere.h),
// features from data/features.h cached on disk, 61-phone frame labels scored
// on 39 classes, and 11-frame context windows gathered at batch time.
#include "data/timit.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "data/speech_standin.h"
#include "data/sphere.h"
#include "data/timit_phones.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::data {
namespace timit {
namespace {

namespace fs = std::filesystem;

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// TIMIT copies exist with upper- and lower-case names; match either.
std::optional<fs::path> find_child(const fs::path& dir, const std::string& name_upper) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (upper(entry.path().filename().string()) == name_upper) return entry.path();
  return std::nullopt;
}

std::vector<fs::path> sorted_subdirs(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Every non-SA utterance under ROOT/<part>/DR*/<speaker>/.
std::vector<Utterance> scan_part(const fs::path& part) {
  std::vector<Utterance> out;
  for (const auto& region : sorted_subdirs(part)) {
    if (upper(region.filename().string()).rfind("DR", 0) != 0) continue;
    for (const auto& speaker_dir : sorted_subdirs(region)) {
      const std::string speaker = upper(speaker_dir.filename().string());
      for (const auto& entry : fs::directory_iterator(speaker_dir)) {
        const fs::path& p = entry.path();
        if (upper(p.extension().string()) != ".WAV") continue;
        const std::string id = upper(p.stem().string());
        if (id.rfind("SA", 0) == 0) continue;  // dialect sentences: read by everyone, excluded by convention
        auto phn = find_child(speaker_dir, id + ".PHN");
        if (!phn) throw UserError(fmt::format("{}: no matching .PHN file beside it", p.string()));
        out.push_back({speaker, id, p.string(), phn->string()});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Utterance& a, const Utterance& b) {
    return std::tie(a.speaker, a.id) < std::tie(b.speaker, b.id);
  });
  return out;
}

CorpusSplits scan_corpus_tree(const std::string& root) {
  if (!fs::is_directory(root)) throw UserError(fmt::format("{}: no such folder", root));
  auto train_dir = find_child(root, "TRAIN");
  auto test_dir = find_child(root, "TEST");
  if (!train_dir || !test_dir)
    throw UserError(fmt::format("{}: not a TIMIT corpus (expected TRAIN/ and TEST/ folders with DR1..DR8 inside)", root));
  CorpusSplits splits;
  splits.standin = standin::is_standin(root);
  std::vector<std::string> dev_list = dev_speakers(), test_list = core_test_speakers();
  if (splits.standin) {
    auto lists = standin::read_split_lists(root);
    dev_list = lists.dev_speakers;
    test_list = lists.test_speakers;
  }
  const std::set<std::string> dev_set(dev_list.begin(), dev_list.end());
  const std::set<std::string> test_set(test_list.begin(), test_list.end());
  splits.train = scan_part(*train_dir);
  for (auto& u : scan_part(*test_dir)) {
    if (dev_set.count(u.speaker)) splits.dev.push_back(std::move(u));
    else if (test_set.count(u.speaker)) splits.test.push_back(std::move(u));
  }
  if (splits.train.empty()) throw UserError(fmt::format("{}: no utterances found", train_dir->string()));
  if (splits.dev.empty())
    throw UserError(fmt::format("{}: none of the {} development speakers found", test_dir->string(), dev_list.size()));
  if (splits.test.empty())
    throw UserError(fmt::format("{}: none of the {} core test speakers found", test_dir->string(), test_list.size()));
  return splits;
}

}  // namespace

CorpusSplits scan_corpus(const std::string& root) {
  // A tree that cannot be walked (a symlink loop, a folder without read
  // permission) is the user's to fix: name the path, not a file-system error.
  try {
    return scan_corpus_tree(root);
  } catch (const fs::filesystem_error& e) {
    throw UserError(fmt::format("{}: cannot read ({})", e.path1().empty() ? root : e.path1().string(),
                                e.code().message()));
  }
}

std::vector<Segment> read_phn(const std::string& path, std::int64_t audio_samples) {
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("{}: cannot open", path));
  std::vector<Segment> segments;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    long long start = -1, end = -1;
    std::string label;
    if (!(fields >> start >> end >> label) || start < 0 || end < start)
      throw UserError(fmt::format("{}:{}: expected 'start end phone' with 0 <= start <= end, got '{}'", path,
                                  number, line));
    auto phone = phone_id(label);
    if (!phone) throw UserError(fmt::format("{}:{}: unknown phone label '{}'", path, number, label));
    if (end > audio_samples)
      throw UserError(fmt::format("{}:{}: segment ends at sample {}, past the end of the audio ({} samples)", path,
                                  number, end, audio_samples));
    if (end > start) segments.push_back({start, end, *phone});
  }
  if (segments.empty()) throw UserError(fmt::format("{}: no phone segments", path));
  std::sort(segments.begin(), segments.end(), [](const Segment& a, const Segment& b) { return a.start < b.start; });
  return segments;
}

torch::Tensor frame_labels(const std::vector<Segment>& segments, std::int64_t frames,
                           const features::Options& opts) {
  auto labels = torch::empty({frames}, torch::kInt64);
  auto* out = labels.data_ptr<std::int64_t>();
  std::size_t s = 0;
  for (std::int64_t t = 0; t < frames; ++t) {
    const std::int64_t centre = features::frame_center_sample(t, opts);
    // Centres increase with t, so one forward pass over the segments suffices.
    while (s + 1 < segments.size() && segments[s + 1].start <= centre) ++s;
    out[t] = segments[s].phone;
  }
  return labels;
}

torch::Tensor context_index(const std::vector<std::int64_t>& frames_per_utterance, int radius) {
  std::int64_t total = 0;
  for (auto f : frames_per_utterance) total += f;
  const std::int64_t width = 2 * radius + 1;
  auto index = torch::empty({total, width}, torch::kInt64);
  auto* out = index.data_ptr<std::int64_t>();
  std::int64_t first = 0;
  for (auto frames : frames_per_utterance) {
    for (std::int64_t t = 0; t < frames; ++t)
      for (std::int64_t k = -radius; k <= radius; ++k)
        *out++ = first + std::clamp<std::int64_t>(t + k, 0, frames - 1);
    first += frames;
  }
  return index;
}

namespace {

// One split's features as extracted (before normalisation): what the cache
// holds, as kCachedTensorsPerSplit tensors per split in train, dev, test order.
constexpr std::size_t kCachedTensorsPerSplit = 4, kSplits = 3;
struct SplitFeatures {
  torch::Tensor frames;      // [F, D] float32
  torch::Tensor labels;      // [F] int64, 61 phones
  torch::Tensor lengths;     // [U] int64, frames per utterance
  std::int64_t speakers = 0;
};

SplitFeatures extract(const std::vector<Utterance>& utterances, const features::Extractor& extractor) {
  const features::Options& opts = extractor.options();
  const auto n = static_cast<std::int64_t>(utterances.size());
  std::vector<torch::Tensor> feats(n), labels(n);
  // Utterances are independent: spread them over all cores (the training
  // thread settings are restored afterwards).
  const int threads_before = torch::get_num_threads();
  torch::set_num_threads(std::max(1u, std::thread::hardware_concurrency()));
  try {
    at::parallel_for(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const Utterance& u = utterances[i];
        Audio audio = read_audio(u.wav_path);
        if (audio.sample_rate != opts.sample_rate)
          throw UserError(fmt::format("{}: sample rate {} Hz, expected {} Hz", u.wav_path, audio.sample_rate,
                                      opts.sample_rate));
        auto segments = read_phn(u.phn_path, static_cast<std::int64_t>(audio.samples.size()));
        auto wave = torch::from_blob(audio.samples.data(), {static_cast<std::int64_t>(audio.samples.size())},
                                     torch::kInt16)
                        .to(torch::kFloat32);
        feats[i] = extractor.compute(wave);
        if (feats[i].size(0) == 0) throw UserError(fmt::format("{}: shorter than one analysis window", u.wav_path));
        labels[i] = frame_labels(segments, feats[i].size(0), opts);
      }
    });
  } catch (...) {
    torch::set_num_threads(threads_before);
    throw;
  }
  torch::set_num_threads(threads_before);
  SplitFeatures out;
  out.frames = torch::cat(feats);
  out.labels = torch::cat(labels);
  out.lengths = torch::empty({n}, torch::kInt64);
  std::set<std::string> speakers;
  for (std::int64_t i = 0; i < n; ++i) {
    out.lengths[i] = feats[i].size(0);
    speakers.insert(utterances[i].speaker);
  }
  out.speakers = static_cast<std::int64_t>(speakers.size());
  return out;
}

// The cache key covers everything the features depend on: the feature
// settings and each file's path, size and modification time.
std::string cache_key(const CorpusSplits& corpus, const features::Options& opts) {
  std::string text = "timit-features v1\n" + features::describe(opts) + "\n";
  for (const auto* split : {&corpus.train, &corpus.dev, &corpus.test}) {
    text += "split\n";
    for (const auto& u : *split)
      for (const auto& path : {u.wav_path, u.phn_path}) {
        std::error_code ec;
        auto size = fs::file_size(path, ec);
        auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
        text += fmt::format("{} {} {}\n", fs::absolute(path).lexically_normal().string(), size, mtime);
      }
  }
  return stable_hash(text);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::vector<SplitFeatures> load_or_extract(const CorpusSplits& corpus, const features::Options& opts,
                                           const std::string& cache_dir) {
  auto log = log::get("data");
  const fs::path cache = fs::path(cache_dir) / fmt::format("speech-features-{}.pt", cache_key(corpus, opts));
  if (fs::exists(cache)) {
    // A corrupt cache is an error naming the file, not silently rebuilt: the
    // cache is written atomically, so a bad one was damaged afterwards (or
    // written by another program), which the user should know about; deleting
    // it recomputes the features.
    std::vector<torch::Tensor> t;
    try {
      torch::load(t, cache.string());
    } catch (const c10::Error& e) {
      // c10::Error::what() carries a C++ backtrace of many lines.
      throw UserError(fmt::format("{}: unreadable feature cache ({}); delete it to recompute", cache.string(),
                                  first_line(e.what_without_backtrace())));
    } catch (const std::exception& e) {
      throw UserError(fmt::format("{}: unreadable feature cache ({}); delete it to recompute", cache.string(),
                                  first_line(e.what())));
    }
    const auto well_formed = [&] {
      if (t.size() != kCachedTensorsPerSplit * kSplits) return false;
      for (std::size_t i = 0; i < kSplits; ++i) {
        const std::size_t k = kCachedTensorsPerSplit * i;
        const auto &frames = t[k], &labels = t[k + 1], &lengths = t[k + 2], &speakers = t[k + 3];
        if (frames.dim() != 2 || frames.scalar_type() != torch::kFloat32 || labels.dim() != 1 ||
            labels.scalar_type() != torch::kInt64 || labels.size(0) != frames.size(0) || lengths.dim() != 1 ||
            lengths.scalar_type() != torch::kInt64 || lengths.sum().item<std::int64_t>() != frames.size(0) ||
            speakers.numel() != 1)
          return false;
        // Labels index the 61 phones; an out-of-range one would fail in training.
        if (labels.numel() > 0 &&
            (labels.min().item<std::int64_t>() < 0 ||
             labels.max().item<std::int64_t>() >= static_cast<std::int64_t>(phones61().size())))
          return false;
      }
      return true;
    };
    if (!well_formed())
      throw UserError(fmt::format("{}: feature cache has the wrong layout; delete it to recompute", cache.string()));
    log->info("features from cache {}", cache.string());
    std::vector<SplitFeatures> out(kSplits);
    for (std::size_t i = 0; i < kSplits; ++i) {
      const std::size_t k = kCachedTensorsPerSplit * i;
      out[i] = {t[k], t[k + 1], t[k + 2], t[k + 3].item<std::int64_t>()};
    }
    return out;
  }
  // Extraction takes a while: a cache folder that cannot be written fails first.
  require_writable_dir(cache_dir, "dataset.cache_dir");
  log->info("extracting features of {} utterances ({}); cached at {}",
            corpus.train.size() + corpus.dev.size() + corpus.test.size(), features::describe(opts), cache.string());
  const auto start = std::chrono::steady_clock::now();
  const features::Extractor extractor(opts);
  std::vector<SplitFeatures> out;
  for (const auto* split : {&corpus.train, &corpus.dev, &corpus.test}) out.push_back(extract(*split, extractor));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::int64_t frames = 0;
  for (const auto& s : out) frames += s.frames.size(0);
  log->info("features: {} frames ({:.0f} s of speech) in {:.1f} s", frames,
            static_cast<double>(frames) * opts.shift_ms / 1000.0, seconds);
  std::vector<torch::Tensor> t;
  for (const auto& s : out) {
    t.insert(t.end(), {s.frames, s.labels, s.lengths, torch::tensor(s.speakers)});
  }
  fs::create_directories(cache.parent_path());
  atomic_write(cache, [&](const fs::path& tmp) { torch::save(t, tmp.string()); });
  return out;
}

Dataset load(const config::DatasetConfig& cfg, const std::string& name) {
  features::Options opts;
  CorpusSplits corpus = scan_corpus(cfg.path);
  std::vector<SplitFeatures> feats = load_or_extract(corpus, opts, cfg.cache_dir);

  // Normalise every split with the training set's per-dimension statistics.
  auto mean = feats[0].frames.mean(0, true);
  auto stdev = feats[0].frames.std(0, true, true).clamp_min(1e-5);

  Dataset d;
  d.name = name;
  const std::int64_t window = 2 * cfg.context + 1;
  d.input_shape = {window * feats[0].frames.size(1)};
  d.num_classes = static_cast<int>(phones61().size());
  d.class_names = phones61();
  d.score_map = torch::empty({d.num_classes}, torch::kInt64);
  for (int p = 0; p < d.num_classes; ++p) d.score_map[p] = fold_to_39(p);
  d.metric = "frame error (39 classes)";
  Split* splits[] = {&d.train, &d.dev, &d.test};
  const std::vector<Utterance>* lists[] = {&corpus.train, &corpus.dev, &corpus.test};
  for (int i = 0; i < 3; ++i) {
    Split& s = *splits[i];
    s.x = feats[i].frames.sub(mean).div_(stdev).contiguous();
    s.y = feats[i].labels;
    const auto* len = feats[i].lengths.data_ptr<std::int64_t>();
    s.context = context_index(std::vector<std::int64_t>(len, len + feats[i].lengths.size(0)), cfg.context);
    s.utterances = static_cast<std::int64_t>(lists[i]->size());
    s.speakers = feats[i].speakers;
  }
  // Limits pick examples (frames), not rows: windows still see their
  // neighbours. Training frames are a fixed random subset over all speakers.
  if (cfg.train_limit > 0 && cfg.train_limit < d.train.size()) {
    auto gen = at::detail::createCPUGenerator(12345);
    auto keep = std::get<0>(torch::randperm(d.train.size(), gen, torch::kInt64).slice(0, 0, cfg.train_limit).sort());
    d.train.y = d.train.y.index_select(0, keep);
    d.train.context = d.train.context.index_select(0, keep);
  }
  if (cfg.test_limit > 0 && cfg.test_limit < d.test.size()) {
    d.test.y = d.test.y.slice(0, 0, cfg.test_limit);
    d.test.context = d.test.context.slice(0, 0, cfg.test_limit);
  }
  return d;
}

}  // namespace
}  // namespace timit

Dataset load_timit(const config::DatasetConfig& cfg) { return timit::load(cfg, "TIMIT"); }

namespace {
standin::Options standin_options(const config::DatasetConfig& cfg, const std::atomic<bool>* stop = nullptr) {
  standin::Options o;
  o.stop = stop;
  o.out_dir = cfg.path;
  o.seed = cfg.standin_seed;
  o.utterances_per_speaker = cfg.standin_utterances_per_speaker;
  o.snr_min_db = cfg.standin_snr_min_db;
  o.snr_max_db = cfg.standin_snr_max_db;
  o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}
}  // namespace

standin::Summary build_speech_standin(const config::DatasetConfig& cfg, const std::atomic<bool>* stop) {
  return standin::build(standin_options(cfg, stop));
}

Dataset load_speech_standin(const config::DatasetConfig& cfg) {
  namespace fs = std::filesystem;
  if (!standin::is_standin(cfg.path)) {
    if (fs::exists(cfg.path) && !fs::is_empty(cfg.path))
      throw UserError(fmt::format("dataset.path: {} exists but is not a stand-in corpus (no {}); point dataset.path "
                                  "at an empty or new folder",
                                  cfg.path, standin::marker_file_name()));
    // The build takes minutes and feature extraction follows it: the folders
    // both write to are checked first.
    require_writable_dir(cfg.path, "dataset.path");
    require_writable_dir(cfg.cache_dir, "dataset.cache_dir");
    log::get("data")->info("building the speech stand-in corpus at {} (first use)", cfg.path);
    std::error_code ec;
    fs::remove(cfg.path, ec);  // an empty folder
    try {
      build_speech_standin(cfg);
    } catch (const std::exception&) {
      // Another process building the same corpus may have finished first.
      if (!standin::is_standin(cfg.path) || !standin::built_with(cfg.path, standin_options(cfg))) throw;
    }
  }
  if (!standin::built_with(cfg.path, standin_options(cfg)))
    throw UserError(fmt::format("dataset.standin: the corpus at {} was built with other settings (see its {}); "
                                "use another dataset.path or delete that folder to rebuild",
                                cfg.path, standin::marker_file_name()));
  return timit::load(cfg, "flite speech stand-in for TIMIT");
}

}  // namespace qretrain::data
