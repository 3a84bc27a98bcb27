// CUDA backend: max_pool2d with argmax indices and adaptive_avg_pool2d, forward and backward.
//
// The backward passes add into overlapping windows without float atomics:
// - max_pool2d_backward knows only the indices (no kernel/stride), so each (b,c) plane is one
//   warp that walks the plane's outputs 32 at a time; lanes that point at the same input are
//   grouped with __match_any_sync and the group's lowest lane adds their gradients in lane
//   order. Chunks run in order, so every input's sum has a fixed order.
// - adaptive_avg_pool2d_backward gathers: each input element sums the bins that contain it,
//   in the CPU's (i, j) order.
#include <cmath>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"

namespace mm::cuda {

namespace {

using kernels::ceil_div;
using kernels::kFullMask;
using kernels::kWarpSize;

constexpr int kThreads = 256;

// x (B,C,H,W) -> y, indices (B,C,Ho,Wo); one thread per output. Padding counts as -inf; the
// first maximum in scan order wins and NaN wins over everything (PyTorch's rule).
__global__ void max_pool2d_forward_kernel(const float* x, float* y, int64_t* indices,
                                          int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                          int64_t Wo, int kernel, int stride, int padding) {
  const int64_t total = planes * Ho * Wo;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t ow = t % Wo, oh = (t / Wo) % Ho, pl = t / (Wo * Ho);
    const float* xp = x + pl * H * W;
    const int64_t h0 = oh * stride - padding, w0 = ow * stride - padding;
    const int64_t hs = max(h0, int64_t(0)), he = min(h0 + kernel, H);
    const int64_t ws = max(w0, int64_t(0)), we = min(w0 + kernel, W);
    float best = -INFINITY;
    int64_t bi = hs * W + ws;
    for (int64_t h = hs; h < he; ++h)
      for (int64_t w = ws; w < we; ++w) {
        const float v = xp[h * W + w];
        if (v > best || isnan(v)) {
          best = v;
          bi = h * W + w;
        }
      }
    y[t] = best;
    indices[t] = bi;
  }
}

// gy, indices (planes, P) -> gx (planes, HW); one warp per plane.
__global__ void max_pool2d_backward_kernel(const float* gy, const int64_t* indices, float* gx,
                                           int64_t planes, int64_t HW, int64_t P) {
  const int64_t pl = int64_t(blockIdx.x) * (kThreads / kWarpSize) + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (pl >= planes) return;
  float* xp = gx + pl * HW;
  const float* gp = gy + pl * P;
  const int64_t* ip = indices + pl * P;
  for (int64_t j = lane; j < HW; j += kWarpSize) xp[j] = 0.0f;
  __syncwarp();  // the zeros are visible to every lane before the adds
  for (int64_t base = 0; base < P; base += kWarpSize) {
    const int64_t j = base + lane;
    const bool active = j < P;
    const unsigned mask = __ballot_sync(kFullMask, active);
    if (active) {
      const int64_t target = ip[j];
      const unsigned group = __match_any_sync(mask, static_cast<unsigned long long>(target));
      if (lane == __ffs(group) - 1 && target >= 0 && target < HW) {
        float acc = 0.0f;
        for (unsigned m = group; m; m &= m - 1) acc += gp[base + __ffs(m) - 1];
        xp[target] += acc;
      }
    }
    __syncwarp();  // this chunk's adds land before the next chunk reads the same inputs
  }
}

// PyTorch's adaptive bins: output i of n over an input of length L covers
// [floor(i*L/n), ceil((i+1)*L/n)).
__device__ inline int64_t bin_start(int64_t i, int64_t L, int64_t n) { return (i * L) / n; }
__device__ inline int64_t bin_end(int64_t i, int64_t L, int64_t n) {
  return ((i + 1) * L + n - 1) / n;
}

// x (planes,H,W) -> y (planes,oh,ow): the mean of each bin, summed in double.
__global__ void adaptive_avg_pool2d_forward_kernel(const float* x, float* y, int64_t planes,
                                                   int64_t H, int64_t W, int64_t oh, int64_t ow) {
  const int64_t total = planes * oh * ow;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t j = t % ow, i = (t / ow) % oh, pl = t / (ow * oh);
    const float* xp = x + pl * H * W;
    const int64_t hs = bin_start(i, H, oh), he = bin_end(i, H, oh);
    const int64_t ws = bin_start(j, W, ow), we = bin_end(j, W, ow);
    double s = 0.0;
    for (int64_t h = hs; h < he; ++h)
      for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
    y[t] = static_cast<float>(s / static_cast<double>((he - hs) * (we - ws)));
  }
}

