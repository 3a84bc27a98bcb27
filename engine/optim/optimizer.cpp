// Optimizers: parameter groups, SGD (momentum, dampening, Nesterov, L2), Adam / AdamW, and
// their checkpoint state.
//
// The update rules are PyTorch's (torch.optim.SGD, Adam, AdamW with amsgrad off). SGD hands all
// its parameters to the backend's multi-tensor sgd_step (one pass, a few launches on CUDA);
// Adam is written with in-place tensor ops (add_, mul_) and elementwise ops. Both run on either
// device.
// Steps run under NoGradGuard. A parameter whose grad is undefined is skipped and its state
// (momentum buffer, Adam moments and step count) is left as it is.
#include "engine/optim/optimizer.h"

#include <cmath>
#include <map>
#include <set>
#include <unordered_set>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::optim {

// ---- Optimizer -------------------------------------------------------------------------------

namespace {

// Throws unless every tensor in `params` is a defined f32 leaf that is not already in any
// group nor repeated in the list.
void check_new_params(const std::vector<ParamGroup>& groups, const std::string& group,
                      const std::vector<Tensor>& params) {
  std::unordered_set<const TensorImpl*> known;
  for (const auto& g : groups)
    for (const auto& p : g.params) known.insert(p.impl());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    MM_CHECK(p.defined(), "optimizer group '" << group << "': parameter " << i << " is undefined");
    MM_CHECK(p.dtype() == DType::F32 && p.is_leaf(),
             "optimizer group '" << group << "': parameter " << i << " (" << p.describe()
                                 << ") must be an f32 leaf tensor (a module parameter)");
    MM_CHECK(known.insert(p.impl()).second,
             "optimizer group '" << group << "': parameter " << i << " (" << p.describe()
                                 << ") is already optimized (in this or another group); a "
                                 << "tensor stepped twice per step would move twice as fast");
  }
}

bool valid_rate(float x) { return std::isfinite(x) && x >= 0.0f; }

}  // namespace

size_t Optimizer::add_param_group(const std::string& name, std::vector<Tensor> params, float lr,
                                  float weight_decay) {
  MM_CHECK(!name.empty(), "add_param_group: the group needs a name");
  for (const auto& g : groups_)
    MM_CHECK(g.name != name, "add_param_group: a group named '" << name << "' already exists");
  MM_CHECK(valid_rate(lr) && valid_rate(weight_decay),
           "add_param_group '" << name << "': lr (" << lr << ") and weight_decay (" << weight_decay
                               << ") must be finite and non-negative");
  check_new_params(groups_, name, params);
  ParamGroup g;
  g.name = name;
  g.params = std::move(params);
  g.lr = lr;
  g.base_lr = lr;
  g.weight_decay = weight_decay;
  groups_.push_back(std::move(g));
  return groups_.size() - 1;
}

void Optimizer::add_params(size_t group, const std::vector<Tensor>& params) {
  MM_CHECK(group < groups_.size(), "add_params: group index " << group << " is out of range ("
                                                              << groups_.size() << " groups)");
  check_new_params(groups_, groups_[group].name, params);
  auto& list = groups_[group].params;
  list.insert(list.end(), params.begin(), params.end());
}

size_t Optimizer::group_index(const std::string& name) const {
  for (size_t i = 0; i < groups_.size(); ++i)
    if (groups_[i].name == name) return i;
  std::ostringstream known;
  for (size_t i = 0; i < groups_.size(); ++i)
    known << (i ? ", " : "") << "'" << groups_[i].name << "'";
  MM_FAIL("optimizer has no parameter group '" << name << "' (groups: " << known.str() << ")");
  return 0;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::set_lr_factor(float factor) {
  MM_CHECK(valid_rate(factor), "set_lr_factor: factor " << factor << " must be finite and >= 0");
  for (auto& g : groups_) g.lr = g.base_lr * factor;
}

nlohmann::json Optimizer::state_json() const {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : groups_) {
    groups.push_back({{"name", g.name},
                      {"lr", g.lr},
                      {"base_lr", g.base_lr},
                      {"weight_decay", g.weight_decay},
                      {"num_params", g.params.size()}});
  }
  return {{"steps", steps_}, {"groups", groups}};
}

