// Module bookkeeping (names, modes, devices) and the basic layers.
#include "engine/nn/module.h"

#include <cmath>
#include <unordered_set>

#include "engine/error.h"

namespace mm::nn {

namespace {

// A module's own entries, then each child's (already in depth-first order and free of
// repeats), prefixed with the child's name; a tensor met again under another name (a shared
// submodule) keeps its first name only.
template <class ChildList>
NamedTensors merge_named(const NamedTensors& own, const ChildList& children,
                         NamedTensors (Module::*list)() const) {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [name, t] : own)
    if (seen.insert(t.impl()).second) out.emplace_back(name, t);
  for (const auto& [child_name, child] : children)
    for (auto& [name, t] : ((*child).*list)())
      if (seen.insert(t.impl()).second) out.emplace_back(child_name + "." + name, t);
  return out;
}

// Points t's impl at a contiguous copy of its data on `device`: every handle sharing the impl
// (the module field, the optimizer's list) sees the move.
void move_in_place(const Tensor& t, Device device) {
  if (t.device() == device) return;
  Tensor moved = t.detach().contiguous().to(device);
  TensorImpl* impl = t.impl();
  impl->storage = moved.impl()->storage;
  impl->strides = moved.impl()->strides;
  impl->offset = moved.impl()->offset;
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  MM_FAIL("this module has no single-input forward(x); call the forward method it declares");
  return Tensor();
}

NamedTensors Module::named_parameters() const {
  return merge_named(params_, children_, &Module::named_parameters);
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  return merge_named(buffers_, children_, &Module::named_buffers);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto* list : {&params_, &buffers_}) {
    for (auto& [name, t] : *list) {
      move_in_place(t, device);
      if (t.impl()->grad) move_in_place(Tensor(t.impl()->grad), device);
    }
  }
  for (auto& [name, child] : children_) child->to(device);
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::check_new_name(const std::string& name, bool defined) const {
  MM_CHECK(defined, "register '" << name << "': the tensor or module is undefined");
  MM_CHECK(!name.empty() && name.find('.') == std::string::npos,
           "register '" << name << "': names must be non-empty and contain no '.' (dots join "
                        << "the names of nested modules)");
  auto used = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  MM_CHECK(!used(params_) && !used(buffers_) && !used(children_),
           "register '" << name << "': this module already has a parameter, buffer or child "
                        << "with that name");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name, t.defined());
  MM_CHECK(t.dtype() == DType::F32,
           "register_parameter '" << name << "': parameters are f32, got " << t.describe());
  t.set_requires_grad(true);
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, t.defined());
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

// ---- layers ----------------------------------------------------------------------------------

namespace {
// PyTorch's default for Linear and Conv: W ~ kaiming_uniform(a = sqrt(5)), which is
// U(+-1/sqrt(fan_in)), and b ~ U(+-1/sqrt(fan_in)). Weight first, then bias, from `gen`.
void default_init(Tensor& weight, Tensor* bias, Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0f), gen);
  if (bias) {
    int64_t fan_in = init::fan_in_and_fan_out(weight).first;
    float bound = fan_in > 0 ? 1.0f / std::sqrt(static_cast<float>(fan_in)) : 0.0f;
    NoGradGuard no_grad;
    uniform_(*bias, -bound, bound, gen);
  }
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, Generator& gen) {
  MM_CHECK(in_features > 0 && out_features > 0, "Linear: feature counts must be positive, got in="
                                                    << in_features << " out=" << out_features);
  weight = Tensor::empty({out_features, in_features});  // (Dout,Din)
  if (has_bias) bias = Tensor::empty({out_features});   // (Dout)
  default_init(weight, has_bias ? &bias : nullptr, gen);
  register_parameter("weight", weight);
  if (has_bias) register_parameter("bias", bias);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride_, int padding_,
               bool has_bias, Generator& gen)
    : stride(stride_), padding(padding_) {
  MM_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0,
           "Conv2d: channels and kernel must be positive, got in="
               << in_channels << " out=" << out_channels << " kernel=" << kernel);
  MM_CHECK(stride > 0 && padding >= 0,
           "Conv2d: stride must be positive and padding non-negative, got stride="
               << stride << " padding=" << padding);
  weight = Tensor::empty({out_channels, in_channels, kernel, kernel});  // (O,C,k,k)
  if (has_bias) bias = Tensor::empty({out_channels});                   // (O)
  default_init(weight, has_bias ? &bias : nullptr, gen);
  register_parameter("weight", weight);
  if (has_bias) register_parameter("bias", bias);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding); }

