#include "app/command.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "quant/qstep.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::app {
namespace {

int cmd_qstep(int bits, const std::string& file) {
  if (bits < 2 || bits > 8) throw UserError(fmt::format("--bits: {} is outside 2..8", bits));
  std::string text;
  std::string name = file == "-" ? "<stdin>" : file;
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    text = read_text_file(file);
  }
  std::vector<float> w;
  std::string token;
  int line = 1;
  std::size_t pos = 0;
  // Tokenise by hand to report the line of a bad token.
  while (pos < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[pos]))) {
      if (text[pos] == '\n') ++line;
      ++pos;
      continue;
    }
    std::size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    token = text.substr(pos, end - pos);
    // Parsed straight to float, rounded once. ERANGE means overflow (a
    // magnitude above FLT_MAX: an error, it has no float) or underflow:
    // values below the smallest normal float (such as 1e-320) are finite
    // numbers and kept as strtof rounds them, to a float subnormal or to 0.
    errno = 0;
    char* stop = nullptr;
    const float v = std::strtof(token.c_str(), &stop);
    const bool whole = stop == token.c_str() + token.size();
    if (whole && errno == ERANGE && std::isinf(v))
      throw UserError(fmt::format("{}:{}: '{}' is outside the float range (magnitude at most {:g})", name, line, token,
                                  std::numeric_limits<float>::max()));
    if (!whole || !std::isfinite(v))
      throw UserError(fmt::format("{}:{}: '{}' is not a finite number", name, line, token));
    w.push_back(v);
    pos = end;
  }
  if (w.empty()) throw UserError(fmt::format("{}: no numbers to quantize", name));
  quant::StepResult r = quant::qstep(w.data(), w.size(), bits);
  const int level = quant::max_level(bits);
  std::cout << fmt::format("bits:   {} ({} points, levels -{}..{})\n", bits, 2 * level + 1, level, level);
  std::cout << fmt::format("count:  {}\n", w.size());
  std::cout << fmt::format("delta:  {:.9g}\n", r.delta);
  std::cout << fmt::format("sse:    {:.9g}\n", r.sse);
  std::cout << fmt::format("rmse:   {:.9g}\n", std::sqrt(r.sse / static_cast<double>(w.size())));
  return 0;
}

}  // namespace

Command qstep_command() {
  return {"qstep", "L2-optimal step size of a list of numbers (whitespace separated)",
          [](CLI::App& cli, const CommonOptions&) -> Runner {
            auto bits = std::make_shared<int>(0);
            auto file = std::make_shared<std::string>();
            cli.add_option("--bits,-b", *bits, "bit width (2..8)")->required();
            cli.add_option("file", *file, "file of numbers, - for standard input")->required();
            return [bits, file] { return cmd_qstep(*bits, *file); };
          }};
}

}  // namespace qretrain::app
