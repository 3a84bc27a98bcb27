// CPU twin of the fused configurable-classifier layer (backend.h: fused_hidden_forward /
// fused_hidden_backward).
//
// The N configurable classifiers of a modality share their input u (B,D); their first layers
// Linear(D->H) are stacked into one (N*H,D) weight so that one GEMM computes all N hidden
// vectors. Because the shared head is linear, the sum of the first N-1 classifiers' logits
// only needs the coefficient-weighted sum of their hidden vectors (hsum), so the head costs
// the same for any N. The newest classifier's hidden vector (hnew) is returned on its own for
// the residual term of eq (2).
//
// Determinism: the GEMM is Eigen's (fixed blocking for a fixed thread count); the sums over
// classifiers and over the batch run in a fixed order inside one thread per output element.
#include <algorithm>
#include <vector>

#include "engine/backend.h"

namespace mm::cpu {

void fused_hidden_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& coef,
                          Tensor& hsum, Tensor& hnew, Tensor& act) {
  // x (B,D), w1 (N*H,D), b1 (N*H), coef (N) -> hsum (B,H), hnew (B,H), act (B,N*H)
  const int64_t B = x.size(0), D = x.size(1), NH = w1.size(0), N = coef.numel();
  const int64_t H = NH / N;
  const float* pb = b1.data_f32();
  const float* pc = coef.data_f32();
  float* pa = act.data_f32();
  // act = b1 broadcast over rows, then act += x w1^T, then ReLU.
#pragma omp parallel for schedule(static) if (B * NH > 65536)
  for (int64_t b = 0; b < B; ++b) std::copy(pb, pb + NH, pa + b * NH);
  gemm(false, true, B, NH, D, 1.0f, x.data_f32(), D, w1.data_f32(), D, 1.0f, pa, NH, 1, 0, 0, 0);
  float* ps = hsum.data_f32();
  float* pn = hnew.data_f32();
#pragma omp parallel for schedule(static) if (B * NH > 65536)
  for (int64_t b = 0; b < B; ++b) {
    float* row = pa + b * NH;
    for (int64_t i = 0; i < NH; ++i) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
    float* s = ps + b * H;
    std::fill(s, s + H, 0.0f);
    for (int64_t j = 0; j + 1 < N; ++j) {  // classifiers in order: a fixed summation order
      const float c = pc[j];
      const float* r = row + j * H;
      for (int64_t h = 0; h < H; ++h) s[h] += c * r[h];
    }
    std::copy(row + (N - 1) * H, row + N * H, pn + b * H);
  }
}

void fused_hidden_backward(const Tensor& x, const Tensor& w1, const Tensor& coef, const Tensor& act,
                           const Tensor& g_hsum, const Tensor& g_hnew, Tensor* gx, Tensor* gw1,
                           Tensor* gb1) {
  // g_hsum, g_hnew (B,H) -> g_act (B,N*H) = d/d(pre-activation), then the GEMMs of a Linear.
  const int64_t B = x.size(0), D = x.size(1), NH = w1.size(0), N = coef.numel();
  const int64_t H = NH / N;
  const float* pc = coef.data_f32();
  const float* pa = act.data_f32();
  const float* gs = g_hsum.defined() ? g_hsum.data_f32() : nullptr;
  const float* gn = g_hnew.defined() ? g_hnew.data_f32() : nullptr;
  std::vector<float> g_act(static_cast<size_t>(B * NH));
#pragma omp parallel for schedule(static) if (B * NH > 65536)
  for (int64_t b = 0; b < B; ++b) {
    const float* a = pa + b * NH;
    float* g = g_act.data() + b * NH;
    for (int64_t j = 0; j < N; ++j) {
      const bool is_new = j == N - 1;
      const float* src = is_new ? (gn ? gn + b * H : nullptr) : (gs ? gs + b * H : nullptr);
      const float c = is_new ? 1.0f : pc[j];
      for (int64_t h = 0; h < H; ++h) {
        const int64_t i = j * H + h;
        g[i] = (src && a[i] > 0.0f) ? c * src[h] : 0.0f;
      }
    }
  }
  if (gx)  // gx (B,D) = g_act (B,NH) w1 (NH,D)
    gemm(false, false, B, D, NH, 1.0f, g_act.data(), NH, w1.data_f32(), D, 0.0f, gx->data_f32(), D,
         1, 0, 0, 0);
  if (gw1)  // gw1 (NH,D) = g_act^T (NH,B) x (B,D)
    gemm(true, false, NH, D, B, 1.0f, g_act.data(), NH, x.data_f32(), D, 0.0f, gw1->data_f32(), D,
         1, 0, 0, 0);
  if (gb1) {  // gb1 (NH) = column sums of g_act in double; each column in batch order, split
              // over column blocks (rows read contiguously)
    float* pg = gb1->data_f32();
    const int64_t block = 256;
    const int64_t nblocks = (NH + block - 1) / block;
#pragma omp parallel for schedule(static) if (B * NH > 65536)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t i0 = blk * block, i1 = std::min(NH, i0 + block);
      double acc[256] = {};
      for (int64_t b = 0; b < B; ++b) {
        const float* g = g_act.data() + b * NH;
        for (int64_t i = i0; i < i1; ++i) acc[i - i0] += g[i];
      }
      for (int64_t i = i0; i < i1; ++i) pg[i] = static_cast<float>(acc[i - i0]);
    }
  }
}

}  // namespace mm::cpu
