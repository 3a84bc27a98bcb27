// mmboost engine: neural-network modules.
//
// A Module owns named parameters (leaf tensors with requires_grad), named buffers (state that
// is saved but not trained, e.g. BatchNorm running statistics) and named child modules.
// Names are dotted paths ("layer1.0.conv1.weight") as in PyTorch, so checkpoints line up.
// Tensor handles share their impl, so the handle a module keeps as a field and the one in its
// parameter list are the same tensor.
//
// Order and sharing follow PyTorch: a module lists its own parameters (buffers) first, then
// its children's, depth first in registration order; a tensor reachable along several paths
// (a head shared by several classifiers) is listed once, under the first name found, so an
// optimizer never steps it twice and a checkpoint stores it once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"

namespace mm::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;

  // Single-input forward; modules with other signatures add their own methods.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors named_parameters() const;  // recursive, registration order
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;     // recursive
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }

  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves every parameter and buffer to `device` in place (handles stay valid).
  void to(Device device);
  int64_t num_parameters() const;

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    check_new_name(name, m != nullptr);
    children_.emplace_back(name, m);
    return m;
  }

 private:
  // Throws unless `name` is non-empty, has no '.', and is not yet used by a parameter, buffer
  // or child of this module; `defined` is whether the thing registered exists.
  void check_new_name(const std::string& name, bool defined) const;

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

// y = x W^T + b; W (out,in) Kaiming-uniform(a=sqrt(5)) and b uniform(+-1/sqrt(in)) as PyTorch.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride = 1, int padding = 0,
         bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int stride, padding;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x) + residual) in one op (residual may be undefined): see batch_norm2d.
  Tensor forward_relu(const Tensor& x, const Tensor& residual = Tensor());
  Tensor weight, bias, running_mean, running_var;
  float momentum, eps;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential& add(ModulePtr m);  // child named "0", "1", ...
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  ModulePtr operator[](size_t i) const { return layers_.at(i); }

 private:
  std::vector<ModulePtr> layers_;
};

// Initialisers (in place, no autograd). fan_in/fan_out follow PyTorch for 2-D and conv weights.
namespace init {
// w (O,I,...) -> {fan_in, fan_out} = {I * prod(...), O * prod(...)}; needs w.dim() >= 2.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& w);
void xavier_uniform_(Tensor& w, float gain = 1.0f, Generator& gen = default_generator());
void xavier_normal_(Tensor& w, float gain = 1.0f, Generator& gen = default_generator());
// mode_fan_out selects fan_out (PyTorch's mode="fan_out"); gain sqrt(2) for ReLU.
void kaiming_normal_(Tensor& w, bool mode_fan_out = false, Generator& gen = default_generator());
void kaiming_uniform_(Tensor& w, float a = 0.0f, Generator& gen = default_generator());
// Kaiming uniform with gain sqrt(2 / (1 + a^2)) over fan_in, or fan_out when mode_fan_out.
void kaiming_uniform_(Tensor& w, float a, bool mode_fan_out, Generator& gen = default_generator());
void zeros_(Tensor& w);
void constant_(Tensor& w, float value);
}  // namespace init

}  // namespace mm::nn
