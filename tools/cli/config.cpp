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
#include "engine/json_check.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mm::cli {

namespace {

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
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
    {"train.batch_size", 1, 1 << 20, false, false, ""},
    {"data.batch_size", 1, 1 << 20, false, false, ""},
    {"data.workers", 0, 256, false, false, "0 loads on the training thread"},
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
  if (!j.is_object()) throw UsageError("config: \"" + path.string() + "\" must hold a JSON object, got " + json_kind(j, true));
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
      throw UsageError("config: cannot set \"" + dotted + "\": \"" + done + "\" is " + json_kind(*cur, true) +
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
  // "model.encoders": modality name -> overrides of "model.encoder", each checked against it.
  MergeOptions options;
  const json* model = path.empty() ? (defaults.contains("model") ? &defaults.at("model") : nullptr)
                                   : (path == "model" ? &defaults : nullptr);
  if (model && model->is_object() && model->contains("encoder")) {
    options.entry_defaults["model.encoders"] = model->at("encoder");
  }
  json probe = defaults;
  try {
    merge_checked(probe, user, path, options);
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }
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
      // Bounds as written in a config: 1048576, not 1.04858e+06.
      auto bound = [](double b) {
        std::ostringstream o;
        if (b == std::floor(b) && std::abs(b) < 1e15) o << static_cast<long long>(b);
        else o << b;
        return o.str();
      };
      if (r.hi >= kInf) {
        os << (r.lo_open ? "> " : ">= ") << bound(r.lo);
      } else {
        os << "in " << (r.lo_open ? "(" : "[") << bound(r.lo) << ", " << bound(r.hi) << (r.hi_open ? ")" : "]");
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
  if (!user.is_object()) throw UsageError("config: must be a JSON object, got " + json_kind(user, true));
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
    mm::boost::check_config_choices(b);
    for (auto it = b.begin(); it != b.end(); ++it) out[it.key()] = it.value();
  } catch (const ConfigError& e) {
    throw UsageError(e.what());  // already "config: ..."
  } catch (const mm::Error& e) {
    throw UsageError(std::string("config: ") + e.what());
  }
  check_ranges(out);
  try {
    mm::data::validate_config(out["data"]);
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  } catch (const mm::Error& e) {
    throw UsageError(std::string("config: data: ") + e.what());
  }
  return out;
}

}  // namespace mm::cli
