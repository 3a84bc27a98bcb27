// mmboost boosting: the baselines that learn from the validation split, MSLR and G-Blend.
//
// Both are late-fusion methods (late_fusion.h: z_m = h(psi_m(phi_m(x_m))), fused = sum_m z_m)
// and both read the validation split through Method::fuse_validation, which the trainer calls
// once per epoch after end_epoch(e) with the whole split's modality logits. What they learn
// from epoch e's validation applies from epoch e + 1 on. The trainer never calls
// fuse_validation when it evaluates a test split (Trainer::evaluate), and both methods also
// ignore a call that does not follow an end_epoch (a second call in the same epoch, or one from
// a tool outside fit), so evaluation never changes their state.
//
//   mslr    Yao and Mihalcea, ACL Findings 2022: each modality's parameters (optimizer group
//           "mod.<name>") train at their own learning rate, optim.lr * f_m; the shared head
//           stays at optim.lr. Strategies for f_m (method.mslr.strategy):
//             keep:    f_m = f0_m (method.mslr.lr_factors, default 1) for the whole run;
//             smooth:  f_m(e) = f0_m ^ (1 - min(e / smooth_epochs, 1)), from the modality's own
//                      rate to the shared one, geometrically;
//             dynamic: f_m starts at f0_m; after the validation pass of epoch e,
//                      f_m <- clamp(f_m * acc_m(e) / mean(acc_m(e - window .. e - 1)),
//                               min_factor, max_factor)   (mslr_dynamic_ratio)
//           The factor scales the group's base_lr, so the LR schedule still applies on top.
//   gblend  Wang, Tran and Feiszli, CVPR 2020 (Gradient-Blending): loss =
//           sum_m w_m CE(z_m, y) + w_F CE(fused, y). Every method.gblend.super_epoch epochs
//           the weights are re-estimated from the change, since the previous estimate point, of
//           each branch's (M modalities, then fused) train and validation losses
//           (gblend_estimate): G_k = Lval_k(before) - Lval_k(after),
//           O_k = (Lval_k - Ltrain_k)(after) - (Lval_k - Ltrain_k)(before),
//           w_k = |G_k| / O_k^2, normalised to sum 1. Ltrain_k is the mean per-sample CE of
//           branch k over the epoch's training batches (accumulated in loss(), train mode,
//           before each step's update); Lval_k the mean per-sample CE over the validation split.
//
// docs/methods.md describes the options, the defaults and the departures from the authors'
// releases.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "boosting/late_fusion.h"

