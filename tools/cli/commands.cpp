// mmboost CLI: the commands. See commands.h and docs/cli.md.
#include "tools/cli/commands.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "boosting/trainer.h"
#include "data/config.h"
#include "data/demo.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/parallel.h"
#include "tools/cli/args.h"
#include "tools/cli/config.h"
#include "tools/cli/progress.h"
#include "tools/cli/rundir.h"

namespace fs = std::filesystem;
using nlohmann::json;

#ifndef MMBOOST_CONFIG_DIR
#define MMBOOST_CONFIG_DIR ""
#endif
#ifndef MMBOOST_VERSION
#define MMBOOST_VERSION "0.1.0"
#endif

namespace mm::cli {

namespace {

// ---- Ctrl-C and SIGTERM -------------------------------------------------------------------
// The first SIGINT (Ctrl-C) or SIGTERM (what kill and batch schedulers such as SLURM send
// before they kill a job) asks the trainer to stop: it returns after the current batch, and
// the last checkpoint stays at the last completed epoch. The handler then restores the
// default action of that signal, so a second one ends the process at once.
std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, sig);
  g_stop.store(true);
  const char int_msg[] = "\nmmboost: stopping after this batch (Ctrl-C again to abort now)\n";
  const char term_msg[] = "\nmmboost: SIGTERM received; stopping after this batch\n";
  ssize_t ignored = sig == SIGTERM ? write(STDERR_FILENO, term_msg, sizeof term_msg - 1)
                                   : write(STDERR_FILENO, int_msg, sizeof int_msg - 1);
  (void)ignored;
  std::signal(sig, SIG_DFL);
}

class StopSignalScope {
 public:
  StopSignalScope() {
    g_stop.store(false);
    g_stop_signal.store(0);
    prev_int_ = std::signal(SIGINT, on_stop_signal);
    prev_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, prev_int_ == SIG_ERR ? SIG_DFL : prev_int_);
    std::signal(SIGTERM, prev_term_ == SIG_ERR ? SIG_DFL : prev_term_);
  }

 private:
  void (*prev_int_)(int) = SIG_DFL;
  void (*prev_term_)(int) = SIG_DFL;
};

const char* const kOutOfMemory = "out of memory; lower train.batch_size or the input sizes";

// A run stopped by a signal: exit code 128 + the signal's number, as shells report it (130
// for Ctrl-C, 143 for SIGTERM).
struct Interrupted {
  std::string run_dir;
  int signal = SIGINT;
};

// A run that failed (bad data met in a later epoch, out of memory, a full disk) after writing a
// checkpoint: exit code 1, and the message says how to continue it.
struct ResumableError : std::runtime_error {
  ResumableError(const std::string& what, std::string dir) : std::runtime_error(what), run_dir(std::move(dir)) {}
  std::string run_dir;
};

// ---- command specs ----------------------------------------------------------------------

CommandSpec train_spec() {
  CommandSpec s;
  s.name = "train";
  s.summary = "Train a model from a config and write its run directory.\n"
              "The run directory holds config.json, metrics.jsonl, checkpoints, report.json, report.md, plots/.";
  s.options = {
      {"--config", "FILE", "run config (JSON); a bare name is also looked up in tools/configs/"},
      {"--data-root", "DIR", "dataset root (sets data.root)"},
      {"--out", "RUN_DIR", "run directory (default: <out>/<name>-<date>-<time>, out = \"runs\")"},
      {"--epochs", "N", "number of epochs (sets train.epochs)"},
      {"--seed", "N", "seed of initialisation, data order and augmentation (sets train.seed)"},
      {"--seeds", "LIST", "one run per seed, e.g. 0,1,2 or 0-4: RUN_DIR/seed<k> plus aggregate.json/md"},
      {"--set", "KEY=VALUE", "override any config key, e.g. --set optim.lr=0.005 (repeatable)", true},
      {"--resume", "RUN_DIR", "continue a stopped run from its last checkpoint (config from RUN_DIR)"},
      {"--threads", "N", "CPU threads (sets train.threads; 0 = all cores)"},
      {"--device", "cpu|cuda", "where to train (sets train.device)"},
      {"--limit", "N", "use only the first N samples of each split (smoke tests)"},
  };
  s.details =
      "examples:\n"
      "  mmboost make-demo data/demo\n"
      "  mmboost train --config tools/configs/demo_aug.json --data-root data/demo --out runs/demo_aug\n"
      "  mmboost train --config cremad_aug.json --data-root /data/CREMA-D --seeds 0,1,2 --device cuda\n"
      "  mmboost train --resume runs/demo_aug          # after Ctrl-C: same final numbers\n"
      "Ctrl-C (or SIGTERM, as sent by kill and batch schedulers) stops after the current batch; the run\n"
      "keeps its last checkpoint (exit code 130, or 143 for SIGTERM).\n";
  return s;
}

CommandSpec eval_spec() {
  CommandSpec s;
  s.name = "eval";
  s.summary = "Evaluate a run's checkpoint on a split: fused and per-modality accuracy, macro-F1, mAP.\n"
              "Writes RUN_DIR/eval_<split>.json.";
  s.options = {
      {"--run", "RUN_DIR", "the run directory (required)"},
      {"--split", "val|test", "which split (default test)"},
      {"--checkpoint", "best|last|FILE", "which weights (default best: chosen on validation)"},
      {"--data-root", "DIR", "dataset root, if it moved since training"},
      {"--threads", "N", "CPU threads"},
      {"--device", "cpu|cuda", "where to evaluate"},
      {"--limit", "N", "only the first N samples"},
  };
  return s;
}

CommandSpec demo_spec() {
  CommandSpec s;
  s.name = "make-demo";
  s.summary = "Write the built-in audio-visual demo dataset in the CREMA-D layout.\n"
              "Spoken class words + Fashion-MNIST garments; needs espeak-ng and dataset-fashion-mnist (tools/setup.sh).";
  s.positionals = "OUT_DIR";
  s.min_positionals = 1;
  s.max_positionals = 1;
  s.options = {
      {"--seed", "N", "seed (default 0); the same seed writes the same files"},
      {"--classes", "N", "number of classes, 2..10 (default 6)"},
      {"--clips-per-class", "N", "clips per class (default 500)"},
      {"--threads", "N", "threads (default: all cores)"},
      {"--fashion-mnist", "DIR", "Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)"},
  };
  return s;
}

CommandSpec compare_spec() {
  CommandSpec s;
  s.name = "compare";
  s.summary = "Compare runs in a table like the paper's Table 1.\n"
              "Fused and per-modality accuracy, macro-F1, mAP and classifiers per modality; mean +- std over\n"
              "seeds for multi-seed runs.";
  s.positionals = "RUN_DIR...";
  s.min_positionals = 1;
  s.max_positionals = -1;
  s.options = {
      {"--split", "test|val", "which split's metrics (default test)"},
      {"--format", "text|md|csv|json", "output format (default text)"},
      {"--out", "FILE", "also write the table to FILE"},
  };
  return s;
}

