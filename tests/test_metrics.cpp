// Classification metrics against hand-computed values: accuracy, macro-F1 (with a class that is
// never predicted and one that never occurs), average precision with tied scores (sklearn's
// step rule, no interpolation), mAP over classes with a positive, batch accumulation.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "boosting/metrics.h"
#include "engine/error.h"
#include "engine/tensor.h"

using namespace mm;
using namespace mm::boost;

namespace {

// One-hot-ish logits (B,K) whose argmax is preds[b].
std::vector<float> logits_for(const std::vector<int64_t>& preds, int64_t K) {
  std::vector<float> s(preds.size() * static_cast<size_t>(K), 0.0f);
  for (size_t b = 0; b < preds.size(); ++b) s[b * static_cast<size_t>(K) + static_cast<size_t>(preds[b])] = 3.0f;
  return s;
}

}  // namespace

TEST_CASE("accuracy and macro-F1 match hand-computed values, never-predicted class counts 0", "[cpu][metrics]") {
  // K = 5. Class 3 occurs once and is never predicted (F1 = 0, counted); class 4 never occurs
  // and is never predicted (left out of the mean, as sklearn's default label set does).
  const std::vector<int64_t> y = {0, 0, 0, 1, 1, 2, 2, 3};
  const std::vector<int64_t> p = {0, 0, 1, 1, 1, 2, 0, 2};
  // class 0: tp 2, fn 1, fp 1 -> 4/6; class 1: tp 2, fp 1 -> 4/5; class 2: tp 1, fn 1, fp 1 -> 2/4;
  // class 3: tp 0, fn 1 -> 0.
  const double want_f1 = (4.0 / 6.0 + 0.8 + 0.5 + 0.0) / 4.0;
  MetricAccumulator acc(5);
  std::vector<float> s = logits_for(p, 5);
  acc.add(s.data(), y.data(), static_cast<int64_t>(y.size()));
  ClassificationMetrics m = acc.compute();
  REQUIRE(m.count == 8);
  REQUIRE(m.acc == Approx(5.0 / 8.0).epsilon(1e-12));
  REQUIRE(m.macro_f1 == Approx(want_f1).epsilon(1e-12));
  REQUIRE(m.per_class_f1[3] == 0.0);
  REQUIRE(m.per_class_f1[1] == Approx(0.8).epsilon(1e-12));
  // confusion[true][pred]
  REQUIRE(m.confusion[0] == std::vector<int64_t>{2, 1, 0, 0, 0});
  REQUIRE(m.confusion[2] == std::vector<int64_t>{1, 0, 1, 0, 0});
  REQUIRE(m.confusion[3] == std::vector<int64_t>{0, 0, 1, 0, 0});
  REQUIRE(m.confusion[4] == std::vector<int64_t>{0, 0, 0, 0, 0});
}

TEST_CASE("argmax ties go to the lowest class index", "[cpu][metrics]") {
  const std::vector<double> s = {1, 2, 2, 0, 5, 5, 5, 1};  // (2,4)
  REQUIRE(argmax_rows(s.data(), 2, 4) == std::vector<int64_t>{1, 0});
}

TEST_CASE("average precision treats tied scores as one threshold step", "[cpu][metrics]") {
  // scores 0.9 | 0.8 0.8 0.8 | 0.3 | 0.1 with positives 1 | 0 1 1 | 0 | 1, 4 positives:
  // step 0.9: R .25 P 1; step 0.8: R .75 P 3/4; step 0.3: R .75; step 0.1: R 1 P 4/6.
  // AP = .25*1 + .5*.75 + 0 + .25*(4/6) = 0.791666...
  const std::vector<double> s = {0.8, 0.9, 0.8, 0.3, 0.8, 0.1};
  const std::vector<uint8_t> pos = {0, 1, 1, 0, 1, 1};
  REQUIRE(average_precision(s, pos) == Approx(0.25 + 0.375 + 1.0 / 6.0).epsilon(1e-12));
  // sklearn's documented example: average_precision_score([0,0,1,1], [.1,.4,.35,.8]) = 0.8333...
  REQUIRE(average_precision({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}) == Approx(5.0 / 6.0).epsilon(1e-12));
  // All scores tied: one step at R 1, P = positives / n.
  REQUIRE(average_precision({0.5, 0.5, 0.5, 0.5}, {1, 0, 0, 0}) == Approx(0.25).epsilon(1e-12));
  REQUIRE(std::isnan(average_precision({0.5, 0.2}, {0, 0})));
}

