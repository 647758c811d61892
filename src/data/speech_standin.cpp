#include "data/speech_standin.h"

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <thread>
#include <unordered_set>

#include <flite/flite.h>
#include <fmt/format.h>

#include "data/sphere.h"
#include "data/timit_phones.h"
#include "util/error.h"
#include "util/log.h"

// The voices' registration functions are not declared in any flite header.
extern "C" {
cst_voice* register_cmu_us_kal16(const char* voxdir);
cst_voice* register_cmu_us_awb(const char* voxdir);
cst_voice* register_cmu_us_rms(const char* voxdir);
cst_voice* register_cmu_us_slt(const char* voxdir);
}

namespace qretrain::data::standin {
namespace {

namespace fs = std::filesystem;

constexpr int kSampleRate = 16000;
constexpr int kMinWords = 5, kMaxWords = 14;
// Like TIMIT's SX sentences, a third of each speaker's utterances come from a
// pool that about seven speakers of the same split read; the rest are read once.
constexpr int kReadersPerSharedSentence = 7;
// Per-speaker variation ranges (flite feature values, 1 = the voice's default).
constexpr double kStretchMin = 0.85, kStretchMax = 1.2;  // duration_stretch
constexpr double kPitchMin = 0.8, kPitchMax = 1.25;      // f0_shift
// Speaker IDs are sex + 2-letter voice code + letter + digit: 260 per voice.
constexpr int kMaxSpeakersPerVoice = 26 * 10;

// One row per flite voice. Plain cmu_us_kal is left out: it is 8 kHz.
struct VoiceInfo {
  const char* name;
  char sex;
  const char* code;
  bool pitch_shiftable;  // rms ignores f0_shift; it varies by rate and noise only
  cst_voice* (*register_voice)(const char*);
};
const VoiceInfo kVoices[] = {
    {"kal16", 'M', "KA", true, register_cmu_us_kal16},
    {"awb", 'M', "AW", true, register_cmu_us_awb},
    {"rms", 'M', "RM", false, register_cmu_us_rms},
    {"slt", 'F', "SL", true, register_cmu_us_slt},
};
constexpr int kVoiceCount = sizeof kVoices / sizeof kVoices[0];

const char* colour_name(NoiseColour colour) { return colour == NoiseColour::white ? "white" : "pink"; }

struct Utterance {
  std::string id;  // SX<n> or SI<n>, n = the sentence's index in the shuffled pool
  std::string text;
};

struct Speaker {
  std::string id, split;  // split: train, dev or test
  int dialect_region = 1;
  int voice = 0;  // index into kVoices
  double f0_shift = 1, duration_stretch = 1;
  NoiseColour noise = NoiseColour::white;
  std::uint64_t rng_key = 0;  // distinct per speaker; seeds its utterances' noise
  std::vector<Utterance> utterances;

  fs::path dir(const fs::path& root) const {
    return root / (split == "train" ? "TRAIN" : "TEST") / fmt::format("DR{}", dialect_region) / id;
  }
};

// SplitMix64 finaliser: turns (seed, speaker, utterance) into well-spread
// generator seeds, so neighbouring speakers do not get correlated streams.
std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fisher-Yates with our own index draw: the order depends on the seed only,
// not on the standard library's shuffle.
void shuffle(std::vector<std::string>& items, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng() % i]);
}

// ---- sentences ----

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw UserError(fmt::format("{}: cannot open text for the speech stand-in", path));
  std::string text;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(got));
  const bool failed = got < 0;
  gzclose(file);
  if (failed) throw UserError(fmt::format("{}: corrupt gzip/dictzip text", path));
  return text;
}

