// The command-line program without training: argument parsing, config validation (unknown
// keys with suggestions, wrong types, ranges, --set, include), exit codes, the SVG writer
// (checked by a small XML well-formedness parser), reports, aggregation over seeds, the
// comparison table and the epoch summary line. The shipped configs must all resolve.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli_testing.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/config.h"
#include "tools/cli/progress.h"
#include "tools/cli/rundir.h"
#include "tools/cli/svg.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace mm::cli;
using mmtest::run_cli;
using mmtest::RunResult;

namespace {

// The message of the UsageError that f throws ("" when it throws none).
template <class F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("mmboost_test_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A small XML 1.0 well-formedness check: one root element, balanced and properly nested tags,
// quoted attributes without '<', and only the five predefined or numeric character references.
// Returns "" when well formed, else what is wrong.
std::string xml_problem(const std::string& s) {
  size_t i = 0;
  std::vector<std::string> stack;
  int roots = 0;
  auto entity_ok = [&](size_t at) {  // s[at] == '&'
    size_t semi = s.find(';', at);
    if (semi == std::string::npos || semi - at > 10) return false;
    std::string e = s.substr(at + 1, semi - at - 1);
    if (e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos") return true;
    return e.size() > 1 && e[0] == '#';
  };
  if (s.compare(0, 5, "<?xml") == 0) {
    i = s.find("?>");
    if (i == std::string::npos) return "unterminated XML declaration";
    i += 2;
  }
  while (i < s.size()) {
    if (s[i] != '<') {
      if (s[i] == '&' && !entity_ok(i)) return "bad entity at " + std::to_string(i);
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) return "text outside the root element";
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      size_t e = s.find("-->", i);
      if (e == std::string::npos) return "unterminated comment";
      i = e + 3;
      continue;
    }
    if (s.compare(i, 2, "</") == 0) {
      size_t e = s.find('>', i);
      if (e == std::string::npos) return "unterminated end tag";
      std::string name = s.substr(i + 2, e - i - 2);
      if (stack.empty() || stack.back() != name) return "end tag </" + name + "> does not match";
      stack.pop_back();
      i = e + 1;
      continue;
    }
    // start tag: name, attributes name="value", then > or />
    size_t j = i + 1;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':' || s[j] == '_')) ++j;
    std::string name = s.substr(i + 1, j - i - 1);
    if (name.empty()) return "empty tag name at " + std::to_string(i);
    std::vector<std::string> attrs;
    for (;;) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) return "unterminated tag <" + name;
      if (s[j] == '>' || s.compare(j, 2, "/>") == 0) break;
      size_t k = j;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '-' || s[k] == ':' || s[k] == '_')) ++k;
      std::string an = s.substr(j, k - j);
      if (an.empty() || k >= s.size() || s[k] != '=') return "bad attribute in <" + name + ">";
      for (const auto& a : attrs) {
        if (a == an) return "duplicate attribute " + an + " in <" + name + ">";
      }
      attrs.push_back(an);
      const char q = s[k + 1];
      if (q != '"' && q != '\'') return "unquoted attribute " + an;
      size_t end = s.find(q, k + 2);
      if (end == std::string::npos) return "unterminated attribute " + an;
      for (size_t m = k + 2; m < end; ++m) {
        if (s[m] == '<') return "'<' in attribute " + an;
        if (s[m] == '&' && !entity_ok(m)) return "bad entity in attribute " + an;
      }
      j = end + 1;
    }
    const bool empty = s[j] == '/';
    if (stack.empty()) ++roots;
    if (!empty) stack.push_back(name);
    i = j + (empty ? 2 : 1);
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (roots != 1) return "expected one root element, found " + std::to_string(roots);
  return "";
}

std::string source_dir() { return fs::path(__FILE__).parent_path().parent_path().string(); }

}  // namespace

// ---- argument parsing -------------------------------------------------------------------

TEST_CASE("parse_args accepts --opt value, --opt=value, flags and repeated --set", "[cpu][cli]") {
  CommandSpec spec;
  spec.name = "train";
  spec.options = {{"--epochs", "N", ""}, {"--set", "K=V", "", true}, {"--list", "", ""}};
  ParsedArgs a = parse_args(spec, {"--epochs", "3", "--set", "a=1", "b.c=2", "--set=d=x", "--list"});
  REQUIRE(a.get_int("--epochs", 0) == 3);
  REQUIRE(a.all("--set") == std::vector<std::string>{"a=1", "b.c=2", "d=x"});
  REQUIRE(a.has("--list"));
  REQUIRE(parse_args(spec, {"--epochs=7"}).get_int("--epochs", 0) == 7);
  REQUIRE(parse_args(spec, {"-h"}).help);
}

TEST_CASE("parse_args rejects unknown options with the nearest name, missing values, bad integers", "[cpu][cli]") {
  CommandSpec spec;
  spec.name = "train";
  spec.options = {{"--epochs", "N", ""}, {"--seed", "N", ""}, {"--list", "", ""}};
  std::string msg = usage_error([&] { parse_args(spec, {"--epoch", "3"}); });
  REQUIRE(msg.find("unknown option --epoch") != std::string::npos);
  REQUIRE(msg.find("did you mean --epochs?") != std::string::npos);
  REQUIRE(usage_error([&] { parse_args(spec, {"--epochs"}); }).find("needs a value N") != std::string::npos);
  REQUIRE(usage_error([&] { parse_args(spec, {"--list=1"}); }).find("takes no value") != std::string::npos);
  REQUIRE(usage_error([&] { parse_args(spec, {"--seed", "1", "--seed", "2"}); }).find("given twice") != std::string::npos);
  REQUIRE(usage_error([&] { parse_args(spec, {"extra"}); }).find("unexpected argument") != std::string::npos);
  ParsedArgs a = parse_args(spec, {"--epochs", "3x"});
  REQUIRE(usage_error([&] { a.get_int("--epochs", 0); }).find("expected an integer, got \"3x\"") != std::string::npos);
  ParsedArgs b = parse_args(spec, {"--epochs", "0"});
  REQUIRE(usage_error([&] { b.get_int("--epochs", 1, 1); }).find("out of range") != std::string::npos);
}

TEST_CASE("an integer option beyond 64 bits is out of range, not a non-integer", "[cpu][cli]") {
  CommandSpec spec;
  spec.name = "train";
  spec.options = {{"--epochs", "N", ""}};
  ParsedArgs a = parse_args(spec, {"--epochs", "99999999999999999999"});
  REQUIRE(usage_error([&] { a.get_int("--epochs", 1, 1); }) ==
          "--epochs 99999999999999999999 is out of range; expected >= 1");
  REQUIRE(usage_error([&] { parse_int("-99999999999999999999", "--seed"); }).find("--seed: -99999999999999999999 is out of range") !=
          std::string::npos);
  ParsedArgs b = parse_args(spec, {"--epochs", "99999999999"});
  REQUIRE(b.get_int("--epochs", 1, 1) == 99999999999);  // fits: the config's range of train.epochs then applies
}

