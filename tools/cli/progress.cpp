// mmboost CLI: progress while training. See progress.h.
#include "tools/cli/progress.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "tools/cli/rundir.h"

using nlohmann::json;

namespace mm::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

namespace {

std::string f4(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

std::string epoch_summary(const json& rec, int total_epochs, const std::vector<std::string>& modalities,
                          const std::string& select_metric, double& best) {
  std::ostringstream o;
  const int epoch = rec.value("epoch", -1);
  char head[48];
  const int width = static_cast<int>(std::to_string(total_epochs).size());
  std::snprintf(head, sizeof head, "epoch %*d/%d", width, epoch + 1, total_epochs);
  o << head;
  if (rec.contains("loss")) {
    const json& l = rec["loss"];
    double total = l.is_number() ? l.get<double>() : (l.is_object() && l.contains("total") && l["total"].is_number() ? l["total"].get<double>() : NAN);
    o << "  loss " << f4(total);
  }
  bool is_best = false;
  if (rec.contains("val") && rec["val"].is_object()) {
    const json& v = rec["val"];
    const json fused = v.value("fused", json::object());
    o << "  val acc " << f4(metric_value(fused, "acc")) << " F1 " << f4(metric_value(fused, "macro_f1"));
    std::string per;
    for (const auto& m : modalities) {
      if (v.contains(m) && v[m].is_object()) per += (per.empty() ? "" : ", ") + m + " " + f4(metric_value(v[m], "acc"));
    }
    if (!per.empty()) o << " (" << per << ")";
    const double sel = metric_value(fused, select_metric);
    if (std::isfinite(sel) && sel > best) {
      best = sel;
      is_best = true;
    }
  }
  json cls = classifiers_of(rec, modalities);
  if (!cls.empty()) {
    o << "  N";
    for (auto it = cls.begin(); it != cls.end(); ++it) o << " " << it.key() << " " << it.value().dump();
  }
  if (rec.contains("assigned")) {
    const json& a = rec["assigned"];
    std::string text;
    if (a.is_string()) {
      text = a.get<std::string>();
    } else if (a.is_array()) {
      for (const auto& e : a) text += (text.empty() ? "" : ",") + (e.is_string() ? e.get<std::string>() : e.dump());
    } else if (a.is_object()) {
      for (auto it = a.begin(); it != a.end(); ++it) {
        if (it.value().is_number() && it.value().get<double>() == 0) continue;
        if (it.value().is_boolean() && !it.value().get<bool>()) continue;
        text += (text.empty() ? "" : ",") + it.key();
      }
    }
    if (!text.empty()) o << "  +" << text;
  }
  if (rec.contains("lr") && rec["lr"].is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", rec["lr"].get<double>());
    o << "  lr " << buf;
  }
  if (rec.contains("seconds") && rec["seconds"].is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", rec["seconds"].get<double>());
    o << "  " << buf;
  }
  if (is_best) o << "  *";
  return o.str();
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool tty, int total_epochs, std::vector<std::string> modalities,
                                 std::string select_metric)
    : out_(out), tty_(tty), total_epochs_(total_epochs), modalities_(std::move(modalities)),
      select_metric_(std::move(select_metric)) {}

void ProgressPrinter::clear_line() {
  if (tty_ && bar_drawn_) {
    out_ << "\r\033[K" << std::flush;
    bar_drawn_ = false;
  }
}

void ProgressPrinter::on_batch(const mm::boost::BatchProgress& p) {
  const auto now = Clock::now();
  if (p.epoch != epoch_ || p.batch <= 1) {
    if (p.epoch != epoch_) {
      epoch_start_ = now;
      last_draw_ = now - std::chrono::hours(1);
      last_quarter_ = 0;
    }
    epoch_ = p.epoch;
  }
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double eta = p.batch > 0 ? elapsed / static_cast<double>(p.batch) * static_cast<double>(p.num_batches - p.batch) : NAN;
  const bool last = p.batch >= p.num_batches;
  const int width = static_cast<int>(std::to_string(total_epochs_).size());
  char head[48];
  std::snprintf(head, sizeof head, "epoch %*d/%d", width, p.epoch + 1, total_epochs_);
  char stats[128];
  std::snprintf(stats, sizeof stats, "%lld/%lld  %.0f samples/s  ETA %s  loss %.4f", static_cast<long long>(p.batch),
                static_cast<long long>(p.num_batches), p.samples_per_s, format_duration(eta).c_str(), p.running_loss);
  if (tty_) {
    if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int bar = 28;
    const int filled = p.num_batches > 0 ? static_cast<int>(bar * p.batch / p.num_batches) : 0;
    std::string b(static_cast<size_t>(bar), ' ');
    for (int i = 0; i < filled && i < bar; ++i) b[static_cast<size_t>(i)] = '=';
    if (filled < bar) b[static_cast<size_t>(filled)] = '>';
    out_ << "\r" << head << " [" << b << "] " << stats << "\033[K" << std::flush;
    bar_drawn_ = true;
    return;
  }
  // Plain lines: each quarter of the epoch (not the end: the summary follows), or every 30 s.
  const int quarter = p.num_batches > 0 ? static_cast<int>(4 * p.batch / p.num_batches) : 0;
  const bool time_due = std::chrono::duration<double>(now - last_draw_).count() >= 30.0;
  if (last) return;
  if (quarter > last_quarter_ || (time_due && elapsed >= 30.0)) {
    last_quarter_ = std::max(quarter, last_quarter_);
    last_draw_ = now;
    out_ << head << "  batch " << stats << "\n" << std::flush;
  }
}

void ProgressPrinter::note_history(const json& record) {
  epoch_summary(record, total_epochs_, modalities_, select_metric_, best_);
}

void ProgressPrinter::on_epoch(const json& record) {
  clear_line();
  out_ << epoch_summary(record, total_epochs_, modalities_, select_metric_, best_) << "\n" << std::flush;
  epoch_ = -1;
}

}  // namespace mm::cli
