#include "data/timit_phones.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace qretrain::data::timit {
namespace {

// 61 phone -> 39 class (Lee & Hon 1989). Closures, pauses and epenthetic
// silence fold to 'sil'; 'q' (glottal stop) is dropped ("").
const std::vector<std::pair<std::string, std::string>>& folding() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"aa", "aa"},   {"ae", "ae"},  {"ah", "ah"},   {"ao", "aa"},   {"aw", "aw"},  {"ax", "ah"},  {"ax-h", "ah"},
      {"axr", "er"},  {"ay", "ay"},  {"b", "b"},     {"bcl", "sil"}, {"ch", "ch"},  {"d", "d"},    {"dcl", "sil"},
      {"dh", "dh"},   {"dx", "dx"},  {"eh", "eh"},   {"el", "l"},    {"em", "m"},   {"en", "n"},   {"eng", "ng"},
      {"epi", "sil"}, {"er", "er"},  {"ey", "ey"},   {"f", "f"},     {"g", "g"},    {"gcl", "sil"}, {"h#", "sil"},
      {"hh", "hh"},   {"hv", "hh"},  {"ih", "ih"},   {"ix", "ih"},   {"iy", "iy"},  {"jh", "jh"},  {"k", "k"},
      {"kcl", "sil"}, {"l", "l"},    {"m", "m"},     {"n", "n"},     {"ng", "ng"},  {"nx", "n"},   {"ow", "ow"},
      {"oy", "oy"},   {"p", "p"},    {"pau", "sil"}, {"pcl", "sil"}, {"q", ""},     {"r", "r"},    {"s", "s"},
      {"sh", "sh"},   {"t", "t"},    {"tcl", "sil"}, {"th", "th"},   {"uh", "uh"},  {"uw", "uw"},  {"ux", "uw"},
      {"v", "v"},     {"w", "w"},    {"y", "y"},     {"z", "z"},     {"zh", "sh"},
  };
  return table;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const std::vector<std::string>& phones61() {
  static const std::vector<std::string> phones = [] {
    std::vector<std::string> out;
    for (const auto& [phone, cls] : folding()) out.push_back(phone);
    return out;
  }();
  return phones;
}

const std::vector<std::string>& classes39() {
  static const std::vector<std::string> classes = [] {
    std::vector<std::string> out;
    for (const auto& [phone, cls] : folding())
      if (!cls.empty() && std::find(out.begin(), out.end(), cls) == out.end()) out.push_back(cls);
    return out;
  }();
  return classes;
}

std::optional<int> phone_id(const std::string& label) {
  const auto& phones = phones61();
  auto it = std::find(phones.begin(), phones.end(), lower(label));
  if (it == phones.end()) return std::nullopt;
  return static_cast<int>(it - phones.begin());
}

int fold_to_39(int phone61) {
  const std::string& cls = folding().at(static_cast<std::size_t>(phone61)).second;
  if (cls.empty()) return -1;
  const auto& classes = classes39();
  return static_cast<int>(std::find(classes.begin(), classes.end(), cls) - classes.begin());
}

// The 50-speaker development set of Halberstadt (1998), drawn from the TEST
// folder disjoint from the core test set: 400 utterances without SA.
const std::vector<std::string>& dev_speakers() {
  static const std::vector<std::string> speakers = {
      "FAKS0", "FDAC1", "FJEM0", "MGWT0", "MJAR0", "MMDB1", "MMDM2", "MPDF0", "FCMH0", "FKMS0",
      "MBDG0", "MBWM0", "MCSH0", "FADG0", "FDMS0", "FEDW0", "MGJF0", "MGLB0", "MRTK0", "MTAA0",
      "MTDT0", "MTHC0", "MWJG0", "FNMR0", "FREW0", "FSEM0", "MBNS0", "MMJR0", "MDLS0", "MDLF0",
      "MDVC0", "MERS0", "FMAH0", "FDRW0", "MRCS0", "MRJM4", "FCAL1", "MMWH0", "FJSJ0", "MAJC0",
      "MJSW0", "MREB0", "FGJD0", "FJMG0", "MROA0", "MTEB0", "MJFC0", "MRJR0", "FMML0", "MRWS1",
  };
  return speakers;
}

const std::vector<std::string>& core_test_speakers() {
  static const std::vector<std::string> speakers = {
      "MDAB0", "MWBT0", "FELC0",  // DR1
      "MTAS1", "MWEW0", "FPAS0",  // DR2
      "MJMP0", "MLNT0", "FPKT0",  // DR3
      "MLLL0", "MTLS0", "FJLM0",  // DR4
      "MBPM0", "MKLT0", "FNLP0",  // DR5
      "MCMJ0", "MJDH0", "FMGD0",  // DR6
      "MGRT0", "MNJM0", "FDHC0",  // DR7
      "MJLN0", "MPAM0", "FMLD0",  // DR8
  };
  return speakers;
}

}  // namespace qretrain::data::timit
