// CPU kernels: sum / max over one dimension of a contiguous tensor viewed as (outer, n, inner).
// Each output element is reduced by one thread in a fixed order (deterministic); sums
// accumulate in double.
#include <cstring>
#include <vector>

#include "engine/backend.h"

namespace mm::cpu {

void reduce_dim(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                Tensor& out, Tensor* argmax) {
  const float* px = x.data_f32();
  float* po = out.data_f32();
  int64_t* pi = argmax ? argmax->data_i64() : nullptr;
  if (op == ReduceOp::Sum) {
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * n > 65536)
      for (int64_t o = 0; o < outer; ++o) {
        const float* r = px + o * n;
        double acc = 0.0;
        for (int64_t k = 0; k < n; ++k) acc += r[k];
        po[o] = static_cast<float>(acc);
      }
      return;
    }
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536)
    for (int64_t o = 0; o < outer; ++o) {
      std::vector<double> acc(inner, 0.0);
      const float* base = px + o * n * inner;
      for (int64_t k = 0; k < n; ++k) {
        const float* r = base + k * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] += r[i];
      }
      for (int64_t i = 0; i < inner; ++i) po[o * inner + i] = static_cast<float>(acc[i]);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* r = px + o * n * inner + i;
      float best = r[0];
      int64_t bi = 0;
      for (int64_t k = 1; k < n; ++k) {
        if (r[k * inner] > best) {
          best = r[k * inner];
          bi = k;
        }
      }
      po[o * inner + i] = best;
      if (pi) pi[o * inner + i] = bi;
    }
  }
}

void reduce_max_backward(const Tensor& g, const Tensor& argmax, int64_t outer, int64_t n,
                         int64_t inner, Tensor& gx) {
  const float* pg = g.data_f32();
  const int64_t* pa = argmax.data_i64();
  float* px = gx.data_f32();
  std::memset(px, 0, sizeof(float) * outer * n * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      px[(o * n + pa[o * inner + i]) * inner + i] = pg[o * inner + i];
}

}  // namespace mm::cpu
