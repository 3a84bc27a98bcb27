// mmboost kernels: device helpers shared by the hand-written kernels and the CUDA launchers.
//
// Every reduction here combines values in an order fixed by the launch geometry alone (shuffle
// trees, per-warp slots in shared memory), never by timing, and no helper uses floating-point
// atomics, so a kernel built from them gives bit-identical results run to run.
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

namespace mm::kernels {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- warp reductions (butterfly: every lane ends with the same result) -------------------------

// Max and sum over an aligned segment of W lanes (W a power of two, 1 to 32) whose lanes `mask`
// names: the offsets W/2, ..., 1 stay inside the segment.
template <int W>
__device__ inline float segment_max(float v, unsigned mask) {
#pragma unroll
  for (int off = W / 2; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(mask, v, off));
  return v;
}

template <int W, class T>
__device__ inline T segment_sum(T v, unsigned mask) {
#pragma unroll
  for (int off = W / 2; off > 0; off >>= 1) v += __shfl_xor_sync(mask, v, off);
  return v;
}

template <class T>
__device__ inline T warp_sum(T v) {
  return segment_sum<kWarpSize>(v, kFullMask);
}

__device__ inline float warp_max(float v) { return segment_max<kWarpSize>(v, kFullMask); }

// Online-softmax state (running max m, sum of exp(x - m) l) and its merge. A lane that saw no
// element holds (-inf, 0) and merges as the identity.
struct MaxSum {
  float m;
  float l;
};

__device__ inline MaxSum maxsum_identity() { return {-INFINITY, 0.0f}; }

// Pushes x[0..n) (n <= N) at once: the new maximum first, then one rescale of the running sum
// and one exponential per element. Pushing elements one by one needs a branch on "new
// maximum?", which splits a warp at nearly every element of a random row (some lane's running
// maximum rises) so that the exponentials of both sides are issued.
template <int N>
__device__ inline void maxsum_push_n(MaxSum& s, const float (&x)[N], int n) {
  float m = s.m;
#pragma unroll
  for (int i = 0; i < N; ++i)
    if (i < n) m = fmaxf(m, x[i]);
  float l = s.l * expf(s.m - m);  // expf(-inf) == 0 while nothing was pushed
#pragma unroll
  for (int i = 0; i < N; ++i)
    if (i < n) l += expf(x[i] - m);
  s = {m, l};
}

__device__ inline MaxSum maxsum_merge(MaxSum a, MaxSum b) {
  if (a.l == 0.0f) return b;
  if (b.l == 0.0f) return a;
  const float m = fmaxf(a.m, b.m);
  return {m, a.l * expf(a.m - m) + b.l * expf(b.m - m)};
}

// Butterfly over an aligned segment of W lanes (W a power of two, 1 to 32) whose lanes `mask`
// names: the offsets W/2, ..., 1 stay inside the segment, and every lane ends with the result.
template <int W>
__device__ inline MaxSum segment_maxsum(MaxSum s, unsigned mask) {
#pragma unroll
  for (int off = W / 2; off > 0; off >>= 1) {
    MaxSum o{__shfl_xor_sync(mask, s.m, off), __shfl_xor_sync(mask, s.l, off)};
    s = maxsum_merge(s, o);
  }
  return s;
}

__device__ inline MaxSum warp_maxsum(MaxSum s) { return segment_maxsum<kWarpSize>(s, kFullMask); }

// ---- row groups ------------------------------------------------------------------------------
//
// Row kernels (softmax, cross-entropy, the boosting loss) are written once against a "group"
// of threads that owns one row: a warp (small rows, several rows per block) or a whole block
// (long rows). Both expose rank/size and all-reduce helpers with the same meaning.

struct WarpGroup {
  static constexpr int kRowsPerBlock = 8;  // blockDim.x == 256
  int lane;
  __device__ WarpGroup() : lane(threadIdx.x % kWarpSize) {}
  __device__ static int64_t row() {
    return int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  }
  __device__ int rank() const { return lane; }
  __device__ static constexpr int size() { return kWarpSize; }
  __device__ float max(float v) const { return warp_max(v); }
  __device__ float sum(float v) const { return warp_sum(v); }
  __device__ double sum(double v) const { return warp_sum(v); }
  __device__ MaxSum maxsum(MaxSum s) const { return warp_maxsum(s); }
};

// W lanes per row (W a power of two below 32), 256 / W rows per 256-thread block: for rows so
// short that a warp per row would leave most lanes idle and spend its time in five-step
// reductions. A segment whose row is past the end may exit: the others shuffle only among their
// own lanes. Provides the float max/sum and the online-softmax reductions (what the boosting
// loss needs).
template <int W>
struct SegmentGroup {
  static_assert(W >= 1 && W < kWarpSize && (W & (W - 1)) == 0, "W: a power of two below 32");
  static constexpr int kRowsPerBlock = 256 / W;  // blockDim.x == 256
  int lane;
  unsigned mask;  // this segment's lanes within the warp
  __device__ SegmentGroup()
      : lane(threadIdx.x % W), mask(((1u << W) - 1u) << (threadIdx.x % kWarpSize / W * W)) {}
  __device__ static int64_t row() { return int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / W; }
  __device__ int rank() const { return lane; }
  __device__ static constexpr int size() { return W; }
  __device__ float max(float v) const { return segment_max<W>(v, mask); }
  __device__ float sum(float v) const { return segment_sum<W>(v, mask); }
  __device__ MaxSum maxsum(MaxSum s) const { return segment_maxsum<W>(s, mask); }
};

// blockDim.x == 256 (8 warps); shared scratch for one value per warp.
struct BlockGroup {
  static constexpr int kRowsPerBlock = 1;
  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / kWarpSize;
  __device__ static int64_t row() { return blockIdx.x; }
  __device__ int rank() const { return threadIdx.x; }
  __device__ static constexpr int size() { return kThreads; }

