// CUDA backend: sum / max over one dimension of a contiguous tensor viewed as (outer, n, inner).
//
// Deterministic by construction: each output is reduced by one warp, one block, or one thread
// per fixed chunk of n, and chunk partials (double) are added in chunk order by a second
// kernel. No float atomics anywhere.
#include <algorithm>

#include "engine/backend.h"
#include "engine/cuda/reduce.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"

namespace mm::cuda {

namespace {

using kernels::ceil_div;
using kernels::kWarpSize;

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / kWarpSize;

// ---- sums, inner == 1 ------------------------------------------------------------------------

// One warp per output row of length n (short rows).
// x is (outer, n), out is (outer)
__global__ void sum_rows_warp_kernel(const float* x, int64_t outer, int64_t n, float* out) {
  const int64_t o = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (o >= outer) return;
  const float* r = x + o * n;
  double acc = 0.0;
  for (int64_t k = lane; k < n; k += kWarpSize) acc += r[k];
  acc = kernels::warp_sum(acc);
  if (lane == 0) out[o] = static_cast<float>(acc);
}

// One block per (output row, chunk of the row). Writes the chunk's sum to partial[o, c], or
// straight to out[o] when the row is a single chunk.
// x is (outer, n), partial is (outer, chunks)
__global__ void sum_rows_chunk_kernel(const float* x, int64_t n, int64_t chunks, int64_t chunk_len,
                                      double* partial, float* out) {
  const int64_t o = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const float* r = x + o * n;
  const int64_t lo = c * chunk_len, hi = min(n, lo + chunk_len);
  double acc = 0.0;
  for (int64_t k = lo + threadIdx.x; k < hi; k += kThreads) acc += r[k];
  acc = kernels::block_sum_256(acc);
  if (threadIdx.x == 0) {
    if (chunks == 1) out[o] = static_cast<float>(acc);
    else partial[o * chunks + c] = acc;
  }
}

// ---- sums, inner > 1 -------------------------------------------------------------------------

// One thread per (chunk c, output o, column i); consecutive threads take consecutive i, so the
// loads of a warp are coalesced.
// x is (outer, n, inner), partial is (chunks, outer, inner)
__global__ void sum_cols_kernel(const float* x, int64_t outer, int64_t n, int64_t inner,
                                int64_t chunks, int64_t chunk_len, double* partial, float* out) {
  const int64_t outputs = outer * inner;
  const int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (t >= outputs * chunks) return;
  const int64_t c = t / outputs, oi = t % outputs;
  const int64_t o = oi / inner, i = oi % inner;
  const int64_t lo = c * chunk_len, hi = min(n, lo + chunk_len);
  const float* base = x + o * n * inner + i;
  double acc = 0.0;
  for (int64_t k = lo; k < hi; ++k) acc += base[k * inner];
  if (chunks == 1) out[oi] = static_cast<float>(acc);
  else partial[c * outputs + oi] = acc;
}

// out[j] = sum_c partial[c * stride_c + j * stride_j], c in order.
__global__ void sum_partials_kernel(const double* partial, int64_t count, int64_t chunks,
                                    int64_t stride_c, int64_t stride_j, float* out) {
  const int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= count) return;
  double acc = 0.0;
  for (int64_t c = 0; c < chunks; ++c) acc += partial[c * stride_c + j * stride_j];
  out[j] = static_cast<float>(acc);
}

// ---- max with argmax (first maximal index, as the CPU backend) -------------------------------

__device__ inline void take_if_better(float& best, int64_t& bi, float v, int64_t k) {
  if (v > best || (v == best && k < bi)) {
    best = v;
    bi = k;
  }
}

// One warp per output row (inner == 1). Each lane scans its elements in increasing k keeping
// the first maximum; the merge prefers the smaller index on ties.
// NaN follows the CPU loop (best = r[0], then only r[k] > best replaces it): a NaN at k == 0
// is the answer, a NaN anywhere else is never taken. So lanes skip NaNs (k > 0), which keeps
// the merge a total order and the butterfly's result the same in every lane.
__global__ void max_rows_warp_kernel(const float* x, int64_t outer, int64_t n, float* out,
                                     int64_t* argmax) {
  const int64_t o = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (o >= outer) return;
  const float* r = x + o * n;
  if (isnan(r[0])) {  // the same for the whole warp
    if (lane == 0) {
      out[o] = r[0];
      if (argmax) argmax[o] = 0;
    }
    return;
  }
  float best = -INFINITY;
  int64_t bi = n;  // "none yet": larger than any index
  for (int64_t k = lane; k < n; k += kWarpSize) {
    const float v = r[k];
    if (isnan(v)) continue;
    if (bi == n || v > best) {
      best = v;
      bi = k;
    }
  }
#pragma unroll
  for (int off = kWarpSize / 2; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(kernels::kFullMask, best, off);
    const int64_t oi = __shfl_xor_sync(kernels::kFullMask, bi, off);
    if (oi < n) {
      if (bi == n) {
        best = ov;
        bi = oi;
      } else {
        take_if_better(best, bi, ov, oi);
      }
    }
  }
  if (lane == 0) {
    out[o] = best;
    if (argmax) argmax[o] = bi;
  }
}

// One thread per output (inner > 1): the CPU loop exactly.
__global__ void max_cols_kernel(const float* x, int64_t outer, int64_t n, int64_t inner,
                                float* out, int64_t* argmax) {
  const int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (t >= outer * inner) return;
  const int64_t o = t / inner, i = t % inner;
  const float* r = x + o * n * inner + i;
  float best = r[0];
  int64_t bi = 0;
  for (int64_t k = 1; k < n; ++k) {
    if (r[k * inner] > best) {
      best = r[k * inner];
      bi = k;
    }
  }
  out[t] = best;
  if (argmax) argmax[t] = bi;
}

// gx (outer, n, inner): one thread per element, the gradient where k is the argmax, else 0.
__global__ void max_backward_kernel(const float* g, const int64_t* argmax, int64_t outer,
                                    int64_t n, int64_t inner, float* gx) {
  const int64_t total = outer * n * inner;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t i = t % inner, k = (t / inner) % n, o = t / (inner * n);
    const int64_t j = o * inner + i;
    gx[t] = argmax[j] == k ? g[j] : 0.0f;
  }
}