// Drops dictionary markup: <tags>, [etymologies, sources], (labels),
// \pronunciations\ and quote marks; keeps the words inside {cross references}.
// "--" (dashes, "--Author." citations) becomes a hard sentence break '\n'.
std::string strip_markup(const std::string& block) {
  std::string out;
  int depth = 0;
  bool in_pronunciation = false;
  for (std::size_t i = 0; i < block.size(); ++i) {
    const char c = block[i];
    if (c == '\\') {
      in_pronunciation = !in_pronunciation;
    } else if (c == '<' || c == '[' || c == '(') {
      ++depth;
    } else if (c == '>' || c == ']' || c == ')') {
      depth = std::max(0, depth - 1);
    } else if (depth > 0 || in_pronunciation || c == '{' || c == '}' || c == '"') {
      continue;
    } else if (c == '-' && i + 1 < block.size() && block[i + 1] == '-') {
      out += '\n';
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

bool is_end_mark(char c) { return c == '.' || c == '!' || c == '?'; }

// Collapses whitespace and removes the space that stripped markup leaves
// before punctuation ("word , word" -> "word, word").
std::string tidy(const std::string& raw) {
  std::string out;
  for (char c : raw) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      if ((c == ',' || c == ';' || c == ':' || is_end_mark(c)) && !out.empty() && out.back() == ' ') out.pop_back();
      out += c;
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool is_plain_sentence(const std::string& s) {
  if (s.size() < 2 || !std::isupper(static_cast<unsigned char>(s.front())) || !is_end_mark(s.back())) return false;
  int words = 1;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    const char c = s[i];
    const bool allowed = std::isalpha(static_cast<unsigned char>(c)) || c == ' ' || c == ',' || c == ';' ||
                         c == ':' || c == '\'' || c == '-';
    if (!allowed || static_cast<unsigned char>(c) > 127) return false;
    if (c == ' ') ++words;
  }
  return words >= kMinWords && words <= kMaxWords;
}

void sentences_of_block(const std::string& block, std::vector<std::string>& out,
                        std::unordered_set<std::string>& seen) {
  const std::string text = strip_markup(block);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const bool at_end = i == text.size();
    const bool hard_break = !at_end && text[i] == '\n';
    const bool sentence_end = !at_end && is_end_mark(text[i]) &&
                              (i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1])));
    if (!at_end && !hard_break && !sentence_end) continue;
    const std::string candidate = tidy(text.substr(start, i - start + (sentence_end ? 1 : 0)));
    if (is_plain_sentence(candidate) && seen.insert(candidate).second) out.push_back(candidate);
    start = i + 1;
  }
}

// ---- speakers and sentences per split ----

struct SplitSpec {
  const char* name;
  int speakers;
};

