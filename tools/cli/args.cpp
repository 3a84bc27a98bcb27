// mmboost CLI: command-line parsing. See args.h.
#include "tools/cli/args.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace mm::cli {

namespace {

const OptionSpec* find_option(const CommandSpec& spec, const std::string& name) {
  for (const auto& o : spec.options) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

[[noreturn]] void usage_fail(const CommandSpec& spec, const std::string& msg) {
  throw UsageError("mmboost " + spec.name + ": " + msg + "\nRun 'mmboost " + spec.name + " --help' for usage.");
}

// Decimal integer text -> *v; false when it is not one. *overflow: an integer beyond int64.
bool to_int64(const std::string& text, int64_t* v, bool* overflow) {
  *overflow = false;
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0') return false;
  if (errno == ERANGE) {
    *overflow = true;
    return false;
  }
  *v = static_cast<int64_t>(x);
  return errno == 0;
}

std::string range_text(int64_t lo, int64_t hi) {
  std::ostringstream os;
  if (hi == INT64_MAX) {
    os << ">= " << lo;
  } else {
    os << lo << ".." << hi;
  }
  return os.str();
}

}  // namespace

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

int64_t ParsedArgs::get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  int64_t v = 0;
  bool overflow = false;
  if (!to_int64(text, &v, &overflow) && !overflow) return parse_int(text, name);  // throws its message
  if (overflow || v < lo || v > hi) {
    throw UsageError(name + " " + text + " is out of range; expected " + range_text(lo, hi));
  }
  return v;
}

int64_t parse_int(const std::string& text, const std::string& what) {
  if (text.empty()) throw UsageError(what + ": expected an integer, got an empty value");
  int64_t v = 0;
  bool overflow = false;
  if (!to_int64(text, &v, &overflow)) {
    if (overflow) throw UsageError(what + ": " + text + " is out of range; expected " + range_text(INT64_MIN, INT64_MAX));
    throw UsageError(what + ": expected an integer, got \"" + text + "\"");
  }
  return v;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw UsageError(what + ": empty item in \"" + text + "\" (expected e.g. 0,1,2 or 0-4)");
    size_t dash = item.find('-', 1);
    if (dash != std::string::npos) {
      int64_t a = parse_int(item.substr(0, dash), what), b = parse_int(item.substr(dash + 1), what);
      if (b < a || b - a > 10000) throw UsageError(what + ": bad range \"" + item + "\"");
      for (int64_t v = a; v <= b; ++v) out.push_back(v);
    } else {
      out.push_back(parse_int(item, what));
    }
  }
  if (out.empty()) throw UsageError(what + ": expected a list like 0,1,2, got \"" + text + "\"");
  return out;
}

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
  ParsedArgs out;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positionals || a.size() < 2 || a[0] != '-' || a == "-") {
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positionals = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    const OptionSpec* opt = find_option(spec, name);
    if (!opt) {
      std::vector<std::string> names;
      for (const auto& o : spec.options) names.push_back(o.name);
      names.push_back("--help");
      std::string near = nearest_name(name, names);
      usage_fail(spec, "unknown option " + name + (near.empty() ? "" : " (did you mean " + near + "?)"));
    }
    if (!opt->repeat && out.has(name)) usage_fail(spec, name + " was given twice");
    auto& slot = out.values[name];
    if (opt->metavar.empty()) {
      if (inline_value) usage_fail(spec, name + " takes no value");
      slot.push_back("");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size() || (args[i + 1].rfind("--", 0) == 0 && args[i + 1].size() > 2)) {
        usage_fail(spec, name + " needs a value " + opt->metavar);
      }
      value = args[++i];
    }
    slot.push_back(value);
    if (opt->repeat) {
      // "--set a=1 b=2": further values up to the next option.
      while (i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0 &&
             spec.max_positionals == 0) {
        slot.push_back(args[++i]);
      }
    }
  }
  if (out.help) return out;
  const int n = static_cast<int>(out.positionals.size());
  if (n < spec.min_positionals) {
    usage_fail(spec, "missing " + (spec.positionals.empty() ? std::string("argument") : spec.positionals));
  }
  if (spec.max_positionals >= 0 && n > spec.max_positionals) {
    usage_fail(spec, "unexpected argument \"" + out.positionals[static_cast<size_t>(spec.max_positionals)] + "\"");
  }
  return out;
}

std::string help_text(const CommandSpec& spec) {
  std::ostringstream os;
  os << "usage: mmboost " << spec.name;
  if (!spec.positionals.empty()) os << " " << spec.positionals;
  if (!spec.options.empty()) os << " [options]";
  os << "\n\n" << spec.summary << "\n";
  if (!spec.options.empty()) {
    os << "\noptions:\n";
    size_t width = 0;
    for (const auto& o : spec.options) width = std::max(width, o.name.size() + (o.metavar.empty() ? 0 : o.metavar.size() + 1));
    width = std::max<size_t>(width, 10);
    for (const auto& o : spec.options) {
      std::string left = o.name + (o.metavar.empty() ? "" : " " + o.metavar);
      os << "  " << left << std::string(width + 2 - left.size(), ' ') << o.help << "\n";
    }
    os << "  --help" << std::string(width - 4, ' ') << "show this help\n";
  }
  if (!spec.details.empty()) os << "\n" << spec.details;
  if (spec.details.empty() || spec.details.back() != '\n') os << "\n";
  return os.str();
}

}  // namespace mm::cli
