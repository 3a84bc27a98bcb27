// mmboost CLI: run directories, reports, plots and comparison tables. See rundir.h.
#include "tools/cli/rundir.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "engine/json_check.h"
#include "tools/cli/config.h"
#include "tools/cli/svg.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mm::cli {

// ---- files ------------------------------------------------------------------------------

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MM_CHECK(out, "cannot write \"" << tmp << "\": check that the directory exists and is writable");
    out << text;
    out.flush();
    MM_CHECK(out, "writing \"" << tmp << "\" failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  MM_CHECK(!ec, "cannot rename \"" << tmp << "\" to \"" << path << "\": " << ec.message());
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  MM_CHECK(!fs::is_directory(path, ec), "\"" << path << "\" is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in, "cannot open \"" << path << "\"");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json(const std::string& path) {
  const std::string text = read_file(path);
  json j;
  std::string problem;
  if (!parse_json_text(text, /*comments=*/false, &j, &problem)) MM_FAIL("\"" << path << "\" is not valid JSON: " << problem);
  return j;
}

std::vector<json> read_jsonl(const std::string& path, int* bad) {
  std::vector<json> out;
  if (bad) *bad = 0;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(json::parse(line));
    } catch (const json::parse_error&) {
      if (bad) ++*bad;
    }
  }
  return out;
}

void append_jsonl(const std::string& path, const json& record) {
  std::ofstream out(path, std::ios::app);
  MM_CHECK(out, "cannot append to \"" << path << "\"");
  out << record.dump() << "\n";
  out.flush();
}

void write_jsonl(const std::string& path, const std::vector<json>& records) {
  std::string text;
  for (const auto& r : records) text += r.dump() + "\n";
  write_file_atomic(path, text);
}

bool is_run_dir(const std::string& dir) { return fs::exists(fs::path(dir) / "config.json"); }

std::vector<std::string> seed_dirs(const std::string& dir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("seed", 0) != 0 || name.size() == 4) continue;
    if (name.find_first_not_of("0123456789", 4) != std::string::npos) continue;
    found.emplace_back(std::stol(name.substr(4)), e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string format_now(const char* format, bool utc) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  if (utc) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  char buf[64];
  return std::strftime(buf, sizeof buf, format, &tm) ? buf : "";
}

// ---- metrics JSON -----------------------------------------------------------------------

double metric_value(const json& m, const std::string& key) {
  if (!m.is_object()) return NAN;
  auto num = [&](const char* k) -> double {
    if (m.contains(k) && m[k].is_number()) return m[k].get<double>();
    return NAN;
  };
  if (key == "acc") {
    double v = num("acc");
    return std::isnan(v) ? num("accuracy") : v;
  }
  return num(key.c_str());
}

json metric_triple(const json& m) {
  json t = json::object();
  for (const char* k : {"acc", "macro_f1", "map"}) {
    double v = metric_value(m, k);
    t[k] = std::isnan(v) ? json(nullptr) : json(v);
  }
  return t;
}

json split_metrics(const json& eval, const std::vector<std::string>& modalities) {
  if (!eval.is_object()) return nullptr;
  json out = json::object();
  out["fused"] = metric_triple(eval.value("fused", json::object()));
  for (const auto& m : modalities) {
    if (eval.contains(m) && eval[m].is_object()) out[m] = metric_triple(eval[m]);
  }
  if (eval.contains("loss") && eval["loss"].is_number()) out["loss"] = eval["loss"];
  return out;
}