std::vector<Speaker> plan_speakers(const Options& options, std::vector<std::string> sentences) {
  shuffle(sentences, mix(options.seed, 0x5e47e9ce));
  const int per_speaker = options.utterances_per_speaker;
  const int shared_per_speaker = per_speaker / 3;
  const int single_per_speaker = per_speaker - shared_per_speaker;

  std::vector<Speaker> speakers;
  std::size_t next_sentence = 0;  // splits take disjoint ranges of the shuffled sentences
  int per_voice_count[kVoiceCount] = {};
  const SplitSpec splits[] = {
      {"train", options.train_speakers}, {"dev", options.dev_speakers}, {"test", options.test_speakers}};
  for (int split_index = 0; split_index < static_cast<int>(std::size(splits)); ++split_index) {
    const SplitSpec& split = splits[split_index];
    const int shared_pool = std::max(shared_per_speaker, (split.speakers * shared_per_speaker +
                                                          kReadersPerSharedSentence - 1) /
                                                             kReadersPerSharedSentence);
    const std::size_t needed = static_cast<std::size_t>(shared_pool + split.speakers * single_per_speaker);
    if (next_sentence + needed > sentences.size())
      throw UserError(fmt::format("{}: only {} usable sentences; the speech stand-in needs {} (fewer speakers or "
                                  "utterances per speaker, or a larger text)",
                                  options.text_path, sentences.size(), next_sentence + needed));
    const std::size_t shared_base = next_sentence;
    std::size_t single_next = shared_base + static_cast<std::size_t>(shared_pool);
    for (int i = 0; i < split.speakers; ++i) {
      Speaker s;
      s.split = split.name;
      // Voices and noise colours rotate so that even a 12-speaker split has
      // every voice with both colours; the split offsets vary tiny builds.
      s.voice = (i + split_index) % kVoiceCount;
      s.noise = (i / kVoiceCount + split_index) % 2 == 0 ? NoiseColour::white : NoiseColour::pink;
      s.rng_key = mix(options.seed, speakers.size());
      std::mt19937_64 rng(s.rng_key);
      s.dialect_region = std::uniform_int_distribution<int>(1, 8)(rng);
      s.duration_stretch = std::uniform_real_distribution<double>(kStretchMin, kStretchMax)(rng);
      s.f0_shift = std::uniform_real_distribution<double>(kPitchMin, kPitchMax)(rng);
      if (!kVoices[s.voice].pitch_shiftable) s.f0_shift = 1;
      const VoiceInfo& voice = kVoices[s.voice];
      const int variant = per_voice_count[s.voice]++;
      s.id = fmt::format("{}{}{}{}", voice.sex, voice.code, static_cast<char>('A' + variant / 10), variant % 10);

      for (int k = 0; k < shared_per_speaker; ++k) {
        const std::size_t index = shared_base + static_cast<std::size_t>(i * shared_per_speaker + k) %
                                                    static_cast<std::size_t>(shared_pool);
        s.utterances.push_back({fmt::format("SX{}", index), sentences[index]});
      }
      for (int k = 0; k < single_per_speaker; ++k, ++single_next)
        s.utterances.push_back({fmt::format("SI{}", single_next), sentences[single_next]});
      speakers.push_back(std::move(s));
    }
    next_sentence = single_next;
  }
  return speakers;
}

// ---- synthesis ----

// flite's voices, registered once per process. Forked workers inherit them.
cst_voice* flite_voice(int index) {
  static const std::vector<cst_voice*> voices = [] {
    flite_init();
    std::vector<cst_voice*> out;
    for (const VoiceInfo& v : kVoices) out.push_back(v.register_voice(nullptr));
    return out;
  }();
  return voices.at(static_cast<std::size_t>(index));
}

struct Segment {
  long start, end;
  std::string label;
};

struct Synthesis {
  std::vector<std::int16_t> samples;
  std::vector<Segment> segments;
};

// Phone segments in samples, contiguous from 0 and clipped to the audio
// (kal16's waveform ends ~0.1 s before its final pau does). Segments left
// with no audio after clipping are dropped; a final h# is stretched to the end.
std::vector<Segment> phone_segments(cst_utterance* utt, long n_samples, const std::string& text) {
  std::vector<std::pair<std::string, float>> phones;
  for (cst_item* s = relation_head(utt_relation(utt, "Segment")); s; s = item_next(s))
    phones.emplace_back(item_feat_string(s, "name"), item_feat_float(s, "end"));
  if (phones.empty()) throw UserError(fmt::format("flite produced no phones for \"{}\"", text));
  std::vector<Segment> segments;
  long start = 0;
  for (std::size_t i = 0; i < phones.size(); ++i) {
    const bool edge = i == 0 || i + 1 == phones.size();
    std::string label;
    try {
      label = timit_label(phones[i].first, edge);
    } catch (const UserError& e) {
      throw UserError(fmt::format("{} (in \"{}\")", e.what(), text));
    }
    const long end = std::min(n_samples, std::lround(static_cast<double>(phones[i].second) * kSampleRate));
    if (end <= start) continue;
    segments.push_back({start, end, label});
    start = end;
  }
  if (!segments.empty() && segments.back().label == "h#") segments.back().end = n_samples;
  return segments;
}