BatchNorm2d::BatchNorm2d(int64_t channels, float momentum_, float eps_)
    : momentum(momentum_), eps(eps_) {
  MM_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got " << channels);
  weight = register_parameter("weight", Tensor::ones({channels}));            // (C)
  bias = register_parameter("bias", Tensor::zeros({channels}));               // (C)
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));  // (C)
  running_var = register_buffer("running_var", Tensor::ones({channels}));     // (C)
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x, const Tensor& residual) {
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                      /*relu=*/true, residual);
}

Sequential& Sequential::add(ModulePtr m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

// ---- initialisers ----------------------------------------------------------------------------

namespace init {

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& w) {
  MM_CHECK(w.defined() && w.dim() >= 2,
           "fan_in_and_fan_out: needs a weight with at least 2 dimensions (out, in, ...), got "
               << w.describe());
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

namespace {
void check_fillable(const Tensor& w, const char* what) {
  MM_CHECK(w.defined() && w.dtype() == DType::F32 && w.is_contiguous(),
           what << ": needs a defined contiguous f32 tensor, got " << w.describe());
}
float checked_fan(int64_t fan, const char* what) {
  MM_CHECK(fan > 0, what << ": the fan is zero (a dimension of the weight is 0)");
  return static_cast<float>(fan);
}
}  // namespace

void xavier_uniform_(Tensor& w, float gain, Generator& gen) {
  check_fillable(w, "xavier_uniform_");
  auto [fan_in, fan_out] = fan_in_and_fan_out(w);
  float std = gain * std::sqrt(2.0f / checked_fan(fan_in + fan_out, "xavier_uniform_"));
  float bound = std::sqrt(3.0f) * std;  // U(-b, b) has std b / sqrt(3)
  NoGradGuard no_grad;
  uniform_(w, -bound, bound, gen);
}

void xavier_normal_(Tensor& w, float gain, Generator& gen) {
  check_fillable(w, "xavier_normal_");
  auto [fan_in, fan_out] = fan_in_and_fan_out(w);
  float std = gain * std::sqrt(2.0f / checked_fan(fan_in + fan_out, "xavier_normal_"));
  NoGradGuard no_grad;
  normal_(w, 0.0f, std, gen);
}

void kaiming_normal_(Tensor& w, bool mode_fan_out, Generator& gen) {
  check_fillable(w, "kaiming_normal_");
  auto fans = fan_in_and_fan_out(w);
  float fan = checked_fan(mode_fan_out ? fans.second : fans.first, "kaiming_normal_");
  float std = std::sqrt(2.0f) / std::sqrt(fan);  // ReLU gain sqrt(2)
  NoGradGuard no_grad;
  normal_(w, 0.0f, std, gen);
}

void kaiming_uniform_(Tensor& w, float a, bool mode_fan_out, Generator& gen) {
  check_fillable(w, "kaiming_uniform_");
  auto fans = fan_in_and_fan_out(w);
  float fan = checked_fan(mode_fan_out ? fans.second : fans.first, "kaiming_uniform_");
  float gain = std::sqrt(2.0f / (1.0f + a * a));  // leaky ReLU with slope a; a = 0 is ReLU
  float bound = std::sqrt(3.0f) * gain / std::sqrt(fan);
  NoGradGuard no_grad;
  uniform_(w, -bound, bound, gen);
}

void kaiming_uniform_(Tensor& w, float a, Generator& gen) { kaiming_uniform_(w, a, false, gen); }

void zeros_(Tensor& w) {
  MM_CHECK(w.defined(), "zeros_: undefined tensor");
  w.fill_(0.0f);
}

void constant_(Tensor& w, float value) {
  MM_CHECK(w.defined(), "constant_: undefined tensor");
  w.fill_(value);
}

}  // namespace init

}  // namespace mm::nn
