// mmboost boosting: late fusion by summed logits, the network most baselines share.
//
// Per modality m: an encoder phi_m, a configurable classifier psi_m and the head h shared by all
// modalities, so the modality's logits are z_m = h(psi_m(phi_m(x_m))) and the fused prediction
// is sum_m z_m. As a method ("joint_sum") it minimises one cross-entropy on the fused logits
// (naive joint training). Baselines derive from it and change the loss, the step, the epoch
// hook or the fusion; the building blocks below are what they need for that.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "boosting/method.h"
#include "boosting/networks.h"

namespace mm::boost {

class LateFusionMethod : public Method {
 public:
  std::string name() const override { return "joint_sum"; }
  void build(const MethodContext& ctx) override;
  nn::Module& net() override { return *net_; }
  // Groups "mod.<name>" (encoder + classifier of that modality) and "shared.head".
  std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() override;
  LossOutput loss(const data::Batch& batch) override;
  Predictions predict(const data::Batch& batch) override;

 protected:
  int64_t num_modalities() const { return spec_.num_modalities(); }
  // u_m = phi_m(x_m), (B, D_m), for every modality.
  std::vector<Tensor> features(const data::Batch& batch);
  // psi_m(u_m), (B, H): the classifier's hidden vector before the shared head.
  Tensor hidden(int64_t m, const Tensor& u);
  // z_m = h(psi_m(u_m)), (B, K).
  Tensor modality_logits(int64_t m, const Tensor& u);
  // Every modality's logits and their sum.
  Predictions forward_all(const data::Batch& batch);
  // Parameters of phi_m alone, of psi_m alone, of the head.
  std::vector<Tensor> encoder_params(int64_t m) const;
  std::vector<Tensor> classifier_params(int64_t m) const;
  std::vector<Tensor> head_params() const;
  // This method's options: config["method"][section], e.g. method.ogm.
  const nlohmann::json& options(const std::string& section) const;

  DataSpec spec_;
  nlohmann::json config_;
  Device device_ = Device::CPU;
  std::shared_ptr<Net> net_;
  std::vector<std::shared_ptr<models::Encoder>> encoders_;
  std::vector<std::shared_ptr<models::ConfigurableClassifier>> classifiers_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace mm::boost
