// mmboost models: the configurable classifier, the shared head, the ACA weight network, and a
// named container for modules that grow during training.
//
// A configurable classifier psi_t^r (paper Section 4.1) is a stack of Linear + ReLU layers
// (default one: Linear(D -> 256) + ReLU) feeding ONE Linear(H -> K) head that every classifier
// of every modality shares. A modality's prediction is the sum of its classifiers' logits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace mm::models {

// A module whose children are added by name from outside (encoders per modality, the growing
// list of classifiers of one modality).
class ModuleDict : public nn::Module {
 public:
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

// Linear(D -> h_1) + ReLU, ..., Linear(h_{L-1} -> H) + ReLU: x (B,D) -> (B,H). With no hidden
// layers it is the identity (H = D). Weights Xavier-normal, biases zero (also for classifiers
// added during training).
class ConfigurableClassifier : public nn::Module {
 public:
  ConfigurableClassifier(int64_t in_dim, const std::vector<int64_t>& hidden, Generator& gen);
  Tensor forward(const Tensor& x) override;  // (B,D) -> (B,H)
  int64_t in_dim() const { return in_dim_; }
  int64_t out_dim() const { return out_dim_; }
  size_t num_layers() const { return layers_.size(); }
  // The first layer (the part the fused kernel stacks across classifiers); needs num_layers() > 0.
  nn::Linear& first() const;
  // True when the classifier is exactly Linear(D -> H) + ReLU (the fused kernel's form).
  bool single_layer() const { return layers_.size() == 1; }

 private:
  std::vector<std::shared_ptr<nn::Linear>> layers_;
  int64_t in_dim_, out_dim_;
};

// The ACA weight network (paper Section 4.2): a 3-layer MLP with ReLU from the M OGM scores to
// M weights omega in [0, 1]: Linear(M,h1) ReLU Linear(h1,h2) ReLU Linear(h2,M) Sigmoid.
class AcaNet : public nn::Module {
 public:
  AcaNet(int64_t num_modalities, const std::vector<int64_t>& hidden, Generator& gen);
  Tensor forward(const Tensor& scores) override;  // (R,M) or (M) -> same shape, in [0,1]

 private:
  std::shared_ptr<nn::Sequential> layers_;
  int64_t M_;
};

}  // namespace mm::models
