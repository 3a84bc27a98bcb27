// mmboost CLI: run configs. See config.h.
#include "tools/cli/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
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
constexpr double kWidthMax = 1 << 16;  // layer widths and channel counts of the model
const Range kRanges[] = {
    {"train.epochs", 1, kMaxEpochs, false, false, "train for at least one epoch"},
    {"train.seed", 0, 18446744073709551615.0, false, false, "seeds are non-negative integers"},
    {"train.threads", 0, 4096, false, false, "0 means all cores"},
    {"optim.lr", 0, kInf, true, false, "a learning rate must be positive"},
    {"optim.momentum", 0, 1, false, true, ""},
    {"optim.weight_decay", 0, kInf, false, false, ""},
    {"optim.step_size", 1, kMaxEpochs, false, false, "epochs between decays"},
    {"optim.cosine_epochs", 0, kMaxEpochs, false, false, "0 means train.epochs"},
    {"optim.patience", 0, kMaxEpochs, false, false, ""},
    {"train.batch_size", 1, 1 << 20, false, false, ""},
    {"data.batch_size", 1, 1 << 20, false, false, ""},
    {"data.workers", 0, 256, false, false, "0 loads on the training thread"},
    {"method.lambda", 0, 1, false, false, "the paper uses 0.2"},
    {"method.sigma", 0, kInf, true, false, "the paper uses 1"},
    {"method.tau", 0, kInf, false, false, "the paper uses 0.01"},
    {"method.assign_every", 1, kMaxEpochs, false, false, "T, in epochs"},
    {"method.max_classifiers", 1, 10000, false, false, "classifiers per modality"},
    {"method.fixed_classifiers", 1, 10000, false, false, "classifiers per modality"},
    {"method.aca_steps", 0, 1000000, false, false, ""},
};

// Integer keys are read as a C++ int, except these (64-bit, bounded by kRanges or by the data
// section's own check).
const char* const kWideIntegers[] = {"train.seed", "data.val_seed"};
constexpr double kIntMin = -2147483648.0, kIntMax = 2147483647.0;

// Bounds as written in a config: 1048576, not 1.04858e+06.
std::string bound_text(double b) {
  std::ostringstream o;
  if (b == std::floor(b) && std::abs(b) < 1e15) o << static_cast<long long>(b);
  else o << b;
  return o.str();
}

void check_range(const Range& r, const json& v, const std::string& path) {
  if (!v.is_number()) return;
  const double x = v.get<double>();
  const bool below = r.lo_open ? !(x > r.lo) : !(x >= r.lo);
  const bool above = r.hi_open ? !(x < r.hi) : !(x <= r.hi);
  if (below || above) {
    std::ostringstream os;
    os << "config: \"" << path << "\" = " << v.dump() << " is out of range; it must be ";
    if (r.hi >= kInf) {
      os << (r.lo_open ? "> " : ">= ") << bound_text(r.lo);
    } else {
      os << "in " << (r.lo_open ? "(" : "[") << bound_text(r.lo) << ", " << bound_text(r.hi) << (r.hi_open ? ")" : "]");
    }
    if (r.hint[0]) os << " (" << r.hint << ")";
    throw UsageError(os.str());
  }
}

const json& schema() {
  static const json s = schema_defaults();
  return s;
}

// `v` where the schema holds `def`, at `path`: every number where the default is an integer
// (also in lists of integers) must be an integer that the key's C++ type holds, so that it is
// never truncated when read. Free maps with a schema of their own are followed:
// "model.encoders.<modality>" (against "model.encoder") and the "audio", "frames" and "vector"
// overrides of "data.modalities[i]" (against the data section's).
void check_integers(const json& def, const json& v, const std::string& path) {
  if (path == "model.encoders" && v.is_object()) {
    const json& enc = schema()["model"]["encoder"];
    for (auto it = v.begin(); it != v.end(); ++it) check_integers(enc, it.value(), join_path(path, it.key()));
    return;
  }
  if (path == "data.modalities" && v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_object()) continue;
      for (const char* sec : {"audio", "frames", "vector"}) {
        if (v[i].contains(sec)) {
          check_integers(schema()["data"][sec], v[i][sec], path + "[" + std::to_string(i) + "]." + sec);
        }
      }
    }
    return;
  }
  if (def.is_object() && v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (def.contains(it.key())) check_integers(def[it.key()], it.value(), join_path(path, it.key()));
    }
  } else if (def.is_array() && v.is_array()) {
    const bool integers = !def.empty() && std::all_of(def.begin(), def.end(), [](const json& e) { return e.is_number_integer(); });
    if (!integers) return;
    for (size_t i = 0; i < v.size(); ++i) check_integers(def.front(), v[i], path + "[" + std::to_string(i) + "]");
  } else if (def.is_number_integer() && v.is_number()) {
    for (const char* wide : kWideIntegers) {
      if (path == wide) return;
    }
    const double x = v.get<double>();
    if (v.is_number_float() && !(std::isfinite(x) && x == std::floor(x))) {
      throw UsageError("config: \"" + path + "\" must be an integer (default " + def.dump() + "), got number " + v.dump());
    }
    const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(kIntMax)
                                             : x >= kIntMin && x <= kIntMax;
    if (!fits) {
      throw UsageError("config: \"" + path + "\" = " + v.dump() + " is out of range; it must be an integer in [" +
                       bound_text(kIntMin) + ", " + bound_text(kIntMax) + "]");
    }
  }
}