TEST_CASE("seed lists accept commas and ranges", "[cpu][cli]") {
  REQUIRE(parse_int_list("0,1,2", "--seeds") == std::vector<int64_t>{0, 1, 2});
  REQUIRE(parse_int_list("3-5,9", "--seeds") == std::vector<int64_t>{3, 4, 5, 9});
  REQUIRE_THROWS_AS(parse_int_list("0,,1", "--seeds"), UsageError);
  REQUIRE_THROWS_AS(parse_int_list("5-3", "--seeds"), UsageError);
  REQUIRE_THROWS_AS(parse_int_list("a", "--seeds"), UsageError);
}

TEST_CASE("edit distance counts an adjacent transposition as one edit", "[cpu][cli]") {
  REQUIRE(edit_distance("kitten", "sitting") == 3);
  REQUIRE(edit_distance("lamdba", "lambda") == 1);
  REQUIRE(edit_distance("", "abc") == 3);
  REQUIRE(nearest_name("epcohs", {"epochs", "seed", "device"}) == "epochs");
  REQUIRE(nearest_name("zzzzzz", {"epochs", "seed"}).empty());
}

// ---- exit codes -------------------------------------------------------------------------

TEST_CASE("exit codes: 2 for usage errors, 1 for runtime errors, 0 for help", "[cpu][cli]") {
  RunResult r = run_cli({});
  REQUIRE(r.code == 2);
  REQUIRE(r.out.find("commands:") != std::string::npos);
  {
    // Each command's line in the top-level help is a whole sentence, not a summary cut at its
    // first line break.
    std::istringstream lines(r.out.substr(r.out.find("commands:")));
    std::string line;
    int listed = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("  ", 0) != 0) continue;
      INFO(line);
      REQUIRE(line.back() == '.');
      ++listed;
    }
    REQUIRE(listed == static_cast<int>(command_names().size()));
  }
  r = run_cli({"trian"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("did you mean train?") != std::string::npos);
  for (const auto& cmd : command_names()) {
    r = run_cli({cmd, "--help"});
    INFO(cmd);
    REQUIRE(r.code == 0);
    REQUIRE(r.out.find("usage: mmboost " + cmd) != std::string::npos);
  }
  REQUIRE(run_cli({"help", "eval"}).out.find("usage: mmboost eval") != std::string::npos);
  r = run_cli({"train"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("--config FILE is required") != std::string::npos);
  r = run_cli({"train", "--config", "/nonexistent/x.json"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("cannot open") != std::string::npos);
  r = run_cli({"train", "--config", "demo_agu"});  // a shipped config's name, misspelt
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("did you mean demo_aug.json?") != std::string::npos);
  r = run_cli({"eval", "--run", "/nonexistent/run"});
  REQUIRE(r.code == 2);
  r = run_cli({"compare", "/nonexistent/run"});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("is not a directory") != std::string::npos);
  r = run_cli({"compare"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("missing RUN_DIR...") != std::string::npos);
  r = run_cli({"make-demo", "/tmp/x", "--classes", "11"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("--classes") != std::string::npos);
  r = run_cli({"bench", "--dir", "/nonexistent"});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("MMBOOST_BUILD_BENCHMARKS") != std::string::npos);
}

TEST_CASE("train rejects a bad config with exit code 2 before touching any data", "[cpu][cli]") {
  fs::path d = temp_dir("badcfg");
  write(d / "typo.json", R"({"optim": {"lrr": 0.1}})");
  RunResult r = run_cli({"train", "--config", (d / "typo.json").string(), "--out", (d / "run").string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("\"optim.lrr\"") != std::string::npos);
  REQUIRE(r.err.find("did you mean \"optim.lr\"?") != std::string::npos);
  write(d / "ok.json", R"({"train": {"epochs": 2}})");
  r = run_cli({"train", "--config", (d / "ok.json").string(), "--set", "train.epochs=ten"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("\"train.epochs\" must be an integer") != std::string::npos);
  r = run_cli({"train", "--config", (d / "ok.json").string(), "--set", "optim.lr=-1"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("\"optim.lr\" = -1 is out of range") != std::string::npos);
  r = run_cli({"train", "--config", (d / "ok.json").string(), "--set", "train.batch_size=8", "--set", "data.batch_size=16"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("disagree") != std::string::npos);
  r = run_cli({"train", "--config", (d / "ok.json").string(), "--seed", "1", "--seeds", "0,1"});
  REQUIRE(r.code == 2);
  r = run_cli({"train", "--resume", (d / "nothing").string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("no config.json") != std::string::npos);
  r = run_cli({"train", "--config", (d / "ok.json").string(), "--set", "train.batch_size=0", "--out",
               (d / "run").string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("\"train.batch_size\" = 0 is out of range") != std::string::npos);
  REQUIRE_FALSE(fs::exists(d / "run"));
  // A damaged multi-seed record names its file and what it must hold.
  fs::create_directories(d / "multi");
  for (const char* bad : {R"({"seeds": "x", "config": {}})", R"({"seeds": [0]})", R"({"seeds": [-1], "config": {}})"}) {
    INFO(bad);
    write(d / "multi" / "multiseed.json", bad);
    r = run_cli({"train", "--resume", (d / "multi").string()});
    REQUIRE(r.code == 1);
    REQUIRE(r.err.find((d / "multi" / "multiseed.json").string() + ": not a multi-seed record") != std::string::npos);
  }
  fs::remove_all(d);
}

// ---- configs ----------------------------------------------------------------------------

TEST_CASE("config validation: unknown keys get the nearest valid key, also from another section", "[cpu][cli]") {
  const json defaults = schema_defaults();
  std::string msg = usage_error([&] { validate_keys(json{{"optim", {{"momentun", 0.9}}}}, defaults); });
  REQUIRE(msg.find("unknown key \"optim.momentun\"") != std::string::npos);
  REQUIRE(msg.find("did you mean \"optim.momentum\"?") != std::string::npos);
  msg = usage_error([&] { validate_keys(json{{"lr", 0.1}}, defaults); });
  REQUIRE(msg.find("did you mean \"optim.lr\"?") != std::string::npos);
  msg = usage_error([&] { validate_keys(json{{"method", {{"lamdba", 0.2}}}}, defaults); });
  REQUIRE(msg.find("did you mean \"method.lambda\"?") != std::string::npos);
  msg = usage_error([&] { validate_keys(json{{"data", {{"audio", {{"n_ftt", 256}}}}}}, defaults); });
  REQUIRE(msg.find("\"data.audio.n_ftt\"") != std::string::npos);
  REQUIRE(msg.find("\"data.audio.n_fft\"") != std::string::npos);
  // model.encoders.<modality> is checked against model.encoder
  REQUIRE_NOTHROW(validate_keys(json{{"model", {{"encoders", {{"audio", {{"type", "cnn"}}}}}}}}, defaults));
  msg = usage_error([&] { validate_keys(json{{"model", {{"encoders", {{"audio", {{"tpye", "cnn"}}}}}}}}, defaults); });
  REQUIRE(msg.find("\"model.encoders.audio.tpye\"") != std::string::npos);
  REQUIRE(msg.find("did you mean \"model.encoders.audio.type\"?") != std::string::npos);
}

TEST_CASE("config validation: wrong types name the dotted key and both types", "[cpu][cli]") {
  const json defaults = schema_defaults();
  std::string msg = usage_error([&] { validate_keys(json{{"train", {{"epochs", "10"}}}}, defaults); });
  REQUIRE(msg.find("\"train.epochs\" must be an integer") != std::string::npos);
  REQUIRE(msg.find("got string \"10\"") != std::string::npos);
  REQUIRE(usage_error([&] { validate_keys(json{{"train", {{"epochs", 2.5}}}}, defaults); }).find("train.epochs") != std::string::npos);
  REQUIRE_NOTHROW(validate_keys(json{{"train", {{"epochs", 3.0}}}}, defaults));  // integral float is fine
  REQUIRE_NOTHROW(validate_keys(json{{"optim", {{"lr", 1}}}}, defaults));          // integer where a float is expected
  msg = usage_error([&] { validate_keys(json{{"method", {{"name", 3}}}}, defaults); });
  REQUIRE(msg.find("\"method.name\" must be a string") != std::string::npos);
  msg = usage_error([&] { validate_keys(json{{"optim", {{"milestones", {70, "x"}}}}}, defaults); });
  REQUIRE(msg.find("\"optim.milestones[1]\"") != std::string::npos);
  msg = usage_error([&] { validate_keys(json{{"train", 3}}, defaults); });
  REQUIRE(msg.find("\"train\" must be an object") != std::string::npos);
}

TEST_CASE("config ranges name the key and the allowed range", "[cpu][cli]") {
  std::string msg = usage_error([&] { check_ranges(json{{"optim", {{"momentum", 1.0}}}}); });
  REQUIRE(msg.find("\"optim.momentum\" = 1.0 is out of range; it must be in [0, 1)") != std::string::npos);
  REQUIRE(usage_error([&] { check_ranges(json{{"train", {{"epochs", 0}}}}); }).find("train.epochs") != std::string::npos);
  REQUIRE(usage_error([&] { check_ranges(json{{"train", {{"device", "gpu"}}}}); }).find("\"cpu\" or \"cuda\"") != std::string::npos);
  REQUIRE_NOTHROW(check_ranges(json{{"optim", {{"momentum", 0.9}, {"lr", 0.01}}}, {"method", {{"lambda", 0.2}}}}));
  // train.batch_size is checked under its own name before it becomes data.batch_size, with the
  // data loader's bounds written as integers.
  msg = usage_error([&] { check_ranges(json{{"train", {{"batch_size", 0}}}}); });
  REQUIRE(msg.find("\"train.batch_size\" = 0 is out of range; it must be in [1, 1048576]") != std::string::npos);
  msg = usage_error([&] { check_ranges(json{{"data", {{"workers", 500}}}}); });
  REQUIRE(msg.find("\"data.workers\" = 500 is out of range; it must be in [0, 256]") != std::string::npos);
}

TEST_CASE("integer keys beyond what their type holds, or not integral, are usage errors naming the key",
          "[cpu][cli]") {
  // train.epochs has an upper bound of its own; before, 4294967297 was read as 1 epoch.
  std::string msg = usage_error([&] { resolve(json{{"train", {{"epochs", 4294967297LL}}}}); });
  REQUIRE(msg.find("\"train.epochs\" = 4294967297 is out of range; it must be in [1, 1000000]") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"train", {{"epochs", 1e12}}}}); });  // an integral float
  REQUIRE(msg.find("\"train.epochs\" = 1000000000000.0 is out of range") != std::string::npos);
  REQUIRE_NOTHROW(resolve(json{{"train", {{"epochs", 1000000}}}}));
  msg = usage_error([&] { resolve(json{{"method", {{"assign_every", 4294967297LL}}}}); });
  REQUIRE(msg.find("\"method.assign_every\" = 4294967297 is out of range; it must be in [1, 1000000]") != std::string::npos);
  // Every other integer key must fit the int it is read as: in each section, in a comparison
  // method's options, in a list, in an encoder override and in a modality's data override.
  for (const auto& [cfg, key] : std::vector<std::pair<json, std::string>>{
           {{{"method", {{"ogm", {{"end_epoch", 4294967297LL}}}}}}, "method.ogm.end_epoch"},
           {{{"optim", {{"milestones", {10, 4294967297LL}}}}}, "optim.milestones[1]"},
           {{{"data", {{"audio", {{"n_fft", 4294967298LL}}}}}}, "data.audio.n_fft"},
           {{{"data", {{"csv", {{"label_column", -4294967296LL}}}}}}, "data.csv.label_column"},
           {{{"data", {{"modalities", {{{"name", "audio"}, {"frames", {{"channels", 4294967297LL}}}}}}}}},
            "data.modalities[0].frames.channels"},
           {{{"method", {{"max_classifiers", 18446744073709551615ULL}}}}, "method.max_classifiers"},
           {{{"model", {{"encoders", {{"video", {{"resnet_width", 4294967360LL}}}}}}}}, "model.encoders.video.resnet_width"},
       }) {
    INFO(cfg.dump());
    msg = usage_error([&] { check_ranges(cfg); });
    REQUIRE(msg.find("\"" + key + "\" = ") != std::string::npos);
    REQUIRE(msg.find("is out of range") != std::string::npos);
  }
  // Seeds are 64-bit.
  REQUIRE_NOTHROW(resolve(json{{"train", {{"seed", 9223372036854775807LL}}}}));
  // A number that is not an integer where one is needed, also when check_ranges is called alone.
  msg = usage_error([&] { check_ranges(json{{"train", {{"threads", 1.5}}}}); });
  REQUIRE(msg.find("\"train.threads\" must be an integer (default 0), got number 1.5") != std::string::npos);

  // On the command line: exit code 2 before any data is read, and no run directory.
  const fs::path out = fs::temp_directory_path() / ("mmboost_test_cli_intkeys_" + std::to_string(::getpid()));
  fs::remove_all(out);
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--set", "train.epochs=4294967297"}, {"--epochs", "99999999999"}, {"--set", "method.aca_steps=1e12"}}) {
    std::vector<std::string> args = {"train", "--config", "demo_naive", "--data-root", "/nonexistent/data", "--out",
                                     out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    INFO(extra.back());
    RunResult r = run_cli(args);
    REQUIRE(r.code == 2);
    REQUIRE(r.err.find("is out of range") != std::string::npos);
    REQUIRE_FALSE(fs::exists(out));
  }
}

TEST_CASE("the model's layer lists must hold positive widths and suit method.fused, checked before any data is read",
          "[cpu][cli]") {
  std::string msg = usage_error([&] { resolve(json{{"model", {{"encoder", {{"cnn_channels", {0}}}}}}}); });
  REQUIRE(msg == "config: \"model.encoder.cnn_channels\" must list at least one positive channel count, got [0]");
  msg = usage_error([&] { resolve(json{{"model", {{"encoder", {{"cnn_channels", json::array()}}}}}}); });
  REQUIRE(msg.find("\"model.encoder.cnn_channels\" must list at least one positive channel count, got []") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"classifier_hidden", {0}}}}}); });
  REQUIRE(msg.find("\"model.classifier_hidden\" must list positive widths") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoders", {{"video", {{"mlp_hidden", {4, -1}}}}}}}}}); });
  REQUIRE(msg.find("\"model.encoders.video.mlp_hidden\" must list positive widths") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoders", {{"audio", {{"cnn_channels", json::array()}}}}}}}}); });
  REQUIRE(msg.find("\"model.encoders.audio.cnn_channels\" must list at least one positive channel count") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoder", {{"feature_dim", 0}}}}}}); });
  REQUIRE(msg.find("\"model.encoder.feature_dim\" = 0 is out of range; it must be in [1, 65536]") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoder", {{"cnn_channels", {8, 100000}}}}}}}); });
  REQUIRE(msg.find("\"model.encoder.cnn_channels[1]\" = 100000 is out of range") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"method", {{"aca_hidden", {64}}}}}); });
  REQUIRE(msg.find("\"method.aca_hidden\" must list two positive widths") != std::string::npos);
  // A method option the model section contradicts: the fused classifier kernels take classifiers
  // of one layer.
  msg = usage_error([&] { resolve(json{{"method", {{"fused", "on"}}}, {"model", {{"classifier_hidden", {64, 32}}}}}); });
  REQUIRE(msg.find("method.fused = \"on\" needs classifiers of one Linear+ReLU layer") != std::string::npos);
  REQUIRE(msg.find("model.classifier_hidden has 2 layers") != std::string::npos);
  REQUIRE_NOTHROW(resolve(json{{"method", {{"fused", "auto"}}}, {"model", {{"classifier_hidden", {64, 32}}}}}));
  // Empty lists that build a model: an MLP of one linear layer, a classifier that reads the
  // features directly.
  REQUIRE_NOTHROW(resolve(json{{"model", {{"classifier_hidden", json::array()}, {"encoder", {{"mlp_hidden", json::array()}}}}}}));

  // On the command line: exit code 2 with the key, although the data root does not exist.
  const fs::path out = fs::temp_directory_path() / ("mmboost_test_cli_widths_" + std::to_string(::getpid()));
  fs::remove_all(out);
  RunResult r = run_cli({"train", "--config", "demo_naive", "--data-root", "/nonexistent/data", "--out", out.string(),
                         "--set", "model.encoder.cnn_channels=[0]"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("\"model.encoder.cnn_channels\" must list at least one positive channel count") != std::string::npos);
  REQUIRE_FALSE(fs::exists(out));
}