namespace {

// Named numbers of a record field: an object of numbers (nested objects joined with '.'), or
// an array in modality order.
std::vector<std::pair<std::string, double>> named_numbers(const json& v, const std::vector<std::string>& modalities,
                                                          const std::string& prefix = "") {
  std::vector<std::pair<std::string, double>> out;
  auto key = [&](const std::string& k) { return prefix.empty() ? k : prefix + "." + k; };
  if (v.is_number()) {
    out.emplace_back(prefix.empty() ? "value" : prefix, v.get<double>());
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto sub = named_numbers(it.value(), {}, key(it.key()));
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      std::string name = (prefix.empty() && v.size() == modalities.size()) ? modalities[i]
                                                                            : key(std::to_string(i));
      auto sub = named_numbers(v[i], {}, name);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  return out;
}

}  // namespace

json classifiers_of(const json& record, const std::vector<std::string>& modalities) {
  json out = json::object();
  if (!record.is_object() || !record.contains("classifiers")) return out;
  for (auto& [name, v] : named_numbers(record["classifiers"], modalities)) out[name] = static_cast<int64_t>(std::llround(v));
  return out;
}

// ---- reports ----------------------------------------------------------------------------

namespace {

std::string fmt(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string now_iso8601() { return format_now("%Y-%m-%dT%H:%M:%SZ", /*utc=*/true); }

std::string dataset_name(const json& config) {
  std::string d = config.value("dataset", "");
  if (d.empty() && config.contains("data") && config["data"].is_object()) d = config["data"].value("format", "");
  return d;
}

json get_seed(const json& config) {
  if (config.contains("train") && config["train"].is_object() && config["train"].contains("seed")) return config["train"]["seed"];
  if (config.contains("seed")) return config["seed"];
  return nullptr;
}

}  // namespace

json make_report(const ReportInputs& in) {
  const json& c = in.config;
  json r;
  r["name"] = c.value("name", "");
  r["method"] = c.contains("method") && c["method"].is_object() ? c["method"].value("name", "") : "";
  r["dataset"] = dataset_name(c);
  json seed = get_seed(c);
  r["seed"] = seed;
  r["modalities"] = in.modalities;
  r["epochs"] = static_cast<int64_t>(in.records.size());
  double secs = 0;
  int n = 0;
  for (const auto& rec : in.records) {
    double s = rec.contains("seconds") && rec["seconds"].is_number() ? rec["seconds"].get<double>() : NAN;
    if (std::isfinite(s)) {
      secs += s;
      ++n;
    }
  }
  r["seconds_per_epoch"] = n ? json(secs / n) : json(nullptr);
  r["best_epoch"] = in.best_epoch;
  // Classifiers of the checkpoint that was evaluated: the best epoch's record.
  json best_rec = nullptr;
  for (const auto& rec : in.records) {
    if (rec.value("epoch", -1) == in.best_epoch) best_rec = rec;
  }
  if (best_rec.is_null() && !in.records.empty()) best_rec = in.records.back();
  r["classifiers"] = classifiers_of(best_rec, in.modalities);
  // The fusion weights the evaluated checkpoint scores with (method.fusion = val_search: chosen
  // on validation after that epoch).
  if (best_rec.is_object() && best_rec.contains("fusion_weights") && best_rec["fusion_weights"].is_object())
    r["fusion_weights"] = best_rec["fusion_weights"];
  const std::string metric = c.contains("train") && c["train"].is_object() ? c["train"].value("select_metric", "acc") : "acc";
  r["selection"] = in.val.is_null() ? "last epoch (no validation split)"
                                    : "best validation fused " + metric + " (checkpoints/best.safetensors)";
  r["val"] = split_metrics(in.val, in.modalities);
  r["test"] = split_metrics(in.test, in.modalities);
  r["created"] = now_iso8601();
  return r;
}

namespace {

void metrics_table(std::ostringstream& o, const json& split, const std::vector<std::string>& order) {
  o << "| prediction | accuracy | macro-F1 | mAP |\n|---|---:|---:|---:|\n";
  for (const auto& name : order) {
    if (!split.contains(name)) continue;
    const json& m = split[name];
    o << "| " << name << " | " << fmt(metric_value(m, "acc")) << " | " << fmt(metric_value(m, "macro_f1")) << " | "
      << fmt(metric_value(m, "map")) << " |\n";
  }
}

std::vector<std::string> prediction_order(const json& report) {
  std::vector<std::string> order = {"fused"};
  if (report.contains("modalities")) {
    for (const auto& m : report["modalities"]) order.push_back(m.get<std::string>());
  }
  return order;
}

}  // namespace

std::string report_markdown(const json& r) {
  std::ostringstream o;
  const std::string name = r.value("name", "");
  o << "# " << (name.empty() ? "run" : name) << "\n\n";
  o << "- method: `" << r.value("method", "") << "`, dataset: `" << r.value("dataset", "") << "`, seed: "
    << (r.contains("seed") ? r["seed"].dump() : "-") << "\n";
  o << "- epochs: " << r.value("epochs", 0) << ", best on validation: epoch "
    << (r.value("best_epoch", -1) >= 0 ? std::to_string(r.value("best_epoch", -1) + 1) : "-")
    << " (1-based), seconds per epoch: "
    << (r.contains("seconds_per_epoch") && r["seconds_per_epoch"].is_number() ? fmt(r["seconds_per_epoch"].get<double>(), 2) : "-")
    << "\n";
  if (r.contains("classifiers") && r["classifiers"].is_object() && !r["classifiers"].empty()) {
    o << "- classifiers per modality:";
    for (auto it = r["classifiers"].begin(); it != r["classifiers"].end(); ++it) o << " " << it.key() << " " << it.value().dump();
    o << "\n";
  }
  if (r.contains("fusion_weights") && r["fusion_weights"].is_object() && !r["fusion_weights"].empty()) {
    o << "- fusion weights of the fused prediction:";
    for (auto it = r["fusion_weights"].begin(); it != r["fusion_weights"].end(); ++it)
      o << " " << it.key() << " " << (it.value().is_number() ? fmt(it.value().get<double>(), 2) : it.value().dump());
    o << "\n";
  }
  const auto order = prediction_order(r);
  for (const char* split : {"test", "val"}) {
    if (!r.contains(split) || !r[split].is_object()) continue;
    o << "\n## " << (std::string(split) == "test" ? "Test" : "Validation") << " (checkpoint chosen on validation)\n\n";
    metrics_table(o, r[split], order);
  }
  if (r.contains("skipped_samples") && r["skipped_samples"].is_object() && !r["skipped_samples"].empty()) {
    o << "\n## Samples skipped (data.skip_bad_samples)\n\n";
    for (auto it = r["skipped_samples"].begin(); it != r["skipped_samples"].end(); ++it) {
      const json& sk = it.value();
      o << "- " << it.key() << ": " << sk.value("at_scan", 0) << " row(s) dropped from the list, "
        << sk.value("load_failures", 0) << " failed load(s)\n";
      for (const auto& m : sk.value("messages", json::array())) o << "  - `" << m.get<std::string>() << "`\n";
    }
  }
  if (r.contains("plots") && r["plots"].is_array() && !r["plots"].empty()) {
    o << "\n## Plots\n\n";
    for (const auto& p : r["plots"]) {
      const std::string f = p.get<std::string>();
      o << "![" << fs::path(f).stem().string() << "](" << f << ")\n";
    }
  }
  return o.str();
}

namespace {

json stat_of(const std::vector<double>& values) {
  double sum = 0;
  int n = 0;
  json vals = json::array();
  for (double v : values) {
    vals.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    if (std::isfinite(v)) {
      sum += v;
      ++n;
    }
  }
  json s;
  s["n"] = n;
  s["values"] = vals;
  if (n == 0) {
    s["mean"] = nullptr;
    s["std"] = nullptr;
    return s;
  }
  const double mean = sum / n;
  double ss = 0;
  for (double v : values) {
    if (std::isfinite(v)) ss += (v - mean) * (v - mean);
  }
  s["mean"] = mean;
  s["std"] = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  return s;
}

double stat_number(const json& s, const char* key) {
  if (!s.is_object()) return NAN;
  const auto it = s.find(key);
  return it != s.end() && it->is_number() ? it->get<double>() : NAN;
}
double stat_mean(const json& s) { return stat_number(s, "mean"); }
double stat_std(const json& s) { return stat_number(s, "std"); }
int stat_n(const json& s) {
  const double n = stat_number(s, "n");
  return std::isfinite(n) && n >= 0 && n <= 1e9 ? static_cast<int>(n) : 0;
}

// A value for messages: its kind and its text, shortened.
std::string shown_value(const json& v) {
  std::string d = v.dump();
  if (d.size() > 60) d = d.substr(0, 57) + "...";
  return json_kind(v) + " " + d;
}

}  // namespace

void check_summary_fields(const json& r, const std::string& file, bool aggregate) {
  auto fail = [&](const std::string& field, const std::string& expected, const json& v) {
    MM_FAIL("\"" << file << "\": field \"" << field << "\" must be " << expected << ", got " << shown_value(v));
  };
  MM_CHECK(r.is_object(), "\"" << file << "\" must hold a JSON object, got " << shown_value(r)
                                << "; pass run directories written by mmboost train");
  for (const char* k : {"name", "method", "dataset"}) {
    if (r.contains(k) && !r[k].is_string()) fail(k, "a string", r[k]);
  }
  auto string_list = [&](const std::string& k) {
    if (!r.contains(k)) return;
    const json& v = r[k];
    if (!v.is_array()) fail(k, "a list of strings", v);
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) fail(k + "[" + std::to_string(i) + "]", "a string", v[i]);
    }
  };
  string_list("modalities");
  if (aggregate) string_list("runs");
  auto number = [&](const json& v, const std::string& field) {
    if (!v.is_number() && !v.is_null()) fail(field, "a number or null", v);
  };
  // In an aggregate every number is {"mean", "std", "n", "values"} over the seeds.
  auto value = [&](const json& v, const std::string& field) {
    if (!aggregate) return number(v, field);
    if (!v.is_object()) fail(field, "an object {\"mean\", \"std\", \"n\", \"values\"}", v);
    for (const char* k : {"mean", "std", "n"}) {
      if (v.contains(k)) number(v[k], field + "." + k);
    }
  };
  for (const char* k : {"epochs", "seconds_per_epoch"}) {
    if (r.contains(k)) value(r[k], k);
  }
  if (r.contains("classifiers")) {
    const json& c = r["classifiers"];
    if (!c.is_object()) fail("classifiers", "an object (modality -> classifiers)", c);
    for (auto it = c.begin(); it != c.end(); ++it) value(it.value(), "classifiers." + it.key());
  }
  for (const std::string split : {"val", "test"}) {
    if (!r.contains(split) || r[split].is_null()) continue;
    const json& sp = r[split];
    if (!sp.is_object()) fail(split, "an object (prediction -> metrics) or null", sp);
    for (auto it = sp.begin(); it != sp.end(); ++it) {
      const std::string field = split + "." + it.key();
      if (!aggregate && it.key() == "loss") {
        number(it.value(), field);
        continue;
      }
      if (it.value().is_null()) continue;
      if (!it.value().is_object()) fail(field, "an object of metrics (acc, macro_f1, map) or null", it.value());
      for (const char* k : {"acc", "accuracy", "macro_f1", "map"}) {
        if (it.value().contains(k)) value(it.value()[k], field + "." + k);
      }
    }
  }
}

