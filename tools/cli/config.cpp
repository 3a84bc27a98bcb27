// mmboost CLI: run configs. See config.h.
#include "tools/cli/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "boosting/trainer.h"
#include "data/config.h"
#include "engine/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mm::cli {

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string shown(const std::string& path) { return path.empty() ? "(top level)" : path; }

// Whether `v` is acceptable where the default is `d` (types only).
bool type_matches(const json& v, const json& d) {
  if (d.is_null()) return true;
  if (d.is_number_integer() || d.is_number_unsigned()) {
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    // 3.0 is fine where an integer is expected; 2.5 is not.
    return v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>());
  }
  if (d.is_number_float()) return v.is_number();
  if (d.is_string()) return v.is_string();
  if (d.is_boolean()) return v.is_boolean();
  if (d.is_array()) return v.is_array();
  if (d.is_object()) return v.is_object();
  return true;
}

// Every dotted path in `schema` whose last component is `key` (for "did you mean optim.lr?"
// when "lr" was written at the wrong level).
void find_key_elsewhere(const json& schema, const std::string& key, const std::string& path,
                        std::vector<std::string>& out) {
  if (!schema.is_object()) return;
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    std::string p = join_path(path, it.key());
    if (it.key() == key) out.push_back(p);
    find_key_elsewhere(it.value(), key, p, out);
  }
}

[[noreturn]] void unknown_key(const std::string& key, const std::string& path, const json& siblings,
                              const json& root_schema) {
  std::vector<std::string> names;
  for (auto it = siblings.begin(); it != siblings.end(); ++it) names.push_back(it.key());
  std::ostringstream os;
  os << "config: unknown key \"" << join_path(path, key) << "\"";
  std::string near = nearest(key, names);
  std::vector<std::string> elsewhere;
  find_key_elsewhere(root_schema, key, "", elsewhere);
  if (!near.empty()) {
    os << " (did you mean \"" << join_path(path, near) << "\"?)";
  } else if (!elsewhere.empty()) {
    os << " (did you mean \"" << elsewhere.front() << "\"?)";
  }
  os << "; valid keys in " << shown(path) << ": ";
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  throw UsageError(os.str());
}

void validate_rec(const json& user, const json& defaults, const std::string& path, const json& root) {
  if (!type_matches(user, defaults)) {
    std::ostringstream os;
    const std::string want = type_name(defaults);
    os << "config: \"" << shown(path) << "\" must be " << (want[0] == 'i' || want[0] == 'a' || want[0] == 'o' ? "an " : "a ")
       << want << " (like the default " << defaults.dump() << "), got " << type_name(user) << " "
       << user.dump();
    throw UsageError(os.str());
  }
  if (defaults.is_object()) {
    if (defaults.empty()) return;  // a free map
    for (auto it = user.begin(); it != user.end(); ++it) {
      const std::string p = join_path(path, it.key());
      if (!defaults.contains(it.key())) unknown_key(it.key(), path, defaults, root);
      // "model.encoders": modality name -> overrides of "model.encoder".
      if (p == "model.encoders" && defaults.contains("encoder") && it.value().is_object()) {
        for (auto e = it.value().begin(); e != it.value().end(); ++e) {
          validate_rec(e.value(), defaults["encoder"], join_path(p, e.key()), root);
        }
        continue;
      }
      validate_rec(it.value(), defaults[it.key()], p, root);
    }
  } else if (defaults.is_array() && !defaults.empty()) {
    // Elements are checked against the first default element when the default's elements all
    // share one type (lists of numbers, of strings).
    const json& first = defaults.front();
    bool uniform = std::all_of(defaults.begin(), defaults.end(),
                               [&](const json& e) { return type_matches(e, first) && type_matches(first, e); });
    if (!uniform || first.is_object() || first.is_array()) return;
    for (size_t i = 0; i < user.size(); ++i) {
      if (!type_matches(user[i], first)) {
        throw UsageError("config: \"" + path + "[" + std::to_string(i) + "]\" must be " +
                         (first.is_number_integer() ? "an " : "a ") + type_name(first) +
                         ", got " + type_name(user[i]) + " " + user[i].dump());
      }
    }
  }
}

