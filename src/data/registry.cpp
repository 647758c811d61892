#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/dataset.h"
#include "data/text.h"
#include "util/error.h"

namespace qretrain::data {
namespace {

const std::map<std::string, Loader>& loaders() {
  static const std::map<std::string, Loader> table = {
      {"fashion-mnist", load_fashion_mnist},
      {"svhn", load_svhn},
      {"timit", load_timit},
      {"speech-standin", load_speech_standin},
      {"enwik8", text::load_enwik8_dataset},
      {"gcide", text::load_gcide_dataset},
  };
  return table;
}

}  // namespace

std::vector<std::string> registered_kinds() {
  std::vector<std::string> kinds;
  for (const auto& kv : loaders()) kinds.push_back(kv.first);
  return kinds;
}

Dataset load(const config::DatasetConfig& cfg) {
  auto it = loaders().find(cfg.kind);
  if (it == loaders().end())
    throw UserError(fmt::format("dataset.kind: unknown dataset '{}' (known: {})", cfg.kind,
                                fmt::join(registered_kinds(), ", ")));
  return it->second(cfg);
}

}  // namespace qretrain::data