CommandSpec bench_spec() {
  CommandSpec s;
  s.name = "bench";
  s.summary = "Run the microbenchmark executables (bench_*), each printing one JSON line per measurement.\n"
              "Arguments after -- are passed to every benchmark.";
  s.positionals = "[-- ARGS...]";
  s.max_positionals = -1;
  s.options = {
      {"--dir", "DIR", "where the bench_* executables are (default: next to mmboost, or ../benchmarks)"},
      {"--filter", "TEXT", "only benchmarks whose name contains TEXT"},
      {"--list", "", "list the benchmarks found and exit"},
      {"--out", "FILE", "also append the JSON lines to FILE"},
  };
  return s;
}

CommandSpec plot_spec() {
  CommandSpec s;
  s.name = "plot";
  s.summary = "Redraw a run's SVG plots from its metrics.jsonl (every seed of a multi-seed run).";
  s.positionals = "RUN_DIR...";
  s.min_positionals = 1;
  s.max_positionals = -1;
  return s;
}

std::vector<CommandSpec> all_specs() {
  return {train_spec(), eval_spec(), demo_spec(), compare_spec(), bench_spec(), plot_spec()};
}

std::string top_help() {
  std::ostringstream o;
  o << "mmboost " << MMBOOST_VERSION
    << ": multimodal classification under modality imbalance (sustained boosting)\n\n"
       "usage: mmboost COMMAND [options]    (mmboost COMMAND --help for details)\n\ncommands:\n";
  for (const auto& s : all_specs()) {
    std::string first = s.summary.substr(0, s.summary.find('\n'));
    o << "  " << s.name << std::string(12 - s.name.size(), ' ') << first << "\n";
  }
  o << "\nexit codes: 0 ok, 1 runtime error, 2 usage or config error, 130 stopped by Ctrl-C, 143 by SIGTERM\n";
  return o.str();
}

// ---- helpers ----------------------------------------------------------------------------

std::string timestamp() { return format_now("%Y%m%d-%H%M%S", /*utc=*/false); }

json sections_of(const json& cfg) {
  json s = json::object();
  for (const char* k : {"model", "method", "optim", "train"}) {
    if (cfg.contains(k)) s[k] = cfg[k];
  }
  return s;
}

// CLI flags shared by train and eval, written into the (user or resolved) config.
void apply_common_flags(json& cfg, const ParsedArgs& a) {
  if (a.has("--data-root")) set_path(cfg, "data.root", a.get("--data-root"));
  if (a.has("--threads")) set_path(cfg, "train.threads", a.get_int("--threads", 0, 0, 4096));
  if (a.has("--device")) {
    const std::string d = a.get("--device");
    if (d != "cpu" && d != "cuda") throw UsageError("--device must be cpu or cuda, got \"" + d + "\"");
    set_path(cfg, "train.device", d);
  }
}

// Resolves a user config and keeps the duplicated settings of the sections in step:
// train.batch_size is what the CLI hands the data streams (data.batch_size mirrors it), and the
// frame layout the loader produces is the one the encoder reads.
json resolve_run_config(const json& user) {
  json cfg = resolve(user);
  const json ub = get_path(user, "train.batch_size"), db = get_path(user, "data.batch_size");
  if (!ub.is_null() && !db.is_null() && ub != db) {
    throw UsageError("config: \"train.batch_size\" (" + ub.dump() + ") and \"data.batch_size\" (" + db.dump() +
                     ") disagree; set only train.batch_size");
  }
  if (ub.is_null() && !db.is_null()) cfg["train"]["batch_size"] = db;
  cfg["data"]["batch_size"] = cfg["train"]["batch_size"];
  if (get_path(user, "model.encoder.frames_layout").is_null() && cfg["data"].contains("frames") &&
      cfg["data"]["frames"].contains("layout") && cfg["model"].contains("encoder") &&
      cfg["model"]["encoder"].contains("frames_layout")) {
    cfg["model"]["encoder"]["frames_layout"] = cfg["data"]["frames"]["layout"];
  }
  return cfg;
}

// Where and how this session computes: the device and threads, and on CUDA the GPU with the
// settings that change its numbers (TF32, the convolution rule; environment variables, not
// config keys) and the CUDA and cuDNN versions (none on the emulated device). report.json and
// eval_<split>.json keep it as "runtime".
json runtime_of(const json& cfg) {
  json r = {{"device", cfg["train"].value("device", "cpu")}, {"threads", mm::num_threads()}};
  if (r["device"] == "cuda") {
    const mm::cuda::Settings s = mm::cuda::settings();
    r["gpu"] = s.gpu;
    r["tf32"] = s.tf32;
    r["cudnn_deterministic"] = s.conv_deterministic;
    r["cudnn_benchmark"] = s.conv_benchmark;
    if (s.cuda_runtime > 0) {
      r["cuda_runtime"] = mm::cuda::cuda_version_name(s.cuda_runtime);
      r["cuda_driver"] = mm::cuda::cuda_version_name(s.cuda_driver);
    }
    if (s.cudnn > 0) {
      r["cudnn"] = mm::cuda::cudnn_version_name(s.cudnn);
      r["cudnn_built"] = mm::cuda::cudnn_version_name(s.cudnn_built);
    }
  }
  return r;
}

// The console line of runtime_of() for CUDA (nothing on the CPU).
void print_cuda_settings(const json& runtime, std::ostream& out) {
  if (runtime["device"] != "cuda") return;
  out << "  cuda: " << runtime["gpu"].get<std::string>() << "; ";
  if (runtime.contains("cuda_runtime")) {
    out << "CUDA " << runtime["cuda_runtime"].get<std::string>() << " (driver "
        << runtime["cuda_driver"].get<std::string>() << ")";
    if (runtime.contains("cudnn")) {
      out << ", cuDNN " << runtime["cudnn"].get<std::string>();
      if (runtime["cudnn_built"] != runtime["cudnn"]) {
        out << " (built against " << runtime["cudnn_built"].get<std::string>() << ")";
      }
    }
    out << "; ";
  }
  out << (runtime["tf32"].get<bool>() ? "TF32 on" : "FP32 (MMBOOST_TF32=1 for TF32)") << "; convolutions "
      << (runtime["cudnn_deterministic"].get<bool>() ? "deterministic"
                                                     : "by cuDNN's first choice (not deterministic)")
      << (runtime["cudnn_benchmark"].get<bool>() ? ", ranked by cuDNN's timing" : "") << "\n";
}

void check_device(const json& cfg) {
  if (cfg["train"].value("device", "cpu") == "cuda" && !mm::cuda::available()) {
    MM_FAIL("train.device is \"cuda\" but " << mm::cuda::unavailable_reason() << "; use --device cpu");
  }
}

