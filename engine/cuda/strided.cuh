// mmboost CUDA backend: element offsets of strided views (up to 8 dimensions after merging).
//
// The host side drops size-1 dimensions and merges neighbours that are contiguous with respect
// to each other in every view, so most "strided" copies collapse to one or two dimensions and
// the per-element index arithmetic (64-bit divisions) stays short.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"

namespace mm::cuda {

constexpr int kMaxDims = 8;

// NV views of one shape: sizes and each view's strides (in elements), innermost last.
template <int NV>
struct StridedPlan {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[NV][kMaxDims] = {};

  // Offsets (in elements) of linear element i (row-major over `size`) in every view.
  __host__ __device__ inline void offsets(int64_t i, int64_t* off) const {
#pragma unroll
    for (int v = 0; v < NV; ++v) off[v] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t idx = i % size[d];
      i /= size[d];
#pragma unroll
      for (int v = 0; v < NV; ++v) off[v] += idx * stride[v][d];
    }
  }
};

// Builds a merged plan; `what` names the op in the error for more than kMaxDims dimensions.
template <int NV>
StridedPlan<NV> make_plan(const Shape& shape, const std::vector<const Shape*>& strides,
                          const char* what) {
  // Keep non-trivial dims, outermost first.
  std::vector<int64_t> sz;
  std::vector<std::vector<int64_t>> st(NV);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    sz.push_back(shape[d]);
    for (int v = 0; v < NV; ++v) st[v].push_back((*strides[v])[d]);
  }
  // Merge dim d into d+1 when every view steps over d+1 exactly as over one step of d.
  std::vector<int64_t> msz;
  std::vector<std::vector<int64_t>> mst(NV);
  for (size_t d = 0; d < sz.size(); ++d) {
    if (!msz.empty()) {
      bool mergeable = true;
      for (int v = 0; v < NV; ++v)
        if (mst[v].back() != st[v][d] * sz[d]) mergeable = false;
      if (mergeable) {
        msz.back() *= sz[d];
        for (int v = 0; v < NV; ++v) mst[v].back() = st[v][d];
        continue;
      }
    }
    msz.push_back(sz[d]);
    for (int v = 0; v < NV; ++v) mst[v].push_back(st[v][d]);
  }
  MM_CHECK(msz.size() <= static_cast<size_t>(kMaxDims),
           what << ": the CUDA backend handles views of up to " << kMaxDims
                << " non-mergeable dimensions, got " << msz.size() << " for shape "
                << shape_str(shape) << " (make the tensor contiguous first)");
  StridedPlan<NV> p;
  p.ndim = static_cast<int>(msz.size());
  for (int d = 0; d < p.ndim; ++d) {
    p.size[d] = msz[d];
    for (int v = 0; v < NV; ++v) p.stride[v][d] = mst[v][d];
  }
  return p;
}

}  // namespace mm::cuda