// `excitation_seed` reseeds libc rand(), which flite's clustergen voices
// (awb, rms, slt) draw their excitation noise from: without it a waveform
// would depend on how many utterances this process synthesized before.
Synthesis synthesize(const Speaker& speaker, const std::string& text, unsigned excitation_seed) {
  cst_voice* voice = flite_voice(speaker.voice);
  // Every feature a speaker varies is set each time: voices are shared.
  feat_set_float(voice->features, "duration_stretch", static_cast<float>(speaker.duration_stretch));
  feat_set_float(voice->features, "f0_shift", static_cast<float>(speaker.f0_shift));
  std::srand(excitation_seed);
  cst_utterance* utt = flite_synth_text(text.c_str(), voice);
  if (!utt) throw UserError(fmt::format("flite could not synthesize \"{}\"", text));
  Synthesis out;
  try {
    const cst_wave* wave = utt_wave(utt);
    if (!wave || wave->num_samples <= 0 || wave->sample_rate != kSampleRate || wave->num_channels != 1)
      throw UserError(fmt::format("flite voice {} gave no 16 kHz mono audio for \"{}\"",
                                  kVoices[speaker.voice].name, text));
    out.samples.assign(wave->samples, wave->samples + wave->num_samples);
    out.segments = phone_segments(utt, wave->num_samples, text);
  } catch (...) {
    delete_utterance(utt);
    throw;
  }
  delete_utterance(utt);
  return out;
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw UserError(fmt::format("{}: cannot write", path.string()));
}

struct Totals {
  int utterances = 0;
  long long samples = 0;
};

bool stop_requested(const Options& options) { return options.stop && options.stop->load(); }

void throw_if_stopped(const Options& options) {
  if (stop_requested(options)) throw Interrupted("speech stand-in build interrupted; its partial folder was removed");
}

Totals write_speaker(const fs::path& root, const Speaker& speaker, const Options& options) {
  const fs::path dir = speaker.dir(root);
  fs::create_directories(dir);
  Totals totals;
  for (std::size_t u = 0; u < speaker.utterances.size(); ++u) {
    throw_if_stopped(options);
    const Utterance& utt = speaker.utterances[u];
    std::mt19937_64 rng(mix(speaker.rng_key, u));
    const double snr_db = std::uniform_real_distribution<double>(options.snr_min_db, options.snr_max_db)(rng);
    Synthesis clean = synthesize(speaker, utt.text, static_cast<unsigned>(rng()));
    const std::vector<std::int16_t> noisy = add_noise(clean.samples, snr_db, speaker.noise, rng);
    const fs::path stem = dir / utt.id;
    write_sphere(stem.string() + ".WAV", noisy, kSampleRate);
    std::string phn;
    for (const Segment& s : clean.segments) phn += fmt::format("{} {} {}\n", s.start, s.end, s.label);
    write_text_file(stem.string() + ".PHN", phn);
    write_text_file(stem.string() + ".TXT", fmt::format("0 {} {}\n", noisy.size(), utt.text));
    ++totals.utterances;
    totals.samples += static_cast<long long>(noisy.size());
  }
  return totals;
}

Totals write_speakers(const fs::path& root, const std::vector<const Speaker*>& mine, int worker, int total_speakers,
                      const Options& options) {
  auto log = log::get("data");
  Totals totals;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const Totals t = write_speaker(root, *mine[i], options);
    totals.utterances += t.utterances;
    totals.samples += t.samples;
    log->info("speech stand-in: worker {} wrote speaker {} ({}/{}; {} speakers in all)", worker, mine[i]->id, i + 1,
              mine.size(), total_speakers);
  }
  return totals;
}

