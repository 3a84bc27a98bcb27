// mmboost boosting: classification metrics. See metrics.h for the definitions.
#include "boosting/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/error.h"

namespace mm::boost {

namespace {

// JSON has no NaN: a metric that is undefined is written as null.
nlohmann::json number_or_null(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;
}

}  // namespace

nlohmann::json ClassificationMetrics::to_json(bool details) const {
  nlohmann::json j;
  j["count"] = count;
  j["acc"] = acc;
  j["macro_f1"] = macro_f1;
  j["map"] = map;
  if (details) {
    j["per_class_f1"] = per_class_f1;
    nlohmann::json ap = nlohmann::json::array();
    for (double v : per_class_ap) ap.push_back(number_or_null(v));
    j["per_class_ap"] = ap;
    j["confusion"] = confusion;
  }
  return j;
}

MetricAccumulator::MetricAccumulator(int64_t num_classes, ScoreKind kind)
    : K_(num_classes), kind_(kind) {
  MM_CHECK(num_classes >= 1, "MetricAccumulator: num_classes must be >= 1, got " << num_classes);
}

void MetricAccumulator::add(const Tensor& scores, const Tensor& labels) {
  MM_CHECK(scores.defined() && labels.defined(), "MetricAccumulator::add: undefined tensor");
  MM_CHECK(scores.dtype() == DType::F32 && scores.dim() == 2 && scores.size(1) == K_,
           "MetricAccumulator::add: scores must be f32 (B," << K_ << "), got " << scores.describe());
  MM_CHECK(labels.dtype() == DType::I64 && labels.dim() == 1 && labels.size(0) == scores.size(0),
           "MetricAccumulator::add: labels must be i64 (" << scores.size(0) << "), got "
                                                          << labels.describe());
  // to_vector copies to the host in logical (row-major) order for any device and strides.
  std::vector<float> s = scores.to_vector();
  std::vector<int64_t> y = labels.to_int_vector();
  add(s.data(), y.data(), static_cast<int64_t>(y.size()));
}

void MetricAccumulator::add(const float* scores, const int64_t* labels, int64_t B) {
  MM_CHECK(B >= 0, "MetricAccumulator::add: negative batch size " << B);
  const int64_t K = K_;
  for (int64_t b = 0; b < B; ++b) {
    MM_CHECK(labels[b] >= 0 && labels[b] < K,
             "MetricAccumulator::add: label " << labels[b] << " of row " << b
                                              << " is outside [0, " << K << ")");
  }
  scores_.reserve(scores_.size() + static_cast<size_t>(B * K));
  for (int64_t b = 0; b < B; ++b) {
    const float* row = scores + b * K;  // (K)
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (row[k] > row[best]) best = k;
    }
    preds_.push_back(best);
    labels_.push_back(labels[b]);
    if (kind_ == ScoreKind::Probabilities) {
      for (int64_t k = 0; k < K; ++k) scores_.push_back(row[k]);
    } else {
      // Softmax in double, shifted by the row max for stability.
      double m = row[best];
      double z = 0.0;
      for (int64_t k = 0; k < K; ++k) z += std::exp(static_cast<double>(row[k]) - m);
      for (int64_t k = 0; k < K; ++k) scores_.push_back(std::exp(static_cast<double>(row[k]) - m) / z);
    }
  }
}

void MetricAccumulator::reset() {
  scores_.clear();
  labels_.clear();
  preds_.clear();
}

ClassificationMetrics MetricAccumulator::compute() const {
  ClassificationMetrics r;
  r.count = count();
  r.num_classes = K_;
  r.confusion = confusion_matrix(labels_, preds_, K_);
  r.acc = accuracy(r.confusion);
  r.macro_f1 = macro_f1(r.confusion, &r.per_class_f1);
  r.map = mean_average_precision(scores_.data(), labels_, K_, &r.per_class_ap);
  return r;
}

std::vector<int64_t> argmax_rows(const double* scores, int64_t B, int64_t K) {
  std::vector<int64_t> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const double* row = scores + b * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (row[k] > row[best]) best = k;
    }
    out[static_cast<size_t>(b)] = best;
  }
  return out;
}