unsigned blocks_of(int64_t n) { return static_cast<unsigned>(ceil_div(n, kThreads)); }

}  // namespace

void sum_over_dim(const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  cudaStream_t s = stream();
  if (n == 0) {
    MM_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * outputs, s));
    return;
  }
  if (inner == 1) {
    if (n <= 4096) {
      sum_rows_warp_kernel<<<blocks_of(outer * kWarpSize), kThreads, 0, s>>>(x, outer, n, out);
      MM_CUDA_LAUNCH_CHECK();
      return;
    }
    // Long rows: enough chunks to give the GPU ~1024 blocks, each chunk at least 4096 long.
    const int64_t chunks = std::max<int64_t>(
        1, std::min<int64_t>(ceil_div(n, 4096), ceil_div(1024, outer)));
    const int64_t chunk_len = ceil_div(n, chunks);
    Scratch partial(chunks > 1 ? sizeof(double) * outer * chunks : 0);
    sum_rows_chunk_kernel<<<static_cast<unsigned>(outer * chunks), kThreads, 0, s>>>(
        x, n, chunks, chunk_len, partial.as<double>(), out);
    MM_CUDA_LAUNCH_CHECK();
    if (chunks > 1) {
      sum_partials_kernel<<<blocks_of(outer), kThreads, 0, s>>>(partial.as<double>(), outer,
                                                                chunks, 1, chunks, out);
      MM_CUDA_LAUNCH_CHECK();
    }
    return;
  }
  // Columns: split n so that ~64K threads run, each over at least 16 rows.
  const int64_t chunks = std::max<int64_t>(
      1, std::min<int64_t>(ceil_div(n, 16), ceil_div(65536, outputs)));
  const int64_t chunk_len = ceil_div(n, chunks);
  Scratch partial(chunks > 1 ? sizeof(double) * outputs * chunks : 0);
  sum_cols_kernel<<<blocks_of(outputs * chunks), kThreads, 0, s>>>(
      x, outer, n, inner, chunks, chunk_len, partial.as<double>(), out);
  MM_CUDA_LAUNCH_CHECK();
  if (chunks > 1) {
    sum_partials_kernel<<<blocks_of(outputs), kThreads, 0, s>>>(partial.as<double>(), outputs,
                                                                chunks, outputs, 1, out);
    MM_CUDA_LAUNCH_CHECK();
  }
}

void reduce_dim(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                Tensor& out, Tensor* argmax) {
  require_cuda_contiguous(x, "reduce_dim", "x");
  require_cuda_contiguous(out, "reduce_dim", "out");
  MM_CHECK(x.numel() == outer * n * inner && out.numel() == outer * inner,
           "reduce_dim: x " << x.describe() << " is not (" << outer << ", " << n << ", " << inner
                            << ") or out " << out.describe() << " is not (" << outer << ", "
                            << inner << ")");
  if (op == ReduceOp::Sum) {
    sum_over_dim(x.data_f32(), outer, n, inner, out.data_f32());
    return;
  }
  MM_CHECK(n > 0, "reduce_dim: max over an empty dimension");
  int64_t* pi = nullptr;
  if (argmax) {
    require_cuda_contiguous(*argmax, "reduce_dim", "argmax");
    pi = argmax->data_i64();
  }
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  cudaStream_t s = stream();
  if (inner == 1) {
    max_rows_warp_kernel<<<blocks_of(outer * kWarpSize), kThreads, 0, s>>>(
        x.data_f32(), outer, n, out.data_f32(), pi);
  } else {
    max_cols_kernel<<<blocks_of(outputs), kThreads, 0, s>>>(x.data_f32(), outer, n, inner,
                                                            out.data_f32(), pi);
  }
  MM_CUDA_LAUNCH_CHECK();
}

void reduce_max_backward(const Tensor& g, const Tensor& argmax, int64_t outer, int64_t n,
                         int64_t inner, Tensor& gx) {
  require_cuda_contiguous(g, "reduce_max_backward", "g");
  require_cuda_contiguous(argmax, "reduce_max_backward", "argmax");
  require_cuda_contiguous(gx, "reduce_max_backward", "gx");
  const int64_t total = outer * n * inner;
  if (total == 0) return;
  max_backward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      g.data_f32(), argmax.data_i64(), outer, n, inner, gx.data_f32());
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::cuda
