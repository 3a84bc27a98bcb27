// CPU batch_norm2d: per-channel statistics over (B,H,W), accumulated in double.
//
// One thread per channel (static schedule), each sum in a fixed order: deterministic. The
// double sums keep 8 independent accumulators, vectorised without reassociation (a strict
// serial double sum would run at one add per FP-add latency). The forward reads x twice
// (moments, then normalise), the backward twice (sums, then gx): the op is memory-bound, so
// passes are what cost. A residual add and a ReLU after the normalisation join its pass
// (ResNet's bn-relu and bn-add-relu), and the ReLU's mask joins the backward.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/backend.h"

namespace mm::cpu {

namespace {

// 8 double accumulators per sum, as two 4-wide vectors (GCC/Clang vector extensions, so the
// conversion and the adds vectorise on any target with no reassociation): lane j of a block of
// 8 takes element i + j.
typedef float F4 __attribute__((vector_size(16)));
typedef double D4 __attribute__((vector_size(32)));

inline D4 load_d4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, D4);
}

inline double lanes_sum(D4 lo, D4 hi) {  // lanes in order 0..7
  double s = 0.0;
  for (int j = 0; j < 4; ++j) s += lo[j];
  for (int j = 0; j < 4; ++j) s += hi[j];
  return s;
}

// s1 += sum (x[i] - shift), s2 += sum (x[i] - shift)^2: both moments in one pass. The shift
// (a value of the same channel) keeps s2 - s1^2/n free of cancellation when |mean| >> std.
inline void shifted_moments_d(const float* x, int64_t n, double shift, double& s1, double& s2) {
  const D4 sh = {shift, shift, shift, shift};
  D4 a0 = {}, a1 = {}, b0 = {}, b1 = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const D4 d0 = load_d4(x + i) - sh, d1 = load_d4(x + i + 4) - sh;
    a0 += d0;
    a1 += d1;
    b0 += d0 * d0;
    b1 += d1 * d1;
  }
  s1 += lanes_sum(a0, a1);
  s2 += lanes_sum(b0, b1);
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    s1 += d;
    s2 += d * d;
  }
}

// sg += sum g[i], sgx += sum g[i] * (x[i] - mean)
inline void sum_g_gxmu_d(const float* g, const float* x, int64_t n, double mean, double& sg,
                         double& sgx) {
  const D4 m = {mean, mean, mean, mean};
  D4 a0 = {}, a1 = {}, b0 = {}, b1 = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const D4 g0 = load_d4(g + i), g1 = load_d4(g + i + 4);
    a0 += g0;
    a1 += g1;
    b0 += g0 * (load_d4(x + i) - m);
    b1 += g1 * (load_d4(x + i + 4) - m);
  }
  sg += lanes_sum(a0, a1);
  sgx += lanes_sum(b0, b1);
  for (; i < n; ++i) {
    const double gj = static_cast<double>(g[i]);
    sg += gj;
    sgx += gj * (static_cast<double>(x[i]) - mean);
  }
}

}  // namespace

// x, y (B,C,H,W); gamma, beta (C) or undefined (1 and 0); running_mean/var (C) or undefined in
// training (no tracking); residual (B,C,H,W) or undefined; save_mean, save_invstd (C).
void batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          Tensor& running_mean, Tensor& running_var, bool training,
                          float momentum, float eps, const Tensor& residual, bool relu,
                          Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const int64_t N = B * HW;
  const float* px = x.data_f32();
  const float* pg = gamma.defined() ? gamma.data_f32() : nullptr;
  const float* pb = beta.defined() ? beta.data_f32() : nullptr;
  float* prm = running_mean.defined() ? running_mean.data_f32() : nullptr;
  float* prv = running_var.defined() ? running_var.data_f32() : nullptr;
  const float* pr = residual.defined() ? residual.data_f32() : nullptr;
  float* py = y.data_f32();
  float* psm = save_mean.data_f32();
  float* psi = save_invstd.data_f32();