// gy (planes,oh,ow) -> gx (planes,H,W): each input sums gy / area over the bins holding it.
// Bins holding row h lie in [floor(h*oh/H) - 1, ceil((h+1)*oh/H)] (checked exactly below).
__global__ void adaptive_avg_pool2d_backward_kernel(const float* gy, float* gx, int64_t planes,
                                                    int64_t H, int64_t W, int64_t oh,
                                                    int64_t ow) {
  const int64_t total = planes * H * W;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t w = t % W, h = (t / W) % H, pl = t / (W * H);
    const float* gp = gy + pl * oh * ow;
    const int64_t i_lo = max(int64_t(0), (h * oh) / H - 1);
    const int64_t i_hi = min(oh - 1, ((h + 1) * oh + H - 1) / H);
    const int64_t j_lo = max(int64_t(0), (w * ow) / W - 1);
    const int64_t j_hi = min(ow - 1, ((w + 1) * ow + W - 1) / W);
    float acc = 0.0f;
    for (int64_t i = i_lo; i <= i_hi; ++i) {
      const int64_t hs = bin_start(i, H, oh), he = bin_end(i, H, oh);
      if (h < hs || h >= he) continue;
      for (int64_t j = j_lo; j <= j_hi; ++j) {
        const int64_t ws = bin_start(j, W, ow), we = bin_end(j, W, ow);
        if (w < ws || w >= we) continue;
        acc += gp[i * ow + j] / static_cast<float>((he - hs) * (we - ws));
      }
    }
    gx[t] = acc;
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, int kernel, int stride, int padding, Tensor& y,
                        Tensor& indices) {
  require_cuda_contiguous(x, "max_pool2d_forward", "x");
  require_cuda_contiguous(y, "max_pool2d_forward", "y");
  require_cuda_contiguous(indices, "max_pool2d_forward", "indices");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = y.size(2), Wo = y.size(3);
  const int64_t total = planes * Ho * Wo;
  if (total == 0) return;
  max_pool2d_forward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      x.data_f32(), y.data_f32(), indices.data_i64(), planes, H, W, Ho, Wo, kernel, stride,
      padding);
  MM_CUDA_LAUNCH_CHECK();
}

void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) {
  require_cuda_contiguous(gy, "max_pool2d_backward", "gy");
  require_cuda_contiguous(indices, "max_pool2d_backward", "indices");
  require_cuda_contiguous(gx, "max_pool2d_backward", "gx");
  const int64_t planes = gx.size(0) * gx.size(1), HW = gx.size(2) * gx.size(3);
  const int64_t P = gy.size(2) * gy.size(3);
  if (planes * HW == 0) return;
  const int warps_per_block = kThreads / kWarpSize;
  max_pool2d_backward_kernel<<<static_cast<unsigned>(ceil_div(planes, warps_per_block)), kThreads,
                               0, stream()>>>(gy.data_f32(), indices.data_i64(), gx.data_f32(),
                                              planes, HW, P);
  MM_CUDA_LAUNCH_CHECK();
}

void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  require_cuda_contiguous(x, "adaptive_avg_pool2d_forward", "x");
  require_cuda_contiguous(y, "adaptive_avg_pool2d_forward", "y");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t oh = y.size(2), ow = y.size(3);
  const int64_t total = planes * oh * ow;
  if (total == 0) return;
  adaptive_avg_pool2d_forward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      x.data_f32(), y.data_f32(), planes, H, W, oh, ow);
  MM_CUDA_LAUNCH_CHECK();
}

void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) {
  require_cuda_contiguous(gy, "adaptive_avg_pool2d_backward", "gy");
  require_cuda_contiguous(gx, "adaptive_avg_pool2d_backward", "gx");
  const int64_t planes = gx.size(0) * gx.size(1), H = gx.size(2), W = gx.size(3);
  const int64_t oh = gy.size(2), ow = gy.size(3);
  const int64_t total = planes * H * W;
  if (total == 0) return;
  adaptive_avg_pool2d_backward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      gy.data_f32(), gx.data_f32(), planes, H, W, oh, ow);
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::cuda
