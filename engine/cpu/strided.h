// CPU helper: walks the elements of same-shaped strided views in row-major order, handing the
// kernel one innermost row at a time (base offsets of each view + the row's inner strides).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace mm::cpu {

// f(row_index, const int64_t* base_offsets, int64_t inner_len). Rows are independent, so the
// caller may run them in parallel. `views` all have shape `shape`.
template <size_t NV, class F>
void for_each_row(const Shape& shape, const std::vector<const Shape*>& strides, F&& f) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t inner = nd ? shape[nd - 1] : 1;
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < nd; ++i) rows *= shape[i];
  if (inner == 0 || rows == 0) return;
#pragma omp parallel for schedule(static) if (rows * inner > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t base[NV] = {};
    int64_t rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t idx = rem % shape[d];
      rem /= shape[d];
      for (size_t v = 0; v < NV; ++v) base[v] += idx * (*strides[v])[d];
    }
    f(r, base, inner);
  }
}

}  // namespace mm::cpu