mm::data::StreamOptions stream_options(const json& cfg, const ParsedArgs& a) {
  mm::data::StreamOptions o;
  o.batch_size = cfg["train"]["batch_size"].get<int64_t>();
  if (a.has("--limit")) o.limit = a.get_int("--limit", -1, 1);
  // On CUDA the batches are built in page-locked memory, whose uploads overlap the previous
  // step (engine/upload.h); MMBOOST_PIN_MEMORY=0 turns that off (each upload then waits).
  const char* pin = std::getenv("MMBOOST_PIN_MEMORY");
  o.pin_memory = cfg["train"].value("device", "cpu") == "cuda" && !(pin && std::string(pin) == "0");
  return o;
}

bool has_val_split(const json& data) {
  const json lists = data.value("lists", json::object());
  const bool val_list = lists.is_object() && lists.contains("val") && lists["val"].is_string() && !lists["val"].get<std::string>().empty();
  return val_list || data.value("val_fraction", 0.0) > 0.0;
}

// The named formats always have a test list; manifest and layout datasets only when one is given.
bool has_test_split(const json& data) {
  const std::string format = data.value("format", "");
  if (format == "cremad" || format == "kinetics_sounds" || format == "vggsound") return true;
  const json lists = data.value("lists", json::object());
  return lists.is_object() && lists.contains("test") && lists["test"].is_string() && !lists["test"].get<std::string>().empty();
}

std::string shape_text(const Shape& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t;
}

void print_split_table(std::ostream& out, const json& split, const std::vector<std::string>& modalities) {
  char line[160];
  std::snprintf(line, sizeof line, "  %-12s %9s %9s %9s\n", "prediction", "accuracy", "macro-F1", "mAP");
  out << line;
  std::vector<std::string> order = {"fused"};
  order.insert(order.end(), modalities.begin(), modalities.end());
  for (const auto& p : order) {
    if (!split.contains(p)) continue;
    auto f = [&](const char* k) {
      double v = metric_value(split[p], k);
      char b[32];
      std::snprintf(b, sizeof b, "%.4f", v);
      return std::isfinite(v) ? std::string(b) : std::string("-");
    };
    std::snprintf(line, sizeof line, "  %-12s %9s %9s %9s\n", p.c_str(), f("acc").c_str(), f("macro_f1").c_str(),
                  f("map").c_str());
    out << line;
  }
}

void write_predictions(const std::string& path, const mm::boost::EvalResult& r, const std::vector<std::string>& classes) {
  std::ostringstream o;
  o << "id,label,pred";
  const int64_t K = r.num_classes;
  for (int64_t k = 0; k < K; ++k) {
    o << ",p_" << (k < static_cast<int64_t>(classes.size()) ? classes[static_cast<size_t>(k)] : std::to_string(k));
  }
  o << "\n";
  const size_t R = r.labels.size();
  if (K <= 0 || r.fused_logits.size() != R * static_cast<size_t>(K)) return;  // nothing to write
  std::vector<double> p(static_cast<size_t>(K));
  for (size_t i = 0; i < R; ++i) {
    const float* row = r.fused_logits.data() + i * static_cast<size_t>(K);  // (K)
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (row[k] > row[best]) best = k;
    }
    // softmax in double, shifted by the row max
    double z = 0;
    for (int64_t k = 0; k < K; ++k) z += (p[static_cast<size_t>(k)] = std::exp(static_cast<double>(row[k]) - row[best]));
    std::string id = i < r.ids.size() ? r.ids[i] : std::to_string(i);
    if (id.find_first_of(",\"\n") != std::string::npos) {
      std::string q = "\"";
      for (char c : id) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      id = q + "\"";
    }
    o << id << "," << r.labels[i] << "," << best;
    for (int64_t k = 0; k < K; ++k) {
      char b[32];
      std::snprintf(b, sizeof b, ",%.6g", p[static_cast<size_t>(k)] / z);
      o << b;
    }
    o << "\n";
  }
  write_file_atomic(path, o.str());
}

// ---- train ------------------------------------------------------------------------------

// What the loader dropped under data.skip_bad_samples, per split: rows dropped when the list was
// read, sample loads that failed (each epoch that meets a bad sample counts it again), and the
// messages not already given for an earlier split (the first 50). A split that dropped nothing,
// or only the rows of a list an earlier split read too (validation carved from the training
// list), is left out.
json skipped_samples(const std::vector<std::pair<std::string, const mm::data::Stream*>>& streams) {
  json out = json::object();
  std::set<std::string> seen;
  for (const auto& [split, stream] : streams) {
    if (!stream) continue;
    const mm::data::LoadStats st = stream->stats();
    json first = json::array();
    for (const auto& m : st.skipped) {
      if (first.size() < 50 && seen.insert(m).second) first.push_back(m);
    }
    if (first.empty() && st.skipped_at_load == 0) continue;
    out[split] = {{"at_scan", st.skipped_at_scan}, {"load_failures", st.skipped_at_load}, {"messages", first}};
  }
  return out;
}

void print_skipped(std::ostream& out, const json& skipped) {
  for (auto it = skipped.begin(); it != skipped.end(); ++it) {
    const json& s = it.value();
    out << "  data.skip_bad_samples: " << it.key() << ": " << s["at_scan"].get<int64_t>()
        << " row(s) dropped from the list, " << s["load_failures"].get<int64_t>() << " failed load(s)";
    const size_t n = s["messages"].size();
    if (n > 0) out << "; the first of " << n << " message(s): " << s["messages"][0].get<std::string>();
    out << "\n";
  }
}

// The line under a test table that says how the fused prediction weighs the modalities, when
// `holder` has "fusion_weights" (the paper's method with method.fusion val_search or weights).
void print_fusion_weights(std::ostream& out, const json& holder, const std::vector<std::string>& modalities,
                          const json& cfg) {
  if (!holder.contains("fusion_weights") || !holder["fusion_weights"].is_object()) return;
  out << "  fused =";
  const char* sep = " ";
  for (const auto& m : modalities) {
    if (!holder["fusion_weights"].contains(m)) continue;
    char w[32];
    std::snprintf(w, sizeof w, "%.2f", holder["fusion_weights"][m].get<double>());
    out << sep << w << " x " << m;
    sep = " + ";
  }
  out << " (method.fusion = " << cfg["method"].value("fusion", "") << ")\n";
}

// Evaluates one split; an error says which split it came from.
mm::boost::EvalResult evaluate_split(mm::boost::Trainer& trainer, mm::data::Stream& stream, const std::string& split) {
  try {
    return trainer.evaluate(stream);
  } catch (const mm::boost::EvaluationStopped&) {
    throw;
  } catch (const mm::Error& e) {
    throw mm::Error("evaluating the " + split + " split: " + e.what());
  }
}

