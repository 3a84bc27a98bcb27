// CPU twin of the sustained-boosting loss of one modality (backend.h:
// boost_loss_forward_backward) and of the OGM score sum (ogm_score_sum).
//
// Per row i, with q = softmax(S_{n-1}), P = softmax(S_n), S_n = S_{n-1} + z_new, u = softmax(z_new)
// and y the true class:
//   y_hat = y - lambda * y * q (detached)        -> only entry y is non-zero: 1 - lambda q_y
//   eps   = CE(z_new, y_hat) = -(1 - lambda q_y) log u_y                   eq (2)
//   eps_o = CE(S_n, y)       = -log P_y                                      eq (3)
//   eps_p = CE(S_{n-1}, y)   = -log q_y                                      eq (4)
// Gradients of scale * (w_eps eps + w_o eps_o + w_p eps_p):
//   d/dz_new = scale * (w_eps (1 - lambda q_y)(u - e_y) + w_o (P - e_y))
//   d/dS_{n-1} = scale * (w_o (P - e_y) + w_p (q - e_y))
// The residual label does not sum to 1, so the eps gradient is u * sum(y_hat) - y_hat, not
// u - y_hat; y_hat is detached, so eps sends nothing to S_{n-1}.
// Each row is computed in double by one thread (rows are independent).
#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cpu {

namespace {
// p = softmax(z) of one row in double; returns log of the normaliser relative to max (lse).
inline double softmax_row(const float* z, double* p, int64_t K) {
  double mx = z[0];
  for (int64_t k = 1; k < K; ++k) mx = z[k] > mx ? z[k] : mx;
  double s = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    p[k] = std::exp(static_cast<double>(z[k]) - mx);
    s += p[k];
  }
  for (int64_t k = 0; k < K; ++k) p[k] /= s;
  return mx + std::log(s);  // log-sum-exp
}
}  // namespace

void boost_loss_forward_backward(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 Tensor& terms, Tensor& g_prev, Tensor& g_new, Tensor& p_true) {
  // s_prev, z_new (B,K); labels (B) -> terms (B,3), g_prev, g_new (B,K), p_true (B)
  const int64_t B = s_prev.size(0), K = s_prev.size(1);
  const float* sp = s_prev.data_f32();
  const float* zn = z_new.data_f32();
  const int64_t* y = labels.data_i64();
  float* pt = terms.data_f32();
  float* gp = g_prev.data_f32();
  float* gn = g_new.data_f32();
  float* pp = p_true.data_f32();
  for (int64_t i = 0; i < B; ++i)  // (the CUDA kernel cannot throw; it writes a NaN row instead)
    MM_CHECK(y[i] >= 0 && y[i] < K, "boost_loss: label " << y[i] << " at row " << i
                                                          << " is outside [0, " << K << ")");
#pragma omp parallel for schedule(static) if (B * K > 16384)
  for (int64_t i = 0; i < B; ++i) {
    std::vector<double> q(K), P(K), u(K);
    std::vector<float> sn(K);
    const float* a = sp + i * K;
    const float* z = zn + i * K;
    for (int64_t k = 0; k < K; ++k) sn[k] = a[k] + z[k];  // S_n in f32, as the plain path adds
    const double lse_q = softmax_row(a, q.data(), K);
    const double lse_P = softmax_row(sn.data(), P.data(), K);
    const double lse_u = softmax_row(z, u.data(), K);
    const int64_t c = y[i];
    const double yhat = 1.0 - static_cast<double>(lambda) * q[c];  // residual label, eq (2)
    pt[i * 3 + 0] = static_cast<float>(-yhat * (static_cast<double>(z[c]) - lse_u));
    pt[i * 3 + 1] = static_cast<float>(-(static_cast<double>(sn[c]) - lse_P));
    pt[i * 3 + 2] = static_cast<float>(-(static_cast<double>(a[c]) - lse_q));
    pp[i] = static_cast<float>(P[c]);
    for (int64_t k = 0; k < K; ++k) {
      const double e = k == c ? 1.0 : 0.0;
      const double d_o = P[k] - e;
      gn[i * K + k] = static_cast<float>(scale * (w_eps * yhat * (u[k] - e) + w_o * d_o));
      gp[i * K + k] = static_cast<float>(scale * (w_o * d_o + w_p * (q[k] - e)));
    }
  }
}

void ogm_score_sum(const Tensor& v, Tensor& out) {
  const int64_t R = v.numel();
  const float* p = v.data_f32();
  double s = 0.0;
  for (int64_t i = 0; i < R; ++i) s += p[i];
  out.data_f32()[0] = static_cast<float>(s);
}

}  // namespace mm::cpu
