// Shared helpers for the Catch2 tests: random tensors, double-precision comparison and a
// finite-difference gradient check.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"

namespace mmtest {

inline mm::Tensor randn(const mm::Shape& shape, uint64_t seed, float scale = 1.0f) {
  mm::Generator g(seed);
  mm::Tensor t = mm::Tensor::empty(shape);
  mm::normal_(t, 0.0f, scale, g);
  return t;
}

inline mm::Tensor randu(const mm::Shape& shape, uint64_t seed, float lo, float hi) {
  mm::Generator g(seed);
  mm::Tensor t = mm::Tensor::empty(shape);
  mm::uniform_(t, lo, hi, g);
  return t;
}

inline mm::Tensor param(const mm::Tensor& t) {
  mm::Tensor p = t.detach().clone();
  p.set_requires_grad(true);
  return p;
}

// Same number of elements and the same bits in every float (0.0 vs -0.0 and NaN payloads
// count).
inline bool same_bits(const mm::Tensor& a, const mm::Tensor& b) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return va.size() == vb.size() &&
         (va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
}

// Max |a-b| / (atol + rtol*|b|) over elements must be <= 1.
inline void require_close(const std::vector<float>& got, const std::vector<double>& want,
                          double rtol, double atol, const std::string& what = "") {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    // NaN on both sides agrees; on one side only it fails (NaN > tol alone would let it pass).
    const bool nan_got = std::isnan(got[i]), nan_want = std::isnan(want[i]);
    if (nan_got || nan_want) {
      if (nan_got != nan_want) FAIL(what << " element " << i << ": got " << got[i] << ", want " << want[i]);
      continue;
    }
    double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (err > atol + rtol * std::fabs(want[i])) {
      FAIL(what << " element " << i << ": got " << got[i] << ", want " << want[i]);
    }
  }
}

inline void require_close(const mm::Tensor& got, const mm::Tensor& want, double rtol,
                          double atol, const std::string& what = "") {
  REQUIRE(got.shape() == want.shape());
  std::vector<float> w = want.to_vector();
  require_close(got.to_vector(), std::vector<double>(w.begin(), w.end()), rtol, atol, what);
}

// Checks the analytic gradient of f (a function of `inputs`, giving any tensor) against
// central finite differences of L = sum(f(inputs) * R) for a fixed random R.
inline void gradcheck(const std::function<mm::Tensor(const std::vector<mm::Tensor>&)>& f,
                      std::vector<mm::Tensor> inputs, double eps = 1e-2, double rtol = 2e-2,
                      double atol = 2e-3) {
  for (auto& t : inputs) t = param(t);
  mm::Tensor out = f(inputs);
  mm::Tensor R = randn(out.shape(), 99);
  mm::Tensor loss = mm::sum(mm::mul(out, R));
  loss.backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    mm::Tensor analytic = inputs[k].grad();
    REQUIRE(analytic.defined());
    std::vector<float> ga = analytic.to_vector();
    std::vector<double> gn(ga.size());
    float* p = inputs[k].data_f32();
    mm::NoGradGuard ng;
    for (size_t i = 0; i < ga.size(); ++i) {
      float orig = p[i];
      p[i] = static_cast<float>(orig + eps);
      double lp = 0, lm = 0;
      {
        std::vector<float> o = f(inputs).to_vector(), r = R.to_vector();
        for (size_t j = 0; j < o.size(); ++j) lp += static_cast<double>(o[j]) * r[j];
      }
      p[i] = static_cast<float>(orig - eps);
      {
        std::vector<float> o = f(inputs).to_vector(), r = R.to_vector();
        for (size_t j = 0; j < o.size(); ++j) lm += static_cast<double>(o[j]) * r[j];
      }
      p[i] = orig;
      gn[i] = (lp - lm) / (2 * eps);
    }
    require_close(ga, gn, rtol, atol, "gradient of input " + std::to_string(k));
  }
}

inline bool cuda_available() { return mm::cuda::available(); }

}  // namespace mmtest