std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& labels,
                                                   const std::vector<int64_t>& preds, int64_t K) {
  MM_CHECK(labels.size() == preds.size(), "confusion_matrix: " << labels.size() << " labels but "
                                                               << preds.size() << " predictions");
  std::vector<std::vector<int64_t>> c(static_cast<size_t>(K), std::vector<int64_t>(static_cast<size_t>(K), 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    MM_CHECK(labels[i] >= 0 && labels[i] < K && preds[i] >= 0 && preds[i] < K,
             "confusion_matrix: label " << labels[i] << " or prediction " << preds[i]
                                        << " outside [0, " << K << ")");
    ++c[static_cast<size_t>(labels[i])][static_cast<size_t>(preds[i])];
  }
  return c;
}

double accuracy(const std::vector<std::vector<int64_t>>& confusion) {
  int64_t total = 0, correct = 0;
  for (size_t t = 0; t < confusion.size(); ++t) {
    for (size_t p = 0; p < confusion[t].size(); ++p) total += confusion[t][p];
    correct += confusion[t][t];
  }
  return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

double macro_f1(const std::vector<std::vector<int64_t>>& confusion, std::vector<double>* per_class) {
  const size_t K = confusion.size();
  if (per_class) per_class->assign(K, 0.0);
  double sum = 0.0;
  int64_t classes = 0;
  for (size_t k = 0; k < K; ++k) {
    int64_t tp = confusion[k][k], fn = 0, fp = 0;
    for (size_t j = 0; j < K; ++j) {
      if (j == k) continue;
      fn += confusion[k][j];  // true k, predicted j
      fp += confusion[j][k];  // true j, predicted k
    }
    // A class that is neither a label nor a prediction is left out of the mean (sklearn's default
    // label set is the union of both); one that occurs but has tp = 0 counts as F1 = 0.
    if (tp + fn + fp == 0) continue;
    double f1 = 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn);
    if (per_class) (*per_class)[k] = f1;
    sum += f1;
    ++classes;
  }
  return classes > 0 ? sum / static_cast<double>(classes) : 0.0;
}

double average_precision(const std::vector<double>& scores, const std::vector<uint8_t>& positive) {
  MM_CHECK(scores.size() == positive.size(), "average_precision: " << scores.size() << " scores but "
                                                                    << positive.size() << " labels");
  const size_t n = scores.size();
  int64_t total_pos = 0;
  for (uint8_t p : positive) total_pos += p ? 1 : 0;
  if (total_pos == 0) return std::numeric_limits<double>::quiet_NaN();
  // A NaN score ranks last (as -inf): NaN compares false with everything, which would leave
  // the sort without an order and the tie loop below without progress.
  auto score = [&](size_t k) {
    const double v = scores[k];
    return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
  };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Descending by score; the order inside a tie does not matter because a tie is one step.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score(a) > score(b); });
  double ap = 0.0, prev_recall = 0.0;
  int64_t tp = 0, seen = 0;
  size_t i = 0;
  while (i < n) {
    // Take every sample whose score equals this threshold, then emit one (recall, precision) point.
    const double threshold = score(order[i]);
    while (i < n && score(order[i]) == threshold) {
      tp += positive[order[i]] ? 1 : 0;
      ++seen;
      ++i;
    }
    const double recall = static_cast<double>(tp) / static_cast<double>(total_pos);
    const double precision = static_cast<double>(tp) / static_cast<double>(seen);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  }
  return ap;
}

double mean_average_precision(const double* scores, const std::vector<int64_t>& labels, int64_t K,
                              std::vector<double>* per_class) {
  const size_t B = labels.size();
  if (per_class) per_class->assign(static_cast<size_t>(K), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> column(B);
  std::vector<uint8_t> positive(B);
  double sum = 0.0;
  int64_t classes = 0;
  for (int64_t k = 0; k < K; ++k) {
    for (size_t b = 0; b < B; ++b) {
      column[b] = scores[b * static_cast<size_t>(K) + static_cast<size_t>(k)];
      positive[b] = labels[b] == k ? 1 : 0;
    }
    double ap = average_precision(column, positive);
    if (per_class) (*per_class)[static_cast<size_t>(k)] = ap;
    if (std::isnan(ap)) continue;  // no positive of class k: AP undefined, left out of the mean
    sum += ap;
    ++classes;
  }
  return classes > 0 ? sum / static_cast<double>(classes) : 0.0;
}

}  // namespace mm::boost