namespace {

// Checks that `meta` (from state_json) describes the same groups as `groups`, in order, with
// the same parameter counts; then restores lr, base_lr, weight_decay and the step count.
void restore_common(std::vector<ParamGroup>& groups, int64_t& steps, const nlohmann::json& meta) {
  const auto& saved = meta.at("groups");
  MM_CHECK(saved.is_array() && saved.size() == groups.size(),
           "optimizer state has " << saved.size() << " parameter groups but this optimizer has "
                                  << groups.size() << "; build the same groups before loading");
  for (size_t i = 0; i < groups.size(); ++i) {
    std::string name = saved[i].at("name");
    size_t n = saved[i].at("num_params");
    MM_CHECK(name == groups[i].name, "optimizer state group " << i << " is '" << name
                                                              << "' but this optimizer's is '"
                                                              << groups[i].name << "'");
    MM_CHECK(n == groups[i].params.size(),
             "optimizer state group '" << name << "' has " << n << " parameters but this "
                                       << "optimizer's has " << groups[i].params.size()
                                       << "; add the same parameters (e.g. the same number of "
                                       << "classifiers) before loading");
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].lr = saved[i].at("lr");
    groups[i].base_lr = saved[i].at("base_lr");
    groups[i].weight_decay = saved[i].at("weight_decay");
  }
  steps = meta.at("steps");
}

std::string slot_name(const ParamGroup& g, size_t index, const char* slot) {
  return g.name + "." + std::to_string(index) + "." + slot;
}

// Looks up saved state tensors by name, checking shapes, and remembers which were used so that
// leftovers (state for parameters this optimizer does not have) are reported.
class StateReader {
 public:
  explicit StateReader(const nn::NamedTensors& tensors) {
    for (const auto& [name, t] : tensors) by_name_[name] = t;
  }
  // A fresh copy of the saved tensor on p's device, or undefined when absent.
  Tensor take(const std::string& name, const Tensor& p) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Tensor();
    used_.insert(name);
    const Tensor& t = it->second;
    MM_CHECK(t.dtype() == DType::F32 && t.shape() == p.shape(),
             "optimizer state '" << name << "' is " << t.describe() << " but its parameter is "
                                 << p.describe());
    Tensor out = Tensor::empty(p.shape(), DType::F32, p.device());
    out.copy_(t);
    return out;
  }
  void check_all_used() const {
    std::ostringstream extra;
    size_t n = 0;
    for (const auto& [name, t] : by_name_)
      if (!used_.count(name)) extra << (n++ ? ", " : "") << "'" << name << "'";
    MM_CHECK(n == 0, "optimizer state has " << n << " tensor(s) for parameters this optimizer "
                                            << "does not have: " << extra.str());
  }

 private:
  std::map<std::string, Tensor> by_name_;
  std::set<std::string> used_;
};

template <class F>
void with_json_errors(F f) {
  try {
    f();
  } catch (const nlohmann::json::exception& e) {
    MM_FAIL("optimizer state is malformed (" << e.what() << "); was it saved by the same kind "
                                             << "of optimizer?");
  }
}

}  // namespace

// ---- SGD -------------------------------------------------------------------------------------

SGD::SGD(float momentum, bool nesterov, float dampening)
    : momentum_(momentum), dampening_(dampening), nesterov_(nesterov) {
  MM_CHECK(valid_rate(momentum) && valid_rate(dampening),
           "SGD: momentum (" << momentum << ") and dampening (" << dampening
                             << ") must be finite and non-negative");
  MM_CHECK(!nesterov || (momentum > 0.0f && dampening == 0.0f),
           "SGD: Nesterov momentum needs momentum > 0 and dampening = 0");
}

