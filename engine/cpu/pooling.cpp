// CPU pooling: max_pool2d (with argmax indices) and adaptive_avg_pool2d, forward and backward.
// Every (b,c) plane is handled by one thread (static schedule over planes), so the backward's
// scatter-adds into overlapping windows run in a fixed order: deterministic.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/backend.h"

namespace mm::cpu {

// x (B,C,H,W) -> y, indices (B,C,Ho,Wo). Padding counts as -inf. The first maximum in window
// scan order wins; a NaN wins over everything (and propagates), as in PyTorch.
void max_pool2d_forward(const Tensor& x, int kernel, int stride, int padding, Tensor& y,
                        Tensor& indices) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = y.size(2), Wo = y.size(3);
  const float* px = x.data_f32();
  float* py = y.data_f32();
  int64_t* pi = indices.data_i64();
#pragma omp parallel for schedule(static) if (planes * Ho * Wo * kernel * kernel > 65536)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = px + pl * H * W;
    float* yp = py + pl * Ho * Wo;
    int64_t* ip = pi + pl * Ho * Wo;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const int64_t h0 = oh * stride - padding;
      const int64_t hs = std::max<int64_t>(h0, 0), he = std::min<int64_t>(h0 + kernel, H);
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const int64_t w0 = ow * stride - padding;
        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min<int64_t>(w0 + kernel, W);
        float best = -std::numeric_limits<float>::infinity();
        int64_t bi = hs * W + ws;  // the first in-bounds element, also when all are -inf
        for (int64_t h = hs; h < he; ++h)
          for (int64_t w = ws; w < we; ++w) {
            const float v = xp[h * W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              bi = h * W + w;
            }
          }
        yp[oh * Wo + ow] = best;
        ip[oh * Wo + ow] = bi;
      }
    }
  }
}

// gx (B,C,H,W) = 0 except gx[plane, indices] += gy.
void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) {
  const int64_t planes = gx.size(0) * gx.size(1), HW = gx.size(2) * gx.size(3);
  const int64_t P = gy.size(2) * gy.size(3);
  const float* pg = gy.data_f32();
  const int64_t* pi = indices.data_i64();
  float* px = gx.data_f32();
#pragma omp parallel for schedule(static) if (planes * (HW + P) > 65536)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* xp = px + pl * HW;
    std::memset(xp, 0, sizeof(float) * HW);
    const float* gp = pg + pl * P;
    const int64_t* ip = pi + pl * P;
    for (int64_t j = 0; j < P; ++j) xp[ip[j]] += gp[j];
  }
}

namespace {
// PyTorch's adaptive bins: output i of n over an input of size L covers
// [floor(i*L/n), ceil((i+1)*L/n)).
inline int64_t bin_start(int64_t i, int64_t L, int64_t n) { return (i * L) / n; }
inline int64_t bin_end(int64_t i, int64_t L, int64_t n) { return ((i + 1) * L + n - 1) / n; }
}  // namespace

// x (B,C,H,W) -> y (B,C,oh,ow): the mean of each bin, summed in double.
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t oh = y.size(2), ow = y.size(3);
  const float* px = x.data_f32();
  float* py = y.data_f32();
#pragma omp parallel for schedule(static) if (planes * H * W > 65536)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = px + pl * H * W;
    float* yp = py + pl * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t hs = bin_start(i, H, oh), he = bin_end(i, H, oh);
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t ws = bin_start(j, W, ow), we = bin_end(j, W, ow);
        double s = 0.0;
        for (int64_t h = hs; h < he; ++h)
          for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
        yp[i * ow + j] = static_cast<float>(s / static_cast<double>((he - hs) * (we - ws)));
      }
    }
  }
}

// gx (B,C,H,W): each input element receives gy / bin_area from every bin that contains it
// (adjacent bins overlap when H is not a multiple of oh).
void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) {
  const int64_t planes = gx.size(0) * gx.size(1), H = gx.size(2), W = gx.size(3);
  const int64_t oh = gy.size(2), ow = gy.size(3);
  const float* pg = gy.data_f32();
  float* px = gx.data_f32();
#pragma omp parallel for schedule(static) if (planes * H * W > 65536)
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* xp = px + pl * H * W;
    std::memset(xp, 0, sizeof(float) * H * W);
    const float* gp = pg + pl * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t hs = bin_start(i, H, oh), he = bin_end(i, H, oh);
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t ws = bin_start(j, W, ow), we = bin_end(j, W, ow);
        const float v = gp[i * ow + j] / static_cast<float>((he - hs) * (we - ws));
        for (int64_t h = hs; h < he; ++h)
          for (int64_t w = ws; w < we; ++w) xp[h * W + w] += v;
      }
    }
  }
}

}  // namespace mm::cpu
