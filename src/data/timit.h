// TIMIT in its LDC layout (ROOT/TRAIN|TEST/DR1..DR8/<speaker>/<utt>.WAV|.PHN,
// names in either case) and the flite stand-in written in the same layout.
// One loader serves both: scan -> split by speaker lists -> features (cached)
// -> frame labels -> context windows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/dataset.h"
#include "data/features.h"
#include "data/speech_standin.h"

namespace qretrain::data::timit {

struct Utterance {
  std::string speaker;   // upper case, e.g. "MJSW0"
  std::string id;        // upper case, e.g. "SX123"
  std::string wav_path;  // as found on disk (any case)
  std::string phn_path;
};

struct CorpusSplits {
  std::vector<Utterance> train, dev, test;
  bool standin = false;  // built by `qretrain data build speech-standin`
};

// Finds the utterances under root and assigns them to splits: train = every
// TRAIN speaker; dev and test = the TEST speakers of the standard lists (or the
// stand-in's own lists). SA sentences are excluded. Sorted, so deterministic.
// Throws UserError naming the folder when it is not in TIMIT layout.
CorpusSplits scan_corpus(const std::string& root);

struct Segment {
  std::int64_t start = 0, end = 0;  // samples, [start, end)
  int phone = 0;                    // 0..60, see timit_phones.h
};

// Parses a .PHN file. Throws UserError naming the file (and line) on an
// unknown phone, a malformed line, or a segment that runs past the audio.
std::vector<Segment> read_phn(const std::string& path, std::int64_t audio_samples);

// The 61-phone label of each frame: the segment covering the frame's centre
// sample (an uncovered centre takes the nearest segment before it).
torch::Tensor frame_labels(const std::vector<Segment>& segments, std::int64_t frames,
                           const features::Options& opts);

// Row ids of the (2*radius+1)-frame window around every frame, for
// utterances laid end to end with the given frame counts. Windows are clamped
// at utterance edges (the first/last frame repeats), never crossing into a
// neighbouring utterance. Returns int64 [sum(frames), 2*radius+1].
torch::Tensor context_index(const std::vector<std::int64_t>& frames_per_utterance, int radius);

}  // namespace qretrain::data::timit

namespace qretrain::data {
// Builds the flite stand-in at cfg.path with the dataset.standin.* settings;
// `stop` as in standin::Options.
standin::Summary build_speech_standin(const config::DatasetConfig& cfg, const std::atomic<bool>* stop = nullptr);
}  // namespace qretrain::data
