// SGD by PyTorch's rule written as per-tensor ops (clone, add_, mul_), one tensor at a time: the
// reference that the multi-tensor step (backend sgd_step, through optim::SGD) must reproduce
// bit for bit on either device. Used by test_optim.cpp and test_cuda_ops.cpp.
#pragma once

#include <string>
#include <vector>

#include "engine/optim/optimizer.h"
#include "engine/tensor.h"
#include "tests/testing.h"

namespace mmtest {

struct SgdRule {
  float momentum = 0.0f, dampening = 0.0f;
  bool nesterov = false;
};

// One step of p with gradient g and momentum buffer buf (undefined before the first step).
inline void sgd_reference_step(mm::Tensor& p, const mm::Tensor& g, mm::Tensor& buf, float lr,
                               float wd, const SgdRule& r) {
  mm::NoGradGuard no_grad;
  mm::Tensor d = g;
  bool owned = false;
  if (wd != 0.0f) {
    d = g.clone();
    d.add_(p, wd);
    owned = true;
  }
  if (r.momentum != 0.0f) {
    if (!buf.defined()) {
      buf = d.clone();
    } else {
      buf.mul_(r.momentum);
      buf.add_(d, 1.0f - r.dampening);
    }
    if (r.nesterov) {
      if (!owned) d = d.clone();
      d.add_(buf, r.momentum);
    } else {
      d = buf;
    }
  }
  p.add_(d, -lr);
}

// Runs optim::SGD on parameters of the given sizes on `device`, in two groups (even indices:
// lr 0.1 and weight decay 1e-4; odd: lr 0.05, none) for three steps, parameter 2 without a
// gradient in the second, and requires the parameters after every step and the momentum
// buffers at the end to have the bits of sgd_reference_step on the same device.
inline void require_sgd_matches_reference(mm::Device device, const std::vector<int64_t>& sizes,
                                          const SgdRule& r) {
  std::vector<mm::Tensor> params, ref, ref_buf(sizes.size());
  std::vector<mm::Tensor> group[2];
  for (size_t i = 0; i < sizes.size(); ++i) {
    mm::Tensor init = randn({sizes[i]}, 100 + i).to(device);
    params.push_back(param(init));
    ref.push_back(init.clone());
    group[i % 2].push_back(params.back());
  }
  const float lr[2] = {0.1f, 0.05f}, wd[2] = {1e-4f, 0.0f};
  mm::optim::SGD sgd(r.momentum, r.nesterov, r.dampening);
  sgd.add_param_group("even", group[0], lr[0], wd[0]);
  sgd.add_param_group("odd", group[1], lr[1], wd[1]);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (step == 1 && i == 2) {
        params[i].zero_grad();
        continue;
      }
      mm::Tensor g = randn({sizes[i]}, 1000 * (step + 1) + i).to(device);
      params[i].set_grad(g);
      sgd_reference_step(ref[i], g, ref_buf[i], lr[i % 2], wd[i % 2], r);
    }
    sgd.step();
    for (size_t i = 0; i < sizes.size(); ++i) {
      INFO("step " << step << ", parameter " << i << " of " << sizes[i] << " elements");
      REQUIRE(same_bits(params[i], ref[i]));
    }
  }
  if (r.momentum == 0.0f) {
    REQUIRE(sgd.state_tensors().empty());
    return;
  }
  const mm::nn::NamedTensors state = sgd.state_tensors();
  REQUIRE(state.size() == sizes.size());
  for (const auto& [name, buf] : state) {
    // "even.K.momentum_buffer": parameter 2K of the even group, 2K+1 of the odd one
    const size_t k = std::stoul(name.substr(name.find('.') + 1));
    const size_t i = name.rfind("even", 0) == 0 ? 2 * k : 2 * k + 1;
    INFO("momentum buffer " << name);
    REQUIRE(buf.device() == device);
    REQUIRE(same_bits(buf, ref_buf[i]));
  }
}

}  // namespace mmtest
