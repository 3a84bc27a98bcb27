// The config checks shared by every section (engine/json_check.h): edit distance and typo
// suggestions, choices (one_of), JSON kind names, the integer/float rule, array elements, free maps and their
// checked entries, and the messages a user sees.
#include <catch2/catch.hpp>
#include <string>

#include "engine/json_check.h"

using nlohmann::json;
using namespace mm;

namespace {

// The message of the ConfigError that f throws ("" when it throws none).
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("edit_distance counts insertions, deletions, substitutions and adjacent swaps as one edit", "[cpu]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("lamdba", "lambda") == 1);  // one transposition, not two substitutions
  CHECK(edit_distance("ab", "ba") == 1);
  CHECK(edit_distance("ca", "abc") == 3);  // optimal string alignment: no edit of a swapped pair
}

TEST_CASE("nearest_name suggests only typos and prefers swapped letters among equal distances", "[cpu]") {
  CHECK(nearest_name("epcohs", {"epochs", "seed", "device"}) == "epochs");
  CHECK(nearest_name("zzzzzz", {"epochs", "seed"}).empty());
  CHECK(nearest_name("x", {}).empty());
  // "demo_agu" is one edit from both; the transposition is the likelier typo, in either order
  CHECK(nearest_name("demo_agu.json", {"demo_agm.json", "demo_aug.json"}) == "demo_aug.json");
  CHECK(nearest_name("demo_agu.json", {"demo_aug.json", "demo_agm.json"}) == "demo_aug.json");
  // otherwise ties go to the first candidate
  CHECK(nearest_name("lr", {"la", "lb"}) == "la");
  // the threshold grows with the length: 3 edits pass for 9+ letters, not for 6
  CHECK(nearest_name("abcdefxyz", {"abcdefghi"}) == "abcdefghi");
  CHECK(nearest_name("abcxyz", {"abcdef"}).empty());
}

TEST_CASE("one_of returns a listed choice and names the key, the choices and the nearest one otherwise", "[cpu]") {
  CHECK(one_of("cosine", "optim.scheduler", {"step", "cosine"}) == "cosine");
  std::string msg;
  try {
    one_of("cosin", "optim.scheduler", {"step", "cosine"});
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(contains(msg, "optim.scheduler must be one of step, cosine, got \"cosin\"; did you mean \"cosine\"?"));
  msg.clear();
  try {
    one_of("zzzzzz", "optim.scheduler", {"step", "cosine"});
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(contains(msg, "optim.scheduler must be one of step, cosine, got \"zzzzzz\""));
  CHECK_FALSE(contains(msg, "did you mean"));  // nothing close enough to be a typo
}

TEST_CASE("json_kind names every JSON kind, with the right article", "[cpu]") {
  CHECK(json_kind(json(nullptr)) == "null");
  CHECK(json_kind(json(true), true) == "a boolean");
  CHECK(json_kind(json(3), true) == "an integer");
  CHECK(json_kind(json(3u), true) == "an integer");
  CHECK(json_kind(json::parse("-3")) == "integer");
  CHECK(json_kind(json(2.5), true) == "a number");
  CHECK(json_kind(json("s"), true) == "a string");
  CHECK(json_kind(json::array(), true) == "an array");
  CHECK(json_kind(json::object(), true) == "an object");
}

TEST_CASE("kind_accepts: integers stand for floats, only integral floats stand for integers", "[cpu]") {
  CHECK(kind_accepts(json(0.01), json(1)));           // lr = 1
  CHECK(kind_accepts(json(0.01), json(0.5)));
  CHECK(kind_accepts(json(200), json(3)));
  CHECK(kind_accepts(json(200), json::parse("3.0")));  // integral
  CHECK_FALSE(kind_accepts(json(200), json(2.5)));
  CHECK_FALSE(kind_accepts(json(200), json(1e300)));  // integral, but no int64 holds it
  CHECK_FALSE(kind_accepts(json(200), json(true)));
  CHECK_FALSE(kind_accepts(json(0.5), json(false)));
  CHECK_FALSE(kind_accepts(json(true), json(1)));
  CHECK_FALSE(kind_accepts(json("cpu"), json(1)));
  CHECK_FALSE(kind_accepts(json::array(), json::object()));
  CHECK_FALSE(kind_accepts(json::object(), json::array()));
  CHECK(kind_accepts(json(nullptr), json("anything")));
}

TEST_CASE("merge_checked merges key by key and stores integral floats as integers", "[cpu]") {
  json d = {{"epochs", 200}, {"lr", 0.01}, {"widths", {256}}, {"range", {0.5, 1}}, {"opt", {{"a", 1}, {"b", "x"}}}};
  json u = json::parse(R"({"epochs": 3.0, "lr": 1, "widths": [64.0, 32], "range": [1, 2], "opt": {"b": "y"}})");
  merge_checked(d, u);
  CHECK(d["epochs"].is_number_integer());
  CHECK(d["epochs"] == 3);
  CHECK(d["lr"] == 1);
  CHECK(d["widths"] == json::array({64, 32}));
  CHECK(d["widths"][0].is_number_integer());
  CHECK(d["range"] == json::array({1, 2}));
  CHECK(d["opt"] == json({{"a", 1}, {"b", "y"}}));  // "a" kept from the defaults
  json again = d;
  merge_checked(again, d);
  CHECK(again == d);  // merging a merged config changes nothing
}

TEST_CASE("merge_checked names the dotted key, the expected kind, the default and what was given", "[cpu]") {
  const json defaults = {{"train", {{"epochs", 200}, {"device", "cpu"}}}, {"optim", {{"milestones", {70}}, {"betas", {0.9, 0.999}}}}};
  auto merge = [&](const json& u) {
    json d = defaults;
    merge_checked(d, u, "");
  };
  std::string msg = config_error([&] { merge({{"train", {{"epochs", "10"}}}}); });
  CHECK(msg == "config: \"train.epochs\" must be an integer (default 200), got string \"10\"");
  CHECK(contains(config_error([&] { merge({{"train", {{"epochs", 2.5}}}}); }), "got number 2.5"));
  msg = config_error([&] { merge({{"optim", {{"milestones", {70, "x"}}}}}); });
  CHECK(msg == "config: \"optim.milestones[1]\" must be an integer (default 70), got string \"x\"");
  msg = config_error([&] { merge({{"optim", {{"milestones", 70}}}}); });
  CHECK(msg == "config: \"optim.milestones\" must be an array of integers (default [70]), got integer 70");
  msg = config_error([&] { merge({{"optim", {{"betas", {0.9, true}}}}}); });
  CHECK(contains(msg, "\"optim.betas[1]\" must be a number"));
  msg = config_error([&] { merge({{"train", 3}}); });
  CHECK(msg == "config: \"train\" must be an object, got integer 3");
  msg = config_error([&] { merge(json::array()); });
  CHECK(msg == "config: \"(top level)\" must be an object, got array []");
  // a user's mistake: no source location in the message, and still an mm::Error
  CHECK_FALSE(contains(msg, "json_check.cpp"));
  CHECK_THROWS_AS(merge({{"train", 3}}), mm::Error);
}

TEST_CASE("merge_checked suggests the nearest key, else the shallowest same key elsewhere, and lists the valid keys", "[cpu]") {
  const json defaults = {{"method", {{"lambda", 0.2}, {"mslr", {{"lr", 1.0}}}}}, {"optim", {{"lr", 0.01}, {"momentum", 0.9}}}};
  auto merge = [&](const json& u, const std::string& path) {
    json d = defaults;
    merge_checked(d, u, path);
  };
  std::string msg = config_error([&] { merge({{"optim", {{"momentun", 0.9}}}}, ""); });
  CHECK(msg == "config: unknown key \"optim.momentun\" (did you mean \"optim.momentum\"?); valid keys in optim: lr, momentum");
  // "lr" is at depth 1 in optim and depth 2 in method.mslr: the shallower one is meant
  msg = config_error([&] { merge({{"lr", 0.1}}, ""); });
  CHECK(contains(msg, "unknown key \"lr\" (did you mean \"optim.lr\"?); valid keys in (top level): method, optim"));
  // a named section prefixes its paths
  msg = config_error([&] { merge({{"method", {{"lamdba", 0.2}}}}, "sec"); });
  CHECK(contains(msg, "unknown key \"sec.method.lamdba\" (did you mean \"sec.method.lambda\"?)"));
  msg = config_error([&] { merge({{"lr", 0.1}}, "sec"); });
  CHECK(contains(msg, "(did you mean \"sec.optim.lr\"?)"));
  // nothing near and nowhere else: only the valid keys
  msg = config_error([&] { merge({{"zzzzzz", 1}}, ""); });
  CHECK(msg == "config: unknown key \"zzzzzz\"; valid keys in (top level): method, optim");
}

TEST_CASE("free maps take any keys; entry_defaults check each entry and keep only its own keys", "[cpu]") {
  const json defaults = {{"model", {{"encoder", {{"type", "auto"}, {"feature_dim", 512}}}, {"encoders", json::object()}}},
                         {"tags", json::object()}};
  MergeOptions options;
  options.entry_defaults["model.encoders"] = defaults["model"]["encoder"];
  json d = defaults;
  merge_checked(d, {{"tags", {{"any", {1, "x"}}}}, {"model", {{"encoders", {{"audio", {{"feature_dim", 64.0}}}}}}}},
                "", options);
  CHECK(d["tags"] == json({{"any", {1, "x"}}}));
  CHECK(d["model"]["encoders"] == json({{"audio", {{"feature_dim", 64}}}}));  // no "type": it follows model.encoder
  CHECK(d["model"]["encoders"]["audio"]["feature_dim"].is_number_integer());
  auto merge = [&](const json& u) {
    json e = defaults;
    merge_checked(e, u, "", options);
  };
  std::string msg = config_error([&] { merge({{"model", {{"encoders", {{"audio", {{"tpye", "cnn"}}}}}}}}); });
  CHECK(contains(msg, "unknown key \"model.encoders.audio.tpye\" (did you mean \"model.encoders.audio.type\"?)"));
  msg = config_error([&] { merge({{"model", {{"encoders", {{"audio", {{"feature_dim", "big"}}}}}}}}); });
  CHECK(contains(msg, "\"model.encoders.audio.feature_dim\" must be an integer"));
  msg = config_error([&] { merge({{"model", {{"encoders", {{"audio", "cnn"}}}}}}); });
  CHECK(contains(msg, "\"model.encoders.audio\" must be an object"));
  // without the option the same map is free
  json f = defaults;
  merge_checked(f, {{"model", {{"encoders", {{"audio", {{"tpye", "cnn"}}}}}}}});
  CHECK(f["model"]["encoders"]["audio"]["tpye"] == "cnn");
}
