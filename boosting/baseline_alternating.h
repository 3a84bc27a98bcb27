// mmboost boosting: the alternating baselines of the paper's comparison, MLA and ReconBoost
// (baselines.h registers them; docs/methods.md gives their rules, options and departures).
//
//   mla         Zhang, Yoon, Bansal, Yao, "Multimodal Representation Learning by Alternating
//               Unimodal Adaptation", CVPR 2024. Each batch the modalities take turns: modality m
//               alone through its encoder, its classifier and the SHARED head, cross-entropy,
//               backward, step. Before each step the head's weight gradient is projected by an
//               OWM projector P that holds the directions (batch-mean head inputs) of the steps
//               before it, so the head's update leaves its response to those inputs unchanged.
//               Inference: per-sample entropy-weighted fusion (or fixed weights).
//   reconboost  Hua, Xu, Bao, Yang, Huang, "ReconBoost: Boosting Can Achieve Modality
//               Reconcilement", ICML 2024. Stages alternate the modalities: the active modality's
//               learner is trained against the detached ensemble of the other modalities with
//               the reconcilement term (gradient-boosting-like), then a correction phase (the
//               paper's global rectification) trains the whole summed ensemble.
//
// Both override Method::train_step. The optimizer (engine/optim/optimizer.cpp) skips every
// parameter whose gradient is undefined, and zero_grad() drops gradients (it does not zero
// them), so the parameters of a modality that is not trained in a step get neither a
// momentum nor a weight-decay update: they do not move at all.
//
// Dimension letters: B batch, H classifier hidden width (the head's input), K classes,
// M modalities.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "boosting/late_fusion.h"

namespace mm::boost {

// ---- MLA ---------------------------------------------------------------------------------------

// MLA's test-time uncertainty-based fusion weights. logits: M x (B,K) -> (B,M):
//   e_m = -sum_k p_mk log p_mk with p_m = softmax(z_m)   (prediction entropy per sample)
//   w_m = exp(max_j e_j - e_m) / sum_r exp(max_j e_j - e_r) = softmax_m(-e_m)
// so the modality with the lower entropy (the more confident one) gets the higher weight.
Tensor entropy_fusion_weights(const std::vector<Tensor>& logits);
// sum_m weights[:, m] * logits[m]: logits M x (B,K), weights (B,M) -> (B,K).
Tensor weighted_logit_sum(const std::vector<Tensor>& logits, const Tensor& weights);

// The OWM projector of MLA's gradient modification (after Zeng et al., "Continual learning of
// context-dependent processing in neural networks", 2019, as the MLA release writes it):
//   P_0 = I (H,H);  after a step whose head inputs were X (B,H):
//   r = mean_b X_b (1,H),  k = P r^T,  P <- P - k k^T / (alpha + r k)   [, P <- P / ||P||_F]
// and the head's weight gradient G (K,H) is replaced by G P before the step. For alpha -> 0 and
// unnormalised P this is the orthogonal projector onto the complement of the stored r's.
class OwmProjector {
 public:
  // P = I (dim,dim) on `device`.
  void reset(int64_t dim, Device device);
  bool defined() const { return p_.defined(); }
  // g (K,H) -> g P (K,H); P is symmetric.
  Tensor project(const Tensor& g) const;
  // Stores the batch-mean row of `inputs` (B,H); alpha > 0 regularises the rank-1 update
  // (alpha = 0 with r already in the stored span skips it rather than divide by zero).
  void store(const Tensor& inputs, float alpha, bool normalize);
  const Tensor& matrix() const { return p_; }
  void set_matrix(const Tensor& p) { p_ = p; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }

 private:
  Tensor p_;  // (H,H)
  int64_t updates_ = 0;
};

class MlaMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "mla"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("mla")); }
  void begin_epoch(int epoch) override;
  // Sum over modalities of the unimodal cross-entropies (what the alternating steps minimise).
  LossOutput loss(const data::Batch& batch) override;
  // One unimodal step per modality, in the data's modality order (train_modality).
  StepOutput train_step(const data::Batch& batch) override;
  nlohmann::json end_epoch(int epoch) override;
  Predictions predict(const data::Batch& batch) override;

  // One unimodal step of modality m: zero_grad, CE of head(psi_m(phi_m(x_m))), backward, the
  // head's weight gradient G -> G P (gradient modification), optimizer step, then the batch
  // mean of the head's inputs is stored in P. Returns the CE.
  double train_modality(int64_t m, const data::Batch& batch);

  nlohmann::json state_json() const override;
  void load_structure(const nlohmann::json& state) override {}
  nn::NamedTensors state_tensors() const override;
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  const OwmProjector& projector() const { return proj_; }
  // (1,H): the batch mean of the head's inputs at modality m's latest step (undefined before).
  const Tensor& last_input(int64_t m) const { return last_input_.at(m); }
  // Fusion weights of `logits` (M x (B,K)) under the configured fusion: (B,M).
  Tensor fusion_weights(const std::vector<Tensor>& logits) const;

 private:
  void read_options(const nlohmann::json& o);  // method.mla, all but fusion_weights

  bool project_ = true;
  float alpha_ = 0.01f;
  bool normalize_ = true;
  std::string fusion_ = "entropy";
  std::vector<float> fixed_weights_;  // M, fusion = fixed
  OwmProjector proj_;
  std::vector<Tensor> last_input_;    // M x (H): the last direction stored for each modality
  int64_t steps_ = 0;                 // unimodal steps taken (all epochs)
  // this epoch: steps, sum of ||G P||/||G||, sum of the residual on other modalities' directions
  int64_t epoch_steps_ = 0, epoch_residual_count_ = 0;
  double epoch_kept_ = 0.0, epoch_residual_ = 0.0, epoch_residual_max_ = 0.0;
};