// Runs `jobs` forked workers over disjoint speaker sets. Each reports through
// a result file: "ok <utterances> <samples>" or the error message.
Totals write_in_workers(const fs::path& root, const std::vector<Speaker>& speakers, int jobs,
                        const Options& options) {
  std::vector<std::vector<const Speaker*>> shares(static_cast<std::size_t>(jobs));
  for (std::size_t i = 0; i < speakers.size(); ++i) shares[i % shares.size()].push_back(&speakers[i]);
  const int total = static_cast<int>(speakers.size());
  if (jobs == 1) return write_speakers(root, shares[0], 0, total, options);

  auto result_file = [&](int worker) { return root / fmt::format(".worker-{}.result", worker); };
  std::fflush(nullptr);  // or buffered output would be written once per process
  std::vector<pid_t> pids;
  for (int w = 0; w < jobs; ++w) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      throw UserError(fmt::format("speech stand-in: cannot start worker process {} of {}", w + 1, jobs));
    }
    if (pid == 0) {
      // The worker has one thread and no signal watcher (app/runtime.h):
      // it takes stop signals itself, through the handler it inherited.
      sigset_t stops;
      sigemptyset(&stops);
      sigaddset(&stops, SIGINT);
      sigaddset(&stops, SIGTERM);
      ::sigprocmask(SIG_UNBLOCK, &stops, nullptr);
      int code = 0;
      std::string report;
      try {
        const Totals t = write_speakers(root, shares[static_cast<std::size_t>(w)], w, total, options);
        report = fmt::format("ok {} {}", t.utterances, t.samples);
      } catch (const std::exception& e) {
        report = e.what();
        code = 1;
      }
      std::ofstream(result_file(w)) << report;
      std::fflush(nullptr);
      ::_exit(code);  // no atexit handlers or destructors of the parent's state
    }
    pids.push_back(pid);
  }
  // The stop flag is polled while waiting (a watcher thread, not this one,
  // takes the signal, so waitpid is not interrupted). Workers forked after
  // the handler was installed share it and stop by themselves when the
  // signal reaches the whole process group (Ctrl-C); a signal sent to this
  // process alone is passed on to them. Either way every worker is waited
  // for before the caller removes the folder they write into.
  bool passed_on = false;
  auto wait_for = [&](std::size_t w, int& status) {
    for (;;) {
      if (stop_requested(options) && !passed_on) {
        // Only workers not reaped yet: a reaped one's pid may belong to another process by now.
        for (std::size_t i = w; i < pids.size(); ++i) ::kill(pids[i], SIGTERM);
        passed_on = true;
      }
      const pid_t r = ::waitpid(pids[w], &status, WNOHANG);
      if (r == pids[w] || (r < 0 && errno != EINTR)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  Totals totals;
  std::vector<std::string> failures;
  for (int w = 0; w < jobs; ++w) {
    int status = 0;
    wait_for(static_cast<std::size_t>(w), status);
    std::ifstream in(result_file(w));
    std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(report);
    std::string word;
    Totals t;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && fields >> word >> t.utterances >> t.samples && word == "ok") {
      totals.utterances += t.utterances;
      totals.samples += t.samples;
    } else if (WIFSIGNALED(status)) {
      failures.push_back(fmt::format("worker {} killed by signal {}", w, WTERMSIG(status)));
    } else {
      failures.push_back(fmt::format("worker {}: {}", w, report.empty() ? "failed without a report" : report));
    }
    fs::remove(result_file(w));
  }
  throw_if_stopped(options);
  if (!failures.empty())
    throw UserError(fmt::format("speech stand-in build failed: {}", fmt::join(failures, "; ")));
  return totals;
}

std::vector<std::string> ids_of(const std::vector<Speaker>& speakers, const std::string& split) {
  std::vector<std::string> out;
  for (const Speaker& s : speakers)
    if (s.split == split) out.push_back(s.id);
  return out;
}

// Everything a reader needs to reproduce or interpret the corpus; no paths
// or times, so the same options give a byte-identical file.
// The marker's lines that depend only on the build options (not on jobs).
std::string settings_text(const Options& options) {
  return fmt::format(
      "seed: {}\n"
      "train_speakers_count: {}\ndev_speakers_count: {}\ntest_speakers_count: {}\n"
      "utterances_per_speaker: {}\n"
      "snr_db: {} {}\n"
      "text: {}\n",
      options.seed, options.train_speakers, options.dev_speakers, options.test_speakers,
      options.utterances_per_speaker, options.snr_min_db, options.snr_max_db, options.text_path);
}

std::string marker_text(const Options& options, const std::vector<Speaker>& speakers, const Totals& totals) {
  std::string text = fmt::format(
      "qretrain speech stand-in: synthetic flite speech in TIMIT layout (NOT the LDC TIMIT corpus)\n"
      "{}"
      "utterances: {}\n"
      "audio_seconds: {:.1f}\n",
      settings_text(options), totals.utterances, static_cast<double>(totals.samples) / kSampleRate);
  for (const Speaker& s : speakers)
    text += fmt::format("speaker: {} split={} dr={} voice={} f0_shift={:.3f} duration_stretch={:.3f} noise={}\n",
                        s.id, s.split, s.dialect_region, kVoices[s.voice].name, s.f0_shift, s.duration_stretch,
                        colour_name(s.noise));
  text += fmt::format("dev_speakers: {}\n", fmt::join(ids_of(speakers, "dev"), " "));
  text += fmt::format("test_speakers: {}\n", fmt::join(ids_of(speakers, "test"), " "));
  return text;
}

void validate(const Options& o) {
  auto fail = [](const std::string& option, const std::string& why) {
    throw UserError(fmt::format("speech stand-in option {}: {}", option, why));
  };
  if (o.out_dir.empty()) fail("out_dir", "is empty");
  if (o.train_speakers < 1) fail("train_speakers", "must be at least 1");
  if (o.dev_speakers < 1) fail("dev_speakers", "must be at least 1");
  if (o.test_speakers < 1) fail("test_speakers", "must be at least 1");
  const int total = o.train_speakers + o.dev_speakers + o.test_speakers;
  if (total > kVoiceCount * kMaxSpeakersPerVoice)
    fail("train_speakers", fmt::format("{} speakers in all; at most {} have distinct IDs", total,
                                       kVoiceCount * kMaxSpeakersPerVoice));
  if (o.utterances_per_speaker < 1) fail("utterances_per_speaker", "must be at least 1");
  if (!(o.snr_min_db <= o.snr_max_db)) fail("snr_max_db", "is below snr_min_db");
  if (o.jobs < 1) fail("jobs", "must be at least 1");
}

}  // namespace