  // Warp trees, then warp 0 combines the 8 partials in index order; the result is broadcast.
  template <class T, class Op>
  __device__ static T all_reduce(T v, Op op, T* slots) {
    const int w = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    __syncthreads();  // slots may still be read by a previous all_reduce
    if (lane == 0) slots[w] = v;
    __syncthreads();
    T r = slots[0];
#pragma unroll
    for (int i = 1; i < kWarps; ++i) r = op(r, slots[i]);
    return r;
  }
  __device__ float max(float v) const {
    __shared__ float slots[kWarps];
    return all_reduce(warp_max(v), [](float a, float b) { return fmaxf(a, b); }, slots);
  }
  __device__ float sum(float v) const {
    __shared__ float slots[kWarps];
    return all_reduce(warp_sum(v), [](float a, float b) { return a + b; }, slots);
  }
  __device__ double sum(double v) const {
    __shared__ double slots[kWarps];
    return all_reduce(warp_sum(v), [](double a, double b) { return a + b; }, slots);
  }
  __device__ MaxSum maxsum(MaxSum s) const {
    __shared__ MaxSum slots[kWarps];
    return all_reduce(warp_maxsum(s), [](MaxSum a, MaxSum b) { return maxsum_merge(a, b); },
                      slots);
  }
};

// Rows up to this length go one warp per row; longer rows get a block.
constexpr int64_t kWarpRowMax = 1024;

// ---- block reduction to one value (for two-pass sums) ----------------------------------------

// Sum over a block of blockDim.x == 256 threads; the result is valid in thread 0 only.
__device__ inline double block_sum_256(double v) {
  __shared__ double slots[8];
  v = warp_sum(v);
  const int w = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  __syncthreads();
  if (lane == 0) slots[w] = v;
  __syncthreads();
  double r = 0.0;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) r += slots[i];
  }
  return r;
}

}  // namespace mm::kernels
