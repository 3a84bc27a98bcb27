// mmboost boosting: a training method as a plug-in of the trainer.
//
// A Method owns the networks of one way of training a multimodal classifier (the sustained
// boosting method of the paper, unimodal training, naive joint training, and the baselines
// that later issues add) and answers four questions for the trainer:
//   - its loss on a batch                   (loss)
//   - what happens around each step         (train_step, after_backward)
//   - what happens at the end of each epoch (end_epoch: e.g. adaptive classifier assignment)
//   - how it predicts                       (predict: each modality alone and fused)
// The trainer (trainer.h) owns the data loop, the optimizer, the LR schedule, evaluation and
// checkpoints. Methods are created by name from the "method" config section (make_method).
//
// Dimension letters: B batch, D feature width, H classifier hidden width, K classes,
// N classifiers, M modalities.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "data/batch.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"

namespace mm::boost {

// What the data looks like, from the train stream and its first batch.
struct DataSpec {
  std::vector<std::string> modalities;  // M names, in the stream's order
  std::vector<Shape> input_shapes;      // per modality, without the batch dimension
  int64_t num_classes = 0;              // K
  int64_t num_modalities() const { return static_cast<int64_t>(modalities.size()); }
  // Index of a modality given by name or by decimal index; throws listing the names.
  int64_t modality_index(const std::string& name_or_index) const;
};

// The loss of one batch.
struct LossOutput {
  Tensor loss;                           // scalar; backward() runs on it
  std::map<std::string, double> terms;   // named terms ("audio.eps_o", ...), batch means
  // Terms not read yet: scalars on the loss's device. On CUDA each read is a device-to-host copy
  // that waits for the GPU, so a training step leaves them here and reads them, all in one copy,
  // after its optimizer step (read_pending).
  std::map<std::string, Tensor> pending;
};

// Moves l.pending into l.terms, reading them and `also` (scalars) with one device-to-host copy;
// returns the values of `also`, in order.
std::vector<double> read_pending(LossOutput& l, const std::vector<Tensor>& also = {});

// What one training step reports.
struct StepOutput {
  double loss = 0.0;                     // the scalar that was minimised (summed over modalities)
  std::map<std::string, double> terms;
};

// Predictions on a batch, in eval mode, no autograd.
struct Predictions {
  std::vector<Tensor> modality_logits;   // M x (B,K): each modality alone (undefined if a
                                         // method has no prediction for that modality)
  Tensor fused_logits;                   // (B,K)
};

// The trainer hands each method these at build time.
struct MethodContext {
  DataSpec spec;
  nlohmann::json config;                 // the full config (sections model/method/optim/train)
  Device device = Device::CPU;
  Generator* gen = nullptr;              // parameter initialisation (the trainer's generator)
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;

  // Builds the networks on ctx.device. Called once, before the optimizer exists.
  virtual void build(const MethodContext& ctx) = 0;
  // Checks the method's options in a resolved config without data (a misspelt choice, a value
  // out of range); build() checks them again. Throws mm::Error naming the key.
  virtual void check_config(const nlohmann::json& config) {}
  // Root of every trainable parameter and buffer; named for checkpoints.
  virtual nn::Module& net() = 0;
  // Parameter groups for the optimizer: (group name, parameters). The trainer creates each
  // group with the optim section's lr and weight decay. Methods that grow the model add the
  // new parameters to their group through the optimizer passed to attach_optimizer.
  virtual std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() = 0;
  virtual void attach_optimizer(optim::Optimizer* opt) { opt_ = opt; }

  // Called before the first batch of each training epoch.
  virtual void begin_epoch(int epoch) {}
  // The loss of a batch in training mode (inputs already on the method's device).
  virtual LossOutput loss(const data::Batch& batch) = 0;
  // One step: default zero_grad, loss, backward, after_backward, optimizer step. Methods that
  // take several steps per batch (alternating updates) override it.
  virtual StepOutput train_step(const data::Batch& batch);
  // Per-step hook between backward and the optimizer step (gradient modulation).
  virtual void after_backward() {}
  // After the epoch's training batches, before validation. Returns what the epoch record
  // should show for this method (e.g. "ogm_scores", "classifiers", "omega", "assigned").
  virtual nlohmann::json end_epoch(int epoch) { return nlohmann::json::object(); }

  // Eval-mode predictions (the trainer sets eval mode and disables autograd).
  virtual Predictions predict(const data::Batch& batch) = 0;
  // Sees the whole validation split's modality logits (M x (R,K)) and labels (R) after each
  // validation pass, before fused metrics are computed; methods that choose their fusion on
  // validation do it here and return the fused logits (R,K) to score. Default: undefined
  // (the trainer uses the fused logits from predict).
  virtual Tensor fuse_validation(const std::vector<Tensor>& modality_logits, const Tensor& labels) {
    return Tensor();
  }
  // Fields added to the epoch record after the validation pass (e.g. the fusion weights chosen
  // there). Default: none.
  virtual nlohmann::json validation_record() const { return nlohmann::json::object(); }

  // Checkpoints. state_json() must contain everything needed to rebuild the structure (e.g.
  // classifiers per modality): the trainer calls load_structure(state_json) on a freshly
  // built method BEFORE it loads net() tensors and the optimizer state, then load_state.
  virtual nlohmann::json state_json() const { return nlohmann::json::object(); }
  virtual void load_structure(const nlohmann::json& state) {}
  // Tensors outside net() (e.g. the ACA network and its optimizer), and their restoration.
  virtual nn::NamedTensors state_tensors() const { return {}; }
  virtual void load_state(const nlohmann::json& state, const nn::NamedTensors& tensors) {}

 protected:
  optim::Optimizer* opt_ = nullptr;
};

using MethodFactory = std::function<std::unique_ptr<Method>()>;
// Registers a method under a name (plug-ins for later baselines). Built in: "boost" (the
// paper's sustained boosting), "unimodal", "joint_sum", "joint_concat".
void register_method(const std::string& name, MethodFactory factory);
std::vector<std::string> method_names();
// Creates the method named by config["method"]["name"]; throws listing the known names.
std::unique_ptr<Method> make_method(const nlohmann::json& config);

}  // namespace mm::boost