// A resumed run without checkpoints/last.safetensors starts from epoch 1, which is right for a
// run that stopped before its first checkpoint and wrong for one that has trained epochs:
// refused, naming the missing file, before anything of the run is overwritten.
void refuse_lost_resume_point(const mm::boost::Trainer& trainer, const std::string& run_dir,
                              const std::string& metrics_path) {
  std::error_code ec;
  const bool has_best = fs::exists(trainer.best_checkpoint_path(), ec);
  size_t epochs_done = 0;
  if (fs::is_regular_file(metrics_path, ec) && fs::file_size(metrics_path, ec) > 0) {
    try {
      epochs_done = read_jsonl(metrics_path).size();
    } catch (const std::exception&) {
      epochs_done = 1;  // unreadable records still mean trained epochs
    }
  }
  if (!has_best && epochs_done == 0) return;
  MM_FAIL("'" << trainer.last_checkpoint_path() << "', the point to resume from, is missing, but the run has "
              << (epochs_done ? std::to_string(epochs_done) + " epoch record(s) in metrics.jsonl" : std::string())
              << (epochs_done && has_best ? " and " : "") << (has_best ? "best.safetensors" : "")
              << ": resuming would start it again from epoch 1. Restore the file, or start a new run (another --out, "
                 "or remove '"
              << run_dir << "')");
}

// Trains one run directory to the end (or until Ctrl-C) and writes its report.
// `resume`: continue from RUN_DIR/checkpoints/last.safetensors when present.
json train_one(json cfg, const std::string& run_dir, bool resume, const ParsedArgs& a, Console& con) {
  fs::create_directories(fs::path(run_dir) / "checkpoints");
  cfg["train"]["checkpoint_dir"] = (fs::path(run_dir) / "checkpoints").string();
  cfg["train"]["resume"] = resume;
  if (cfg.value("name", "").empty()) cfg["name"] = fs::path(run_dir).filename().string();
  check_device(cfg);
  const std::string config_path = (fs::path(run_dir) / "config.json").string();
  // A resumed run's config.json changes only once its checkpoint has been restored with the
  // new settings: a refused change leaves the run as it was.
  if (!resume) write_file_atomic(config_path, cfg.dump(2) + "\n");

  mm::set_num_threads(cfg["train"].value("threads", 0));
  const uint64_t seed = cfg["train"]["seed"].get<uint64_t>();
  const auto sopt = stream_options(cfg, a);
  auto train = mm::data::make_stream(cfg["data"], "train", seed, sopt);
  std::unique_ptr<mm::data::Stream> val;
  if (has_val_split(cfg["data"])) val = mm::data::make_stream(cfg["data"], "val", seed, sopt);
  std::unique_ptr<mm::data::Stream> test;
  if (has_test_split(cfg["data"])) test = mm::data::make_stream(cfg["data"], "test", seed, sopt);
  const auto& info = train->info();
  const std::vector<std::string> modalities = info.modality_names();

  con.out << "run " << run_dir << (resume ? " (resuming)" : "") << "\n";
  con.out << "  method " << cfg["method"].value("name", "") << ", dataset " << cfg.value("dataset", "")
          << (cfg.value("dataset", "").empty() ? cfg["data"].value("format", "") : "") << ", seed " << seed << ", device "
          << cfg["train"].value("device", "cpu") << ", threads " << mm::num_threads() << "\n";
  const json runtime = runtime_of(cfg);
  print_cuda_settings(runtime, con.out);
  con.out << "  modalities:";
  for (const auto& m : info.modalities) con.out << " " << m.name << " (" << m.type << " " << shape_text(m.shape) << ")";
  con.out << "; " << info.num_classes() << " classes; samples train " << train->num_samples() << ", val "
          << (val ? std::to_string(val->num_samples()) : std::string("none")) << ", test "
          << (test ? std::to_string(test->num_samples()) : std::string("none")) << "\n";
  if (!val) con.out << "  no validation split (data.val_fraction = 0): the last epoch counts as best\n";
  const bool skipping = cfg["data"].value("skip_bad_samples", false);
  auto split_streams = [&] {
    return std::vector<std::pair<std::string, const mm::data::Stream*>>{
        {"train", train.get()}, {"val", val.get()}, {"test", test.get()}};
  };
  if (skipping) print_skipped(con.out, skipped_samples(split_streams()));
  con.out << std::flush;

  mm::boost::Trainer trainer(sections_of(cfg));
  const int epochs = cfg["train"]["epochs"].get<int>();
  const std::string metrics_path = (fs::path(run_dir) / "metrics.jsonl").string();
  if (resume) {
    if (!trainer.resume(*train)) refuse_lost_resume_point(trainer, run_dir, metrics_path);
    write_file_atomic(config_path, cfg.dump(2) + "\n");
  }
  ProgressPrinter progress(con.out, con.tty, epochs, modalities, cfg["train"].value("select_metric", "acc"));
  if (!resume) write_file_atomic(metrics_path, "");
  std::vector<json> live = read_jsonl(metrics_path);
  for (const auto& r : live) progress.note_history(r);
  trainer.on_progress([&](const mm::boost::BatchProgress& p) { progress.on_batch(p); });
  trainer.on_epoch([&](const json& record) {
    append_jsonl(metrics_path, record);
    progress.on_epoch(record);
    // Drop records of epochs that a resume is running again, then redraw the plots.
    const int e = record.value("epoch", -1);
    live.erase(std::remove_if(live.begin(), live.end(), [&](const json& r) { return r.value("epoch", -1) >= e; }), live.end());
    live.push_back(record);
    try {
      write_plots(run_dir, live, modalities);
    } catch (const std::exception&) {
      // Plots are a convenience during training; the final report redraws them.
    }
  });
  // A stop signal ends training after the current batch, or the evaluation after it between
  // two batches; either way the run resumes from its last checkpoint.
  StopSignalScope stop_signals;
  trainer.set_stop_flag(&g_stop);
  auto interrupted = [&] { return Interrupted{run_dir, g_stop_signal.load() == SIGTERM ? SIGTERM : SIGINT}; };
  mm::boost::FitResult fit = trainer.fit(*train, val.get());
  progress.clear_line();
  // The trainer's history is the exact record of every completed epoch (including those before
  // a resume): it replaces what was appended live.
  std::vector<json> records;
  if (fit.history.is_array() && !fit.history.empty()) {
    for (const auto& r : fit.history) records.push_back(r);
    write_jsonl(metrics_path, records);
  } else {
    records = read_jsonl(metrics_path);
  }
  const std::vector<std::string> plots = write_plots(run_dir, records, modalities);
  if (fit.stopped) throw interrupted();

  // Final metrics with the checkpoint chosen on validation.
  const std::string best = trainer.best_checkpoint_path();
  if (!best.empty()) trainer.load_best_weights(*train);
  ReportInputs in;
  in.config = cfg;
  in.modalities = modalities;
  in.records = records;
  in.best_epoch = fit.best_epoch;
  mm::boost::EvalResult test_result;
  try {
    if (val) in.val = evaluate_split(trainer, *val, "val").to_json();
    if (test) {
      test_result = evaluate_split(trainer, *test, "test");
      in.test = test_result.to_json();
    }
  } catch (const mm::boost::EvaluationStopped&) {
    throw interrupted();
  }
  trainer.set_stop_flag(nullptr);
  json report = make_report(in);
  report["runtime"] = runtime;
  if (skipping) {
    report["skipped_samples"] = skipped_samples(split_streams());
    print_skipped(con.out, report["skipped_samples"]);
    if (!report["skipped_samples"].empty()) con.out << "  (the messages, up to 50 a split: report.md, \"Samples skipped\")\n";
  }
  report["checkpoint"] = best.empty() ? json(nullptr) : json(best);
  json plot_files = json::array();
  for (const auto& p : plots) plot_files.push_back((fs::path("plots") / fs::path(p).filename()).string());
  report["plots"] = plot_files;
  write_file_atomic((fs::path(run_dir) / "report.json").string(), report.dump(2) + "\n");
  write_file_atomic((fs::path(run_dir) / "report.md").string(), report_markdown(report));
  if (test) {
    write_predictions((fs::path(run_dir) / "predictions_test.csv").string(), test_result, info.class_names);
    con.out << "test (checkpoint of epoch " << fit.best_epoch + 1 << (val ? ", chosen on validation" : ", the last") << "):\n";
    print_split_table(con.out, report["test"], modalities);
    print_fusion_weights(con.out, report, modalities, cfg);
  } else {
    con.out << "no test split (data.lists.test is empty): report.json holds validation metrics only\n";
  }
  con.out << "wrote " << run_dir << "/report.json, report.md, plots/\n" << std::flush;
  return report;
}

