// Adaptive classifier assignment rules (Algorithm 1) and the ACA target.
#include "boosting/assignment.h"

#include <algorithm>

#include "engine/error.h"

namespace mm::boost {

std::vector<bool> assign_classifiers(const std::vector<double>& s, const AssignmentRule& r) {
  const size_t M = s.size();
  MM_CHECK(M >= 2, "classifier assignment needs at least two modalities, got " << M);
  std::vector<bool> add(M, false);
  if (r.rule == "difference") {
    MM_CHECK(r.sigma >= 1.0, "method.sigma must be >= 1 (paper Section 4.2), got " << r.sigma);
    if (M == 2) {
      const double d = s[0] - r.sigma * s[1];
      if (d > r.tau) add[1] = true;        // modality 0 ahead: strengthen modality 1
      else if (d < -r.tau) add[0] = true;  // modality 1 ahead (paper line 3 reads "< tau": typo)
      return add;
    }
    const double best = *std::max_element(s.begin(), s.end());
    for (size_t m = 0; m < M; ++m) add[m] = best - r.sigma * s[m] > r.tau;
    return add;
  }
  if (r.rule == "ratio") {
    if (M == 2) {
      MM_CHECK(s[1] > 0.0, "ratio rule: the second modality's OGM score is 0");
      const double ratio = s[0] / s[1];
      if (ratio > r.ratio_lambda + r.ratio_margin) add[1] = true;
      else if (ratio < r.ratio_lambda - r.ratio_margin) add[0] = true;
      return add;
    }
    double total = 0.0;
    for (double v : s) total += v;
    for (size_t m = 0; m < M; ++m) {
      const double others = total - s[m];
      add[m] = others > 0.0 && s[m] / others < r.ratio_threshold;
    }
    return add;
  }
  MM_FAIL("method.rule must be \"difference\" or \"ratio\", got \"" << r.rule << "\"");
}

std::vector<float> aca_target(const std::vector<double>& s) {
  MM_CHECK(!s.empty(), "aca_target: no scores");
  const size_t weakest = static_cast<size_t>(std::min_element(s.begin(), s.end()) - s.begin());
  std::vector<float> g(s.size(), 0.0f);
  g[weakest] = 1.0f;
  return g;
}

}  // namespace mm::boost