json aggregate_reports(const std::vector<json>& reports, const std::vector<std::string>& run_names) {
  MM_CHECK(!reports.empty(), "aggregate_reports: no reports");
  for (size_t i = 0; i < reports.size(); ++i) {
    check_summary_fields(reports[i], i < run_names.size() ? (fs::path(run_names[i]) / "report.json").string() : "report.json",
                         /*aggregate=*/false);
  }
  json a;
  const json& first = reports.front();
  a["name"] = first.value("name", "");
  a["method"] = first.value("method", "");
  a["dataset"] = first.value("dataset", "");
  a["modalities"] = first.value("modalities", json::array());
  a["runs"] = run_names;
  json seeds = json::array();
  for (const auto& r : reports) seeds.push_back(r.value("seed", json(nullptr)));
  a["seeds"] = seeds;
  auto collect = [&](auto getter) {
    std::vector<double> v;
    for (const auto& r : reports) v.push_back(getter(r));
    return stat_of(v);
  };
  a["epochs"] = collect([](const json& r) { return r.contains("epochs") && r["epochs"].is_number() ? r["epochs"].get<double>() : NAN; });
  a["seconds_per_epoch"] = collect([](const json& r) {
    return r.contains("seconds_per_epoch") && r["seconds_per_epoch"].is_number() ? r["seconds_per_epoch"].get<double>() : NAN;
  });
  std::set<std::string> cls_names;
  for (const auto& r : reports) {
    if (r.contains("classifiers") && r["classifiers"].is_object()) {
      for (auto it = r["classifiers"].begin(); it != r["classifiers"].end(); ++it) cls_names.insert(it.key());
    }
  }
  json cls = json::object();
  for (const auto& m : cls_names) {
    cls[m] = collect([&](const json& r) {
      return r.contains("classifiers") && r["classifiers"].contains(m) && r["classifiers"][m].is_number()
                 ? r["classifiers"][m].get<double>()
                 : NAN;
    });
  }
  a["classifiers"] = cls;
  for (const char* split : {"val", "test"}) {
    std::set<std::string> preds;
    for (const auto& r : reports) {
      if (!r.contains(split) || !r[split].is_object()) continue;
      for (auto it = r[split].begin(); it != r[split].end(); ++it) {
        if (it.value().is_object()) preds.insert(it.key());
      }
    }
    json sj = json::object();
    for (const auto& p : preds) {
      json pj = json::object();
      for (const char* k : {"acc", "macro_f1", "map"}) {
        pj[k] = collect([&](const json& r) {
          return r.contains(split) && r[split].is_object() && r[split].contains(p) ? metric_value(r[split][p], k) : NAN;
        });
      }
      sj[p] = pj;
    }
    a[split] = sj;
  }
  return a;
}