std::string default_run_dir(const json& cfg) {
  const std::string parent = cfg.value("out", "runs").empty() ? "runs" : cfg.value("out", "runs");
  std::string name = cfg.value("name", "");
  if (name.empty()) name = "run";
  std::string base = (fs::path(parent) / (name + "-" + timestamp())).string(), dir = base;
  for (int i = 2; fs::exists(dir); ++i) dir = base + "-" + std::to_string(i);
  return dir;
}

// Whether a run directory holds anything a new run would destroy: a checkpoint, an epoch's
// metrics or a report. A run that failed before its first checkpoint (bad data found while
// indexing or in the first epoch) holds only its config.json.
bool run_has_work(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "report.json", ec) || fs::exists(dir / "aggregate.json", ec)) return true;
  const fs::path metrics = dir / "metrics.jsonl";
  if (fs::is_regular_file(metrics, ec) && fs::file_size(metrics, ec) > 0) return true;
  if (fs::is_directory(dir / "checkpoints", ec)) {
    // (A ".tmp" file is a checkpoint a killed process did not finish writing: no work.)
    for (const auto& e : fs::directory_iterator(dir / "checkpoints", ec)) {
      if (e.is_regular_file(ec) && e.path().extension() != ".tmp") return true;
    }
  }
  for (const auto& seed : seed_dirs(dir.string())) {
    if (run_has_work(seed)) return true;
  }
  return false;
}

// A directory holding a run's work is refused (resume it instead); one whose run never reached
// a checkpoint is started afresh, with a note.
void refuse_existing(const std::string& dir, Console& con) {
  if (!is_run_dir(dir) && !fs::exists(fs::path(dir) / "multiseed.json")) return;
  if (run_has_work(dir)) {
    throw UsageError("train: \"" + dir + "\" already holds a run; continue it with --resume " + dir +
                     ", or choose another --out");
  }
  con.err << "mmboost train: \"" << dir << "\" holds a run that stopped before its first checkpoint; "
          << "starting it afresh\n";
}

// What can be done about a damaged checkpoint of a run directory (RUN_DIR/checkpoints/*): a
// --resume would fail on it again, so the hint is to put a copy back, start afresh, or score
// the run's other checkpoint. Nothing for a file outside a run directory.
void explain_damaged_checkpoint(const std::string& path, std::ostream& err) {
  const fs::path file(path);
  const fs::path run = file.parent_path().parent_path();
  if (file.parent_path().filename() != "checkpoints" || !fs::exists(run / "config.json")) return;
  const std::string other = file.filename() == "last.safetensors" ? "best" : "last";
  err << "The file cannot be read back as it was written (a disk fault, or it was changed since), so\n"
      << "resuming from it cannot work. Put back a copy of it if there is one; otherwise start the run\n"
      << "afresh under another --out.";
  if (fs::exists(run / "checkpoints" / (other + ".safetensors")))
    err << " The run's other checkpoint can still be scored:\n  mmboost eval --run " << run.string()
        << " --checkpoint " << other;
  err << "\n";
}

// Runs `train` (one run or a multi-seed set in `dir`); an error after the run wrote a checkpoint
// becomes a ResumableError naming `dir`.
template <class F>
int with_resume_hint(const std::string& dir, F&& train) {
  try {
    return train();
  } catch (const UsageError&) {
    throw;
  } catch (const mm::boost::CheckpointDamaged&) {
    throw;  // resuming cannot help; run() says what can
  } catch (const std::bad_alloc&) {
    if (run_has_work(dir)) throw ResumableError(kOutOfMemory, dir);
    throw;
  } catch (const std::exception& e) {
    if (run_has_work(dir)) throw ResumableError(e.what(), dir);
    throw;
  }
}

// What --resume may change (where the data is, threads, device, the number of epochs, --set),
// applied to a run's own config. The seed is the run's: a --set that changes it is refused
// like --seed.
json apply_resume_changes(json cfg, const ParsedArgs& a) {
  const json seed = get_path(cfg, "train.seed");
  apply_common_flags(cfg, a);
  if (a.has("--epochs")) cfg["train"]["epochs"] = a.get_int("--epochs", 1, 1, kMaxEpochs);
  for (const auto& s : a.all("--set")) apply_set(cfg, s, schema_defaults());
  if (get_path(cfg, "train.seed") != seed) {
    throw UsageError("train: --set train.seed cannot be combined with --resume (the run keeps its seed, " +
                     seed.dump() + "); start a new run without --resume instead");
  }
  return resolve_run_config(cfg);
}

// The epochs a run directory has completed, from its last checkpoint's header (-1 when there
// is none or it cannot be read: the resume itself then reports the problem).
int completed_epochs(const std::string& run_dir) {
  const fs::path last = fs::path(run_dir) / "checkpoints" / "last.safetensors";
  std::error_code ec;
  if (!fs::is_regular_file(last, ec)) return -1;
  try {
    return mm::io::read_safetensors_metadata(last.string()).at("next_epoch").get<int>();
  } catch (const std::exception&) {
    return -1;
  }
}

