// mmboost boosting: classification metrics (accuracy, macro-F1, mAP, confusion matrix).
//
// The numbers the paper reports (Table 1) for the fused prediction and for each modality:
//   accuracy  = fraction of samples whose argmax score is the label (ties -> lowest class index,
//               as numpy's argmax);
//   macro-F1  = mean over classes of F1 = 2 TP / (2 TP + FP + FN), over the classes that occur in
//               the labels or in the predictions (sklearn's f1_score(average="macro") with its
//               default label set); a class that occurs but is never predicted correctly counts 0;
//   mAP       = mean over classes with at least one positive of the average precision of that
//               class's scores (sklearn's average_precision_score, one-vs-rest): AP = sum over
//               distinct score thresholds, descending, of (R_n - R_{n-1}) * P_n, tied scores form
//               ONE threshold step, no interpolation.
// By default the scores are logits and mAP is taken over softmax(logits) (what the field's
// releases do); accuracy and macro-F1 do not depend on that choice.
//
// Accumulate over batches with MetricAccumulator::add, then compute(). Everything is computed
// in double on the host; results do not depend on the batch split or the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"

namespace mm::boost {

enum class ScoreKind {
  Logits,         // softmax is applied per row before average precision
  Probabilities,  // used as given
};

struct ClassificationMetrics {
  int64_t count = 0;        // samples seen
  int64_t num_classes = 0;  // K
  double acc = 0.0;
  double macro_f1 = 0.0;
  double map = 0.0;         // 0 when no class has a positive (count == 0)
  std::vector<double> per_class_f1;  // (K); classes absent from labels and predictions hold 0
  std::vector<double> per_class_ap;  // (K); classes without a positive hold NaN (-> null in JSON)
  std::vector<std::vector<int64_t>> confusion;  // (K,K): confusion[true][predicted]

  // {"count", "acc", "macro_f1", "map"} and, with details, "per_class_f1", "per_class_ap",
  // "confusion".
  nlohmann::json to_json(bool details = false) const;
};

// Accumulates (scores, labels) over batches for one prediction (the fused one or one modality's).
class MetricAccumulator {
 public:
  explicit MetricAccumulator(int64_t num_classes, ScoreKind kind = ScoreKind::Logits);

  // scores (B,K) f32 on any device, any strides; labels (B) i64 in [0, K).
  void add(const Tensor& scores, const Tensor& labels);
  // scores (B,K) row-major; labels (B).
  void add(const float* scores, const int64_t* labels, int64_t B);
  void reset();

  int64_t count() const { return static_cast<int64_t>(labels_.size()); }
  int64_t num_classes() const { return K_; }
  ClassificationMetrics compute() const;

 private:
  int64_t K_;
  ScoreKind kind_;
  std::vector<double> scores_;   // (count,K) as used for AP (after softmax for logits)
  std::vector<int64_t> labels_;  // (count)
  std::vector<int64_t> preds_;   // (count) argmax of the raw scores
};

// ---- one-shot helpers (also the building blocks of compute()) -------------------------------

// Predicted class per row: argmax with ties -> lowest index. scores (B,K) row-major.
std::vector<int64_t> argmax_rows(const double* scores, int64_t B, int64_t K);
// (K,K) confusion[true][pred]; labels and preds in [0, K).
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& labels,
                                                   const std::vector<int64_t>& preds, int64_t K);
double accuracy(const std::vector<std::vector<int64_t>>& confusion);
// Macro-F1 over classes that occur in labels or predictions; per_class (K) optional output.
double macro_f1(const std::vector<std::vector<int64_t>>& confusion,
                std::vector<double>* per_class = nullptr);
// Average precision of one binary problem: scores (n), positives (n) in {0,1}. NaN when there is
// no positive.
double average_precision(const std::vector<double>& scores, const std::vector<uint8_t>& positive);
// Mean AP over classes with a positive; scores (B,K) row-major, labels (B). per_class (K) optional.
double mean_average_precision(const double* scores, const std::vector<int64_t>& labels, int64_t K,
                              std::vector<double>* per_class = nullptr);

}  // namespace mm::boost
