// mmboost engine: checking a user's JSON config against its defaults.
//
// One set of rules for every config section (boosting/config.cpp, data/config.cpp and the
// CLI's tools/cli/config.cpp):
//   - every key must exist in the defaults; an unknown key names its dotted path, the nearest
//     valid key (a typo within edit distance max(2, length/3)) or else the same key elsewhere
//     in the schema ("lr" at the top -> "optim.lr"), and the valid keys at that level;
//   - a value must have the default's JSON kind. Numbers: an integer is accepted where the
//     default is a float (lr = 1); a float is accepted where the default is an integer only
//     when it is integral (epochs = 3.0, stored as 3), so 2.5 epochs is an error;
//   - array elements are checked against the default's elements when those share one kind
//     (lists of integers, of numbers, of strings);
//   - an object whose default is {} is a free map: any keys, unless MergeOptions names an
//     object its entries are checked against ("model.encoders" -> "model.encoder").
// Errors throw ConfigError (an mm::Error) with a message that starts "config: " and carries
// no source location: it is about what the user wrote, not about the code.
//
//   json cfg = defaults();
//   mm::merge_checked(cfg, user, "data");   // throws: config: unknown key "data.batch_sise"
//                                           //   (did you mean "data.batch_size"?); valid keys ...
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace mm {

// A mistake in a config the user wrote.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Levenshtein distance with adjacent transpositions (the optimal-string-alignment variant of
// Damerau-Levenshtein): "lamdba" -> "lambda" is one edit.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate nearest to `name` by edit_distance, or "" when none is close enough to be a
// typo (more than max(2, longer length / 3) edits away). Ties go to a candidate with the same
// letters as `name` (a transposition), else to the first.
std::string nearest_name(const std::string& name, const std::vector<std::string>& candidates);

// Returns `value` when it is one of `choices`; otherwise throws mm::Error:
// `<key> must be one of a, b, c, got "v"`, followed by the nearest choice when one is close
// enough to be a typo (`; did you mean "b"?`).
const std::string& one_of(const std::string& value, const std::string& key,
                          const std::vector<std::string>& choices);

// The JSON kind of `v`: "null", "boolean", "integer" (signed or unsigned), "number" (a float),
// "string", "array" or "object"; with_article gives "an integer", "a number", ...
std::string json_kind(const nlohmann::json& v, bool with_article = false);

// Whether `v` may stand where the default is `def`, looking at the kind only (not at array
// elements or object keys): the rules at the top of this file. A null default accepts anything.
bool kind_accepts(const nlohmann::json& def, const nlohmann::json& v);

struct MergeOptions {
  // Free maps (default {}) whose entries are each objects checked against the given defaults,
  // by dotted path: {"model.encoders", <model.encoder defaults>}. Only the keys an entry
  // gives are kept in it.
  std::map<std::string, nlohmann::json> entry_defaults;
};

// Merges `user` over `defaults` in place: objects key by key, other values replaced (integral
// floats where the default is an integer are stored as integers). `path` is the dotted name of
// `defaults` in messages ("" for the top level, "data" for the data section). Throws
// ConfigError on an unknown key or a value of the wrong kind; `defaults` is then unspecified.
void merge_checked(nlohmann::json& defaults, const nlohmann::json& user, const std::string& path = "",
                   const MergeOptions& options = {});

}  // namespace mm
