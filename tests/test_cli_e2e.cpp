// The command-line program end to end on a tiny generated dataset (two vector modalities in a
// manifest, small MLP encoders): train -> report.json -> eval -> compare; a run stopped by
// Ctrl-C (or SIGTERM) and resumed ends with exactly the numbers of an uninterrupted run; --seeds writes
// one run per seed and an aggregate; a run that failed before its first checkpoint is started
// again by the same command, one with work in it is not; a run that fails on bad data after a
// checkpoint names the way to resume it, and resumes to the numbers of an unbroken run; with
// data.skip_bad_samples bad samples are dropped and reported.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "data/npy.h"
#include "engine/backend.h"
#include "tests/cli_testing.h"
#include "tests/cuda_testing.h"
#include "tests/safetensors_testing.h"
#include "tools/cli/commands.h"
#include "tools/cli/rundir.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace mm::cli;
using mmtest::run_cli;
using mmtest::RunResult;

namespace {

// Three classes; modality "a" (6 values) carries the class clearly, "b" (4 values) weakly.
void make_dataset(const fs::path& dir) {
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  uint64_t state = 42;
  auto uniform = [&]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (const char* split : {"train", "test"}) {
    const int n = std::string(split) == "train" ? 72 : 24;
    std::ofstream csv(dir / (std::string(split) + ".csv"));
    csv << "id,label,a,b\n";
    for (int i = 0; i < n; ++i) {
      const int y = i % 3;
      const std::string id = std::string(split) + std::to_string(i);
      std::vector<float> a(6), b(4);
      for (int k = 0; k < 6; ++k) a[static_cast<size_t>(k)] = static_cast<float>((k % 3 == y ? 1.5 : 0.0) + uniform() - 0.5);
      for (int k = 0; k < 4; ++k) b[static_cast<size_t>(k)] = static_cast<float>((k == y ? 0.6 : 0.0) + 2.0 * (uniform() - 0.5));
      mm::data::write_npy((dir / "a" / (id + ".npy")).string(), a, {6});
      mm::data::write_npy((dir / "b" / (id + ".npy")).string(), b, {4});
      csv << id << ",c" << y << ",a/" << id << ".npy,b/" << id << ".npy\n";
    }
  }
  json cfg = {
      {"name", "tiny"},
      {"dataset", "tiny-vectors"},
      {"data", {{"format", "manifest"}, {"lists", {{"train", (dir / "train.csv").string()}, {"test", (dir / "test.csv").string()}}},
                {"val_fraction", 0.25}, {"workers", 1}}},
      {"model", {{"encoder", {{"type", "mlp"}, {"feature_dim", 16}, {"mlp_hidden", {16}}}}, {"classifier_hidden", {16}}}},
      {"method", {{"name", "boost"}, {"assign_every", 1}}},
      {"optim", {{"lr", 0.05}, {"scheduler", "none"}}},
      {"train", {{"epochs", 5}, {"batch_size", 16}, {"threads", 1}}},
  };
  std::ofstream(dir / "tiny.json") << cfg.dump(2);
}

// A fresh folder for one test case with the tiny dataset in ROOT/data (its config:
// ROOT/data/tiny.json).
fs::path fresh_root(const std::string& tag) {
  const fs::path root = fs::temp_directory_path() / ("mmboost_test_cli_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(root);
  make_dataset(root / "data");
  return root;
}

// What must match between two runs: everything in the records but the clocks.
json without_timing(json rec) {
  for (const char* k : {"seconds", "train_seconds", "samples_per_s", "created"}) rec.erase(k);
  return rec;
}

std::vector<json> records_of(const fs::path& run) {
  std::vector<json> out;
  for (auto& r : read_jsonl((run / "metrics.jsonl").string())) out.push_back(without_timing(r));
  return out;
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Two runs recorded the same epochs with the same numbers (clocks aside).
void require_same_records(const fs::path& expected, const fs::path& actual) {
  const std::vector<json> a = records_of(expected), b = records_of(actual);
  REQUIRE(b.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("epoch " << i);
    REQUIRE(b[i].dump() == a[i].dump());
  }
}

// A run stopped by a signal (BY: "Ctrl-C" or "SIGTERM") before its last of EPOCHS epochs:
// exit code CODE, the --resume line, no report yet.
void require_stopped(const RunResult& r, int code, const char* by, const fs::path& run, size_t epochs) {
  INFO(r.out << r.err);
  REQUIRE(r.code == code);
  REQUIRE(r.err.find(std::string("stopped by ") + by) != std::string::npos);
  REQUIRE(r.err.find("mmboost train --resume " + run.string()) != std::string::npos);
  REQUIRE_FALSE(fs::exists(run / "report.json"));
  REQUIRE(records_of(run).size() < epochs);
}

extern "C" void ignore_signal(int) {}

// Runs `mmboost train ARGS` into RUN_DIR and raises SIG in this process as soon as the first
// epoch's record is in RUN_DIR/metrics.jsonl. While it runs, SIG is ignored outside the
// command's own handler, so a signal raised after training ended cannot kill the test.
RunResult train_interrupted_by(int sig, const fs::path& run_dir, std::vector<std::string> args) {
  void (*prev)(int) = std::signal(sig, ignore_signal);
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      std::ifstream in(run_dir / "metrics.jsonl");
      std::string line;
      if (in && std::getline(in, line) && !line.empty()) {
        std::raise(sig);
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  args.insert(args.begin(), "train");
  args.push_back("--out");
  args.push_back(run_dir.string());
  RunResult r = run_cli(args);
  done.store(true);
  interrupter.join();
  std::signal(sig, prev == SIG_ERR ? SIG_DFL : prev);
  return r;
}

}  // namespace

TEST_CASE("train writes a complete run directory; eval reproduces the report; compare tabulates it", "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e");
  const std::string cfg = (root / "data" / "tiny.json").string();
  const fs::path runA = root / "runA";

  RunResult r = run_cli({"train", "--config", cfg, "--out", runA.string()});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("epoch 5/5") != std::string::npos);
  for (const char* f : {"config.json", "metrics.jsonl", "report.json", "report.md", "predictions_test.csv",
                        "checkpoints/last.safetensors", "checkpoints/best.safetensors", "plots/accuracy.svg",
                        "plots/classifiers.svg", "plots/ogm_scores.svg", "plots/loss.svg"}) {
    INFO(f);
    REQUIRE(fs::exists(runA / f));
  }
  // config.json is fully resolved: every section with every default.
  json resolved = read_json((runA / "config.json").string());
  REQUIRE(resolved["optim"]["momentum"] == 0.9);
  REQUIRE(resolved["data"]["audio"].is_object());
  REQUIRE(resolved["train"]["batch_size"] == 16);
  REQUIRE(resolved["data"]["batch_size"] == 16);

  json report = read_json((runA / "report.json").string());
  REQUIRE(report["method"] == "boost");
  REQUIRE(report["dataset"] == "tiny-vectors");
  REQUIRE(report["seed"] == 0);
  REQUIRE(report["epochs"] == 5);
  REQUIRE(report["seconds_per_epoch"].is_number());
  REQUIRE(report["modalities"] == json::array({"a", "b"}));
  REQUIRE(report["classifiers"]["a"].get<int>() >= 1);
  REQUIRE(report["classifiers"]["b"].get<int>() >= 1);
  // The default fusion (val_search): the best epoch's weights, chosen on validation, on the simplex.
  REQUIRE(resolved["method"]["fusion"] == "val_search");
  const double wa = report["fusion_weights"]["a"].get<double>(), wb = report["fusion_weights"]["b"].get<double>();
  REQUIRE(wa >= 0.0);
  REQUIRE(wb >= 0.0);
  REQUIRE(wa + wb == Approx(1.0));
  for (const json& rec : read_jsonl((runA / "metrics.jsonl").string()))
    if (rec["epoch"] == report["best_epoch"]) REQUIRE(rec["fusion_weights"] == report["fusion_weights"]);
  REQUIRE(file_text(runA / "report.md").find("- fusion weights of the fused prediction: a ") != std::string::npos);
  char fused_line[96];
  std::snprintf(fused_line, sizeof fused_line, "  fused = %.2f x a + %.2f x b (method.fusion = val_search)\n", wa, wb);
  REQUIRE(r.out.find(fused_line) != std::string::npos);
  for (const char* split : {"val", "test"}) {
    for (const char* p : {"fused", "a", "b"}) {
      for (const char* m : {"acc", "macro_f1", "map"}) {
        INFO(split << " " << p << " " << m);
        REQUIRE(report[split][p][m].is_number());
      }
    }
  }
  // The strong modality learns this task: well above chance (1/3) after 5 epochs.
  REQUIRE(report["test"]["a"]["acc"].get<double>() > 0.6);
  REQUIRE(records_of(runA).size() == 5);
  // Where it ran: the CPU with the config's one thread, no CUDA settings.
  REQUIRE(report["runtime"] == json({{"device", "cpu"}, {"threads", 1}}));

  // eval with the best checkpoint on test gives the report's numbers exactly.
  r = run_cli({"eval", "--run", runA.string(), "--split", "test"});
  REQUIRE(r.code == 0);
  json ev = read_json((runA / "eval_test.json").string());
  REQUIRE(ev["runtime"] == report["runtime"]);
  REQUIRE(ev["fusion_weights"] == report["fusion_weights"]);  // restored from the best checkpoint
  REQUIRE(r.out.find(fused_line) != std::string::npos);
  for (const char* p : {"fused", "a", "b"}) {
    for (const char* m : {"acc", "macro_f1", "map"}) {
      INFO(p << " " << m);
      REQUIRE(ev["metrics"][p][m].get<double>() == report["test"][p][m].get<double>());
    }
  }
  REQUIRE(run_cli({"eval", "--run", runA.string(), "--split", "val", "--checkpoint", "last"}).code == 0);

  r = run_cli({"compare", runA.string(), "--format", "csv"});
  REQUIRE(r.code == 0);
  char acc[32];
  std::snprintf(acc, sizeof acc, "%.4f", report["test"]["fused"]["acc"].get<double>());
  REQUIRE(r.out.find(std::string(",boost,tiny-vectors,1,") + acc) != std::string::npos);

  // A second train into the same directory is refused (it would mix two runs).
  r = run_cli({"train", "--config", cfg, "--out", runA.string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("--resume") != std::string::npos);

  // ---- Ctrl-C, then --resume: the same final numbers as the uninterrupted run ----------
  const fs::path runB = root / "runB";
  // The signal comes once the first of five epochs is recorded: four epochs' time to arrive.
  require_stopped(train_interrupted_by(SIGINT, runB, {"--config", cfg}), 130, "Ctrl-C", runB, 5);
  r = run_cli({"train", "--resume", runB.string()});
  REQUIRE(r.code == 0);
  require_same_records(runA, runB);
  json reportB = read_json((runB / "report.json").string());
  REQUIRE(reportB["test"].dump() == report["test"].dump());
  REQUIRE(reportB["classifiers"] == report["classifiers"]);

  // ---- several seeds -------------------------------------------------------------------
  const fs::path multi = root / "multi";
  r = run_cli({"train", "--config", cfg, "--out", multi.string(), "--seeds", "0,1", "--epochs", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(multi / "seed0" / "report.json"));
  REQUIRE(fs::exists(multi / "seed1" / "report.json"));
  json agg = read_json((multi / "aggregate.json").string());
  REQUIRE(agg["seeds"] == json::array({0, 1}));
  REQUIRE(agg["test"]["fused"]["acc"]["n"] == 2);
  REQUIRE(read_json((multi / "seed1" / "config.json").string())["train"]["seed"] == 1);
  r = run_cli({"compare", runA.string(), multi.string()});
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find(" +- ") != std::string::npos);
  REQUIRE(run_cli({"plot", multi.string()}).code == 0);
  fs::remove_all(root);
}

TEST_CASE("SIGTERM stops a run after the current batch with exit code 143; it resumes to the numbers of an unbroken run",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("sigterm");
  const std::string cfg = (root / "data" / "tiny.json").string();
  const fs::path unbroken = root / "unbroken", stopped = root / "stopped";
  // Eight epochs: the signal, raised once the first epoch is recorded, has seven epochs' time
  // to arrive, so the stop is certain to happen inside training.
  RunResult r = run_cli({"train", "--config", cfg, "--epochs", "8", "--out", unbroken.string()});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);

  require_stopped(train_interrupted_by(SIGTERM, stopped, {"--config", cfg, "--epochs", "8"}), 143, "SIGTERM", stopped,
                  8);
  r = run_cli({"train", "--resume", stopped.string()});
  REQUIRE(r.code == 0);
  require_same_records(unbroken, stopped);
  REQUIRE(read_json((stopped / "report.json").string())["test"].dump() ==
          read_json((unbroken / "report.json").string())["test"].dump());
  fs::remove_all(root);
}

TEST_CASE("train and eval on cuda record the GPU and the settings that change its numbers",
          "[cuda][cli][e2e]") {
  SKIP_WITHOUT_CUDA();
  const fs::path root = fresh_root("cuda");
  const fs::path run = root / "run";
  RunResult r = run_cli({"train", "--config", (root / "data" / "tiny.json").string(), "--out", run.string(),
                         "--device", "cuda", "--epochs", "1"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  // As documented: MMBOOST_TF32=1, MMBOOST_CUDNN_DETERMINISTIC=0 and MMBOOST_CUDNN_BENCHMARK=1
  // change them; the emulated device runs the CPU backend, where they read as the defaults.
  auto env_is = [](const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v && std::string(v) == value;
  };
  const bool emulated = mm::cuda::emulated();
  const mm::cuda::Settings s = mm::cuda::settings();
  json want = {{"device", "cuda"},
               {"threads", 1},
               {"gpu", emulated ? "emulated device (CPU backend)" : s.gpu},
               {"tf32", !emulated && env_is("MMBOOST_TF32", "1")},
               {"cudnn_deterministic", emulated || !env_is("MMBOOST_CUDNN_DETERMINISTIC", "0")},
               {"cudnn_benchmark", !emulated && env_is("MMBOOST_CUDNN_BENCHMARK", "1")}};
  // The CUDA and cuDNN versions, on a device that has them (cuDNN 9 or later: the build needs it).
  if (!emulated) {
    REQUIRE(s.cuda_runtime >= 12000);
    REQUIRE(s.cudnn >= 90000);
    want["cuda_runtime"] = mm::cuda::cuda_version_name(s.cuda_runtime);
    want["cuda_driver"] = mm::cuda::cuda_version_name(s.cuda_driver);
    want["cudnn"] = mm::cuda::cudnn_version_name(s.cudnn);
    want["cudnn_built"] = mm::cuda::cudnn_version_name(s.cudnn_built);
  }
  const json report = read_json((run / "report.json").string());
  REQUIRE(report["runtime"] == want);
  REQUIRE_FALSE(want["gpu"].get<std::string>().empty());
  REQUIRE(r.out.find("  cuda: " + want["gpu"].get<std::string>() + "; ") != std::string::npos);
  r = run_cli({"eval", "--run", run.string(), "--split", "test"});
  REQUIRE(r.code == 0);
  REQUIRE(read_json((run / "eval_test.json").string())["runtime"] == want);
  fs::remove_all(root);
}

TEST_CASE("a run that failed before its first checkpoint is started afresh by the same command; one with a checkpoint is refused",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e_restart");
  const std::string cfg = (root / "data" / "tiny.json").string();
  const fs::path bad = root / "data" / "a" / "train5.npy";
  const fs::path saved = root / "train5.npy.good";
  fs::copy_file(bad, saved);

  for (const bool seeds : {false, true}) {
    const fs::path run = root / (seeds ? "multi" : "single");
    std::vector<std::string> args = {"train", "--config", cfg, "--out", run.string(), "--epochs", "2"};
    if (seeds) args.insert(args.end(), {"--seeds", "0,1"});
    fs::resize_file(bad, 20);  // a truncated .npy: the run fails on it
    RunResult r = run_cli(args);
    INFO(r.out << r.err);
    REQUIRE(r.code == 1);
    REQUIRE(r.err.find("train5.npy") != std::string::npos);
    REQUIRE(is_run_dir((seeds ? run / "seed0" : run).string()));

    // The data fixed, the same command starts the run again instead of asking for --resume.
    fs::copy_file(saved, bad, fs::copy_options::overwrite_existing);
    r = run_cli(args);
    REQUIRE(r.code == 0);
    REQUIRE(r.err.find("stopped before its first checkpoint; starting it afresh") != std::string::npos);
    REQUIRE(fs::exists(run / (seeds ? "aggregate.json" : "report.json")));

    // Now it holds checkpoints and a report: the same command is refused.
    r = run_cli(args);
    REQUIRE(r.code == 2);
    REQUIRE(r.err.find("already holds a run; continue it with --resume") != std::string::npos);
  }
  // A run stopped with a checkpoint but no report (metrics removed too) is still refused.
  const fs::path single = root / "single";
  fs::remove(single / "report.json");
  fs::remove(single / "metrics.jsonl");
  RunResult r = run_cli({"train", "--config", cfg, "--out", single.string()});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("--resume") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("a run that fails on bad data after a checkpoint says how to resume, and resumes to the numbers of an unbroken run",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e_fail");
  const std::string cfg = (root / "data" / "tiny.json").string();
  const fs::path file = root / "data" / "b" / "train7.npy";
  const fs::path saved = root / "train7.npy.good";
  fs::copy_file(file, saved);

  const fs::path whole = root / "whole", broken = root / "broken";
  RunResult r = run_cli({"train", "--config", cfg, "--out", whole.string(), "--epochs", "3"});
  REQUIRE(r.code == 0);
  r = run_cli({"train", "--config", cfg, "--out", broken.string(), "--epochs", "2"});
  REQUIRE(r.code == 0);

  // The data breaks before the third epoch: the error names the file and the way on.
  fs::resize_file(file, 30);
  r = run_cli({"train", "--resume", broken.string(), "--epochs", "3"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("train7.npy") != std::string::npos);
  REQUIRE(r.err.find("checkpoints are kept; once the cause is fixed, continue with:\n  mmboost train --resume " +
                     broken.string()) != std::string::npos);
  REQUIRE(records_of(broken).size() == 2);

  fs::copy_file(saved, file, fs::copy_options::overwrite_existing);
  r = run_cli({"train", "--resume", broken.string(), "--epochs", "3"});
  REQUIRE(r.code == 0);
  REQUIRE(records_of(broken).size() == 3);
  require_same_records(whole, broken);

  // A fresh run that fails before any checkpoint gets the plain error, without the hint.
  fs::resize_file(file, 30);
  r = run_cli({"train", "--config", cfg, "--out", (root / "fresh").string()});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("--resume") == std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("with data.skip_bad_samples a run drops bad samples and reports which; without it the error names the option",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e_skip");
  const std::string cfg = (root / "data" / "tiny.json").string();
  fs::resize_file(root / "data" / "b" / "train7.npy", 30);  // fails when loaded
  fs::remove(root / "data" / "a" / "train11.npy");           // missing: dropped when the list is read

  RunResult r = run_cli({"train", "--config", cfg, "--out", (root / "strict").string(), "--epochs", "2"});
  REQUIRE(r.code == 1);

  const fs::path run = root / "skip";
  r = run_cli({"train", "--config", cfg, "--out", run.string(), "--epochs", "2", "--set", "data.skip_bad_samples=true"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("data.skip_bad_samples: train: 1 row(s) dropped from the list") != std::string::npos);
  const json report = read_json((run / "report.json").string());
  const json& sk = report.at("skipped_samples");
  // Validation is carved from the training list: its dropped row is train's, listed once.
  REQUIRE(sk.size() <= 2);
  REQUIRE(sk.at("train").at("at_scan") == 1);
  const std::string messages = sk.dump();
  REQUIRE(messages.find("train11.npy") != std::string::npos);
  REQUIRE(messages.find("train7.npy") != std::string::npos);  // in train or val, wherever it fell
  int64_t failures = 0;
  for (auto it = sk.begin(); it != sk.end(); ++it) failures += it.value().at("load_failures").get<int64_t>();
  REQUIRE(failures >= 2);  // the bad file, met in each of the two epochs (or each validation pass)
  std::ifstream md(run / "report.md");
  std::stringstream text;
  text << md.rdbuf();
  REQUIRE(text.str().find("## Samples skipped (data.skip_bad_samples)") != std::string::npos);
  REQUIRE(text.str().find("train7.npy") != std::string::npos);
  // eval reads the run's config, the option included: the test split had nothing to drop.
  r = run_cli({"eval", "--run", run.string(), "--split", "test"});
  REQUIRE(r.code == 0);
  REQUIRE(read_json((run / "eval_test.json").string()).at("skipped_samples") == json::object());

  // Without the option the load error says how to drop such samples.
  fs::copy_file(root / "data" / "a" / "train10.npy", root / "data" / "a" / "train11.npy");
  r = run_cli({"train", "--config", cfg, "--out", (root / "strict2").string(), "--epochs", "1"});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("train7.npy") != std::string::npos);
  REQUIRE(r.err.find("data.skip_bad_samples = true drops such samples instead") != std::string::npos);
  fs::remove_all(root);
}


TEST_CASE("resume repairs a best checkpoint left stale by a kill between the epoch's two checkpoint writes",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e_stale_best");
  const std::string cfg = (root / "data" / "tiny.json").string();
  // The last epoch that improved on validation in a 5-epoch run: its checkpoint is written as
  // last.safetensors, then as best.safetensors.
  const fs::path ref = root / "ref";
  REQUIRE(run_cli({"train", "--config", cfg, "--out", ref.string()}).code == 0);
  const std::vector<json> recs = records_of(ref);
  int e = -1;
  for (size_t i = 1; i < recs.size(); ++i)
    if (recs[i]["best"].get<bool>()) e = static_cast<int>(i);
  REQUIRE(e >= 1);  // some epoch after the first improves on this data

  // The same run stopped after epoch e, its best file kept, then continued to epoch e + 1.
  const fs::path run = root / "run";
  const fs::path ckpt = run / "checkpoints";
  REQUIRE(run_cli({"train", "--config", cfg, "--out", run.string(), "--epochs", std::to_string(e)}).code == 0);
  fs::copy_file(ckpt / "best.safetensors", root / "older_best.safetensors");
  REQUIRE(run_cli({"train", "--resume", run.string(), "--epochs", std::to_string(e + 1)}).code == 0);
  const json report = read_json((run / "report.json").string());
  REQUIRE(report["best_epoch"] == e);

  // What a kill between the two writes of epoch e + 1 leaves: last.safetensors of that epoch,
  // the older best.safetensors, and the best file's half-written replacement.
  fs::copy_file(root / "older_best.safetensors", ckpt / "best.safetensors", fs::copy_options::overwrite_existing);
  std::ofstream(ckpt / "best.safetensors.tmp") << "half a file";
  fs::remove(run / "report.json");
  RunResult r = run_cli({"train", "--resume", run.string()});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const json again = read_json((run / "report.json").string());
  REQUIRE(again["best_epoch"] == e);
  REQUIRE(again["val"].dump() == report["val"].dump());
  REQUIRE(again["test"].dump() == report["test"].dump());
  REQUIRE_FALSE(fs::exists(ckpt / "best.safetensors.tmp"));
  // A best file of that epoch whose weights were damaged (one bit): written again as well.
  mmtest::flip_bit_from_end((ckpt / "best.safetensors").string(), 1);
  fs::remove(run / "report.json");
  r = run_cli({"train", "--resume", run.string()});
  REQUIRE(r.code == 0);
  REQUIRE(read_json((run / "report.json").string())["test"].dump() == report["test"].dump());

  // A best file of another epoch where the run's best is not its last epoch cannot be repaired
  // from last.safetensors: the report is refused, naming the file, instead of scoring it.
  REQUIRE(run_cli({"train", "--resume", run.string(), "--epochs", std::to_string(e + 2)}).code == 0);
  const int best_now = read_json((run / "report.json").string())["best_epoch"].get<int>();
  if (best_now == e) {  // epoch e + 2 did not improve (as in the 5-epoch run when e + 1 < 5)
    fs::copy_file(ckpt / "last.safetensors", ckpt / "best.safetensors", fs::copy_options::overwrite_existing);
    r = run_cli({"train", "--resume", run.string()});
    REQUIRE(r.code == 1);
    REQUIRE(r.err.find("best.safetensors' holds the weights of epoch " + std::to_string(e + 2)) != std::string::npos);
    fs::remove(ckpt / "best.safetensors");
    r = run_cli({"train", "--resume", run.string()});
    REQUIRE(r.code == 1);
    REQUIRE(r.err.find("best.safetensors' is missing") != std::string::npos);
  } else {
    REQUIRE(best_now == e + 1);
  }
  fs::remove_all(root);
}

TEST_CASE("a refused resume leaves the run as it was; the epochs and seed a run has trained cannot be undone",
          "[cpu][cli][e2e]") {
  const fs::path root = fresh_root("e2e_resume_refusals");
  const std::string cfg = (root / "data" / "tiny.json").string();
  const fs::path run = root / "run";
  const fs::path ckpt = run / "checkpoints";
  REQUIRE(run_cli({"train", "--config", cfg, "--out", run.string(), "--epochs", "2"}).code == 0);
  const std::string config = file_text(run / "config.json");

  // Another method than the checkpoint's: refused by the checkpoint check, config.json kept, so
  // that the plain resume still works.
  RunResult r = run_cli({"train", "--resume", run.string(), "--set", "method.name=joint_concat"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("holds a model of method \"boost\"") != std::string::npos);
  REQUIRE(file_text(run / "config.json") == config);
  // Fewer epochs than trained, or another seed: usage errors before anything is read.
  r = run_cli({"train", "--resume", run.string(), "--epochs", "1"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("has already trained 2 epochs") != std::string::npos);
  r = run_cli({"train", "--resume", run.string(), "--set", "train.seed=5"});
  REQUIRE(r.code == 2);
  REQUIRE(r.err.find("train.seed cannot be combined with --resume") != std::string::npos);
  REQUIRE(file_text(run / "config.json") == config);
  REQUIRE(run_cli({"train", "--resume", run.string()}).code == 0);
  const std::string resumed_config = file_text(run / "config.json");

  // Damaged checkpoint metadata: the checksum written with it no longer matches; the error
  // names the file.
  std::string bytes = file_text(ckpt / "last.safetensors");
  const size_t at = bytes.find("\\\"spec\\\"");
  REQUIRE(at != std::string::npos);
  bytes[at + 5] = 'k';  // "spec" -> "spek"
  std::ofstream(ckpt / "last.safetensors", std::ios::binary | std::ios::trunc) << bytes;
  r = run_cli({"train", "--resume", run.string()});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("last.safetensors': its metadata does not match the checksum written with it") !=
          std::string::npos);
  // A damaged file cannot be fixed by resuming again: the hint says what can be done instead.
  REQUIRE(r.err.find("resuming from it cannot work") != std::string::npos);
  REQUIRE(r.err.find("once the cause is fixed") == std::string::npos);
  REQUIRE(r.err.find("mmboost eval --run " + run.string() + " --checkpoint best") != std::string::npos);
  REQUIRE(file_text(run / "config.json") == resumed_config);
  // A truncated file likewise; the other checkpoint is still scored as the hint says.
  fs::resize_file(ckpt / "last.safetensors", bytes.size() / 2);
  r = run_cli({"train", "--resume", run.string()});
  INFO(r.out << r.err);
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("(is the file truncated?)") != std::string::npos);
  REQUIRE(r.err.find("resuming from it cannot work") != std::string::npos);
  REQUIRE(r.err.find("once the cause is fixed") == std::string::npos);
  REQUIRE(run_cli({"eval", "--run", run.string(), "--checkpoint", "best"}).code == 0);
  r = run_cli({"eval", "--run", run.string(), "--checkpoint", "last"});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("--checkpoint best") != std::string::npos);

  // The resume point gone while epochs are recorded: refused, not started again from epoch 1.
  fs::remove(ckpt / "last.safetensors");
  r = run_cli({"train", "--resume", run.string()});
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("last.safetensors', the point to resume from, is missing, but the run has 2 epoch record(s)") !=
          std::string::npos);
  REQUIRE(records_of(run).size() == 2);
  REQUIRE(file_text(run / "config.json") == resumed_config);

  // A process killed while writing its first checkpoint leaves only the unfinished file: the
  // same command starts the run afresh.
  const fs::path killed = root / "killed";
  fs::create_directories(killed / "checkpoints");
  std::ofstream(killed / "config.json") << config;
  std::ofstream(killed / "checkpoints" / "last.safetensors.tmp") << "half a file";
  r = run_cli({"train", "--config", cfg, "--out", killed.string(), "--epochs", "1"});
  REQUIRE(r.code == 0);
  REQUIRE(r.err.find("starting it afresh") != std::string::npos);
  REQUIRE_FALSE(fs::exists(killed / "checkpoints" / "last.safetensors.tmp"));

  // A finished multi-seed set resumed with more epochs trains every seed on, with the resume's
  // settings in each seed's config.
  const fs::path multi = root / "multi";
  REQUIRE(run_cli({"train", "--config", cfg, "--out", multi.string(), "--seeds", "0,1", "--epochs", "1"}).code == 0);
  r = run_cli({"train", "--resume", multi.string(), "--epochs", "2", "--threads", "2"});
  REQUIRE(r.code == 0);
  for (const char* s : {"seed0", "seed1"}) {
    INFO(s);
    REQUIRE(records_of(multi / s).size() == 2);
    REQUIRE(read_json((multi / s / "report.json").string())["epochs"] == 2);
    REQUIRE(read_json((multi / s / "config.json").string())["train"]["threads"] == 2);
  }
  REQUIRE(run_cli({"train", "--resume", multi.string(), "--epochs", "1"}).code == 2);
  fs::remove_all(root);
}

TEST_CASE("train --device cuda where CUDA is unusable says why: a build without CUDA, or what the runtime reported",
          "[cpu][cli]") {
  CHECK(mm::cuda::unavailable_reason().empty() == mm::cuda::available());
  if (mm::cuda::available()) return;  // a GPU, or the emulated device: nothing to refuse
  const fs::path root = fresh_root("e2e_no_gpu");
  RunResult r = run_cli({"train", "--config", (root / "data" / "tiny.json").string(), "--out",
                         (root / "run").string(), "--device", "cuda"});
  INFO(r.err);
  REQUIRE(r.code == 1);
  REQUIRE(r.err.find("train.device is \"cuda\" but " + mm::cuda::unavailable_reason() + "; use --device cpu") !=
          std::string::npos);
  // A binary with the CUDA backend names the runtime's answer, one without says so.
  REQUIRE((r.err.find("the CUDA runtime finds no usable GPU (cuda") != std::string::npos ||
           r.err.find("built without CUDA") != std::string::npos));
  fs::remove_all(root);
}
