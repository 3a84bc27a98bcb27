// mmboost CLI: run configs.
//
// A run config is one JSON document:
//   {"name", "dataset", "description", "out",        <- the CLI's own top-level keys
//    "include": "base.json" | ["a.json", ...],      <- optional, resolved at load time
//    "data":   {...}   mm::data::default_config()    (data/config.h)
//    "model":  {...}   mm::boost::default_config()   (boosting/trainer.h)
//    "method": {...}
//    "optim":  {...}
//    "train":  {...}}
// The schema is the union of the sections' defaults (schema_defaults()). Every key a user
// writes must exist there: an unknown key is an error naming its dotted path and the nearest
// valid key; a value of the wrong JSON type names the key and both types (the rules of every
// section: mm::merge_checked, engine/json_check.h). An object whose default is {} is a free map
// (any keys). "model.encoders.<modality>" is checked against "model.encoder".
//
// Precedence, lowest first: defaults < included files (in order) < the file < CLI flags
// (--epochs, --seed, ...) < --set key=value (in order given).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/json_check.h"

namespace mm::cli {

// A mistake in what the user wrote (command line or config): exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Defaults of the CLI's own top-level keys.
nlohmann::json cli_defaults();
// Union of cli_defaults() and the defaults of every section.
nlohmann::json schema_defaults();

// Reads a JSON config file, following "include" (paths relative to the including file;
// later includes and then the file itself override earlier ones); the result has no
// "include" key. Throws UsageError naming the file and the line/column of a syntax error (or
// the key of a number too large), a directory or unreadable file, or an include cycle.
nlohmann::json load_config_file(const std::string& path);

// Parses JSON `text` (with // and /* */ comments when `comments`) into *out. On a syntax error
// or a number beyond a double's range, returns false with *problem saying where and what, in
// the project's words: "line 1, column 9: syntax error while parsing value - unexpected '}'; ..."
// or "the number 1e400 is too large (at \"optim.lr\")".
bool parse_json_text(const std::string& text, bool comments, nlohmann::json* out, std::string* problem);

// Deep merge: objects are merged key by key, everything else in `over` replaces `base`.
void merge_into(nlohmann::json& base, const nlohmann::json& over);

// Applies "a.b.c=value" to `cfg` (creating intermediate objects). The value is parsed as JSON
// when it parses, else taken as a string; where `defaults` holds a string at that path the raw
// text is always taken as a string (so --set name=123 gives "123"). Throws UsageError for a
// missing '=', an empty key, or a path through a non-object.
void apply_set(nlohmann::json& cfg, const std::string& assignment, const nlohmann::json& defaults);

// Checks `user` against `defaults` (see the top of this file). `path` is the dotted prefix of
// `user` for messages. Throws UsageError.
void validate_keys(const nlohmann::json& user, const nlohmann::json& defaults,
                   const std::string& path = "");

// Range checks of the CLI's keys and of well-known section keys (epochs in [1, 1000000],
// lr > 0, ...), each applied only where the key exists; every other integer key of the schema
// must be integral and fit the type it is read as (a 32-bit int; the seeds 64-bit), and the
// model's layer lists (cnn_channels, mlp_hidden, classifier_hidden, aca_hidden, also in
// model.encoders.<modality>) must hold positive widths. Throws UsageError naming the key.
void check_ranges(const nlohmann::json& cfg);
constexpr int kMaxEpochs = 1000000;  // the bound of train.epochs (and of the other epoch counts)

// validate_keys + check_ranges, then the sections' own merge/validation (data::merge_config,
// data::validate_config, boost::resolve_config); their errors are rethrown as UsageError.
// Returns the fully resolved config: every key present.
nlohmann::json resolve(const nlohmann::json& user);

// Typo suggestions for options, commands and config keys (engine/json_check.h).
using mm::edit_distance;
using mm::nearest_name;

// Reads and writes a value at a dotted path (get returns null when absent).
nlohmann::json get_path(const nlohmann::json& cfg, const std::string& dotted);
void set_path(nlohmann::json& cfg, const std::string& dotted, const nlohmann::json& value);

}  // namespace mm::cli
