// The embedded TIMIT stand-in: synthetic speech from Debian's flite voices,
// written in TIMIT's LDC layout (TRAIN|TEST/DR<k>/<SPK>/<UTT>.WAV|.PHN|.TXT,
// NIST SPHERE 16 kHz) so the real TIMIT loader reads it unchanged. Clean
// synthetic speech is too easy (~10% frame error), so every utterance carries
// additive white or pink noise at 5-20 dB SNR, which lands near TIMIT's regime.
// Torch-free: it links flite, libsndfile and zlib only.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace qretrain::data::standin {

struct Options {
  std::string out_dir;  // corpus root to create; must not exist yet
  std::uint64_t seed = 1;
  // Speakers per split. Dev and test speakers go under TEST (as in TIMIT);
  // the marker file tells them apart. Defaults give 100 speakers, 4200 utterances.
  int train_speakers = 76, dev_speakers = 12, test_speakers = 12;
  int utterances_per_speaker = 42;
  // Each utterance's SNR is drawn uniformly from [snr_min_db, snr_max_db].
  double snr_min_db = 5, snr_max_db = 20;
  std::string text_path = "/usr/share/dictd/gcide.dict.dz";  // gzip/dictzip English text
  // Worker processes. flite keeps global state, so parallel builds fork
  // processes that each write a disjoint set of speakers.
  int jobs = 2;
  // Set (by a SIGINT/SIGTERM handler) to stop the build: it stops its
  // workers, removes its partial folder and throws Interrupted. Null: never.
  const std::atomic<bool>* stop = nullptr;
};

struct Summary {
  int speakers = 0, utterances = 0;
  double audio_seconds = 0, build_seconds = 0;
  std::vector<std::string> train_speakers, dev_speakers, test_speakers;
};

// Builds the corpus into out_dir + ".partial-<pid>" and renames it into place
// when complete, so a corpus is whole or absent (also when stopped through
// Options::stop). Deterministic for a seed. Throws UserError naming the
// option or file at fault.
Summary build(const Options& options);

struct SplitLists {
  std::vector<std::string> dev_speakers, test_speakers;
};
// The dev/test speaker lists recorded in a built corpus's marker file; throws
// UserError naming the file when it is absent or lacks either list.
SplitLists read_split_lists(const std::string& corpus_root);
bool is_standin(const std::string& corpus_root);
// Whether the corpus at corpus_root was built with these options (jobs aside).
bool built_with(const std::string& corpus_root, const Options& options);
std::string marker_file_name();

// --- Building blocks, exposed for tests ---

// Plain English sentences from a gzip (or dictzip) text such as GCIDE: markup
// stripped, ASCII letters and basic punctuation only, 5-14 words, first
// occurrence order, no duplicates. Throws UserError naming the file if unreadable.
std::vector<std::string> extract_sentences(const std::string& gz_path);

enum class NoiseColour { white, pink };

// `speech` plus noise of `colour` scaled so that mean clean power / noise power
// is exactly `snr_db` over the utterance, plus 1-LSB triangular dither,
// rounded and clipped to int16.
std::vector<std::int16_t> add_noise(const std::vector<std::int16_t>& speech, double snr_db, NoiseColour colour,
                                    std::mt19937_64& rng);

// TIMIT label of a flite (CMU) phone: pau at either end of the utterance is
// h#, inner pau stays pau, every other phone keeps its name. Throws UserError
// for a phone with no TIMIT counterpart, so nothing is dropped silently.
std::string timit_label(const std::string& flite_phone, bool at_utterance_edge);

}  // namespace qretrain::data::standin