// --resume may lengthen a run or end it earlier, not undo epochs it has trained.
void check_resume_epochs(const json& cfg, const std::string& run_dir) {
  const int done = completed_epochs(run_dir), epochs = cfg["train"]["epochs"].get<int>();
  if (done > epochs) {
    throw UsageError("train: " + run_dir + " has already trained " + std::to_string(done) +
                     " epochs; with --resume, --epochs (train.epochs) can be " + std::to_string(done) +
                     " or more, not " + std::to_string(epochs));
  }
}

int run_seeds(const json& cfg, const std::vector<int64_t>& seeds, const std::string& parent, bool resume,
              const ParsedArgs& a, Console& con) {
  fs::create_directories(parent);
  write_file_atomic((fs::path(parent) / "multiseed.json").string(),
                    json{{"seeds", seeds}, {"config", cfg}}.dump(2) + "\n");
  std::vector<json> reports;
  std::vector<std::string> names;
  for (size_t si = 0; si < seeds.size(); ++si) {
    const int64_t s = seeds[si];
    const std::string dir = (fs::path(parent) / ("seed" + std::to_string(s))).string();
    const fs::path report = fs::path(dir) / "report.json";
    json c = cfg;
    const bool cont = resume && is_run_dir(dir);
    if (cont) c = apply_resume_changes(read_json((fs::path(dir) / "config.json").string()), a);
    // A finished seed counts as finished for as many epochs as the set now asks for.
    if (cont && fs::exists(report) && completed_epochs(dir) == c["train"]["epochs"].get<int>()) {
      con.out << "seed " << s << ": finished earlier (" << report.string() << ")\n";
      reports.push_back(read_json(report.string()));
      names.push_back(dir);
      continue;
    }
    if (!cont) {
      c["train"]["seed"] = s;
      c["name"] = cfg.value("name", "") + "-seed" + std::to_string(s);
    }
    con.out << "==== seed " << s << " (" << si + 1 << "/" << seeds.size() << ") ====\n";
    try {
      reports.push_back(train_one(c, dir, cont, a, con));
    } catch (const Interrupted& i) {
      throw Interrupted{parent, i.signal};  // resume the whole set: finished seeds are kept
    }
    names.push_back(dir);
  }
  json agg = aggregate_reports(reports, names);
  agg["name"] = cfg.value("name", "");
  write_file_atomic((fs::path(parent) / "aggregate.json").string(), agg.dump(2) + "\n");
  write_file_atomic((fs::path(parent) / "aggregate.md").string(), aggregate_markdown(agg));
  con.out << "\n" << compare_table({agg}, {parent}, "test", "text");
  con.out << "wrote " << parent << "/aggregate.json, aggregate.md\n";
  return 0;
}

int cmd_train(const ParsedArgs& a, Console& con) {
  if (a.has("--resume")) {
    for (const char* bad : {"--config", "--seed", "--seeds", "--out"}) {
      if (a.has(bad)) {
        throw UsageError(std::string("train: ") + bad + " cannot be combined with --resume (the run keeps its config, " +
                         "seed and directory); start a new run without --resume instead");
      }
    }
    const std::string dir = a.get("--resume");
    const bool multi = fs::exists(fs::path(dir) / "multiseed.json");
    if (!multi && !is_run_dir(dir)) {
      throw UsageError("train: --resume " + dir + ": no config.json there; pass a directory written by mmboost train");
    }
    const std::string file = (fs::path(dir) / (multi ? "multiseed.json" : "config.json")).string();
    json cfg = read_json(file);
    std::vector<int64_t> seeds;
    if (multi) {
      // Written by run_seeds: {"seeds": [non-negative integers], "config": {the resolved config}}.
      const json s = cfg.is_object() ? cfg.value("seeds", json()) : json();
      bool ok = s.is_array() && !s.empty();
      for (const json& v : s) ok = ok && v.is_number_integer() && v.get<int64_t>() >= 0;
      if (!ok || !cfg.contains("config") || !cfg["config"].is_object()) {
        MM_FAIL(file << ": not a multi-seed record: it must hold \"seeds\", a list of non-negative integers, and "
                        "\"config\", the run's config object (it is written by mmboost train --seeds)");
      }
      seeds = s.get<std::vector<int64_t>>();
      cfg = cfg["config"];
    }
    cfg = apply_resume_changes(cfg, a);
    // Checked for every run before anything is written.
    if (multi) {
      for (const auto& seed_dir : seed_dirs(dir)) {
        check_resume_epochs(apply_resume_changes(read_json((fs::path(seed_dir) / "config.json").string()), a),
                            seed_dir);
      }
    } else {
      check_resume_epochs(cfg, dir);
    }
    if (!a.all("--set").empty()) {
      con.err << "mmboost train: warning: --set on --resume changes the run; the result may differ from an "
                 "uninterrupted run\n";
    }
    return with_resume_hint(dir, [&] {
      if (multi) return run_seeds(cfg, seeds, dir, /*resume=*/true, a, con);
      train_one(cfg, dir, /*resume=*/true, a, con);
      return 0;
    });
  }
  if (!a.has("--config")) throw UsageError("mmboost train: --config FILE is required (or --resume RUN_DIR)\nRun 'mmboost train --help' for usage.");
  if (a.has("--seed") && a.has("--seeds")) throw UsageError("train: give --seed or --seeds, not both");
  const std::string path = find_config(a.get("--config"), con.exe_path);
  json user = load_config_file(path);
  if (!user.contains("name") || (user["name"].is_string() && user["name"].get<std::string>().empty())) {
    user["name"] = fs::path(path).stem().string();
  }
  apply_common_flags(user, a);
  if (a.has("--epochs")) set_path(user, "train.epochs", a.get_int("--epochs", 1, 1, kMaxEpochs));
  if (a.has("--seed")) set_path(user, "train.seed", a.get_int("--seed", 0, 0));
  const json defaults = schema_defaults();
  for (const auto& s : a.all("--set")) apply_set(user, s, defaults);
  json cfg = resolve_run_config(user);
  const std::string dir = a.has("--out") ? a.get("--out") : default_run_dir(cfg);
  refuse_existing(dir, con);
  if (a.has("--seeds")) {
    std::vector<int64_t> seeds = parse_int_list(a.get("--seeds"), "--seeds");
    for (int64_t s : seeds) {
      if (s < 0) throw UsageError("--seeds: seeds are non-negative, got " + std::to_string(s));
    }
    return with_resume_hint(dir, [&] { return run_seeds(cfg, seeds, dir, /*resume=*/false, a, con); });
  }
  return with_resume_hint(dir, [&] {
    train_one(cfg, dir, /*resume=*/false, a, con);
    return 0;
  });
}

// ---- eval -------------------------------------------------------------------------------