std::string mean_std(double mean, double std, int n, int decimals) {
  if (!std::isfinite(mean)) return "-";
  if (n <= 1 || !std::isfinite(std)) return fmt(mean, decimals);
  return fmt(mean, decimals) + " +- " + fmt(std, decimals);
}

std::string aggregate_markdown(const json& a) {
  std::ostringstream o;
  o << "# " << a.value("name", std::string("runs")) << " over " << a["runs"].size() << " seeds\n\n";
  o << "- method: `" << a.value("method", "") << "`, dataset: `" << a.value("dataset", "") << "`, seeds: "
    << a["seeds"].dump() << "\n- mean +- sample standard deviation (n-1) over seeds\n";
  if (a.contains("classifiers") && !a["classifiers"].empty()) {
    o << "- classifiers per modality:";
    for (auto it = a["classifiers"].begin(); it != a["classifiers"].end(); ++it) {
      o << " " << it.key() << " " << mean_std(stat_mean(it.value()), stat_std(it.value()), stat_n(it.value()), 2);
    }
    o << "\n";
  }
  std::vector<std::string> order = {"fused"};
  for (const auto& m : a.value("modalities", json::array())) order.push_back(m.get<std::string>());
  for (const char* split : {"test", "val"}) {
    if (!a.contains(split) || a[split].empty()) continue;
    o << "\n## " << (std::string(split) == "test" ? "Test" : "Validation") << "\n\n";
    o << "| prediction | accuracy | macro-F1 | mAP |\n|---|---:|---:|---:|\n";
    for (const auto& p : order) {
      if (!a[split].contains(p)) continue;
      const json& pj = a[split][p];
      o << "| " << p;
      for (const char* k : {"acc", "macro_f1", "map"}) {
        o << " | " << mean_std(stat_mean(pj[k]), stat_std(pj[k]), stat_n(pj[k]));
      }
      o << " |\n";
    }
  }
  o << "\n## Runs\n\n";
  for (const auto& r : a["runs"]) o << "- " << r.get<std::string>() << "\n";
  return o.str();
}

