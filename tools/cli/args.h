// mmboost CLI: command-line parsing.
//
// Each command declares its options; parse_args accepts "--name value", "--name=value" and
// bare flags, collects positionals, and throws UsageError (exit code 2) for anything unknown,
// with the nearest option name suggested. "--help"/"-h" is always accepted.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/cli/config.h"

namespace mm::cli {

struct OptionSpec {
  std::string name;     // "--config"
  std::string metavar;  // "FILE"; empty for a flag that takes no value
  std::string help;
  bool repeat = false;  // may be given several times; with a metavar, it also takes the
                        // following arguments up to the next one starting with "--"
};

struct CommandSpec {
  std::string name;         // "train"
  std::string summary;      // one line
  std::string positionals;  // e.g. "RUN_DIR..." (empty: none)
  int min_positionals = 0;
  int max_positionals = 0;  // -1: unbounded
  std::vector<OptionSpec> options;
  std::string details;      // extra help text (examples)
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // option name -> values ("" for flags)
  std::vector<std::string> positionals;
  bool help = false;

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> all(const std::string& name) const;
  // Integer value of an option; throws UsageError naming the option when it is not an integer
  // or lies outside [lo, hi].
  int64_t get_int(const std::string& name, int64_t fallback, int64_t lo = INT64_MIN,
                  int64_t hi = INT64_MAX) const;
};

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);
std::string help_text(const CommandSpec& spec);

// "0,1,2" or "0-4" or "0,2-3" -> {0,1,2}, ...; throws UsageError naming `what`.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what);
int64_t parse_int(const std::string& text, const std::string& what);

}  // namespace mm::cli