struct Range {
  const char* path;
  double lo, hi;
  bool lo_open, hi_open;  // open: the bound itself is excluded
  const char* hint;
};

constexpr double kInf = 1e300;
const Range kRanges[] = {
    {"train.epochs", 1, kInf, false, false, "train for at least one epoch"},
    {"train.seed", 0, 18446744073709551615.0, false, false, "seeds are non-negative integers"},
    {"train.threads", 0, 4096, false, false, "0 means all cores"},
    {"optim.lr", 0, kInf, true, false, "a learning rate must be positive"},
    {"optim.momentum", 0, 1, false, true, ""},
    {"optim.weight_decay", 0, kInf, false, false, ""},
    {"data.batch_size", 1, kInf, false, false, ""},
    {"data.workers", 0, 1024, false, false, "0 loads on the training thread"},
    {"method.lambda", 0, 1, false, false, "the paper uses 0.2"},
    {"method.sigma", 0, kInf, true, false, "the paper uses 1"},
    {"method.tau", 0, kInf, false, false, "the paper uses 0.01"},
};

}  // namespace

json cli_defaults() {
  return json{
      {"name", ""},         // run name; default: the config file's stem
      {"dataset", ""},      // shown in reports; default: data.format
      {"description", ""},  // free text, copied to report.md
      {"out", "runs"},      // parent directory of run directories when --out is not given
  };
}

json schema_defaults() {
  json d = cli_defaults();
  d["data"] = mm::data::default_config();
  json b = mm::boost::default_config();
  for (auto it = b.begin(); it != b.end(); ++it) d[it.key()] = it.value();
  return d;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);  // adjacent transposition
      }
    }
  }
  return d[n][m];
}

std::string nearest(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = static_cast<size_t>(-1);
  for (const auto& c : candidates) {
    size_t dist = edit_distance(key, c);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  // Close enough to be a typo: a third of the longer name, at least 2 edits.
  const size_t len = std::max(key.size(), best.size());
  if (best.empty() || best_d > std::max<size_t>(2, len / 3)) return "";
  return best;
}

void merge_into(json& base, const json& over) {
  if (!base.is_object() || !over.is_object()) {
    base = over;
    return;
  }
  for (auto it = over.begin(); it != over.end(); ++it) {
    if (base.contains(it.key()) && base[it.key()].is_object() && it.value().is_object()) {
      merge_into(base[it.key()], it.value());
    } else {
      base[it.key()] = it.value();
    }
  }
}

namespace {

json load_rec(const fs::path& path, std::vector<fs::path>& stack) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(path, ec);
  if (ec) canon = path;
  for (const auto& p : stack) {
    if (p == canon) throw UsageError("config: include cycle: " + path.string() + " includes itself (via " + stack.back().string() + ")");
  }
  std::ifstream in(path);
  if (!in) {
    throw UsageError("config: cannot open \"" + path.string() +
                     "\"; check the path (shipped configs are in tools/configs/)");
  }
  json j;
  try {
    j = json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw UsageError("config: \"" + path.string() + "\" is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw UsageError("config: \"" + path.string() + "\" must hold a JSON object, got " + type_name(j));
  if (!j.contains("include")) return j;
  json inc = j["include"];
  j.erase("include");
  std::vector<std::string> files;
  if (inc.is_string()) {
    files.push_back(inc.get<std::string>());
  } else if (inc.is_array() && std::all_of(inc.begin(), inc.end(), [](const json& e) { return e.is_string(); })) {
    for (const auto& e : inc) files.push_back(e.get<std::string>());
  } else {
    throw UsageError("config: \"include\" in \"" + path.string() + "\" must be a file name or a list of file names");
  }
  stack.push_back(canon);
  json merged = json::object();
  for (const auto& f : files) {
    fs::path p = fs::path(f).is_absolute() ? fs::path(f) : path.parent_path() / f;
    merge_into(merged, load_rec(p, stack));
  }
  stack.pop_back();
  merge_into(merged, j);
  return merged;
}

}  // namespace

json load_config_file(const std::string& path) {
  std::vector<fs::path> stack;
  return load_rec(fs::path(path), stack);
}

json get_path(const json& cfg, const std::string& dotted) {
  const json* cur = &cfg;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
  }
  return *cur;
}