// ---- plots ------------------------------------------------------------------------------

std::vector<std::string> write_plots(const std::string& run_dir, const std::vector<json>& records,
                                     const std::vector<std::string>& modalities) {
  const fs::path dir = fs::path(run_dir) / "plots";
  fs::create_directories(dir);
  std::vector<std::string> written;
  auto epoch_of = [](const json& rec, size_t i) {
    return rec.contains("epoch") && rec["epoch"].is_number() ? rec["epoch"].get<double>() + 1.0 : static_cast<double>(i + 1);
  };
  // Collects series named by `field(rec)`'s numbers, in first-seen order.
  auto gather = [&](auto field, const std::string& prefix) {
    std::vector<Series> out;
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < records.size(); ++i) {
      for (auto& [name, v] : named_numbers(field(records[i]), modalities)) {
        const std::string n = prefix + name;
        if (!index.count(n)) {
          index[n] = out.size();
          Series s;
          s.name = n;
          s.x.assign(records.size(), NAN);
          s.y.assign(records.size(), NAN);
          out.push_back(s);
        }
        Series& s = out[index[n]];
        s.x[i] = epoch_of(records[i], i);
        s.y[i] = v;
      }
    }
    for (auto& s : out) {
      for (size_t i = 0; i < s.x.size(); ++i) s.x[i] = epoch_of(records[i], i);
    }
    return out;
  };
  auto emit = [&](const std::string& file, const ChartOptions& opt, const std::vector<Series>& series) {
    if (series.empty()) return;
    const std::string path = (dir / file).string();
    write_file_atomic(path, line_chart_svg(opt, series));
    written.push_back(path);
  };
  auto field = [](const char* key) {
    return [key](const json& rec) { return rec.is_object() && rec.contains(key) ? rec[key] : json(nullptr); };
  };

  // Validation accuracy: fused and each modality (the paper's per-modality curves).
  {
    std::vector<Series> s;
    std::vector<std::string> order = {"fused"};
    order.insert(order.end(), modalities.begin(), modalities.end());
    for (const auto& p : order) {
      Series ser;
      ser.name = p;
      ser.dashed = p != "fused";
      bool any = false;
      for (size_t i = 0; i < records.size(); ++i) {
        ser.x.push_back(epoch_of(records[i], i));
        double v = NAN;
        const json& rec = records[i];
        if (rec.contains("val") && rec["val"].is_object() && rec["val"].contains(p)) v = metric_value(rec["val"][p], "acc");
        any = any || std::isfinite(v);
        ser.y.push_back(v);
      }
      if (any) s.push_back(ser);
    }
    ChartOptions o;
    o.title = "Validation accuracy";
    o.y_label = "accuracy";
    o.y_min = 0;
    o.y_max = 1;
    emit("accuracy.svg", o, s);
  }
  {
    ChartOptions o;
    o.title = "Score per modality: softmax of the true class over the training samples";
    o.y_label = "score";
    o.y_from_zero = true;
    emit("ogm_scores.svg", o, gather(field("ogm_scores"), ""));
  }
  {
    std::vector<Series> s = gather(field("classifiers"), "");
    for (auto& ser : s) ser.step = true;
    ChartOptions o;
    o.title = "Classifiers per modality";
    o.y_label = "classifiers";
    o.y_from_zero = true;
    o.integer_ticks = true;
    emit("classifiers.svg", o, s);
  }
  {
    std::vector<Series> s = gather(field("loss"), "train ");
    std::vector<Series> v = gather([](const json& rec) {
      return rec.contains("val") && rec["val"].is_object() && rec["val"].contains("loss") ? rec["val"]["loss"] : json(nullptr);
    }, "");
    for (auto& ser : v) {
      ser.name = "val fused CE";
      ser.dashed = true;
      s.push_back(ser);
    }
    ChartOptions o;
    o.title = "Loss terms (epoch means)";
    o.y_label = "loss";
    emit("loss.svg", o, s);
  }
  {
    ChartOptions o;
    o.title = "Classifier weights omega";
    o.y_label = "omega";
    emit("omega.svg", o, gather(field("omega"), ""));
  }
  return written;
}

