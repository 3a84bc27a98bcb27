// CPU kernels: row softmax / log-softmax and the soft-target cross-entropy.
// Rows are independent (parallel over rows); each row is reduced in a fixed order in double.
#include <cmath>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cpu {

namespace {
// y = softmax or log-softmax of one row of length K.
inline void softmax_row(const float* x, float* y, int64_t K, bool log) {
  float mx = x[0];
  for (int64_t k = 1; k < K; ++k) mx = x[k] > mx ? x[k] : mx;
  double s = 0.0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(x[k] - mx));
  if (log) {
    // (x - max) - log(s), never x - (max + log(s)): the latter rounds at the scale of the
    // max and loses ~ulp(max) absolute on every element of a row with large logits.
    const float ls = static_cast<float>(std::log(s));
    for (int64_t k = 0; k < K; ++k) y[k] = (x[k] - mx) - ls;
  } else {
    const double inv = 1.0 / s;
    for (int64_t k = 0; k < K; ++k) y[k] = static_cast<float>(std::exp(static_cast<double>(x[k] - mx)) * inv);
  }
}
}  // namespace

void softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const int64_t K = x.size(-1), R = x.numel() / (K ? K : 1);
  const float* px = x.data_f32();
  float* py = y.data_f32();
#pragma omp parallel for schedule(static) if (R * K > 16384)
  for (int64_t r = 0; r < R; ++r) softmax_row(px + r * K, py + r * K, K, log);
}

void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  const int64_t K = y.size(-1), R = y.numel() / (K ? K : 1);
  const float* py = y.data_f32();
  const float* pg = gy.data_f32();
  float* po = gx.data_f32();
#pragma omp parallel for schedule(static) if (R * K > 16384)
  for (int64_t r = 0; r < R; ++r) {
    const float* yr = py + r * K;
    const float* gr = pg + r * K;
    float* o = po + r * K;
    if (log) {  // gx = g - softmax * sum(g)
      double sg = 0.0;
      for (int64_t k = 0; k < K; ++k) sg += gr[k];
      for (int64_t k = 0; k < K; ++k) o[k] = gr[k] - std::exp(yr[k]) * static_cast<float>(sg);
    } else {  // gx = y * (g - sum(g * y))
      double d = 0.0;
      for (int64_t k = 0; k < K; ++k) d += static_cast<double>(gr[k]) * yr[k];
      for (int64_t k = 0; k < K; ++k) o[k] = yr[k] * (gr[k] - static_cast<float>(d));
    }
  }
}

void cross_entropy_soft_forward(const Tensor& logits, const Tensor& targets, Tensor& loss_rows,
                                Tensor& probs) {
  const int64_t B = logits.size(0), K = logits.size(1);
  const float* pz = logits.data_f32();
  const float* pt = targets.data_f32();
  float* pl = loss_rows.data_f32();
  float* pp = probs.data_f32();
#pragma omp parallel for schedule(static) if (B * K > 16384)
  for (int64_t i = 0; i < B; ++i) {
    const float* z = pz + i * K;
    const float* t = pt + i * K;
    float mx = z[0];
    for (int64_t k = 1; k < K; ++k) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(z[k] - mx));
    const double lse = std::log(s) + mx;
    double loss = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      // -t_k log softmax_k = t_k (lse - z_k)
      loss += static_cast<double>(t[k]) * (lse - z[k]);
      pp[i * K + k] = static_cast<float>(std::exp(z[k] - lse));
    }
    pl[i] = static_cast<float>(loss);
  }
}

void cross_entropy_soft_backward(const Tensor& probs, const Tensor& targets, const Tensor& g,
                                 Tensor& grad) {
  const int64_t B = probs.size(0), K = probs.size(1);
  MM_CHECK(g.numel() == 1 && g.dtype() == DType::F32, "cross_entropy_soft_backward: g must be one f32");
  const float scale = g.contiguous().data_f32()[0] / static_cast<float>(B);
  const float* pp = probs.data_f32();
  const float* pt = targets.data_f32();
  float* pg = grad.data_f32();
#pragma omp parallel for schedule(static) if (B * K > 16384)
  for (int64_t i = 0; i < B; ++i) {
    const float* t = pt + i * K;
    double rs = 0.0;  // the targets' row sum: 1 for one-hot labels, less for residual labels
    for (int64_t k = 0; k < K; ++k) rs += t[k];
    const float rsf = static_cast<float>(rs);
    for (int64_t k = 0; k < K; ++k) pg[i * K + k] = (pp[i * K + k] * rsf - t[k]) * scale;
  }
}

}  // namespace mm::cpu