void SGD::step() {
  NoGradGuard no_grad;
  buf_.resize(groups_.size());
  // Every parameter with a gradient becomes one slot of a multi-tensor step per device
  // (backend sgd_step: on CUDA a launch for dozens of tensors instead of a few per tensor).
  std::vector<SgdSlot> slots[2];  // CPU, CUDA
  std::vector<std::pair<Tensor*, Tensor>> fresh;  // momentum buffers made by this step
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    buf_[gi].resize(group.params.size());
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor& p = group.params[pi];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      MM_CHECK(g.shape() == p.shape(), "SGD: gradient " << g.describe() << " does not match "
                                                        << "parameter " << p.describe());
      MM_CHECK(g.device() == p.device(), "SGD: gradient " << g.describe() << " is on another "
                                                          << "device than its parameter");
      MM_CHECK(p.is_contiguous(), "SGD: parameter " << p.describe() << " must be contiguous");
      SgdSlot slot;
      slot.param = p;
      slot.grad = g.contiguous();
      slot.lr = group.lr;
      slot.weight_decay = group.weight_decay;
      if (momentum_ != 0.0f) {
        slot.buf = buf_[gi][pi];
        slot.first = !slot.buf.defined();
        if (slot.first) {
          slot.buf = Tensor::empty(p.shape(), DType::F32, p.device());
          fresh.emplace_back(&buf_[gi][pi], slot.buf);
        }
      }
      slots[p.device() == Device::CPU ? 0 : 1].push_back(std::move(slot));
    }
  }
  if (!slots[0].empty()) cpu::sgd_step(slots[0], momentum_, dampening_, nesterov_);
  if (!slots[1].empty()) cuda::sgd_step(slots[1], momentum_, dampening_, nesterov_);
  // Only a step that ran keeps the buffers it wrote.
  for (auto& [where, buf] : fresh) *where = buf;
  ++steps_;
}

nn::NamedTensors SGD::state_tensors() const {
  nn::NamedTensors out;
  for (size_t gi = 0; gi < groups_.size() && gi < buf_.size(); ++gi)
    for (size_t pi = 0; pi < buf_[gi].size(); ++pi)
      if (buf_[gi][pi].defined())
        out.emplace_back(slot_name(groups_[gi], pi, "momentum_buffer"), buf_[gi][pi]);
  return out;
}

void SGD::load_state(const nn::NamedTensors& tensors, const nlohmann::json& meta) {
  // Validate everything into locals first so that a failed load leaves the optimizer as it was.
  std::vector<ParamGroup> groups = groups_;
  int64_t steps = 0;
  with_json_errors([&] { restore_common(groups, steps, meta); });
  StateReader reader(tensors);
  std::vector<std::vector<Tensor>> buf(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t pi = 0; pi < groups[gi].params.size(); ++pi)
      buf[gi].push_back(
          reader.take(slot_name(groups[gi], pi, "momentum_buffer"), groups[gi].params[pi]));
  reader.check_all_used();
  groups_ = std::move(groups);
  steps_ = steps;
  buf_ = std::move(buf);
}

// ---- Adam / AdamW ----------------------------------------------------------------------------

Adam::Adam(float beta1, float beta2, float eps, bool decoupled)
    : beta1_(beta1), beta2_(beta2), eps_(eps), decoupled_(decoupled) {
  MM_CHECK(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f,
           "Adam: betas must lie in [0, 1), got beta1=" << beta1 << " beta2=" << beta2);
  MM_CHECK(valid_rate(eps), "Adam: eps must be finite and non-negative, got " << eps);
}