// ---- comparison -------------------------------------------------------------------------

json load_summary(const std::string& dir) {
  const fs::path p(dir);
  MM_CHECK(fs::is_directory(p), "\"" << dir << "\" is not a directory; pass run directories written by mmboost train");
  // Each file's fields are checked where it is read, so that an error names that file.
  auto read_checked = [](const fs::path& file, bool aggregate) {
    json j = read_json(file.string());
    check_summary_fields(j, file.string(), aggregate);
    return j;
  };
  if (fs::exists(p / "report.json")) return aggregate_reports({read_checked(p / "report.json", false)}, {dir});
  if (fs::exists(p / "aggregate.json")) return read_checked(p / "aggregate.json", true);
  std::vector<std::string> seeds = seed_dirs(dir);
  std::vector<json> reports;
  std::vector<std::string> names;
  for (const auto& s : seeds) {
    if (fs::exists(fs::path(s) / "report.json")) {
      reports.push_back(read_checked(fs::path(s) / "report.json", false));
      names.push_back(s);
    }
  }
  if (!reports.empty()) return aggregate_reports(reports, names);
  MM_FAIL("\"" << dir << "\" has no report.json"
               << (is_run_dir(dir) ? ": the run has not finished (resume it with mmboost train --resume " + dir +
                                         ", or evaluate it with mmboost eval --run " + dir + ")"
                                   : " and no seed*/report.json: it is not an mmboost run directory"));
}

