// mmboost boosting: the gradient-modulation baselines OGM, OGM-GE (Peng et al., CVPR 2022) and
// AGM (Li et al., ICCV 2023) as trainer plug-ins (registered by baseline_modulation.cpp, see
// baselines.h), and the pure rules they are built from, free functions so that tests can check
// them on hand-computed numbers. docs/methods.md has the equations and the departures from the
// authors' releases.
//
// Both methods train the late-fusion network of LateFusionMethod (per modality an encoder
// phi_m, a classifier psi_m, one head h shared by all modalities; z_m = h(psi_m(phi_m(x_m))),
// fused = sum_m z_m) with one cross-entropy on the fused logits, and rescale the gradients of
// each modality's ENCODER parameters between backward and the optimizer step
// (Method::after_backward). Dimension letters: B batch, K classes, M modalities.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "boosting/late_fusion.h"
#include "engine/rng.h"

namespace mm::boost {

// Whether `epoch` lies in the modulation window [start_epoch, end_epoch); end_epoch < 0 means
// the window never closes.
bool in_modulation_window(int epoch, int start_epoch, int end_epoch);

// ---- OGM / OGM-GE ---------------------------------------------------------------------------

// Config section method.ogm, shared by "ogm" and "ogm_ge".
struct OgmOptions {
  double alpha = 0.8;       // > 0
  int start_epoch = 0;      // modulation window [start_epoch, end_epoch)
  int end_epoch = 50;       // < 0: no end
  bool continuous = false;  // k = 1 - tanh(alpha * (rho - 1)) instead of Eq. (10)'s alpha * rho
  bool ge = false;          // generalisation enhancement (set by the method name "ogm_ge")
};

// Per modality, s_m = sum_i softmax(z_m)_i[y_i]: logits M x (B,K), labels (B) I64 -> M scores,
// the softmax and the deterministic batch sum on the logits' device (OgmScore, boost_loss.h).
std::vector<double> ogm_scores(const std::vector<Tensor>& modality_logits, const Tensor& labels);
// rho_m = s_m / min_r s_r (for M = 2 the paper's s_a / s_v and its inverse).
std::vector<double> ogm_ratios(const std::vector<double>& scores);
// Eq. (10): k_m = 1 - tanh(alpha * rho_m) where rho_m > 1 (the dominant modality), else 1;
// all 1 outside the epoch window.
std::vector<double> ogm_coefficients(const std::vector<double>& scores, const OgmOptions& o, int epoch);
// OGM-GE on one gradient tensor, in place: g <- k * g + n, n ~ N(0, sigma^2) elementwise with
// sigma = std(g), the sample standard deviation (divisor numel - 1) of g BEFORE scaling (0 when
// g has fewer than two entries), drawn from `gen`. Returns sigma.
double ogm_ge_modulate_(Tensor& grad, double k, Generator& gen);

// ---- AGM --------------------------------------------------------------------------------------

// Config section method.agm.
struct AgmOptions {
  double alpha = 1.0;            // > 0
  int start_epoch = 0;           // modulation window [start_epoch, end_epoch)
  int end_epoch = -1;            // < 0: no end
  double max_ratio_gap = 10.0;   // kappa_m = exp(alpha * min(rbar_m - r_m, max_ratio_gap))
  std::string running = "mean";  // running score: "mean" (cumulative, the paper) or "ema"
  double momentum = 0.9;         // for "ema": sbar <- momentum * sbar + (1 - momentum) * s
};

// Shapley values of an M-player game with vector payoffs: v[mask] (any length R, the same for
// every mask) is the payoff of the coalition whose members are the set bits of mask, v has
// 2^M entries, and v[0] (the empty coalition) is taken as 0 whatever it holds, so that the
// values sum to v[full] (efficiency). phi_m = sum over S not containing m of
// |S|! (M-|S|-1)! / M! * (v(S u {m}) - v(S)). Returns M payoff vectors.
std::vector<std::vector<double>> shapley_values(const std::vector<std::vector<double>>& v);
// Coalition payoffs of the late-fusion network from its zeroed forwards: with z_m (B*K, row-
// major) the logits of modality m on its input and z0_m (K) its logits on an all-zero input,
// v(S) = sum_{m in S} z_m + sum_{m not in S} z0_m (row-broadcast), exactly the fused logits with
// the modalities outside S zeroed (each branch sees only its own input). Returns 2^M vectors.
std::vector<std::vector<double>> late_fusion_coalitions(const std::vector<std::vector<double>>& z,
                                                        const std::vector<std::vector<double>>& z0,
                                                        int64_t K);
// s = mean_i -log max(softmax(phi)_i[y_i], 1e-8): the cross-entropy of a mono-modal response
// phi (B*K, row-major) on labels y (B); the floor is the release's guard against log(0).
double agm_score(const std::vector<double>& phi, const std::vector<int64_t>& labels, int64_t K);
// r_m = exp(M/(M-1) * (mean_k s_k - s_m)) = exp(mean_{k != m} s_k - s_m): > 1 when modality m
// has a lower loss than the others (for M = 2: r_a = exp(s_v - s_a)).
std::vector<double> agm_ratios(const std::vector<double>& scores);
// kappa_m = exp(alpha * min(rbar_m - r_m, max_ratio_gap)) with r from this batch's scores and
// rbar from the running scores (agm_ratios of each); all 1 outside the epoch window.
std::vector<double> agm_coefficients(const std::vector<double>& batch_scores,
                                     const std::vector<double>& running_scores, const AgmOptions& o,
                                     int epoch);

// ---- the methods ------------------------------------------------------------------------------

// "ogm" and "ogm_ge". Per step: scores from this batch's modality logits (loss), coefficients,
// then each encoder gradient g of modality m becomes k_m g (+ GE noise) in after_backward.
class OgmMethod : public LateFusionMethod {
 public:
  explicit OgmMethod(bool ge) { opt_o_.ge = ge; }
  std::string name() const override { return opt_o_.ge ? "ogm_ge" : "ogm"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("ogm")); }
  void begin_epoch(int epoch) override;
  LossOutput loss(const data::Batch& batch) override;
  void after_backward() override;
  // {"ogm_coeff": {modality: mean k_m over the epoch's steps}, "ogm_ratio": {modality: mean
  //  rho_m}, "ogm_window": whether the epoch was in the modulation window}.
  nlohmann::json end_epoch(int epoch) override;
  nlohmann::json state_json() const override;  // the GE generator's state
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  const OgmOptions& ogm_options() const { return opt_o_; }
  // The scores and coefficients of the last step (coefficients 1 outside the window).
  const std::vector<double>& step_scores() const { return scores_; }
  const std::vector<double>& step_coefficients() const { return coeff_; }
  const Generator& noise_generator() const { return gen_; }

