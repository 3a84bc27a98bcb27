// CUDA backend: batch_norm2d forward and backward with our own kernels (not cuDNN's), so that
// the statistics follow the CPU backend and PyTorch exactly (biased variance to normalise,
// unbiased variance for running_var, optional running buffers and affine parameters) and every
// reduction is deterministic.
//
// Per-channel sums over (B, H*W) run in two passes: blocks reduce fixed chunks of a channel to
// double partials, then one thread per channel adds its chunks in order. The variance is
// E[x^2] - mean^2 in double, which stays accurate for FP32 activations unless |mean| exceeds
// the standard deviation by ~1e6.
#include <algorithm>
#include <cmath>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"

namespace mm::cuda {

namespace {

using kernels::ceil_div;

constexpr int kThreads = 256;

struct Geometry {
  int64_t B, C, HW;
  int64_t count;      // B*HW elements per channel
  int64_t chunks;     // blocks per channel
  int64_t chunk_len;  // elements per block
};

Geometry geometry(const Tensor& x) {
  Geometry g;
  g.B = x.size(0);
  g.C = x.size(1);
  g.HW = x.size(2) * x.size(3);
  g.count = g.B * g.HW;
  // ~1024 blocks over all channels, each chunk at least 4096 elements.
  g.chunks = std::max<int64_t>(1, std::min<int64_t>(ceil_div(g.count, 4096),
                                                    ceil_div(1024, std::max<int64_t>(1, g.C))));
  g.chunk_len = ceil_div(g.count, g.chunks);
  return g;
}

// Element j of channel c, j in [0, B*HW): x[(b*C + c)*HW + p] with b = j / HW, p = j % HW.
__device__ inline int64_t channel_offset(int64_t j, int64_t c, int64_t C, int64_t HW) {
  const int64_t b = j / HW, p = j - b * HW;
  return (b * C + c) * HW + p;
}

// partial[c, chunk] = (sum x, sum x^2) over the chunk of channel c.
// x is (B,C,H,W); partial is (C, chunks, 2)
__global__ void bn_stats_partial_kernel(const float* x, int64_t C, int64_t HW, int64_t count,
                                        int64_t chunks, int64_t chunk_len, double* partial) {
  const int64_t c = blockIdx.x / chunks, k = blockIdx.x % chunks;
  const int64_t lo = k * chunk_len, hi = min(count, lo + chunk_len);
  double s = 0.0, ss = 0.0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += kThreads) {
    const double v = x[channel_offset(j, c, C, HW)];
    s += v;
    ss += v * v;
  }
  s = kernels::block_sum_256(s);
  ss = kernels::block_sum_256(ss);
  if (threadIdx.x == 0) {
    partial[(c * chunks + k) * 2 + 0] = s;
    partial[(c * chunks + k) * 2 + 1] = ss;
  }
}

// One thread per channel: batch statistics, running buffers (PyTorch's momentum rule with the
// unbiased variance), and the mean / invstd used to normalise.
__global__ void bn_stats_finish_kernel(const double* partial, int64_t C, int64_t count,
                                       int64_t chunks, float momentum, float eps,
                                       float* running_mean, float* running_var, float* save_mean,
                                       float* save_invstd) {
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= C) return;
  double s = 0.0, ss = 0.0;
  for (int64_t k = 0; k < chunks; ++k) {
    s += partial[(c * chunks + k) * 2 + 0];
    ss += partial[(c * chunks + k) * 2 + 1];
  }
  const double n = static_cast<double>(count);
  const double mean = s / n;
  const double var = fmax(ss / n - mean * mean, 0.0);  // biased
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  const double m = momentum;
  if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mean);
  if (running_var) {
    const double unbiased = count > 1 ? var * n / (n - 1.0) : var;
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
  }
}

// Eval: the statistics are the running buffers.
__global__ void bn_eval_stats_kernel(const float* running_mean, const float* running_var,
                                     int64_t C, float eps, float* save_mean, float* save_invstd) {
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= C) return;
  save_mean[c] = running_mean[c];
  save_invstd[c] = static_cast<float>(
      1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
}

// y = relu?((x - mean) * (invstd * gamma) + beta [+ residual])
// x, y, residual (or null) are (B,C,HW). The residual add and the ReLU round as the separate
// add and relu kernels would.
__global__ void bn_normalize_kernel(const float* x, const float* mean, const float* invstd,
                                    const float* gamma, const float* beta,
                                    const float* residual, bool relu, float* y, int64_t C,
                                    int64_t HW, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * kThreads) {
    const int64_t c = (i / HW) % C;
    const float scale = static_cast<float>((gamma ? static_cast<double>(gamma[c]) : 1.0) *
                                           static_cast<double>(invstd[c]));
    float v = (x[i] - mean[c]) * scale + (beta ? beta[c] : 0.0f);
    if (residual) v = __fadd_rn(v, residual[i]);
    if (relu) v = v > 0.0f ? v : 0.0f;
    y[i] = v;
  }
}

