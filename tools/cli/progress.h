// mmboost CLI: progress while training.
//
// On a terminal: one progress bar per epoch, redrawn in place at most ten times a second
// (batches, samples/s, ETA, running loss). Otherwise (a log file, CI): a plain line at each
// quarter of an epoch and at least every 30 s. After each epoch: a one-line summary.
#pragma once

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boosting/trainer.h"

namespace mm::cli {

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool tty, int total_epochs, std::vector<std::string> modalities,
                  std::string select_metric = "acc");
  void on_batch(const mm::boost::BatchProgress& p);
  void on_epoch(const nlohmann::json& record);
  // An epoch completed before a resume: counts for the best-so-far mark, prints nothing.
  void note_history(const nlohmann::json& record);
  // Ends a half-drawn progress bar (before printing anything else).
  void clear_line();

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  bool tty_;
  int total_epochs_;
  std::vector<std::string> modalities_;
  std::string select_metric_;
  int epoch_ = -1;
  Clock::time_point epoch_start_, last_draw_;
  int last_quarter_ = 0;
  bool bar_drawn_ = false;
  double best_ = -1.0;
};

// "1:02:03", "2:03" (or "--:--" for a negative or infinite time).
std::string format_duration(double seconds);
// The one-line epoch summary ("*" marks a new best on validation). `best` is updated.
std::string epoch_summary(const nlohmann::json& record, int total_epochs, const std::vector<std::string>& modalities,
                          const std::string& select_metric, double& best);

}  // namespace mm::cli