#pragma omp parallel for schedule(static) if (N * C > 32768)
  for (int64_t c = 0; c < C; ++c) {
    double mean, invstd;
    if (training) {
      const double shift = px[c * HW];  // sample 0's first value of this channel
      double s1 = 0.0, s2 = 0.0;
      for (int64_t b = 0; b < B; ++b) shifted_moments_d(px + (b * C + c) * HW, HW, shift, s1, s2);
      const double n = static_cast<double>(N);
      mean = shift + s1 / n;
      const double ss = std::max(0.0, s2 - s1 * s1 / n);  // sum of squared deviations
      const double var = ss / n;  // biased: what normalises the batch
      invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
      if (prm) prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * mean);
      if (prv) {  // unbiased, as PyTorch; N > 1 is checked by the front-end
        const double unbiased = ss / static_cast<double>(N - 1);
        prv[c] = static_cast<float>((1.0 - momentum) * prv[c] + momentum * unbiased);
      }
    } else {
      mean = prm[c];
      invstd = 1.0 / std::sqrt(static_cast<double>(prv[c]) + static_cast<double>(eps));
    }
    psm[c] = static_cast<float>(mean);
    psi[c] = static_cast<float>(invstd);
    // y = (x - mean) * (invstd * gamma) + beta. Subtracting the mean first (rather than
    // folding it into one shift) keeps precision when |mean| >> std.
    const float fmean = static_cast<float>(mean);
    const float fscale = static_cast<float>((pg ? pg[c] : 1.0) * invstd);
    const float fbeta = pb ? pb[c] : 0.0f;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = (b * C + c) * HW;
      const float* xr = px + o;
      float* yr = py + o;
      if (!pr && !relu) {
        for (int64_t i = 0; i < HW; ++i) yr[i] = (xr[i] - fmean) * fscale + fbeta;
      } else {
        // y = relu?((x - mean) * scale + beta [+ r]): each step rounds as the separate add and
        // relu ops would have.
        const float* rr = pr ? pr + o : nullptr;
        for (int64_t i = 0; i < HW; ++i) {
          float v = (xr[i] - fmean) * fscale + fbeta;
          if (rr) v = v + rr[i];
          if (relu) v = v > 0.0f ? v : 0.0f;
          yr[i] = v;
        }
      }
    }
  }
}

// Training:  gx = gamma*invstd * (gy - mean(gy) - xhat * mean(gy*xhat)),  xhat = (x-mean)*invstd
// Eval:      gx = gamma*invstd * gy  (the statistics are constants)
// Both:      ggamma = sum(gy*xhat), gbeta = sum(gy).
// After a ReLU, gy there is the masked g_act: written first (into g_act, else into gx, whose
// own pass then runs in place), and read by the passes above.
void batch_norm2d_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                           const Tensor& save_invstd, const Tensor& gy, const Tensor& relu_y,
                           bool training, Tensor* gx, Tensor* ggamma, Tensor* gbeta,
                           Tensor* g_act) {
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const int64_t N = B * HW;
  const float* px = x.data_f32();
  const float* pgy = gy.data_f32();
  Tensor masked;
  if (relu_y.defined()) {
    if (g_act) masked = *g_act;
    else if (gx) masked = *gx;
    else masked = Tensor::empty(x.shape(), DType::F32, Device::CPU);
    const float* py = relu_y.data_f32();
    float* pm = masked.data_f32();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) pm[i] = py[i] > 0.0f ? pgy[i] : 0.0f;
    pgy = pm;
  }
  const float* pg = gamma.defined() ? gamma.data_f32() : nullptr;
  const float* psm = save_mean.data_f32();
  const float* psi = save_invstd.data_f32();
  float* pgx = gx ? gx->data_f32() : nullptr;
  float* pgg = ggamma ? ggamma->data_f32() : nullptr;
  float* pgb = gbeta ? gbeta->data_f32() : nullptr;
#pragma omp parallel for schedule(static) if (N * C > 32768)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = psm[c], invstd = psi[c];
    const double gam = pg ? pg[c] : 1.0;
    double sg = 0.0, sgx = 0.0;  // sum gy, sum gy*(x-mean)
    if (pgg || pgb || (pgx && training)) {
      for (int64_t b = 0; b < B; ++b) {
        sum_g_gxmu_d(pgy + (b * C + c) * HW, px + (b * C + c) * HW, HW, mean, sg, sgx);
      }
    }
    if (pgg) pgg[c] = static_cast<float>(sgx * invstd);
    if (pgb) pgb[c] = static_cast<float>(sg);
    if (!pgx) continue;
    // gx = k_gy * gy - k_x * (x - mean) - k_0
    const double n = static_cast<double>(N);
    const float f_gy = static_cast<float>(gam * invstd);
    const float f_x = static_cast<float>(training ? gam * invstd * invstd * invstd * sgx / n : 0.0);
    const float f_0 = static_cast<float>(training ? gam * invstd * sg / n : 0.0);
    const float fmean = static_cast<float>(mean);
    for (int64_t b = 0; b < B; ++b) {
      const float* xr = px + (b * C + c) * HW;
      const float* gr = pgy + (b * C + c) * HW;
      float* o = pgx + (b * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) o[i] = f_gy * gr[i] - f_x * (xr[i] - fmean) - f_0;
    }
  }
}

}  // namespace mm::cpu