// The layer lists of the model (in "model.encoder" and in each "model.encoders.<modality>") and
// of the ACA network: widths the model is built with once the data is read, checked before.
void check_widths(const json& list, const std::string& path, size_t min_size, size_t exact_size, const char* what) {
  if (!list.is_array()) return;
  bool ok = list.size() >= min_size && (exact_size == 0 || list.size() == exact_size);
  for (const json& e : list) ok = ok && e.is_number() && e.get<double>() >= 1;
  if (!ok) throw UsageError("config: \"" + path + "\" must " + what + ", got " + list.dump());
  const Range r{"", 1, kWidthMax, false, false, ""};
  for (size_t i = 0; i < list.size(); ++i) check_range(r, list[i], path + "[" + std::to_string(i) + "]");
}

void check_encoder(const json& enc, const std::string& path) {
  if (!enc.is_object()) return;
  if (enc.contains("cnn_channels")) {
    check_widths(enc["cnn_channels"], path + ".cnn_channels", 1, 0, "list at least one positive channel count");
  }
  if (enc.contains("mlp_hidden")) {
    check_widths(enc["mlp_hidden"], path + ".mlp_hidden", 0, 0,
                 "list positive widths (or be empty: one linear layer)");
  }
  for (const char* k : {"feature_dim", "resnet_width"}) {
    if (enc.contains(k)) check_range({"", 1, kWidthMax, false, false, ""}, enc[k], path + "." + k);
  }
}

void check_model_lists(const json& cfg) {
  const json model = get_path(cfg, "model");
  if (model.is_object()) {
    if (model.contains("encoder")) check_encoder(model["encoder"], "model.encoder");
    if (model.contains("encoders") && model["encoders"].is_object()) {
      for (auto it = model["encoders"].begin(); it != model["encoders"].end(); ++it) {
        check_encoder(it.value(), "model.encoders." + it.key());
      }
    }
    if (model.contains("classifier_hidden")) {
      check_widths(model["classifier_hidden"], "model.classifier_hidden", 0, 0,
                   "list positive widths (or be empty: the classifier reads the features directly)");
    }
  }
  const json aca = get_path(cfg, "method.aca_hidden");
  check_widths(aca, "method.aca_hidden", 2, 2, "list two positive widths (the hidden layers of the ACA network)");
}

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

bool parse_json_text(const std::string& text, bool comments, json* out, std::string* problem) {
  // Where the parser is, as a dotted key path: each open object's current key, each open
  // array's element index.
  struct Frame {
    bool array;
    std::string key;
    size_t index;
  };
  std::vector<Frame> open;
  auto where = [&]() {
    std::string p;
    for (const Frame& f : open) p += f.array ? "[" + std::to_string(f.index) + "]" : (p.empty() ? "" : ".") + f.key;
    return p;
  };
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open.push_back({false, "", 0}); break;
      case json::parse_event_t::array_start: open.push_back({true, "", 0}); break;
      case json::parse_event_t::key: open.back().key = parsed.get<std::string>(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open.pop_back();
        if (!open.empty() && open.back().array) ++open.back().index;
        break;
      case json::parse_event_t::value:
        if (!open.empty() && open.back().array) ++open.back().index;
        break;
    }
    return true;
  };
  // The parser's reason without its exception prefix: "[json.exception.parse_error.101] parse
  // error at line 1, column 9: syntax error ..." -> "line 1, column 9: syntax error ...".
  auto reason = [](const std::string& what) {
    std::string r = what;
    const size_t tag = r.find("] ");
    if (r.rfind("[json.exception.", 0) == 0 && tag != std::string::npos) r = r.substr(tag + 2);
    for (const char* lead : {"parse error at ", "parse error: "}) {
      if (r.rfind(lead, 0) == 0) r = r.substr(std::string(lead).size());
    }
    return r;
  };
  try {
    *out = json::parse(text, track, /*allow_exceptions=*/true, /*ignore_comments=*/comments);
    return true;
  } catch (const json::parse_error& e) {
    *problem = reason(e.what());
  } catch (const json::out_of_range& e) {
    // A number beyond a double's range: "number overflow parsing '1e400'".
    const std::string w = e.what();
    const size_t q0 = w.find('\''), q1 = q0 == std::string::npos ? q0 : w.find('\'', q0 + 1);
    const std::string number = q1 == std::string::npos ? std::string() : w.substr(q0 + 1, q1 - q0 - 1);
    std::ostringstream os;
    os << "the number " << (number.empty() ? std::string("") : number + " ") << "is too large";
    const std::string key = where();
    if (!key.empty()) os << " (at \"" << key << "\")";
    *problem = os.str();
  } catch (const json::exception& e) {
    *problem = reason(e.what());
  }
  return false;
}

namespace {

json load_rec(const fs::path& path, std::vector<fs::path>& stack) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(path, ec);
  if (ec) canon = path;
  for (const auto& p : stack) {
    if (p == canon) throw UsageError("config: include cycle: " + path.string() + " includes itself (via " + stack.back().string() + ")");
  }
  std::error_code dir_ec;
  if (fs::is_directory(path, dir_ec)) {
    throw UsageError("config: \"" + path.string() + "\" is a directory, not a config file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UsageError("config: cannot open \"" + path.string() +
                     "\"; check the path (shipped configs are in tools/configs/)");
  }
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {  // a read error below the stream
    throw UsageError("config: cannot read \"" + path.string() + "\"");
  }
  json j;
  std::string problem;
  if (!parse_json_text(text, /*comments=*/true, &j, &problem)) {
    throw UsageError("config: \"" + path.string() + "\" is not valid JSON: " + problem);
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
  for (const Range& r : kRanges) check_range(r, get_path(cfg, r.path), r.path);
  check_integers(schema(), cfg, "");
  check_model_lists(cfg);
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
