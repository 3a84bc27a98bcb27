// mmboost engine: optimizers and learning-rate schedules.
//
// Parameters live in groups, each with its own learning rate and weight decay. Parameters can
// be added to a group at any time (the boosting method grows the model during training); their
// state starts empty, as for a parameter that has never been stepped. Optimizer state is
// exported as named tensors plus JSON so that a checkpoint resumes exactly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace mm::optim {

struct ParamGroup {
  std::string name;
  std::vector<Tensor> params;
  float lr = 1e-2f;
  float base_lr = 1e-2f;  // the lr schedules scale from
  float weight_decay = 0.0f;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Returns the index of the new group.
  size_t add_param_group(const std::string& name, std::vector<Tensor> params, float lr,
                         float weight_decay);
  void add_params(size_t group, const std::vector<Tensor>& params);
  size_t group_index(const std::string& name) const;  // throws if unknown

  virtual void step() = 0;
  void zero_grad();

  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // Sets every group's lr to base_lr * factor.
  void set_lr_factor(float factor);

  // Checkpoint state: tensors named "<group>.<index>.<slot>" and scalar state as JSON.
  virtual nn::NamedTensors state_tensors() const = 0;
  virtual nlohmann::json state_json() const;
  // Restores state saved by state_tensors/state_json for the same groups and parameter counts.
  virtual void load_state(const nn::NamedTensors& tensors, const nlohmann::json& meta) = 0;

 protected:
  std::vector<ParamGroup> groups_;
  int64_t steps_ = 0;
};

class SGD : public Optimizer {
 public:
  SGD(float momentum = 0.0f, bool nesterov = false, float dampening = 0.0f);
  void step() override;
  nn::NamedTensors state_tensors() const override;
  void load_state(const nn::NamedTensors& tensors, const nlohmann::json& meta) override;

 private:
  float momentum_, dampening_;
  bool nesterov_;
  // momentum buffers, [group][param]; undefined until the parameter's first step
  std::vector<std::vector<Tensor>> buf_;
};

// Adam with L2 weight decay (decoupled = false) or AdamW (decoupled = true).
class Adam : public Optimizer {
 public:
  Adam(float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, bool decoupled = false);
  void step() override;
  nn::NamedTensors state_tensors() const override;
  nlohmann::json state_json() const override;
  void load_state(const nn::NamedTensors& tensors, const nlohmann::json& meta) override;

 private:
  float beta1_, beta2_, eps_;
  bool decoupled_;
  std::vector<std::vector<Tensor>> m_, v_;
  std::vector<std::vector<int64_t>> t_;  // per-parameter step counts (late parameters start at 0)
};

class AdamW : public Adam {
 public:
  AdamW(float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f) : Adam(beta1, beta2, eps, true) {}
};

// Learning-rate schedules: factor(epoch) multiplies each group's base_lr.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  // Call once at the end of each epoch; `metric` is used by ReduceLROnPlateau only.
  virtual void step(int epoch, double metric = 0.0) = 0;
  virtual float factor() const = 0;
  void apply(Optimizer& opt) const { opt.set_lr_factor(factor()); }
  virtual nlohmann::json state_json() const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json&) {}
};

class StepLR : public LRScheduler {  // factor = gamma^(floor(epoch / step_size))
 public:
  StepLR(int step_size, float gamma) : step_size_(step_size), gamma_(gamma) {}
  void step(int epoch, double metric = 0.0) override;
  float factor() const override { return factor_; }
  nlohmann::json state_json() const override { return {{"factor", factor_}}; }
  void load_state(const nlohmann::json& j) override { factor_ = j.at("factor"); }

 private:
  int step_size_;
  float gamma_, factor_ = 1.0f;
};

class MultiStepLR : public LRScheduler {  // factor = gamma^(number of milestones <= epoch)
 public:
  MultiStepLR(std::vector<int> milestones, float gamma) : milestones_(std::move(milestones)), gamma_(gamma) {}
  void step(int epoch, double metric = 0.0) override;
  float factor() const override { return factor_; }
  nlohmann::json state_json() const override { return {{"factor", factor_}}; }
  void load_state(const nlohmann::json& j) override { factor_ = j.at("factor"); }

 private:
  std::vector<int> milestones_;
  float gamma_, factor_ = 1.0f;
};

class CosineLR : public LRScheduler {  // factor = min + (1-min)(1+cos(pi*epoch/T_max))/2
 public:
  CosineLR(int t_max, float min_factor = 0.0f) : t_max_(t_max), min_factor_(min_factor) {}
  void step(int epoch, double metric = 0.0) override;
  float factor() const override { return factor_; }
  nlohmann::json state_json() const override { return {{"factor", factor_}}; }
  void load_state(const nlohmann::json& j) override { factor_ = j.at("factor"); }

 private:
  int t_max_;
  float min_factor_, factor_ = 1.0f;
};

// Multiplies the factor by `decay` after `patience` epochs without improvement of the metric
// (mode "max": higher is better, "min": lower) by more than `threshold` (relative).
class ReduceLROnPlateau : public LRScheduler {
 public:
  ReduceLROnPlateau(bool maximize, float decay = 0.1f, int patience = 10, double threshold = 1e-4,
                    float min_factor = 0.0f)
      : maximize_(maximize), decay_(decay), patience_(patience), threshold_(threshold),
        min_factor_(min_factor) {}
  void step(int epoch, double metric) override;
  float factor() const override { return factor_; }
  nlohmann::json state_json() const override;
  void load_state(const nlohmann::json& j) override;

 private:
  bool maximize_;
  float decay_;
  int patience_;
  double threshold_;
  float min_factor_, factor_ = 1.0f;
  double best_ = 0.0;
  bool has_best_ = false;
  int bad_epochs_ = 0;
};

}  // namespace mm::optim