std::string compare_table(const std::vector<json>& summaries, const std::vector<std::string>& labels,
                          const std::string& split, const std::string& format) {
  MM_CHECK(format == "text" || format == "md" || format == "csv" || format == "json",
           "compare: unknown format \"" << format << "\"; use text, md, csv or json");
  // Modalities in first-seen order over all runs.
  std::vector<std::string> mods;
  for (const auto& s : summaries) {
    for (const auto& m : s.value("modalities", json::array())) {
      std::string n = m.get<std::string>();
      if (std::find(mods.begin(), mods.end(), n) == mods.end()) mods.push_back(n);
    }
  }
  std::vector<std::string> header = {"run", "method", "dataset", "seeds"};
  std::vector<std::pair<std::string, std::string>> cols;  // (prediction, metric)
  for (const auto& p : std::vector<std::string>{"fused"}) {
    for (const char* k : {"acc", "macro_f1", "map"}) cols.emplace_back(p, k);
  }
  for (const auto& m : mods) {
    for (const char* k : {"acc", "macro_f1", "map"}) cols.emplace_back(m, k);
  }
  auto metric_title = [](const std::string& k) { return k == "acc" ? "acc" : k == "macro_f1" ? "F1" : "mAP"; };
  for (auto& [p, k] : cols) header.push_back(p + " " + metric_title(k));
  for (const auto& m : mods) header.push_back("N " + m);

  if (format == "json") {
    json out = json::array();
    for (size_t i = 0; i < summaries.size(); ++i) {
      json row = summaries[i];
      row["label"] = labels[i];
      out.push_back(row);
    }
    return out.dump(2) + "\n";
  }

  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < summaries.size(); ++i) {
    const json& s = summaries[i];
    std::vector<std::string> row = {labels[i], s.value("method", ""), s.value("dataset", ""),
                                    std::to_string(s.contains("runs") ? s["runs"].size() : 1)};
    const json sp = s.contains(split) && s[split].is_object() ? s[split] : json::object();
    for (auto& [p, k] : cols) {
      const json st = sp.contains(p) && sp[p].contains(k) ? sp[p][k] : json(nullptr);
      row.push_back(mean_std(stat_mean(st), stat_std(st), stat_n(st)));
    }
    for (const auto& m : mods) {
      const json st = s.contains("classifiers") && s["classifiers"].contains(m) ? s["classifiers"][m] : json(nullptr);
      row.push_back(mean_std(stat_mean(st), stat_std(st), stat_n(st), 1));
    }
    rows.push_back(row);
  }

  std::ostringstream o;
  if (format == "csv") {
    auto csv = [](const std::string& v) {
      if (v.find_first_of(",\"\n") == std::string::npos) return v;
      std::string q = "\"";
      for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    };
    for (size_t j = 0; j < header.size(); ++j) o << (j ? "," : "") << csv(header[j]);
    o << "\n";
    for (const auto& r : rows) {
      for (size_t j = 0; j < r.size(); ++j) o << (j ? "," : "") << csv(r[j]);
      o << "\n";
    }
    return o.str();
  }
  if (format == "md") {
    o << "|";
    for (const auto& h : header) o << " " << h << " |";
    o << "\n|";
    for (size_t j = 0; j < header.size(); ++j) o << (j < 4 ? "---|" : "---:|");
    o << "\n";
    for (const auto& r : rows) {
      o << "|";
      for (const auto& v : r) o << " " << v << " |";
      o << "\n";
    }
    return o.str();
  }
  std::vector<size_t> w(header.size());
  for (size_t j = 0; j < header.size(); ++j) {
    w[j] = header[j].size();
    for (const auto& r : rows) w[j] = std::max(w[j], r[j].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t j = 0; j < r.size(); ++j) {
      const size_t pad = w[j] - r[j].size();
      if (j < 4) {
        o << r[j] << std::string(pad, ' ');
      } else {
        o << std::string(pad, ' ') << r[j];
      }
      o << (j + 1 < r.size() ? "  " : "\n");
    }
  };
  line(header);
  size_t total = 0;
  for (size_t j = 0; j < w.size(); ++j) total += w[j] + (j + 1 < w.size() ? 2 : 0);
  o << std::string(total, '-') << "\n";
  for (const auto& r : rows) line(r);
  o << "(" << split << " split; mean +- sample std over seeds where a run has several; N <modality>: classifiers)\n";
  return o.str();
}

}  // namespace mm::cli
