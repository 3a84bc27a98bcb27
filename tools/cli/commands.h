// mmboost CLI: the commands (train, eval, make-demo, compare, bench, plot).
//
// run() is the whole program: it parses the command line, runs one command and maps every
// failure to an exit code (0 ok, 1 runtime error, 2 usage or config error, 130 stopped by
// Ctrl-C, 143 by SIGTERM) with a message on `err`; nothing escapes as an exception. Tests call it directly.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm::cli {

struct Console {
  std::ostream& out;
  std::ostream& err;
  bool tty = false;         // progress bars instead of plain lines
  std::string exe_path;     // the running binary (to find benchmarks and configs next to it)
};

// `args` excludes the program name.
int run(const std::vector<std::string>& args, Console& con);

// The command names, for help and suggestions.
std::vector<std::string> command_names();

// Where `--config NAME` is looked up when NAME is not a path that exists: the "configs" folder
// beside the binary, "../../tools/configs" from it (the source tree of a build folder the binary
// sits in, <repo>/<build>/tools/mmboost), and the tools/configs of the source tree it was built
// from (MMBOOST_CONFIG_DIR).
std::string find_config(const std::string& name, const std::string& exe_path);

}  // namespace mm::cli
