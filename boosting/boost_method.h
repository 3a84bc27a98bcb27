// mmboost boosting: the paper's method (Section 4) for any number M >= 2 of modalities.
//
// Per modality r: an encoder phi^r, n^r configurable classifiers psi_1..psi_{n^r} and the head
// shared by all classifiers of all modalities. Training minimises, per modality, the sustained
// boosting loss (eqs (2)-(6), boost_loss.h) of the ensemble S_n = sum_j c_j z_j, with
// coefficients c_j from the classifier weights omega:
//   omega = learned: omega^r from the ACA network (models::AcaNet) fed with the OGM scores and
//                    trained on ||g_t - omega_t||^2 at each assignment check (Algorithm 1);
//           fixed:   method.omega_fixed;   off: 1.
//   omega_scope = added: c_1 = 1, c_j = omega^r for j >= 2 (the earlier release's form, default);
//                 all:   c_j = omega^r for every j (the paper's p_hat = omega p).
// Every method.assign_every epochs the OGM scores decide which modalities get a new classifier
// (assignment.h); a new classifier is Xavier-normal initialised, added to the optimizer at once
// and trained from the next batch on. Updates: joint (Algorithm 2: the modality losses summed,
// one step) or alternating (the release: per modality loss, backward, step).
// Inference: each modality's S^r; fused by method.fusion: omega (sum of the S^r as trained,
// i.e. with omega*), weights (sum of w_r S^r, release 0.4/0.6), val_search (w chosen on the
// validation split on a simplex grid, by accuracy).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "boosting/assignment.h"
#include "boosting/boost_loss.h"
#include "boosting/method.h"
#include "boosting/networks.h"

namespace mm::boost {

class BoostMethod : public Method {
 public:
  std::string name() const override { return "boost"; }
  void build(const MethodContext& ctx) override;
  // The method's options and their agreement with the model section (method.fused = "on" needs
  // one-layer classifiers): nothing here needs the data.
  void check_config(const nlohmann::json& config) override;
  nn::Module& net() override { return *net_; }
  std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() override;

  void begin_epoch(int epoch) override;
  LossOutput loss(const data::Batch& batch) override;
  StepOutput train_step(const data::Batch& batch) override;
  nlohmann::json end_epoch(int epoch) override;
  Predictions predict(const data::Batch& batch) override;
  Tensor fuse_validation(const std::vector<Tensor>& modality_logits, const Tensor& labels) override;

  nlohmann::json state_json() const override;
  void load_structure(const nlohmann::json& state) override;
  nn::NamedTensors state_tensors() const override;
  void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) override;

  // ---- for tests and tools ----
  int64_t num_modalities() const { return static_cast<int64_t>(encoders_.size()); }
  int64_t num_classifiers(int64_t m) const { return static_cast<int64_t>(classifiers_.at(m).size()); }
  // Adds a classifier to modality m (registered with the optimizer when one is attached).
  void add_classifier(int64_t m);
  const std::vector<double>& omega() const { return omega_; }
  void set_omega(const std::vector<double>& w) { omega_ = w; }
  std::vector<float> coefficients(int64_t m) const;  // c_1..c_n of modality m
  // S_{n-1} and z_new of modality m for inputs x (B,...) (fused or plain path per use_fused).
  ClassifierSums classifier_sums(int64_t m, const Tensor& x, bool use_fused);
  void set_fused(bool on) { fused_ = on; }
  const std::vector<OgmScore>& scores() const { return scores_; }
  std::vector<std::shared_ptr<models::ConfigurableClassifier>>& classifiers(int64_t m) {
    return classifiers_.at(m);
  }
  nn::Linear& head() { return *head_; }
  const std::vector<double>& fusion_weights() const { return fusion_w_; }
  // {"fusion_weights": {modality: w}} with method.fusion = val_search or weights; {} with omega.
  nlohmann::json validation_record() const override;

 private:
  // Reads and checks the options of the "method" section that need no data.
  void read_options(const nlohmann::json& mc);
  void check_fused_layers(size_t hidden_layers) const;
  LossOutput modality_loss(int64_t m, const data::Batch& batch, bool accumulate);
  void train_aca(const std::vector<double>& s, nlohmann::json& rec);
  Tensor fuse(const std::vector<Tensor>& logits) const;

  MethodContext ctx_;
  std::shared_ptr<Net> net_;
  std::shared_ptr<models::ModuleDict> enc_dict_, cls_dict_;
  std::vector<std::shared_ptr<models::ModuleDict>> cls_per_mod_;
  std::vector<std::shared_ptr<models::Encoder>> encoders_;
  std::vector<std::vector<std::shared_ptr<models::ConfigurableClassifier>>> classifiers_;
  std::shared_ptr<nn::Linear> head_;
  std::vector<int64_t> hidden_;

  // options
  float lambda_ = 0.2f;
  bool t_eps_ = true, t_o_ = true, t_p_ = true;
  std::string assignment_, omega_mode_, omega_scope_, update_, fusion_, fused_option_;
  AssignmentRule rule_;
  int assign_every_ = 20;
  bool assign_first_ = false;
  int64_t max_classifiers_ = 20;
  bool fused_ = true;
  int aca_steps_ = 100;

  // state
  std::vector<double> omega_;     // M
  std::vector<double> fusion_w_;  // M (weights / val_search)
  std::vector<OgmScore> scores_;  // this epoch's running OGM sums, M
  // Per modality: the fused path's coefficients and a copy of them on the device (classifier_sums).
  std::vector<std::pair<std::vector<float>, Tensor>> coef_dev_;
  std::vector<double> last_scores_;
  std::vector<std::string> added_log_;  // modality of each added classifier, in order
  std::shared_ptr<models::AcaNet> aca_;
  std::unique_ptr<optim::Optimizer> aca_opt_;
};

// Creates the optimizer named by the "optim" section (sgd | adam | adamw) with no groups.
std::unique_ptr<optim::Optimizer> make_optimizer(const nlohmann::json& optim_cfg);

}  // namespace mm::boost
