// Shared by the command-line tests (test_cli.cpp, test_cli_e2e.cpp): running the program
// in-process with its output captured.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "tools/cli/commands.h"

namespace mmtest {

struct RunResult {
  int code;             // the exit code mmboost would return
  std::string out, err;  // what it wrote to stdout and stderr
};

// `args` excludes the program name, as for mm::cli::run.
inline RunResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  mm::cli::Console con{out, err, false, ""};
  int code = mm::cli::run(args, con);
  return {code, out.str(), err.str()};
}

}  // namespace mmtest
