// mmboost CUDA backend: the deterministic sum used by reduce_dim and by other launchers
// (bias gradients of conv2d and of the fused hidden layer).
#pragma once

#include <cstdint>

namespace mm::cuda {

// x (outer, n, inner) contiguous device memory -> out (outer, inner) = sum over n, on the
// backend stream. Accumulates in double; the order of additions depends on the shape alone
// (long sums are split into fixed chunks whose partials are added in chunk order).
void sum_over_dim(const float* x, int64_t outer, int64_t n, int64_t inner, float* out);

}  // namespace mm::cuda