void Adam::step() {
  NoGradGuard no_grad;
  m_.resize(groups_.size());
  v_.resize(groups_.size());
  t_.resize(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    const size_t n = group.params.size();
    m_[gi].resize(n);
    v_[gi].resize(n);
    t_[gi].resize(n, 0);
    for (size_t pi = 0; pi < n; ++pi) {
      Tensor& p = group.params[pi];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      MM_CHECK(g.shape() == p.shape(), "Adam: gradient " << g.describe() << " does not match "
                                                         << "parameter " << p.describe());
      const int64_t t = ++t_[gi][pi];
      Tensor d = g;
      if (group.weight_decay != 0.0f) {
        if (decoupled_) {  // AdamW: p *= 1 - lr * wd, before the moment update
          p.mul_(1.0f - group.lr * group.weight_decay);
        } else {  // Adam: L2 through the gradient, d = g + wd * p
          d = g.clone();
          d.add_(p, group.weight_decay);
        }
      }
      Tensor& m = m_[gi][pi];
      Tensor& v = v_[gi][pi];
      if (!m.defined()) {
        m = Tensor::zeros(p.shape(), DType::F32, p.device());
        v = Tensor::zeros(p.shape(), DType::F32, p.device());
      }
      m.mul_(beta1_);
      m.add_(d, 1.0f - beta1_);  // m = b1 m + (1 - b1) d
      v.mul_(beta2_);
      v.add_(mm::mul(d, d), 1.0f - beta2_);  // v = b2 v + (1 - b2) d^2
      // Bias corrections in double, as PyTorch computes them on the host.
      const double bc1 = 1.0 - std::pow(static_cast<double>(beta1_), static_cast<double>(t));
      const double bc2 = 1.0 - std::pow(static_cast<double>(beta2_), static_cast<double>(t));
      const double step_size = group.lr / bc1;
      // p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps)
      Tensor denom = mm::add_scalar(
          mm::mul_scalar(mm::sqrt(v), static_cast<float>(1.0 / std::sqrt(bc2))), eps_);
      p.add_(mm::div(m, denom), static_cast<float>(-step_size));
    }
  }
  ++steps_;
}

nn::NamedTensors Adam::state_tensors() const {
  nn::NamedTensors out;
  for (size_t gi = 0; gi < groups_.size() && gi < m_.size(); ++gi)
    for (size_t pi = 0; pi < m_[gi].size(); ++pi)
      if (m_[gi][pi].defined()) {
        out.emplace_back(slot_name(groups_[gi], pi, "exp_avg"), m_[gi][pi]);
        out.emplace_back(slot_name(groups_[gi], pi, "exp_avg_sq"), v_[gi][pi]);
      }
  return out;
}

nlohmann::json Adam::state_json() const {
  nlohmann::json j = Optimizer::state_json();
  nlohmann::json counts = nlohmann::json::array();
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    std::vector<int64_t> c(groups_[gi].params.size(), 0);
    if (gi < t_.size())
      for (size_t pi = 0; pi < t_[gi].size() && pi < c.size(); ++pi) c[pi] = t_[gi][pi];
    counts.push_back(c);
  }
  j["step_counts"] = counts;
  j["decoupled"] = decoupled_;
  return j;
}

void Adam::load_state(const nn::NamedTensors& tensors, const nlohmann::json& meta) {
  std::vector<ParamGroup> groups = groups_;
  int64_t steps = 0;
  std::vector<std::vector<int64_t>> t(groups.size());
  with_json_errors([&] {
    restore_common(groups, steps, meta);
    const auto& counts = meta.at("step_counts");
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      t[gi] = counts.at(gi).get<std::vector<int64_t>>();
      MM_CHECK(t[gi].size() == groups[gi].params.size(),
               "Adam state: group '" << groups[gi].name << "' has " << t[gi].size()
                                     << " step counts for " << groups[gi].params.size()
                                     << " parameters");
    }
  });
  StateReader reader(tensors);
  std::vector<std::vector<Tensor>> m(groups.size()), v(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    for (size_t pi = 0; pi < groups[gi].params.size(); ++pi) {
      const Tensor& p = groups[gi].params[pi];
      m[gi].push_back(reader.take(slot_name(groups[gi], pi, "exp_avg"), p));
      v[gi].push_back(reader.take(slot_name(groups[gi], pi, "exp_avg_sq"), p));
      const bool has = m[gi][pi].defined() && v[gi][pi].defined();
      MM_CHECK(has == (t[gi][pi] > 0) && m[gi][pi].defined() == v[gi][pi].defined(),
               "Adam state: parameter " << pi << " of group '" << groups[gi].name << "' has step "
                                        << "count " << t[gi][pi] << " but its moments are "
                                        << (has ? "present" : "missing"));
    }
  }
  reader.check_all_used();
  groups_ = std::move(groups);
  steps_ = steps;
  m_ = std::move(m);
  v_ = std::move(v);
  t_ = std::move(t);
}

}  // namespace mm::optim