 private:
  void read_options(const nlohmann::json& o);  // method.ogm

  OgmOptions opt_o_;
  Generator gen_;
  int epoch_ = 0;
  bool pending_ = false;  // loss() ran and after_backward has not yet used its scores
  std::vector<double> scores_, coeff_;
  std::vector<double> coeff_sum_, ratio_sum_;
  int64_t steps_in_epoch_ = 0;
};

// "agm". Per step: the Shapley mono-modal responses phi_m from the zeroed forwards (loss), the
// scores s_m, coefficients kappa_m against the running scores, each encoder gradient of
// modality m scaled by kappa_m (after_backward), then the running scores take this batch in.
class AgmMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "agm"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("agm")); }
  void begin_epoch(int epoch) override;
  LossOutput loss(const data::Batch& batch) override;
  void after_backward() override;
  // {"agm_coeff": {modality: mean kappa_m}, "agm_score": {modality: mean batch s_m},
  //  "agm_running_score": {modality: sbar_m}, "agm_window": bool}.
  nlohmann::json end_epoch(int epoch) override;
  nlohmann::json state_json() const override;  // running scores and their step count
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  // phi_m (M vectors of B*K) on a batch, no autograd (the networks' current modes).
  std::vector<std::vector<double>> mono_modal_responses(const data::Batch& batch);

  const AgmOptions& agm_options() const { return opt_a_; }
  const std::vector<double>& step_scores() const { return scores_; }
  const std::vector<double>& step_coefficients() const { return coeff_; }
  const std::vector<double>& running_scores() const { return running_; }
  int64_t running_steps() const { return steps_; }

 private:
  void read_options(const nlohmann::json& o);  // method.agm
  // phi_m from logits already computed on the batch's inputs (M x (B,K)).
  std::vector<std::vector<double>> responses(const std::vector<Tensor>& modality_logits);

  AgmOptions opt_a_;
  int epoch_ = 0;
  bool pending_ = false;
  std::vector<double> scores_, coeff_;
  std::vector<double> running_;  // sbar_m
  int64_t steps_ = 0;            // batches taken into the running scores
  std::vector<double> coeff_sum_, score_sum_;
  int64_t steps_in_epoch_ = 0;
};

}  // namespace mm::boost