void set_path(json& cfg, const std::string& dotted, const json& value) {
  json* cur = &cfg;
  std::stringstream ss(dotted);
  std::string part, done;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) throw UsageError("config: empty component in key \"" + dotted + "\"");
    if (cur->is_null()) *cur = json::object();
    if (!cur->is_object()) {
      throw UsageError("config: cannot set \"" + dotted + "\": \"" + done + "\" is a " + type_name(*cur) +
                       ", not an object");
    }
    done = join_path(done, parts[i]);
    cur = &(*cur)[parts[i]];
  }
  *cur = value;
}

void apply_set(json& cfg, const std::string& assignment, const json& defaults) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) {
    throw UsageError("--set \"" + assignment + "\": expected key=value, e.g. --set optim.lr=0.01");
  }
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  if (key.empty()) throw UsageError("--set \"" + assignment + "\": the key before '=' is empty");
  json value;
  const json d = get_path(defaults, key);
  if (d.is_string()) {
    value = text;
  } else {
    try {
      value = json::parse(text);
    } catch (const json::parse_error&) {
      value = text;
    }
  }
  set_path(cfg, key, value);
}

void validate_keys(const json& user, const json& defaults, const std::string& path) {
  validate_rec(user, defaults, path, defaults);
}

void check_ranges(const json& cfg) {
  for (const Range& r : kRanges) {
    json v = get_path(cfg, r.path);
    if (!v.is_number()) continue;
    const double x = v.get<double>();
    const bool below = r.lo_open ? !(x > r.lo) : !(x >= r.lo);
    const bool above = r.hi_open ? !(x < r.hi) : !(x <= r.hi);
    if (below || above) {
      std::ostringstream os;
      os << "config: \"" << r.path << "\" = " << v.dump() << " is out of range; it must be ";
      if (r.hi >= kInf) {
        os << (r.lo_open ? "> " : ">= ") << r.lo;
      } else {
        os << "in " << (r.lo_open ? "(" : "[") << r.lo << ", " << r.hi << (r.hi_open ? ")" : "]");
      }
      if (r.hint[0]) os << " (" << r.hint << ")";
      throw UsageError(os.str());
    }
  }
  json dev = get_path(cfg, "train.device");
  if (dev.is_string() && dev != "cpu" && dev != "cuda") {
    throw UsageError("config: \"train.device\" must be \"cpu\" or \"cuda\", got " + dev.dump());
  }
}

json resolve(const json& user) {
  if (!user.is_object()) throw UsageError(std::string("config: must be a JSON object, got ") + type_name(user));
  const json defaults = schema_defaults();
  validate_keys(user, defaults);
  check_ranges(user);  // before the sections' own checks, so that range errors read the same everywhere
  json out = cli_defaults();
  for (auto it = user.begin(); it != user.end(); ++it) {
    if (out.contains(it.key())) out[it.key()] = it.value();
  }
  try {
    out["data"] = mm::data::merge_config(user.value("data", json::object()));
    json sections = json::object();
    for (auto it = user.begin(); it != user.end(); ++it) {
      if (!cli_defaults().contains(it.key()) && it.key() != "data") sections[it.key()] = it.value();
    }
    json b = mm::boost::resolve_config(sections);
    for (auto it = b.begin(); it != b.end(); ++it) out[it.key()] = it.value();
  } catch (const mm::Error& e) {
    throw UsageError(std::string("config: ") + e.what());
  }
  check_ranges(out);
  try {
    mm::data::validate_config(out["data"]);
  } catch (const mm::Error& e) {
    throw UsageError(std::string("config: data: ") + e.what());
  }
  return out;
}

}  // namespace mm::cli