TEST_CASE("misspelt method, method options, optimizer, schedule, selection metric and encoder type are config errors before any data is read",
          "[cpu][cli]") {
  std::string msg = usage_error([&] { resolve(json{{"method", {{"name", "boots"}}}}); });
  REQUIRE(msg.find("unknown method \"boots\" (method.name); did you mean \"boost\"?") != std::string::npos);
  REQUIRE(msg.find("reconboost") != std::string::npos);  // the list of known methods follows
  msg = usage_error([&] { resolve(json{{"method", {{"fusion", "omga"}}}}); });  // the boost method's own option
  REQUIRE(msg.find("method.fusion must be one of omega, weights, val_search, got \"omga\"; did you mean \"omega\"?") !=
          std::string::npos);
  // A comparison method's options, only when that method is chosen.
  msg = usage_error([&] { resolve(json{{"method", {{"name", "mla"}, {"mla", {{"fusion", "entropi"}}}}}}); });
  REQUIRE(msg.find("method.mla.fusion must be one of entropy, fixed, got \"entropi\"; did you mean \"entropy\"?") !=
          std::string::npos);
  REQUIRE_NOTHROW(resolve(json{{"method", {{"name", "boost"}, {"mla", {{"fusion", "entropi"}}}}}}));
  msg = usage_error([&] { resolve(json{{"method", {{"name", "reconboost"}, {"reconboost", {{"stage_length", 0}}}}}}); });
  REQUIRE(msg.find("method.reconboost.stage_length must be >= 1") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"method", {{"lambda", 1.5}}}}); });
  REQUIRE(msg.find("method.lambda") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"optim", {{"name", "adm"}}}}); });
  REQUIRE(msg.find("optim.name must be one of sgd, adam, adamw, got \"adm\"; did you mean \"adam\"?") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"optim", {{"scheduler", "cosin"}}}}); });
  REQUIRE(msg.find("optim.scheduler must be one of step, multistep, cosine, plateau, none, got \"cosin\"; did you mean \"cosine\"?") !=
          std::string::npos);
  msg = usage_error([&] { resolve(json{{"train", {{"select_metric", "f1"}}}}); });
  REQUIRE(msg.find("train.select_metric must be one of acc, macro_f1, map, got \"f1\"") != std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoder", {{"type", "resnt18"}}}}}}); });
  REQUIRE(msg.find("model.encoder.type must be one of auto, mlp, cnn, resnet18, got \"resnt18\"; did you mean \"resnet18\"?") !=
          std::string::npos);
  msg = usage_error([&] { resolve(json{{"model", {{"encoders", {{"video", {{"type", "cn"}}}}}}}}); });
  REQUIRE(msg.find("model.encoders.video.type must be one of") != std::string::npos);
  REQUIRE(msg.find("did you mean \"cnn\"?") != std::string::npos);
  REQUIRE_NOTHROW(resolve(json{{"method", {{"name", "ogm_ge"}}}, {"optim", {{"name", "adamw"}, {"scheduler", "cosine"}}}}));

  // On the command line: exit code 2, and no run directory is made (the data root need not exist).
  const fs::path out = fs::temp_directory_path() / ("mmboost_test_cli_choice_" + std::to_string(::getpid()));
  fs::remove_all(out);
  RunResult r = run_cli({"train", "--config", "demo_aug", "--set", "method.name=boots", "--data-root",
                         "/nonexistent/data", "--out", out.string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("did you mean \"boost\"?") != std::string::npos);
  REQUIRE_FALSE(fs::exists(out));
}

TEST_CASE("--set parses JSON values, keeps strings where the key is a string, and rejects bad input", "[cpu][cli]") {
  const json defaults = schema_defaults();
  json cfg = json::object();
  apply_set(cfg, "optim.lr=0.005", defaults);
  apply_set(cfg, "method.name=unimodal", defaults);
  apply_set(cfg, "name=123", defaults);               // "name" is a string key: stays "123"
  apply_set(cfg, "optim.milestones=[10,20]", defaults);
  apply_set(cfg, "method.terms.eps_p=false", defaults);
  REQUIRE(cfg["optim"]["lr"] == 0.005);
  REQUIRE(cfg["method"]["name"] == "unimodal");
  REQUIRE(cfg["name"] == "123");
  REQUIRE(cfg["optim"]["milestones"] == json::array({10, 20}));
  REQUIRE(cfg["method"]["terms"]["eps_p"] == false);
  REQUIRE(usage_error([&] { apply_set(cfg, "optim.lr", defaults); }).find("expected key=value") != std::string::npos);
  REQUIRE(usage_error([&] { apply_set(cfg, "=3", defaults); }).find("key before '=' is empty") != std::string::npos);
  REQUIRE(usage_error([&] { apply_set(cfg, "optim.lr.x=3", defaults); }).find("\"optim.lr\" is a number") != std::string::npos);
  REQUIRE(usage_error([&] { apply_set(cfg, "optim..lr=3", defaults); }).find("empty component") != std::string::npos);
  json bad = json::object();
  apply_set(bad, "optim.lrr=0.1", defaults);  // accepted here, caught by validation
  REQUIRE(usage_error([&] { resolve(bad); }).find("did you mean \"optim.lr\"?") != std::string::npos);
}

TEST_CASE("find_config looks beside the program and in the source tree of the build folder it "
          "sits in", "[cpu][cli]") {
  fs::path d = temp_dir("findcfg");
  fs::create_directories(d / "repo" / "tools" / "configs");
  fs::create_directories(d / "repo" / "build-x" / "tools");
  fs::create_directories(d / "inst" / "configs");
  write(d / "repo" / "tools" / "configs" / "only_in_tree.json", "{}");
  write(d / "inst" / "configs" / "only_installed.json", "{}");
  const std::string built = (d / "repo" / "build-x" / "tools" / "mmboost").string();
  CHECK(find_config("only_in_tree", built) == (d / "repo" / "tools" / "configs" / "only_in_tree.json").string());
  CHECK(find_config("only_installed.json", (d / "inst" / "mmboost").string()) ==
        (d / "inst" / "configs" / "only_installed.json").string());
  CHECK(usage_error([&] { find_config("only_installed", built); }).find("cannot find") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("include merges base files under the including file and detects cycles", "[cpu][cli]") {
  fs::path d = temp_dir("include");
  fs::create_directories(d / "sub");
  write(d / "sub" / "base.json", R"({"optim": {"lr": 0.1, "momentum": 0.5}, "train": {"epochs": 9}})");
  write(d / "child.json", R"({"include": "sub/base.json", "optim": {"lr": 0.2}, // comments are allowed
                             "name": "child"})");
  json c = load_config_file((d / "child.json").string());
  REQUIRE(c["optim"]["lr"] == 0.2);
  REQUIRE(c["optim"]["momentum"] == 0.5);
  REQUIRE(c["train"]["epochs"] == 9);
  REQUIRE_FALSE(c.contains("include"));
  write(d / "a.json", R"({"include": "b.json"})");
  write(d / "b.json", R"({"include": ["a.json"]})");
  REQUIRE(usage_error([&] { load_config_file((d / "a.json").string()); }).find("include cycle") != std::string::npos);
  write(d / "broken.json", "{\"optim\": {\"lr\": }");
  std::string msg = usage_error([&] { load_config_file((d / "broken.json").string()); });
  REQUIRE(msg.find("not valid JSON") != std::string::npos);
  REQUIRE(msg.find("line 1") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("a config that is a directory, or holds a number too large, is a usage error naming the file",
          "[cpu][cli]") {
  fs::path d = temp_dir("cfgfile");
  fs::create_directories(d / "adir");
  write(d / "incdir.json", "{\"include\": \"" + (d / "adir").string() + "\"}");
  std::string msg = usage_error([&] { load_config_file((d / "incdir.json").string()); });
  REQUIRE(msg == "config: \"" + (d / "adir").string() + "\" is a directory, not a config file");
  write(d / "huge.json", "{\"optim\": {\"lr\": 1e400}}");
  msg = usage_error([&] { load_config_file((d / "huge.json").string()); });
  REQUIRE(msg == "config: \"" + (d / "huge.json").string() + "\" is not valid JSON: the number 1e400 is too large (at \"optim.lr\")");
  write(d / "huge_list.json", "{\"optim\": {\"milestones\": [1, [2], -1e999]}}");
  msg = usage_error([&] { load_config_file((d / "huge_list.json").string()); });
  REQUIRE(msg.find("the number -1e999 is too large (at \"optim.milestones[2]\")") != std::string::npos);
  // A syntax error: the file, the line and column, and the reason, without the parser library's tag.
  write(d / "broken.json", "{\"optim\":\n {\"lr\": }");
  msg = usage_error([&] { load_config_file((d / "broken.json").string()); });
  REQUIRE(msg.find("config: \"" + (d / "broken.json").string() + "\" is not valid JSON: line 2, column 9: syntax error") !=
          std::string::npos);
  REQUIRE(msg.find("json.exception") == std::string::npos);
  for (const char* f : {"incdir.json", "huge.json"}) {
    INFO(f);
    RunResult r = run_cli({"train", "--config", (d / f).string(), "--out", (d / "run").string()});
    REQUIRE(r.code == 2);
    REQUIRE(r.err.find("json.exception") == std::string::npos);
    REQUIRE(r.err.find("basic_filebuf") == std::string::npos);
  }
  REQUIRE_FALSE(fs::exists(d / "run"));
  fs::remove_all(d);
}

TEST_CASE("resolve fills every default and every shipped config resolves", "[cpu][cli]") {
  json r = resolve(json::object());
  for (const char* k : {"name", "dataset", "out", "data", "model", "method", "optim", "train"}) {
    INFO(k);
    REQUIRE(r.contains(k));
  }
  REQUIRE(r["optim"]["lr"].is_number());
  const fs::path dir = fs::path(source_dir()) / "tools" / "configs";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path().string());
    json c = resolve(load_config_file(e.path().string()));
    REQUIRE(c["train"]["epochs"].get<int>() >= 1);
    ++n;
  }
  REQUIRE(n >= 12);
  // The CREMA-D configs carry the paper's settings.
  json cre = resolve(load_config_file((dir / "cremad_aug.json").string()));
  REQUIRE(cre["optim"]["lr"] == 0.01);
  REQUIRE(cre["optim"]["momentum"] == 0.9);
  REQUIRE(cre["optim"]["weight_decay"] == 1e-4);
  REQUIRE(cre["train"]["batch_size"] == 64);
  REQUIRE(cre["train"]["epochs"] == 200);
  REQUIRE(cre["method"]["lambda"] == 0.2);
  REQUIRE(cre["method"]["assign_every"] == 20);
  REQUIRE(cre["method"]["sigma"] == 1.0);
  REQUIRE(cre["method"]["tau"] == 0.01);
  REQUIRE(cre["model"]["encoder"]["type"] == "resnet18");
}

// ---- SVG --------------------------------------------------------------------------------

TEST_CASE("nice_ticks covers the range at 1/2/5 steps", "[cpu][cli][svg]") {
  std::vector<double> t = nice_ticks(0.0, 1.0, 5);
  REQUIRE(t.size() == 6);
  REQUIRE(t.front() == Approx(0.0));
  REQUIRE(t[1] == Approx(0.2));
  REQUIRE(t.back() == Approx(1.0));
  t = nice_ticks(3.0, 47.0, 5);  // step 10 -> 0..50
  REQUIRE(t.front() == Approx(0.0));
  REQUIRE(t.back() == Approx(50.0));
  REQUIRE(t[1] - t[0] == Approx(10.0));
  t = nice_ticks(1.0, 3.0, 6, /*integer_only=*/true);
  for (double v : t) REQUIRE(v == std::round(v));
  t = nice_ticks(5.0, 5.0, 5);  // a constant series still gets a range
  REQUIRE(t.size() >= 2);
  REQUIRE(t.front() < 5.0);
  REQUIRE(t.back() > 5.0);
}

TEST_CASE("the SVG line chart is well-formed XML with escaped text, legend and gaps", "[cpu][cli][svg]") {
  REQUIRE(xml_problem("<a><b/></a>").empty());
  REQUIRE_FALSE(xml_problem("<a><b></a>").empty());  // the checker itself can fail
  REQUIRE_FALSE(xml_problem("<a x=\"1 & 2\"/>").empty());
  REQUIRE_FALSE(xml_problem("<a/><b/>").empty());

  Series s1;
  s1.name = "fused <acc> & \"F1\"";
  s1.x = {1, 2, 3, 4, 5};
  s1.y = {0.2, 0.4, NAN, 0.6, 0.7};  // a gap at epoch 3
  Series s2;
  s2.name = "audio";
  s2.x = {1, 2, 3, 4, 5};
  s2.y = {1, 1, 2, 2, 3};
  s2.step = true;
  s2.dashed = true;
  ChartOptions o;
  o.title = "Validation accuracy & <more>";
  o.y_label = "accuracy";
  std::string svg = line_chart_svg(o, {s1, s2});
  INFO(svg);
  REQUIRE(xml_problem(svg).empty());
  REQUIRE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  REQUIRE(svg.find("fused &lt;acc&gt; &amp; &quot;F1&quot;") != std::string::npos);
  REQUIRE(svg.find("Validation accuracy &amp; &lt;more&gt;") != std::string::npos);
  REQUIRE(svg.find("stroke-dasharray") != std::string::npos);
  // The gap splits the first series' path into two sub-paths (two move-to commands).
  size_t p = svg.find("<path d=\"");
  REQUIRE(p != std::string::npos);
  std::string d = svg.substr(p, svg.find('"', p + 9) - p);
  REQUIRE(std::count(d.begin(), d.end(), 'M') == 2);
  // A step series uses horizontal/vertical segments.
  size_t p2 = svg.find("<path d=\"", p + 1);
  std::string d2 = svg.substr(p2, svg.find('"', p2 + 9) - p2);
  REQUIRE(d2.find(" H") != std::string::npos);
  REQUIRE(d2.find(" V") != std::string::npos);
  // No series and no data: still a valid document.
  REQUIRE(xml_problem(line_chart_svg(ChartOptions{}, {})).empty());
  Series one;
  one.name = "one";
  one.x = {1};
  one.y = {0.5};
  std::string single = line_chart_svg(o, {one});
  REQUIRE(xml_problem(single).empty());
  REQUIRE(single.find("<circle") != std::string::npos);  // a lone point gets a dot
}

// ---- reports, plots, aggregation, compare -----------------------------------------------

namespace {

json eval_json(double fused_acc, double audio_acc, double video_acc) {
  return json{{"fused", {{"acc", fused_acc}, {"macro_f1", fused_acc - 0.1}, {"map", fused_acc + 0.05}, {"count", 10}}},
              {"audio", {{"acc", audio_acc}, {"macro_f1", audio_acc - 0.1}, {"map", audio_acc + 0.05}}},
              {"video", {{"acc", video_acc}, {"macro_f1", video_acc - 0.1}, {"map", video_acc + 0.05}}},
              {"loss", 1.25}};
}

std::vector<json> records3() {
  std::vector<json> recs;
  for (int e = 0; e < 3; ++e) {
    json r;
    r["epoch"] = e;
    r["lr"] = 0.01;
    r["loss"] = {{"total", 2.0 - 0.5 * e}, {"audio.eps", 1.0 - 0.2 * e}, {"video.eps", 1.0 - 0.1 * e}};
    r["seconds"] = 2.0 + e;  // 2, 3, 4 -> mean 3
    r["val"] = eval_json(0.5 + 0.1 * e, 0.6, 0.3 + 0.05 * e);
    r["ogm_scores"] = {{"audio", 30.0 + e}, {"video", 20.0 + 2 * e}};
    r["classifiers"] = {{"audio", 1}, {"video", 1 + e}};
    recs.push_back(r);
  }
  return recs;
}

}  // namespace

TEST_CASE("make_report takes the classifiers of the best epoch and the mean epoch time", "[cpu][cli]") {
  ReportInputs in;
  in.config = resolve(json{{"name", "demo"}, {"dataset", "demo"}, {"train", {{"seed", 7}}}});
  in.modalities = {"audio", "video"};
  in.records = records3();
  in.best_epoch = 1;
  in.val = eval_json(0.6, 0.6, 0.35);
  in.test = eval_json(0.55, 0.5, 0.3);
  json r = make_report(in);
  REQUIRE(r["method"] == in.config["method"]["name"]);
  REQUIRE(r["dataset"] == "demo");
  REQUIRE(r["seed"] == 7);
  REQUIRE(r["epochs"] == 3);
  REQUIRE(r["seconds_per_epoch"].get<double>() == Approx(3.0));
  REQUIRE(r["classifiers"] == json{{"audio", 1}, {"video", 2}});  // epoch 1's record
  REQUIRE(r["test"]["fused"]["acc"] == 0.55);
  REQUIRE(r["test"]["video"]["map"].get<double>() == Approx(0.35));
  REQUIRE(r["val"]["audio"]["macro_f1"].get<double>() == Approx(0.5));
  std::string md = report_markdown(r);
  REQUIRE(md.find("| fused | 0.5500 | 0.4500 | 0.6000 |") != std::string::npos);
  REQUIRE(md.find("best on validation: epoch 2 (1-based)") != std::string::npos);
  // "accuracy" (the other spelling) is read too; classifiers as an array in modality order.
  REQUIRE(metric_triple(json{{"accuracy", 0.25}})["acc"] == 0.25);
  REQUIRE(classifiers_of(json{{"classifiers", {3, 5}}}, {"audio", "video"}) == json{{"audio", 3}, {"video", 5}});
}

TEST_CASE("write_plots draws accuracy, OGM scores, classifiers and loss as well-formed SVG", "[cpu][cli][svg]") {
  fs::path d = temp_dir("plots");
  std::vector<std::string> files = write_plots(d.string(), records3(), {"audio", "video"});
  REQUIRE(files.size() == 4);  // no omega in these records
  for (const char* name : {"accuracy.svg", "ogm_scores.svg", "classifiers.svg", "loss.svg"}) {
    INFO(name);
    std::string svg = read_file((d / "plots" / name).string());
    REQUIRE(xml_problem(svg).empty());
  }
  std::string acc = read_file((d / "plots" / "accuracy.svg").string());
  REQUIRE(acc.find(">fused<") != std::string::npos);
  REQUIRE(acc.find(">video<") != std::string::npos);
  std::string loss = read_file((d / "plots" / "loss.svg").string());
  REQUIRE(loss.find("train audio.eps") != std::string::npos);
  REQUIRE(loss.find("val fused CE") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("aggregate over seeds: mean and sample std; compare prints them per run", "[cpu][cli]") {
  json r0 = {{"name", "x"}, {"method", "boost"}, {"dataset", "demo"}, {"seed", 0}, {"modalities", {"audio", "video"}},
             {"epochs", 3}, {"seconds_per_epoch", 2.0}, {"classifiers", {{"audio", 1}, {"video", 4}}},
             {"test", {{"fused", {{"acc", 0.8}, {"macro_f1", 0.7}, {"map", 0.9}}}, {"audio", {{"acc", 0.6}, {"macro_f1", 0.5}, {"map", 0.7}}}}}};
  json r1 = r0;
  r1["seed"] = 1;
  r1["classifiers"]["video"] = 6;
  r1["test"]["fused"]["acc"] = 0.9;
  json a = aggregate_reports({r0, r1}, {"seed0", "seed1"});
  REQUIRE(a["test"]["fused"]["acc"]["mean"].get<double>() == Approx(0.85));
  // sample std of {0.8, 0.9}: sqrt(((0.05)^2 * 2) / 1) = 0.0707107
  REQUIRE(a["test"]["fused"]["acc"]["std"].get<double>() == Approx(0.0707107).epsilon(1e-5));
  REQUIRE(a["test"]["audio"]["acc"]["std"].get<double>() == Approx(0.0).margin(1e-12));
  REQUIRE(a["classifiers"]["video"]["mean"].get<double>() == Approx(5.0));
  REQUIRE(a["seeds"] == json::array({0, 1}));
  REQUIRE(mean_std(0.85, 0.0707107, 2) == "0.8500 +- 0.0707");
  REQUIRE(mean_std(0.85, 0.0, 1) == "0.8500");
  REQUIRE(mean_std(NAN, 0.0, 0) == "-");

  json single = aggregate_reports({r0}, {"run0"});
  std::string text = compare_table({a, single}, {"multi", "single"}, "test", "text");
  INFO(text);
  REQUIRE(text.find("fused acc") != std::string::npos);
  REQUIRE(text.find("0.8500 +- 0.0707") != std::string::npos);
  REQUIRE(text.find("N video") != std::string::npos);
  REQUIRE(text.find("5.0 +- 1.4") != std::string::npos);  // classifiers 4 and 6
  std::string md = compare_table({a, single}, {"multi", "single"}, "test", "md");
  REQUIRE(md.find("| multi | boost | demo | 2 | 0.8500 +- 0.0707 |") != std::string::npos);
  std::string csv = compare_table({single}, {"a,b"}, "test", "csv");
  REQUIRE(csv.find("\"a,b\",boost,demo,1,0.8000") != std::string::npos);
  REQUIRE(json::parse(compare_table({single}, {"s"}, "test", "json")).is_array());
  // val was never filled: shown as "-"
  REQUIRE(compare_table({single}, {"s"}, "val", "text").find(" - ") != std::string::npos);

  // compare and load_summary over run directories on disk.
  fs::path d = temp_dir("compare");
  fs::create_directories(d / "multi" / "seed0");
  fs::create_directories(d / "multi" / "seed1");
  write(d / "multi" / "seed0" / "report.json", r0.dump());
  write(d / "multi" / "seed1" / "report.json", r1.dump());
  fs::create_directories(d / "single");
  write(d / "single" / "report.json", r0.dump());
  fs::create_directories(d / "unfinished");
  write(d / "unfinished" / "config.json", "{}");
  RunResult rr = run_cli({"compare", (d / "multi").string(), (d / "single").string(), "--format", "md"});
  REQUIRE(rr.code == 0);
  REQUIRE(rr.out.find("0.8500 +- 0.0707") != std::string::npos);
  rr = run_cli({"compare", (d / "unfinished").string()});
  REQUIRE(rr.code == 1);
  REQUIRE(rr.err.find("has not finished") != std::string::npos);
  rr = run_cli({"compare", (d / "single").string(), "--format", "xml"});
  REQUIRE(rr.code == 2);
  fs::remove_all(d);
}

TEST_CASE("compare names the report file and the field of the wrong type", "[cpu][cli]") {
  fs::path d = temp_dir("badreport");
  auto compare_error = [&](const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    write(file, text);
    RunResult r = run_cli({"compare", file.parent_path().string()});
    INFO(r.err);
    REQUIRE(r.code == 1);
    REQUIRE(r.err.find("json.exception") == std::string::npos);
    return r.err;
  };
  const fs::path report = d / "run" / "report.json";
  std::string err = compare_error(report, R"({"test": 5, "name": [1]})");
  REQUIRE(err.find("\"" + report.string() + "\": field \"name\" must be a string, got array [1]") != std::string::npos);
  err = compare_error(report, R"({"name": "x", "test": 5})");
  REQUIRE(err.find("\"" + report.string() + "\": field \"test\" must be an object") != std::string::npos);
  err = compare_error(report, R"({"test": {"fused": {"acc": "high"}}})");
  REQUIRE(err.find("field \"test.fused.acc\" must be a number or null, got string \"high\"") != std::string::npos);
  err = compare_error(report, R"({"test": {"fused": {"acc": 1e400}}})");
  REQUIRE(err.find("\"" + report.string() + "\" is not valid JSON: the number 1e400 is too large (at \"test.fused.acc\")") !=
          std::string::npos);
  // A multi-seed directory: its aggregate.json, or each seed's report.json.
  const fs::path agg = d / "multi" / "aggregate.json";
  err = compare_error(agg, R"({"name": "x", "modalities": ["audio"], "runs": "seed0"})");
  REQUIRE(err.find("\"" + agg.string() + "\": field \"runs\" must be a list of strings") != std::string::npos);
  err = compare_error(agg, R"({"classifiers": {"video": 4}})");
  REQUIRE(err.find("field \"classifiers.video\" must be an object {\"mean\"") != std::string::npos);
  const fs::path seed = d / "seeds" / "seed0" / "report.json";
  err = compare_error(seed, R"({"modalities": ["audio", 3]})");
  REQUIRE(err.find("\"" + seed.string() + "\": field \"modalities[1]\" must be a string, got integer 3") != std::string::npos);
  // A statistic without a mean is shown as "-", not read past its end.
  write(agg, R"({"test": {"fused": {"acc": {"std": 0.1}}}})");
  RunResult r = run_cli({"compare", agg.parent_path().string()});
  REQUIRE(r.code == 0);
  fs::remove_all(d);
}

TEST_CASE("plot redraws from metrics.jsonl and skips a torn last line", "[cpu][cli]") {
  fs::path d = temp_dir("plotcmd");
  std::string text;
  for (const auto& r : records3()) text += r.dump() + "\n";
  write(d / "metrics.jsonl", text + "{\"epoch\": 3, \"lo");  // killed mid-write
  RunResult r = run_cli({"plot", d.string()});
  REQUIRE(r.code == 0);
  REQUIRE(r.err.find("skipped 1 unreadable line") != std::string::npos);
  REQUIRE(fs::exists(d / "plots" / "classifiers.svg"));
  REQUIRE(run_cli({"plot", (d / "nothing").string()}).code == 2);
  fs::remove_all(d);
}

// ---- progress ---------------------------------------------------------------------------

TEST_CASE("epoch summary shows loss, validation accuracy per modality, classifiers and the best mark", "[cpu][cli]") {
  double best = -1;
  std::vector<json> recs = records3();
  std::string s0 = epoch_summary(recs[0], 20, {"audio", "video"}, "acc", best);
  REQUIRE(s0.find("epoch  1/20") != std::string::npos);
  REQUIRE(s0.find("loss 2.0000") != std::string::npos);
  REQUIRE(s0.find("val acc 0.5000") != std::string::npos);
  REQUIRE(s0.find("(audio 0.6000, video 0.3000)") != std::string::npos);
  REQUIRE(s0.find("N audio 1 video 1") != std::string::npos);
  REQUIRE(s0.find("*") != std::string::npos);
  json worse = recs[1];
  worse["val"]["fused"]["acc"] = 0.1;
  REQUIRE(epoch_summary(worse, 20, {"audio", "video"}, "acc", best).find("*") == std::string::npos);
  REQUIRE(format_duration(3725) == "1:02:05");
  REQUIRE(format_duration(65) == "1:05");
  REQUIRE(format_duration(-1) == "--:--");

  // Plain (non-terminal) progress: a line at each quarter, none at the end (the summary follows).
  std::ostringstream out;
  ProgressPrinter p(out, /*tty=*/false, 2, {"audio", "video"});
  for (int b = 1; b <= 8; ++b) {
    mm::boost::BatchProgress bp;
    bp.epoch = 0;
    bp.batch = b;
    bp.num_batches = 8;
    bp.samples_per_s = 100;
    bp.running_loss = 1.5;
    p.on_batch(bp);
  }
  p.on_epoch(recs[0]);
  std::string text = out.str();
  REQUIRE(std::count(text.begin(), text.end(), '\n') == 4);  // 3 quarter lines + summary
  REQUIRE(text.find("batch 2/8") != std::string::npos);
  REQUIRE(text.find("loss 1.5000") != std::string::npos);
  REQUIRE(text.find('\r') == std::string::npos);
}

// ---- bench ------------------------------------------------------------------------------

TEST_CASE("bench runs bench_* executables and passes their JSON lines through", "[cpu][cli]") {
  fs::path d = temp_dir("bench");
  write(d / "bench_fake", "#!/bin/sh\necho 'warming up'\necho '{\"op\": \"fake\", \"args\": \"'\"$*\"'\"}'\n");
  write(d / "bench_broken", "#!/bin/sh\nexit 3\n");
  write(d / "bench_notes.txt", "not a benchmark");
  fs::permissions(d / "bench_fake", fs::perms::owner_all);
  fs::permissions(d / "bench_broken", fs::perms::owner_all);
  RunResult r = run_cli({"bench", "--dir", d.string(), "--list"});
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("bench_fake") != std::string::npos);
  REQUIRE(r.out.find("bench_notes") == std::string::npos);
  r = run_cli({"bench", "--dir", d.string(), "--filter", "fake", "--out", (d / "out.jsonl").string(), "--", "--size", "7"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  REQUIRE(r.out == "{\"op\": \"fake\", \"args\": \"--size 7\"}\n");  // only the JSON line on stdout
  REQUIRE(r.err.find("warming up") != std::string::npos);
  REQUIRE(read_file((d / "out.jsonl").string()) == r.out);
  r = run_cli({"bench", "--dir", d.string()});
  REQUIRE(r.code == 1);  // bench_broken failed
  REQUIRE(r.err.find("bench_broken failed") != std::string::npos);
  REQUIRE(run_cli({"bench", "--dir", d.string(), "--filter", "nothing"}).code == 1);
  fs::remove_all(d);
}