int cmd_eval(const ParsedArgs& a, Console& con) {
  if (!a.has("--run")) throw UsageError("mmboost eval: --run RUN_DIR is required\nRun 'mmboost eval --help' for usage.");
  const std::string dir = a.get("--run");
  if (!is_run_dir(dir)) {
    throw UsageError("eval: \"" + dir + "\" has no config.json" +
                     (seed_dirs(dir).empty() ? std::string("; pass a directory written by mmboost train")
                                             : "; it is a multi-seed run: pass one of its seed<k> directories"));
  }
  const std::string split = a.get("--split", "test");
  if (split != "val" && split != "test") throw UsageError("eval: --split must be val or test, got \"" + split + "\"");
  json cfg = read_json((fs::path(dir) / "config.json").string());
  apply_common_flags(cfg, a);
  cfg = resolve_run_config(cfg);
  cfg["train"]["resume"] = false;
  check_device(cfg);
  mm::set_num_threads(cfg["train"].value("threads", 0));
  if (split == "val" && !has_val_split(cfg["data"])) {
    throw UsageError("eval: the run has no validation split (data.val_fraction = 0 and no val list)");
  }
  const std::string which = a.get("--checkpoint", "best");
  std::string ckpt = which;
  if (which == "best" || which == "last") ckpt = (fs::path(dir) / "checkpoints" / (which + ".safetensors")).string();
  if (!fs::exists(ckpt)) {
    MM_FAIL("eval: checkpoint \"" << ckpt << "\" does not exist"
                                  << (which == "best" ? "; the run has not finished an epoch yet (try --checkpoint last)" : ""));
  }
  auto stream = mm::data::make_stream(cfg["data"], split, cfg["train"]["seed"].get<uint64_t>(), stream_options(cfg, a));
  const std::vector<std::string> modalities = stream->info().modality_names();
  mm::boost::Trainer trainer(sections_of(cfg));
  trainer.load_weights(ckpt, *stream);
  mm::boost::EvalResult r = evaluate_split(trainer, *stream, split);
  json out;
  out["run"] = dir;
  out["split"] = split;
  out["checkpoint"] = ckpt;
  out["modalities"] = modalities;
  out["samples"] = static_cast<int64_t>(r.labels.size());
  out["runtime"] = runtime_of(cfg);
  out["metrics"] = split_metrics(r.to_json(), modalities);
  const json fusion = trainer.method().validation_record();
  if (fusion.contains("fusion_weights")) out["fusion_weights"] = fusion["fusion_weights"];
  out["details"] = r.to_json();
  if (cfg["data"].value("skip_bad_samples", false)) out["skipped_samples"] = skipped_samples({{split, stream.get()}});
  write_file_atomic((fs::path(dir) / ("eval_" + split + ".json")).string(), out.dump(2) + "\n");
  con.out << dir << ": " << split << " split, " << r.labels.size() << " samples, checkpoint " << ckpt << "\n";
  print_cuda_settings(out["runtime"], con.out);
  if (out.contains("skipped_samples")) print_skipped(con.out, out["skipped_samples"]);
  print_split_table(con.out, out["metrics"], modalities);
  print_fusion_weights(con.out, out, modalities, cfg);
  con.out << "wrote " << dir << "/eval_" << split << ".json\n";
  return 0;
}

// ---- make-demo --------------------------------------------------------------------------

int cmd_make_demo(const ParsedArgs& a, Console& con) {
  mm::data::DemoOptions o;
  o.out_dir = a.positionals.at(0);
  o.seed = static_cast<uint64_t>(a.get_int("--seed", 0, 0));
  o.num_classes = static_cast<int>(a.get_int("--classes", o.num_classes, 2, 10));
  o.clips_per_class = static_cast<int>(a.get_int("--clips-per-class", o.clips_per_class, 2, 1000000));
  o.threads = static_cast<int>(a.get_int("--threads", 0, 0, 4096));
  if (a.has("--fashion-mnist")) o.fashion_mnist_dir = a.get("--fashion-mnist");
  o.progress = [&](const std::string& line) { con.out << line << "\n" << std::flush; };
  mm::data::make_demo(o);
  con.out << "next: mmboost train --config tools/configs/demo_aug.json --data-root " << o.out_dir << "\n";
  return 0;
}

// ---- compare ----------------------------------------------------------------------------

int cmd_compare(const ParsedArgs& a, Console& con) {
  const std::string split = a.get("--split", "test"), format = a.get("--format", "text");
  if (split != "val" && split != "test") throw UsageError("compare: --split must be val or test, got \"" + split + "\"");
  if (format != "text" && format != "md" && format != "csv" && format != "json") {
    throw UsageError("compare: --format must be text, md, csv or json, got \"" + format + "\"");
  }
  std::vector<json> summaries;
  std::vector<std::string> labels;
  for (const auto& d : a.positionals) {
    summaries.push_back(load_summary(d));
    labels.push_back(d);
  }
  const std::string table = compare_table(summaries, labels, split, format);
  con.out << table;
  if (a.has("--out")) write_file_atomic(a.get("--out"), table);
  return 0;
}

// ---- plot -------------------------------------------------------------------------------

std::vector<std::string> modalities_of_run(const std::string& dir, const std::vector<json>& records) {
  const fs::path p(dir);
  if (fs::exists(p / "report.json")) {
    json r = read_json((p / "report.json").string());
    check_summary_fields(r, (p / "report.json").string(), /*aggregate=*/false);
    if (r.contains("modalities") && r["modalities"].is_array() && !r["modalities"].empty()) {
      return r["modalities"].get<std::vector<std::string>>();
    }
  }
  // From the validation entries of the records: every key but "fused" and "loss".
  std::vector<std::string> mods;
  for (const auto& rec : records) {
    if (!rec.contains("val") || !rec["val"].is_object()) continue;
    for (auto it = rec["val"].begin(); it != rec["val"].end(); ++it) {
      if (it.key() == "fused" || it.key() == "loss" || !it.value().is_object()) continue;
      if (std::find(mods.begin(), mods.end(), it.key()) == mods.end()) mods.push_back(it.key());
    }
  }
  return mods;
}

int cmd_plot(const ParsedArgs& a, Console& con) {
  for (const auto& d : a.positionals) {
    std::vector<std::string> dirs;
    if (fs::exists(fs::path(d) / "metrics.jsonl")) {
      dirs.push_back(d);
    } else {
      dirs = seed_dirs(d);
    }
    if (dirs.empty()) throw UsageError("plot: \"" + d + "\" has no metrics.jsonl (nor seed<k>/metrics.jsonl)");
    for (const auto& dir : dirs) {
      int bad = 0;
      std::vector<json> records = read_jsonl((fs::path(dir) / "metrics.jsonl").string(), &bad);
      if (bad) con.err << "mmboost plot: " << dir << "/metrics.jsonl: skipped " << bad << " unreadable line(s)\n";
      for (const auto& f : write_plots(dir, records, modalities_of_run(dir, records))) con.out << "wrote " << f << "\n";
    }
  }
  return 0;
}