// The gradient that reaches bn(x) [+ residual]: gy, or after a ReLU gy where its output was
// positive (relu_y null: no ReLU), as the relu backward kernel writes it.
__device__ inline float act_grad(const float* gy, const float* relu_y, int64_t i) {
  return relu_y && !(relu_y[i] > 0.0f) ? 0.0f : gy[i];
}

// partial[c, chunk] = (sum g, sum g * (x - mean)), g = act_grad (written to g_act unless null).
__global__ void bn_grad_partial_kernel(const float* x, const float* gy, const float* relu_y,
                                       float* g_act, const float* mean, int64_t C, int64_t HW,
                                       int64_t count, int64_t chunks, int64_t chunk_len,
                                       double* partial) {
  const int64_t c = blockIdx.x / chunks, k = blockIdx.x % chunks;
  const int64_t lo = k * chunk_len, hi = min(count, lo + chunk_len);
  const double mu = mean[c];
  double sg = 0.0, sgx = 0.0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += kThreads) {
    const int64_t o = channel_offset(j, c, C, HW);
    const float ga = act_grad(gy, relu_y, o);
    if (g_act) g_act[o] = ga;
    const double g = ga;
    sg += g;
    sgx += g * (static_cast<double>(x[o]) - mu);
  }
  sg = kernels::block_sum_256(sg);
  sgx = kernels::block_sum_256(sgx);
  if (threadIdx.x == 0) {
    partial[(c * chunks + k) * 2 + 0] = sg;
    partial[(c * chunks + k) * 2 + 1] = sgx;
  }
}

// Per channel: ggamma = sum gy*xhat, gbeta = sum gy, and the three coefficients of
// gx = f_gy * gy - f_x * (x - mean) - f_0 (coef[c] = {f_gy, f_x, f_0}).
__global__ void bn_grad_finish_kernel(const double* partial, const float* gamma,
                                      const float* invstd, int64_t C, int64_t count,
                                      int64_t chunks, bool training, float* ggamma, float* gbeta,
                                      float* coef) {
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= C) return;
  double sg = 0.0, sgx = 0.0;
  for (int64_t k = 0; k < chunks; ++k) {
    sg += partial[(c * chunks + k) * 2 + 0];
    sgx += partial[(c * chunks + k) * 2 + 1];
  }
  const double is = invstd[c], gam = gamma ? gamma[c] : 1.0, n = static_cast<double>(count);
  if (ggamma) ggamma[c] = static_cast<float>(sgx * is);
  if (gbeta) gbeta[c] = static_cast<float>(sg);
  if (coef) {
    coef[c * 3 + 0] = static_cast<float>(gam * is);
    coef[c * 3 + 1] = static_cast<float>(training ? gam * is * is * is * sgx / n : 0.0);
    coef[c * 3 + 2] = static_cast<float>(training ? gam * is * sg / n : 0.0);
  }
}

// gx = f_gy * gy - f_x * (x - mean) - f_0, per channel coefficients from bn_grad_finish_kernel.
__global__ void bn_grad_input_kernel(const float* x, const float* gy, const float* mean,
                                     const float* coef, float* gx, int64_t C, int64_t HW,
                                     int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * kThreads) {
    const int64_t c = (i / HW) % C;
    gx[i] = coef[c * 3 + 0] * gy[i] - coef[c * 3 + 1] * (x[i] - mean[c]) - coef[c * 3 + 2];
  }
}

// Without ggamma/gbeta, and in eval or without gx, no reduction is needed: g = act_grad into
// g_act (unless null), gx = gamma * invstd * g (unless null).
__global__ void bn_grad_input_eval_kernel(const float* gy, const float* relu_y, float* g_act,
                                          const float* gamma, const float* invstd, float* gx,
                                          int64_t C, int64_t HW, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * kThreads) {
    const int64_t c = (i / HW) % C;
    const float g = act_grad(gy, relu_y, i);
    if (g_act) g_act[i] = g;
    if (!gx) continue;
    const float scale = static_cast<float>((gamma ? static_cast<double>(gamma[c]) : 1.0) *
                                           static_cast<double>(invstd[c]));
    gx[i] = scale * g;
  }
}

const float* optional_ptr(const Tensor& t, const char* name) {
  if (!t.defined()) return nullptr;
  require_cuda_contiguous(t, "batch_norm2d", name);
  return t.data_f32();
}

float* optional_mut_ptr(Tensor& t, const char* name) {
  if (!t.defined()) return nullptr;
  require_cuda_contiguous(t, "batch_norm2d", name);
  return t.data_f32();
}

unsigned per_channel_blocks(int64_t C) { return static_cast<unsigned>(ceil_div(C, kThreads)); }

}  // namespace

void batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          Tensor& running_mean, Tensor& running_var, bool training,
                          float momentum, float eps, const Tensor& residual, bool relu,
                          Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  require_cuda_contiguous(x, "batch_norm2d_forward", "x");
  require_cuda_contiguous(y, "batch_norm2d_forward", "y");
  require_cuda_contiguous(save_mean, "batch_norm2d_forward", "save_mean");
  require_cuda_contiguous(save_invstd, "batch_norm2d_forward", "save_invstd");
  const Geometry g = geometry(x);
  if (g.C == 0) return;
  const float* pg = optional_ptr(gamma, "gamma");
  const float* pb = optional_ptr(beta, "beta");
  float* prm = optional_mut_ptr(running_mean, "running_mean");
  float* prv = optional_mut_ptr(running_var, "running_var");
  const float* pr = optional_ptr(residual, "residual");
  cudaStream_t s = stream();
  if (training) {
    MM_CHECK(g.count > 0, "batch_norm2d: training needs at least one value per channel, got "
                              << x.describe());
    Scratch partial(sizeof(double) * 2 * g.C * g.chunks);
    bn_stats_partial_kernel<<<static_cast<unsigned>(g.C * g.chunks), kThreads, 0, s>>>(
        x.data_f32(), g.C, g.HW, g.count, g.chunks, g.chunk_len, partial.as<double>());
    MM_CUDA_LAUNCH_CHECK();
    bn_stats_finish_kernel<<<per_channel_blocks(g.C), kThreads, 0, s>>>(
        partial.as<double>(), g.C, g.count, g.chunks, momentum, eps, prm, prv,
        save_mean.data_f32(), save_invstd.data_f32());
    MM_CUDA_LAUNCH_CHECK();
  } else {
    MM_CHECK(prm && prv, "batch_norm2d: evaluation mode needs running_mean and running_var");
    bn_eval_stats_kernel<<<per_channel_blocks(g.C), kThreads, 0, s>>>(
        prm, prv, g.C, eps, save_mean.data_f32(), save_invstd.data_f32());
    MM_CUDA_LAUNCH_CHECK();
  }
  const int64_t n = x.numel();
  if (n == 0) return;
  bn_normalize_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
      x.data_f32(), save_mean.data_f32(), save_invstd.data_f32(), pg, pb, pr, relu, y.data_f32(),
      g.C, g.HW, n);
  MM_CUDA_LAUNCH_CHECK();
}

void batch_norm2d_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                           const Tensor& save_invstd, const Tensor& gy, const Tensor& relu_y,
                           bool training, Tensor* gx, Tensor* ggamma, Tensor* gbeta,
                           Tensor* g_act) {
  const char* op = "batch_norm2d_backward";
  require_cuda_contiguous(x, op, "x");
  require_cuda_contiguous(save_mean, op, "save_mean");
  require_cuda_contiguous(save_invstd, op, "save_invstd");
  require_cuda_contiguous(gy, op, "gy");
  if (gx) require_cuda_contiguous(*gx, op, "gx");
  if (ggamma) require_cuda_contiguous(*ggamma, op, "ggamma");
  if (gbeta) require_cuda_contiguous(*gbeta, op, "gbeta");
  const float* py = optional_ptr(relu_y, "relu_y");
  MM_CHECK(!g_act || py, "batch_norm2d_backward: g_act is only produced after a ReLU");
  float* pga = g_act ? optional_mut_ptr(*g_act, "g_act") : nullptr;
  const Geometry g = geometry(x);
  if (g.C == 0) return;
  const float* pg = optional_ptr(gamma, "gamma");
  const int64_t n = x.numel();
  cudaStream_t s = stream();
  if (!gx && !ggamma && !gbeta && !pga) return;
  if (!ggamma && !gbeta && (!gx || !training)) {
    if (n == 0) return;
    bn_grad_input_eval_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        gy.data_f32(), py, pga, pg, save_invstd.data_f32(), gx ? gx->data_f32() : nullptr, g.C,
        g.HW, n);
    MM_CUDA_LAUNCH_CHECK();
    return;
  }
  // After a ReLU the masked gradient is written by the reduction pass (into g_act, else into
  // gx, whose pass then runs in place) and read back by the gx pass.
  float* masked = pga ? pga : (py && gx ? gx->data_f32() : nullptr);
  Scratch partial(sizeof(double) * 2 * g.C * g.chunks);
  Scratch coef(gx ? sizeof(float) * 3 * g.C : 0);
  bn_grad_partial_kernel<<<static_cast<unsigned>(g.C * g.chunks), kThreads, 0, s>>>(
      x.data_f32(), gy.data_f32(), py, masked, save_mean.data_f32(), g.C, g.HW, g.count,
      g.chunks, g.chunk_len, partial.as<double>());
  MM_CUDA_LAUNCH_CHECK();
  bn_grad_finish_kernel<<<per_channel_blocks(g.C), kThreads, 0, s>>>(
      partial.as<double>(), pg, save_invstd.data_f32(), g.C, g.count, g.chunks, training,
      ggamma ? ggamma->data_f32() : nullptr, gbeta ? gbeta->data_f32() : nullptr,
      coef.as<float>());
  MM_CUDA_LAUNCH_CHECK();
  if (gx && n > 0) {
    bn_grad_input_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        x.data_f32(), masked ? masked : gy.data_f32(), save_mean.data_f32(), coef.as<float>(),
        gx->data_f32(), g.C, g.HW, n);
    MM_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace mm::cuda
