// mmboost engine: checking a user's JSON config against its defaults. See json_check.h.
#include "engine/json_check.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mm {

using nlohmann::json;

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);  // adjacent transposition
      }
    }
  }
  return d[n][m];
}

std::string nearest_name(const std::string& name, const std::vector<std::string>& candidates) {
  // Among equally near candidates, one with the same letters wins: "demo_agu" is one edit from
  // both "demo_agm" and "demo_aug", and swapped letters are the likelier typo.
  auto letters = [](std::string s) {
    std::sort(s.begin(), s.end());
    return s;
  };
  const std::string name_letters = letters(name);
  std::string best;
  size_t best_d = static_cast<size_t>(-1);
  bool best_anagram = false;
  for (const auto& c : candidates) {
    const size_t dist = edit_distance(name, c);
    const bool anagram = letters(c) == name_letters;
    if (dist < best_d || (dist == best_d && anagram && !best_anagram)) {
      best_d = dist;
      best = c;
      best_anagram = anagram;
    }
  }
  // Close enough to be a typo: a third of the longer name, at least 2 edits.
  const size_t len = std::max(name.size(), best.size());
  if (best.empty() || best_d > std::max<size_t>(2, len / 3)) return "";
  return best;
}

const std::string& one_of(const std::string& value, const std::string& key,
                          const std::vector<std::string>& choices) {
  for (const auto& c : choices) {
    if (value == c) return value;
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  const std::string near = nearest_name(value, choices);
  MM_FAIL(key << " must be one of " << list << ", got \"" << value << "\""
              << (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
}

std::string json_kind(const json& v, bool with_article) {
  const char* word = "value";
  switch (v.type()) {
    case json::value_t::null: return "null";  // no article: "got null"
    case json::value_t::boolean: word = "boolean"; break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: word = "integer"; break;
    case json::value_t::number_float: word = "number"; break;
    case json::value_t::string: word = "string"; break;
    case json::value_t::array: word = "array"; break;
    case json::value_t::object: word = "object"; break;
    default: break;
  }
  if (!with_article) return word;
  return (word[0] == 'i' || word[0] == 'a' || word[0] == 'o' ? "an " : "a ") + std::string(word);
}

namespace {

// 3.0 where an integer is expected. Beyond 2^53 a double no longer holds every integer, so such
// a value is not taken for one.
bool integral_float(const json& v) {
  if (!v.is_number_float()) return false;
  const double x = v.get<double>();
  return std::isfinite(x) && x == std::floor(x) && std::fabs(x) <= 9007199254740992.0;
}

}  // namespace

bool kind_accepts(const json& def, const json& v) {
  if (def.is_null()) return true;
  if (def.is_number_integer()) return v.is_number_integer() || integral_float(v);
  if (def.is_number_float()) return v.is_number();
  if (def.is_boolean()) return v.is_boolean();
  if (def.is_string()) return v.is_string();
  if (def.is_array()) return v.is_array();
  if (def.is_object()) return v.is_object();
  return true;
}

namespace {

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string shown(const std::string& path) { return path.empty() ? "(top level)" : path; }

[[noreturn]] void fail(const std::string& what) { throw ConfigError("config: " + what); }

// The default that each element of a user array is checked against: the default's elements
// when they share one kind (integers and floats together count as numbers, checked against a
// float element), else none (nullptr; also for an empty default).
const json* element_default(const json& def) {
  if (!def.is_array() || def.empty()) return nullptr;
  const json* ref = &def.front();
  for (const json& e : def) {
    if (e.is_number() && ref->is_number()) {
      if (e.is_number_float()) ref = &e;
    } else if (e.type() != ref->type()) {
      return nullptr;
    }
  }
  return ref;
}

// `v` as stored where the default is `def`: integral floats become integers where the default
// is an integer (also inside arrays), so that a merged config reads the same whichever way
// the user wrote the number.
json normalized(const json& v, const json& def) {
  if (def.is_number_integer() && integral_float(v)) return json(static_cast<int64_t>(v.get<double>()));
  if (def.is_array() && v.is_array()) {
    const json* e = element_default(def);
    if (!e) return v;
    json out = json::array();
    for (const json& x : v) out.push_back(normalized(x, *e));
    return out;
  }
  return v;
}

// Kind of `v` against `def`, then each array element against the default's elements.
void check_value(const json& def, const json& v, const std::string& path) {
  if (!kind_accepts(def, v)) {
    std::ostringstream os;
    os << "\"" << shown(path) << "\" must be " << json_kind(def, true);
    const json* e = element_default(def);
    if (e) os << " of " << json_kind(*e) << "s";
    if (!def.is_object()) os << " (default " << def.dump() << ")";  // an object's dump is long
    os << ", got " << json_kind(v) << " " << v.dump();
    fail(os.str());
  }
  if (const json* e = element_default(def)) {
    for (size_t i = 0; i < v.size(); ++i) check_value(*e, v[i], path + "[" + std::to_string(i) + "]");
  }
}

// Where `key` is a key in `schema` (an object named `path`): the shallowest such dotted path,
// the first in key order among equals; "" when nowhere.
std::string shallowest_path_of(const json& schema, const std::string& key, const std::string& path) {
  // Breadth first, one depth at a time: "optim.lr" rather than "method.<section>.lr".
  std::vector<std::pair<const json*, std::string>> level = {{&schema, path}};
  while (!level.empty()) {
    std::vector<std::pair<const json*, std::string>> next;
    for (const auto& [obj, p] : level) {
      if (!obj->is_object()) continue;
      for (auto it = obj->begin(); it != obj->end(); ++it) {
        const std::string q = join(p, it.key());
        if (it.key() == key) return q;
        next.push_back({&it.value(), q});
      }
    }
    level = std::move(next);
  }
  return "";
}

struct Context {
  const json& schema;        // the defaults of the outermost call, before merging
  const std::string& schema_path;
  const MergeOptions& options;
};

[[noreturn]] void unknown_key(const std::string& key, const std::string& path, const json& siblings,
                              const Context& ctx) {
  std::vector<std::string> names;
  for (auto it = siblings.begin(); it != siblings.end(); ++it) names.push_back(it.key());
  std::ostringstream os;
  os << "unknown key \"" << join(path, key) << "\"";
  const std::string near = nearest_name(key, names);
  const std::string elsewhere = near.empty() ? shallowest_path_of(ctx.schema, key, ctx.schema_path) : "";
  if (!near.empty()) {
    os << " (did you mean \"" << join(path, near) << "\"?)";
  } else if (!elsewhere.empty()) {
    os << " (did you mean \"" << elsewhere << "\"?)";
  }
  os << "; valid keys in " << shown(path) << ": ";
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  fail(os.str());
}

void merge_rec(json& out, const json& user, const std::string& path, const Context& ctx) {
  if (!user.is_object()) fail("\"" + shown(path) + "\" must be an object, got " + json_kind(user) + " " + user.dump());
  for (auto it = user.begin(); it != user.end(); ++it) {
    const std::string full = join(path, it.key());
    auto d = out.find(it.key());
    if (d == out.end()) unknown_key(it.key(), path, out, ctx);
    json& def = *d;
    check_value(def, it.value(), full);
    auto entry = ctx.options.entry_defaults.find(full);
    if (entry != ctx.options.entry_defaults.end() && def.is_object()) {
      // A map of objects each checked against entry->second; each keeps only its own keys.
      json kept = json::object();
      for (auto e = it.value().begin(); e != it.value().end(); ++e) {
        const std::string entry_path = join(full, e.key());
        json probe = entry->second;
        merge_rec(probe, e.value(), entry_path, Context{entry->second, entry_path, ctx.options});
        json own = json::object();
        for (auto k = e.value().begin(); k != e.value().end(); ++k) own[k.key()] = probe[k.key()];
        kept[e.key()] = own;
      }
      def = kept;
    } else if (def.is_object() && !def.empty()) {
      merge_rec(def, it.value(), full, ctx);
    } else {
      def = normalized(it.value(), def);  // a free map ({}) is taken as given
    }
  }
}

}  // namespace

void merge_checked(json& defaults, const json& user, const std::string& path, const MergeOptions& options) {
  const json schema = defaults;  // suggestions search the defaults, not what is merged so far
  merge_rec(defaults, user, path, Context{schema, path, options});
}

}  // namespace mm
