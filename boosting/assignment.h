// mmboost boosting: adaptive classifier assignment (paper Section 4.2, Algorithm 1) as pure
// functions of the OGM scores, so that each rule is testable by hand.
#pragma once

#include <string>
#include <vector>

namespace mm::boost {

struct AssignmentRule {
  std::string rule = "difference";  // "difference" (paper) | "ratio" (authors' release)
  double sigma = 1.0;               // difference rule: coefficient sigma >= 1
  double tau = 0.01;                // difference rule: dead zone
  double ratio_lambda = 1.0;        // ratio rule, M = 2: compare s_0 / s_1 with lambda +- margin
  double ratio_margin = 0.01;
  double ratio_threshold = 0.4;     // ratio rule, M > 2: s_m / sum of the others < threshold
};

// Which modalities get a new classifier, from the OGM scores s (M >= 2).
//  difference, M = 2 (Algorithm 1 with the sign of line 3 corrected, modality 0 = "audio"):
//    s_0 - sigma s_1 >  tau -> modality 1;   s_0 - sigma s_1 < -tau -> modality 0.
//  difference, M > 2: every modality r with s_best - sigma s_r > tau (s_best the highest
//    score; this is the M = 2 rule whenever sigma = 1).
//  ratio, M = 2 (release): s_0/s_1 > lambda + margin -> modality 1; < lambda - margin -> 0.
//  ratio, M > 2 (release, three modalities): s_m / sum_{r != m} s_r < threshold -> m.
std::vector<bool> assign_classifiers(const std::vector<double>& scores, const AssignmentRule& rule);

// The ACA target g_t (Section 4.2): one-hot on the weakest modality (lowest score; ties go
// to the first), i.e. g^a = delta(s^a = min(s)) generalised to M modalities.
std::vector<float> aca_target(const std::vector<double>& scores);

}  // namespace mm::boost
