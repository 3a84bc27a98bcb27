// mmboost boosting: MMPareto and PMR, the baselines that add losses to joint training
// (baseline_multiloss.cpp; docs/methods.md has the rules, the options and the departures from
// the authors' releases). This header exposes the pieces of each rule as plain functions so
// that tests can check them against hand-computed values.
//
// Dimension letters: B batch, D feature width, K classes, M modalities.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace mm::boost::multiloss {

// ---- MMPareto (Wei and Hu, ICML 2024) ----------------------------------------------------------

// The two-task min-norm (MGDA) weight: a* = argmin_{a in [0,1]} ||a g1 + (1-a) g2||^2 from the
// Gram entries g1g1 = <g1,g1>, g1g2 = <g1,g2>, g2g2 = <g2,g2>; returns a* (the weight of g1):
// a* = clamp((g2g2 - g1g2) / (g1g1 + g2g2 - 2 g1g2), 0, 1). Equal gradients -> 0.5.
double min_norm_weight(double g1g1, double g1g2, double g2g2);

// How MMPareto combines one encoder's multimodal gradient g_mm and unimodal gradient g_uni.
struct ParetoWeights {
  double cos = 0.0;          // cos(g_mm, g_uni); 0 when either gradient is zero
  bool conflict = false;     // cos < 0
  double w_mm = 0.5;         // weight of g_mm   (1/2 without conflict, min-norm weight with)
  double w_uni = 0.5;        // weight of g_uni  (= 1 - w_mm)
  // Magnitude rescale of d = 2 (w_mm g_mm + w_uni g_uni): the final gradient is
  // gamma * scale * d with scale = ||g_mm + g_uni|| / ||d|| (1 without conflict, >= 1 with;
  // 0 when d = 0).
  double scale = 1.0;
};

// Weights and rescale from the Gram entries of (g_mm, g_uni) over the whole encoder.
ParetoWeights mmpareto_weights(double mm_mm, double mm_uni, double uni_uni);

// The combined gradient of one encoder, tensor by tensor (same shapes as the inputs).
// g_mm, g_uni: the encoder's parameters' gradients of the multimodal loss and of the modality's
// unimodal loss (an undefined tensor counts as zeros). rescale "encoder": the paper's rule, one
// scale from the whole encoder's norms; "tensor": the authors' release, scale_t =
// max(1, ||g_mm,t + g_uni,t|| / ||d_t||) per parameter tensor. gamma multiplies the result
// (1 in the paper's rule; the release uses 1.5). `info` (optional) receives the weights.
std::vector<Tensor> mmpareto_combine(const std::vector<Tensor>& g_mm, const std::vector<Tensor>& g_uni,
                                     double gamma, const std::string& rescale,
                                     ParetoWeights* info = nullptr);

// ---- PMR (Fan et al., CVPR 2023) ---------------------------------------------------------------

// u (B,D) features, protos (K,D) -> (B,K): -||u_i - c_k||_2, the logits of the prototype
// classifier. Differentiable in u (the prototypes are constants of the loss).
Tensor prototype_logits(const Tensor& u, const Tensor& protos);
// Prototypical cross-entropy: mean_i -log softmax(-d(u_i, c))[y_i]. labels (B) I64.
Tensor prototype_ce(const Tensor& u, const Tensor& protos, const Tensor& labels);
// Prototype entropy: mean_i -sum_k p_ik log p_ik, p_i = softmax(-d(u_i, c)).
Tensor prototype_entropy(const Tensor& u, const Tensor& protos);
// s = sum_i softmax(-d(u_i, c))[y_i], the modality's score on the batch (no autograd).
double prototype_score(const Tensor& u, const Tensor& protos, const Tensor& labels);

// Per-class feature sums of one modality over an epoch, for its prototypes.
class PrototypeAccumulator {
 public:
  PrototypeAccumulator() = default;
  PrototypeAccumulator(int64_t K, int64_t D, Device device);
  // Adds a batch: u (B,D) (detached inside), labels (B) I64.
  void add(const Tensor& u, const Tensor& labels);
  // The class means (K,D) blended with `old` (K,D) as (1 - momentum) * mean + momentum * old;
  // with no `old` (undefined), the means. A class without samples keeps its old prototype
  // (zeros when there is none).
  Tensor prototypes(const Tensor& old, double momentum) const;
  const std::vector<double>& counts() const { return counts_; }
  void reset();

 private:
  Tensor sums_;                  // (K,D) on the feature's device
  std::vector<double> counts_;   // K
};

// PMR's coefficients for one step from the modalities' prototype scores s_m. The dominant
// modality d has the highest score; every other modality m gets the prototype-CE weight
// alpha * f_m with f_m = clamp(s_d / s_m - 1, 0, 1) ("ratio", the paper's imbalance ratio) or
// f_m = 1 when s_m < s_d ("binary", the authors' release); the dominant modality's entropy
// regulariser gets mu * max_m f_m. For two modalities this is beta = alpha * clamp(1/rho - 1,
// 0, 1) for audio when rho = s_a / s_v < 1, gamma = alpha * clamp(rho - 1, 0, 1) for video when
// rho > 1, and the entropy term -mu * gamma * H_a (resp. -mu * beta * H_v).
struct PmrCoefficients {
  int64_t dominant = 0;
  std::vector<double> pce;       // M: weights of the prototype CE terms (0 for the dominant one)
  std::vector<double> entropy;   // M: weights of the entropy terms (only the dominant one > 0)
};
PmrCoefficients pmr_coefficients(const std::vector<double>& scores, double alpha, double mu,
                                 const std::string& rule);

}  // namespace mm::boost::multiloss