TEST_CASE("mAP averages over classes that have a positive", "[cpu][metrics]") {
  // (4,3) probabilities; class 2 has no positive and is left out.
  // class 0: 0.7(+) 0.6 0.4 0.2(+) -> .5*1 + .5*.5 = .75
  // class 1: 0.7 0.5(+) 0.3(+) 0.2 -> .5*.5 + .5*(2/3) = 0.58333...
  const std::vector<float> s = {0.7f, 0.2f, 0.1f, 0.4f, 0.5f, 0.1f, 0.6f, 0.3f, 0.1f, 0.2f, 0.7f, 0.1f};
  const std::vector<int64_t> y = {0, 1, 1, 0};
  MetricAccumulator acc(3, ScoreKind::Probabilities);
  acc.add(s.data(), y.data(), 4);
  ClassificationMetrics m = acc.compute();
  REQUIRE(m.per_class_ap[0] == Approx(0.75).epsilon(1e-12));
  REQUIRE(m.per_class_ap[1] == Approx(0.25 + 1.0 / 3.0).epsilon(1e-12));
  REQUIRE(std::isnan(m.per_class_ap[2]));
  REQUIRE(m.map == Approx((0.75 + 0.25 + 1.0 / 3.0) / 2.0).epsilon(1e-12));
  nlohmann::json j = m.to_json(true);
  REQUIRE(j["per_class_ap"][2].is_null());
  REQUIRE(j["map"].get<double>() == Approx(m.map));
  REQUIRE(j.contains("acc"));
  REQUIRE(j.contains("macro_f1"));
}

TEST_CASE("mAP of logits is taken over the softmax, not the raw logits", "[cpu][metrics]") {
  // Row 0 logits (0,1): softmax p1 = 0.73; row 1 (5,2): p1 = 0.047. Raw column 1 ranks row 1
  // first (2 > 1), the softmax ranks row 0 first. Labels (1, 0).
  const std::vector<float> s = {0, 1, 5, 2};
  const std::vector<int64_t> y = {1, 0};
  MetricAccumulator soft(2, ScoreKind::Logits), raw(2, ScoreKind::Probabilities);
  soft.add(s.data(), y.data(), 2);
  raw.add(s.data(), y.data(), 2);
  REQUIRE(soft.compute().map == Approx(1.0).epsilon(1e-12));
  REQUIRE(raw.compute().map == Approx(0.75).epsilon(1e-12));  // class 1 AP 0.5 on raw scores
}

TEST_CASE("accumulating over batches gives the same metrics as one batch", "[cpu][metrics]") {
  const int64_t B = 37, K = 6;
  std::vector<float> s(static_cast<size_t>(B * K));
  std::vector<int64_t> y(static_cast<size_t>(B));
  uint32_t state = 12345;
  for (auto& v : s) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>((state >> 8) % 7) * 0.5f;  // many ties on purpose
  }
  for (int64_t b = 0; b < B; ++b) y[static_cast<size_t>(b)] = (b * 5 + 3) % K;
  MetricAccumulator whole(K), parts(K);
  whole.add(s.data(), y.data(), B);
  parts.add(s.data(), y.data(), 10);
  parts.add(s.data() + 10 * K, y.data() + 10, 0);
  parts.add(s.data() + 10 * K, y.data() + 10, B - 10);
  ClassificationMetrics a = whole.compute(), b = parts.compute();
  REQUIRE(a.acc == b.acc);
  REQUIRE(a.macro_f1 == b.macro_f1);
  REQUIRE(a.map == b.map);
  REQUIRE(a.confusion == b.confusion);
  parts.reset();
  REQUIRE(parts.count() == 0);
}

TEST_CASE("MetricAccumulator reads strided tensors and rejects bad labels and shapes", "[cpu][metrics]") {
  // scores given transposed: (K,B) storage viewed as (B,K).
  Tensor st = Tensor::from_vector({0, 1, 0, 2, 0, 0}, {3, 2});  // (K=3, B=2)
  Tensor scores = st.transpose(0, 1);                           // (2,3): rows (0,0,0) and (1,2,0)
  MetricAccumulator acc(3);
  acc.add(scores, Tensor::from_ints({0, 1}, {2}));
  ClassificationMetrics m = acc.compute();
  REQUIRE(m.acc == 1.0);  // row 0 ties -> class 0; row 1 argmax 1
  REQUIRE_THROWS_AS(acc.add(scores, Tensor::from_ints({0, 3}, {2})), mm::Error);
  REQUIRE_THROWS_AS(acc.add(Tensor::zeros({2, 4}), Tensor::from_ints({0, 1}, {2})), mm::Error);
  REQUIRE_THROWS_AS(MetricAccumulator{0}, mm::Error);
}

TEST_CASE("average precision ranks NaN scores last, as -inf, and terminates", "[cpu][metrics]") {
  // Ranked 0.9 (+), 0.1 (-), NaN (+): steps at recall 1/2 (precision 1) and 1 (precision 2/3).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  REQUIRE(average_precision({nan, 0.9, 0.1}, {1, 1, 0}) == Approx(0.5 + 0.5 * 2.0 / 3.0).epsilon(1e-12));
  // Two NaN scores form one tie, like two equal scores.
  REQUIRE(average_precision({nan, nan, 0.3}, {1, 0, 0}) == Approx(1.0 / 3.0).epsilon(1e-12));
}