// ---- ReconBoost --------------------------------------------------------------------------------

// The loss of the active modality's learner in its stage, with each term (batch means).
struct ReconBoostLoss {
  Tensor total;        // scalar: ce - lambda * kl + memory_weight * memory
  double ce = 0.0;     // CE(z, y)
  double kl = 0.0;     // KL(y (.) softmax(F_-m) || softmax(z)) (generalised), the reconcilement divergence
  double memory = 0.0; // MSE(softmax(z), softmax(z_hist)), 0 without a historical learner
};
// z (B,K): the active learner's logits. others (B,K): the other members' ensemble logits F_-m
// (used detached; undefined = empty ensemble, taken as the zero function F_0 = 0, so its
// softmax is uniform). historical (B,K): logits of the learner trained in the previous stage
// (used detached; undefined = none). labels (B) I64.
//   L = CE(z, y) - lambda * KL(y (.) q || softmax(z)) + memory_weight * MSE(softmax(z), softmax(z_hist))
// with q = softmax(F_-m). y (.) q keeps only the true-class entry q_y and does not sum to 1, so
// KL is the generalised KL (I-divergence) sum_k t_k log(t_k/p_k) - sum t + sum p:
//   KL = mean_b [ q_y log q_y - q_y log softmax(z)_y - q_y + 1 ] >= 0,
//   dL/dz = (softmax(z) - y)(1 - lambda q_y) per sample (without the memory term):
// samples the other modalities already get right weigh less.
ReconBoostLoss reconboost_stage_loss(const Tensor& z, const Tensor& others, const Tensor& historical,
                                     const Tensor& labels, float lambda, float memory_weight);

class ReconBoostMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "reconboost"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("reconboost")); }
  // Adds the learned boosting rate to "shared.head" (when method.reconboost.learn_boost_rate).
  std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() override;
  void begin_epoch(int epoch) override;
  // The loss of the phase the next step is in (stage loss of the active modality, or the
  // correction loss).
  LossOutput loss(const data::Batch& batch) override;
  StepOutput train_step(const data::Batch& batch) override;
  nlohmann::json end_epoch(int epoch) override;
  Predictions predict(const data::Batch& batch) override;

  nlohmann::json state_json() const override;
  void load_structure(const nlohmann::json& state) override {}
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  // Where the schedule is at `position` (an epoch index, or a step count with stage_unit =
  // steps): stage index and active modality, or -1 in a correction phase.
  struct Phase {
    int64_t stage = 0;
    int64_t modality = -1;  // -1: correction phase
  };
  Phase phase_at(int64_t position) const;
  // The phase of the next training step.
  Phase current_phase() const;
  const std::vector<bool>& members() const { return members_; }
  float boost_rate() const;

 private:
  void read_options(const nlohmann::json& o);  // method.reconboost
  LossOutput phase_loss(const data::Batch& b, const Phase& ph);
  // Logits of modality m, detached, with its learner in eval mode (a frozen learner: its
  // BatchNorm statistics do not move either).
  Tensor frozen_logits(int64_t m, const data::Batch& b);

  bool by_steps_ = false;
  int64_t stage_length_ = 4, correction_length_ = 4;
  float lambda_ = 0.2f, memory_weight_ = 0.5f;
  float initial_rate_ = 1.0f;  // method.reconboost.boost_rate
  bool learn_rate_ = true;
  std::shared_ptr<nn::Module> rate_module_;
  Tensor rate_;                     // (1): the boosting rate that scales the ensemble's sum
  std::vector<bool> members_;       // M: whether modality m's learner is in the ensemble
  int64_t steps_ = 0;               // training steps taken (all epochs)
  int epoch_ = 0;
  // this epoch: steps per modality stage and in correction; phase of the last step
  std::vector<int64_t> epoch_stage_steps_;
  int64_t epoch_correction_steps_ = 0;
  Phase last_phase_;
};

}  // namespace mm::boost
