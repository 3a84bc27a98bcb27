// mmboost CLI: run directories, reports, plots and comparison tables.
//
// A run directory holds
//   config.json              the fully resolved config (repeat the run with --config config.json)
//   metrics.jsonl            one epoch record per line (the trainer's record, see trainer.h)
//   checkpoints/             last.safetensors (resume point), best.safetensors (best on val)
//   report.json, report.md   final metrics: val and test, fused and per modality, of the
//                            checkpoint chosen on validation
//   predictions_test.csv     fused softmax scores per test sample
//   plots/*.svg              accuracy, OGM scores, classifiers per modality, loss terms
// A multi-seed run (--seeds) is a directory of seed<k>/ run directories plus aggregate.json and
// aggregate.md (mean +- std over seeds).
//
// Everything here works on JSON so that reports can be rebuilt and compared without the
// trainer (plot, compare).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mm::cli {

// ---- files ------------------------------------------------------------------------------
// Writes to "<path>.tmp" then renames, so a reader never sees half a file.
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);  // throws mm::Error naming the file
nlohmann::json read_json(const std::string& path);
// Lines that fail to parse (a run killed mid-write) are skipped; the count goes to *bad.
std::vector<nlohmann::json> read_jsonl(const std::string& path, int* bad = nullptr);
void append_jsonl(const std::string& path, const nlohmann::json& record);
void write_jsonl(const std::string& path, const std::vector<nlohmann::json>& records);
bool is_run_dir(const std::string& dir);        // has config.json
std::vector<std::string> seed_dirs(const std::string& dir);  // dir/seed<k> run dirs, by k
// The current time through strftime(format), in UTC or in local time: "%Y%m%d-%H%M%S" (local)
// names run directories, "%Y-%m-%dT%H:%M:%SZ" (UTC) stamps reports.
std::string format_now(const char* format, bool utc);

// ---- metrics JSON -----------------------------------------------------------------------
// {"acc", "macro_f1", "map"} from a metrics object that names accuracy "acc" or "accuracy".
nlohmann::json metric_triple(const nlohmann::json& m);
// NaN when absent.
double metric_value(const nlohmann::json& m, const std::string& key);
// {"fused": triple, "<modality>": triple, ...} from an evaluation's JSON (EvalResult::to_json).
nlohmann::json split_metrics(const nlohmann::json& eval, const std::vector<std::string>& modalities);
// Classifiers per modality from an epoch record ("classifiers" as an object, or as an array in
// modality order); {} when the record has none.
nlohmann::json classifiers_of(const nlohmann::json& record, const std::vector<std::string>& modalities);

// ---- reports ----------------------------------------------------------------------------
struct ReportInputs {
  nlohmann::json config;                 // resolved config
  std::vector<std::string> modalities;
  std::vector<nlohmann::json> records;   // epoch records, in order
  int best_epoch = -1;
  nlohmann::json val;                    // EvalResult::to_json() of the best checkpoint, or null
  nlohmann::json test;                   // same for the test split, or null
};
nlohmann::json make_report(const ReportInputs& in);
std::string report_markdown(const nlohmann::json& report);

// Mean +- sample std (n-1) of each metric over seed reports.
nlohmann::json aggregate_reports(const std::vector<nlohmann::json>& reports, const std::vector<std::string>& run_names);
std::string aggregate_markdown(const nlohmann::json& aggregate);

// ---- plots ------------------------------------------------------------------------------
// Writes <run_dir>/plots/{accuracy,ogm_scores,classifiers,loss,omega}.svg (those with data)
// from the epoch records; returns the files written.
std::vector<std::string> write_plots(const std::string& run_dir, const std::vector<nlohmann::json>& records,
                                     const std::vector<std::string>& modalities);

// ---- comparison -------------------------------------------------------------------------
// The summary of a run directory for compare: a single run's report.json, a multi-seed
// directory's aggregate (rebuilt from seed*/report.json when aggregate.json is missing), in
// the aggregate format. Throws mm::Error saying what is missing (e.g. "no report.json: the run
// has not finished; run mmboost eval --run DIR").
nlohmann::json load_summary(const std::string& dir);
// Checks the fields that compare and aggregation read in a report.json (`aggregate` false) or
// an aggregate.json (true): names and modalities are strings, metrics and classifier counts
// numbers or null (in an aggregate {"mean", "std", "n", "values"} objects), splits objects.
// Throws mm::Error naming `file` and the first field of another type.
void check_summary_fields(const nlohmann::json& summary, const std::string& file, bool aggregate);
// One row per run: run, method, dataset, seeds, fused acc/macro-F1/mAP, each modality's
// acc/macro-F1/mAP, classifiers per modality. format: "text" | "md" | "csv" | "json".
std::string compare_table(const std::vector<nlohmann::json>& summaries, const std::vector<std::string>& labels,
                          const std::string& split, const std::string& format);

// "0.8441 +- 0.0123" (or "0.8441" for one value); "-" for NaN.
std::string mean_std(double mean, double std, int n, int decimals = 4);

}  // namespace mm::cli
