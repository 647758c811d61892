// Errors a user can cause (config keys, paths, data files, command-line
// values). main() catches them once: a one-line message and exit code 2.
#pragma once

#include <stdexcept>
#include <string>

namespace qretrain {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A training run stopped on request (SIGINT/SIGTERM) after checkpointing.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace qretrain