std::string marker_file_name() { return "STANDIN.txt"; }

bool is_standin(const std::string& corpus_root) { return fs::is_regular_file(fs::path(corpus_root) / marker_file_name()); }

std::string timit_label(const std::string& flite_phone, bool at_utterance_edge) {
  const std::string label = flite_phone == "pau" && at_utterance_edge ? "h#" : flite_phone;
  if (!timit::phone_id(label))
    throw UserError(fmt::format("flite phone '{}' has no TIMIT counterpart (speech stand-in phone map)", flite_phone));
  return label;
}

std::vector<std::string> extract_sentences(const std::string& gz_path) {
  const std::string text = read_gzip(gz_path);
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  // Blank lines separate paragraphs; a sentence never spans two. Lines at
  // column 0 are entry headers (headword, part of speech), never prose.
  std::string block;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      sentences_of_block(block, out, seen);
      block.clear();
    } else if (line[0] != ' ' && line[0] != '\t') {
      continue;
    } else {
      block += line;
      block += ' ';
    }
  }
  sentences_of_block(block, out, seen);
  return out;
}

std::vector<std::int16_t> add_noise(const std::vector<std::int16_t>& speech, double snr_db, NoiseColour colour,
                                    std::mt19937_64& rng) {
  if (speech.empty()) return {};
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<double> noise(speech.size());
  if (colour == NoiseColour::white) {
    for (double& n : noise) n = gauss(rng);
  } else {
    // Paul Kellet's economy pink filter (-3 dB/octave), run in before use so
    // the slowest pole has settled.
    double b0 = 0, b1 = 0, b2 = 0;
    auto next = [&] {
      const double white = gauss(rng);
      b0 = 0.99765 * b0 + white * 0.0990460;
      b1 = 0.96300 * b1 + white * 0.2965164;
      b2 = 0.57000 * b2 + white * 1.0526913;
      return b0 + b1 + b2 + white * 0.1848;
    };
    for (int i = 0; i < 4000; ++i) next();
    for (double& n : noise) n = next();
  }
  double speech_power = 0, noise_power = 0;
  for (std::size_t i = 0; i < speech.size(); ++i) {
    speech_power += static_cast<double>(speech[i]) * speech[i];
    noise_power += noise[i] * noise[i];
  }
  const double gain = noise_power > 0 ? std::sqrt(speech_power / noise_power / std::pow(10.0, snr_db / 10)) : 0;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<std::int16_t> out(speech.size());
  for (std::size_t i = 0; i < speech.size(); ++i) {
    const double dither = unit(rng) - unit(rng);  // triangular, +-1 LSB
    const double value = std::round(speech[i] + gain * noise[i] + dither);
    out[i] = static_cast<std::int16_t>(std::clamp(value, -32768.0, 32767.0));
  }
  return out;
}