// ---- bench ------------------------------------------------------------------------------

int cmd_bench(const ParsedArgs& a, Console& con) {
  std::vector<fs::path> candidates;
  if (a.has("--dir")) {
    candidates.push_back(a.get("--dir"));
  } else {
    const fs::path exe_dir = fs::path(con.exe_path).parent_path();
    candidates = {exe_dir, exe_dir / "benchmarks", exe_dir.parent_path() / "benchmarks"};
  }
  std::vector<fs::path> benches;
  std::error_code ec;
  for (const auto& dir : candidates) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("bench_", 0) != 0 || !e.is_regular_file() || access(e.path().c_str(), X_OK) != 0) continue;
      if (name.find('.') != std::string::npos) continue;  // bench_x.py, bench_x.json: not executables we run
      if (a.has("--filter") && name.find(a.get("--filter")) == std::string::npos) continue;
      benches.push_back(e.path());
    }
    if (!benches.empty()) break;
  }
  std::sort(benches.begin(), benches.end());
  if (benches.empty()) {
    std::string where;
    for (const auto& c : candidates) where += " " + c.string();
    MM_FAIL("bench: no bench_* executables found in" << where << (a.has("--filter") ? " matching --filter" : "")
                                                        << "; build them with -DMMBOOST_BUILD_BENCHMARKS=ON, or pass --dir");
  }
  if (a.has("--list")) {
    for (const auto& b : benches) con.out << b.string() << "\n";
    return 0;
  }
  std::string extra;
  for (const auto& p : a.positionals) {
    std::string q = "'";
    for (char c : p) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    extra += " " + q + "'";
  }
  std::unique_ptr<std::ofstream> out_file;
  if (a.has("--out")) {
    out_file = std::make_unique<std::ofstream>(a.get("--out"), std::ios::app);
    MM_CHECK(*out_file, "bench: cannot write \"" << a.get("--out") << "\"");
  }
  int failed = 0;
  for (const auto& b : benches) {
    con.err << "bench: " << b.filename().string() << "\n";
    const std::string cmd = "'" + b.string() + "'" + extra;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) {
      con.err << "bench: cannot start " << b.string() << "\n";
      ++failed;
      continue;
    }
    char buf[8192];
    std::string pending;
    while (fgets(buf, sizeof buf, pipe)) {
      pending += buf;
      if (pending.empty() || pending.back() != '\n') continue;
      std::string line = pending.substr(0, pending.size() - 1);
      pending.clear();
      bool is_json = false;
      if (!line.empty() && line[0] == '{') is_json = json::accept(line);
      if (is_json) {
        con.out << line << "\n" << std::flush;
        if (out_file) *out_file << line << "\n";
      } else {
        con.err << "  " << line << "\n";
      }
    }
    const int status = pclose(pipe);
    if (status != 0) {
      con.err << "bench: " << b.filename().string() << " failed (status " << status << ")\n";
      ++failed;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

std::vector<std::string> command_names() {
  std::vector<std::string> n;
  for (const auto& s : all_specs()) n.push_back(s.name);
  return n;
}

std::string find_config(const std::string& name, const std::string& exe_path) {
  if (fs::exists(name)) return name;
  if (fs::path(name).has_parent_path()) {
    throw UsageError("config: cannot open \"" + name + "\"; check the path (shipped configs are in tools/configs/)");
  }
  std::vector<fs::path> dirs;
  if (!exe_path.empty()) {
    // Beside the program (an installed layout), and the source tree's tools/configs for a
    // program built in a folder of that tree (<repo>/<build>/tools/mmboost).
    const fs::path d = fs::path(exe_path).parent_path();
    dirs = {d / "configs", d.parent_path().parent_path() / "tools" / "configs"};
  }
  if (std::string(MMBOOST_CONFIG_DIR).size()) dirs.push_back(MMBOOST_CONFIG_DIR);
  std::vector<std::string> tries = {name};
  if (fs::path(name).extension() != ".json") tries.push_back(name + ".json");
  for (const auto& d : dirs) {
    for (const auto& t : tries) {
      if (fs::exists(d / t)) return (d / t).string();
    }
  }
  // Suggest a shipped config with a similar name.
  std::vector<std::string> shipped;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (e.path().extension() == ".json") shipped.push_back(e.path().filename().string());
    }
  }
  std::string near = nearest_name(fs::path(name).extension() == ".json" ? name : name + ".json", shipped);
  throw UsageError("config: cannot find \"" + name + "\"" + (near.empty() ? "" : " (did you mean " + near + "?)") +
                   "; pass a path, or the name of a config in tools/configs/");
}

int run(const std::vector<std::string>& args, Console& con) {
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      if (args.size() >= 2 && args[0] == "help") return run({args[1], "--help"}, con);
      con.out << top_help();
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
      con.out << "mmboost " << MMBOOST_VERSION << "\n";
      return 0;
    }
    const std::string cmd = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& spec : all_specs()) {
      if (spec.name != cmd) continue;
      ParsedArgs a = parse_args(spec, rest);
      if (a.help) {
        con.out << help_text(spec);
        return 0;
      }
      if (cmd == "train") return cmd_train(a, con);
      if (cmd == "eval") return cmd_eval(a, con);
      if (cmd == "make-demo") return cmd_make_demo(a, con);
      if (cmd == "compare") return cmd_compare(a, con);
      if (cmd == "bench") return cmd_bench(a, con);
      if (cmd == "plot") return cmd_plot(a, con);
    }
    std::string near = nearest_name(cmd, command_names());
    throw UsageError("mmboost: unknown command \"" + cmd + "\"" + (near.empty() ? "" : " (did you mean " + near + "?)") +
                     "\nRun 'mmboost --help' for the list of commands.");
  } catch (const UsageError& e) {
    con.err << "error: " << e.what() << "\n";
    return 2;
  } catch (const Interrupted& i) {
    con.err << "stopped by " << (i.signal == SIGTERM ? "SIGTERM" : "Ctrl-C")
            << ". The last checkpoint holds the last completed epoch; continue with:\n"
            << "  mmboost train --resume " << i.run_dir << "\n";
    return 128 + i.signal;
  } catch (const ResumableError& e) {
    con.err << "error: " << e.what() << "\n"
            << "The run's checkpoints are kept; once the cause is fixed, continue with:\n"
            << "  mmboost train --resume " << e.run_dir << "\n";
    return 1;
  } catch (const mm::boost::CheckpointDamaged& e) {
    con.err << "error: " << e.what() << "\n";
    explain_damaged_checkpoint(e.path, con.err);
    return 1;
  } catch (const mm::Error& e) {
    con.err << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    con.err << "error: " << kOutOfMemory << "\n";
    return 1;
  } catch (const std::exception& e) {
    con.err << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mm::cli
