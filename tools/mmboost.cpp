// mmboost: the command-line program. Everything lives in tools/cli (library mmcli) so that the
// tests drive the same code; see docs/cli.md.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string exe = argv[0];
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) exe.assign(buf, static_cast<size_t>(n));
  mm::cli::Console con{std::cout, std::cerr, isatty(STDOUT_FILENO) == 1, exe};
  return mm::cli::run(args, con);
}