Summary build(const Options& options) {
  validate(options);
  const auto started = std::chrono::steady_clock::now();
  const fs::path out_dir(options.out_dir);
  if (fs::exists(out_dir))
    throw UserError(fmt::format("{}: already exists; remove it to rebuild the speech stand-in", out_dir.string()));

  const std::vector<Speaker> speakers = plan_speakers(options, extract_sentences(options.text_path));
  throw_if_stopped(options);
  fs::path partial = out_dir;
  partial += fmt::format(".partial-{}", ::getpid());
  fs::remove_all(partial);
  fs::create_directories(partial);
  Totals totals;
  try {
    const int jobs = std::min(options.jobs, static_cast<int>(speakers.size()));
    totals = write_in_workers(partial, speakers, jobs, options);
    write_text_file(partial / marker_file_name(), marker_text(options, speakers, totals));
    fs::rename(partial, out_dir);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    throw;
  }

  Summary summary;
  summary.speakers = static_cast<int>(speakers.size());
  summary.utterances = totals.utterances;
  summary.audio_seconds = static_cast<double>(totals.samples) / kSampleRate;
  summary.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.train_speakers = ids_of(speakers, "train");
  summary.dev_speakers = ids_of(speakers, "dev");
  summary.test_speakers = ids_of(speakers, "test");
  log::get("data")->info("speech stand-in: {} speakers, {} utterances, {:.2f} h of audio in {:.0f} s -> {}",
                         summary.speakers, summary.utterances, summary.audio_seconds / 3600, summary.build_seconds,
                         out_dir.string());
  return summary;
}

bool built_with(const std::string& corpus_root, const Options& options) {
  std::ifstream in(fs::path(corpus_root) / marker_file_name());
  const std::string marker{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return marker.find(settings_text(options)) != std::string::npos;
}

SplitLists read_split_lists(const std::string& corpus_root) {
  const fs::path path = fs::path(corpus_root) / marker_file_name();
  std::ifstream in(path);
  if (!in)
    throw UserError(fmt::format("{}: missing; {} is not a speech stand-in corpus (build one with `qretrain data "
                                "build`)",
                                path.string(), corpus_root));
  SplitLists lists;
  bool have_dev = false, have_test = false;
  for (std::string line; std::getline(in, line);) {
    auto read_list = [&](const std::string& key, std::vector<std::string>& into, bool& found) {
      if (line.rfind(key, 0) != 0) return;
      std::istringstream names(line.substr(key.size()));
      for (std::string name; names >> name;) into.push_back(name);
      found = true;
    };
    read_list("dev_speakers:", lists.dev_speakers, have_dev);
    read_list("test_speakers:", lists.test_speakers, have_test);
  }
  if (!have_dev || !have_test || lists.dev_speakers.empty() || lists.test_speakers.empty())
    throw UserError(fmt::format("{}: bad speech stand-in marker: needs non-empty 'dev_speakers:' and "
                                "'test_speakers:' lines",
                                path.string()));
  return lists;
}

}  // namespace qretrain::data::standin