namespace mm::boost {

// ---- the rules, as pure functions (tested by hand-computed examples) --------------------------

// acc_now / mean of the last `window` entries of `history` (the previous epochs' validation
// accuracies, oldest first). 1 when history holds fewer than `window` entries or their mean is 0.
double mslr_dynamic_ratio(const std::vector<double>& history, double acc_now, int window);

// f0 ^ (1 - min(epoch / smooth_epochs, 1)): the factor of epoch `epoch` under "smooth".
double mslr_smooth_factor(double f0, int epoch, int smooth_epochs);

// One branch's losses at an estimate point.
struct BranchLosses {
  std::vector<double> train;  // per branch k: mean per-sample training CE over the epoch
  std::vector<double> val;    // per branch k: mean per-sample validation CE after the epoch
};

struct OgrEstimate {
  std::vector<double> gain;     // G_k = Lval_k(before) - Lval_k(after) (> 0: generalised)
  std::vector<double> overfit;  // O_k = change of (Lval_k - Ltrain_k)
  std::vector<double> raw;      // g(G_k) / max(O_k^2, eps)
  std::vector<double> weights;  // raw / sum(raw); empty when !valid
  bool valid = false;           // sum(raw) finite and > 0
  nlohmann::json to_json(const std::vector<std::string>& branch_names) const;
};

// gain_mode "abs": g(G) = |G| (the formula as the brief and BalanceBenchmark write it);
// "positive": g(G) = max(G, 0) (a branch whose validation loss rose gets no weight).
OgrEstimate gblend_estimate(const BranchLosses& before, const BranchLosses& after,
                            const std::string& gain_mode, double eps);

// Per branch (modalities, then the sum of their logits): mean CE and accuracy of logits (R,K)
// against labels (R), in double. Used for the validation split.
struct SplitStats {
  std::vector<double> ce, acc;
};
SplitStats branch_stats(const std::vector<Tensor>& modality_logits, const Tensor& labels);

// ---- the methods --------------------------------------------------------------------------------

class MslrMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "mslr"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("mslr")); }
  void attach_optimizer(optim::Optimizer* opt) override;
  nlohmann::json end_epoch(int epoch) override;
  Tensor fuse_validation(const std::vector<Tensor>& modality_logits, const Tensor& labels) override;

  nlohmann::json state_json() const override;
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  // ---- for tests and tools ----
  const std::vector<double>& factors() const { return factors_; }                 // M
  const std::vector<std::vector<double>>& accuracy_history() const { return acc_hist_; }  // M x epochs
  const std::string& strategy() const { return strategy_; }

 private:
  void read_options(const nlohmann::json& o);  // method.mslr: what needs no data
  // Sets base_lr of each "mod.<name>" group to its attach-time base_lr * f_m.
  void apply_factors();
  nlohmann::json factors_json() const;

  // options
  std::string strategy_;
  int window_ = 5, update_every_ = 1, smooth_epochs_ = 10;
  double min_factor_ = 0.1, max_factor_ = 10.0;
  std::vector<double> initial_;  // f0_m

  // state
  std::vector<double> factors_;                // f_m in force now
  std::vector<std::vector<double>> acc_hist_;  // validation accuracy of each modality, per epoch
  int pending_epoch_ = -1;                     // set by end_epoch, consumed by fuse_validation
  nlohmann::json last_update_;                 // what the last validation pass did

  // optimizer wiring (not state: rebuilt by attach_optimizer)
  std::vector<size_t> group_;  // optimizer group of each modality
  std::vector<float> lr0_;     // its base_lr when attached (optim.lr)
};

class GBlendMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "gblend"; }
  void build(const MethodContext& ctx) override;
  void check_config(const nlohmann::json& config) override { read_options(config.at("method").at("gblend")); }
  void begin_epoch(int epoch) override;
  LossOutput loss(const data::Batch& batch) override;
  nlohmann::json end_epoch(int epoch) override;
  Tensor fuse_validation(const std::vector<Tensor>& modality_logits, const Tensor& labels) override;

  nlohmann::json state_json() const override;
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  // ---- for tests and tools ----
  int64_t num_branches() const { return num_modalities() + 1; }
  std::vector<std::string> branch_names() const;  // modalities, then "fused"
  const std::vector<double>& weights() const { return weights_; }  // M + 1, sum 1
  void set_weights(const std::vector<double>& w);
  // Mean per-sample training CE of each branch over the current epoch's batches so far.
  std::vector<double> train_ce() const;

 private:
  void read_options(const nlohmann::json& o);  // method.gblend: what needs no data
  nlohmann::json named(const std::vector<double>& v) const;

  // options
  int super_epoch_ = 10;
  std::string gain_mode_;
  double eps_ = 1e-12;

  // state
  std::vector<double> weights_;     // w_1..w_M, w_F
  std::vector<double> train_sum_;   // per branch: sum over this epoch's samples of CE
  int64_t train_count_ = 0;         // samples in train_sum_
  std::vector<double> pending_train_;  // the finished epoch's mean training CE (end_epoch)
  int pending_epoch_ = -1;
  bool has_ref_ = false;            // an estimate point has been recorded
  int ref_epoch_ = -1;
  BranchLosses ref_;                // the losses at the last estimate point
  nlohmann::json last_estimate_;    // null until the first estimate
};

}  // namespace mm::boost
