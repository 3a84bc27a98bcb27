// CPU GEMM through Eigen (multithreaded with OpenMP; the only translation unit that
// instantiates Eigen's matrix product, to keep build times down).
#include <Eigen/Core>

#include "engine/backend.h"

namespace mm::cpu {

namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using MMap = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class LA, class LB>
void product(float alpha, const LA& a, const LB& b, float beta, MMap& c) {
  if (beta == 0.0f) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

void gemm_one(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  MMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == 0.0f) c.setZero(); else c *= beta;
    return;
  }
  CMap a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
  CMap b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  if (!ta && !tb) product(alpha, a, b, beta, c);
  else if (ta && !tb) product(alpha, a.transpose(), b, beta, c);
  else if (!ta && tb) product(alpha, a, b.transpose(), beta, c);
  else product(alpha, a.transpose(), b.transpose(), beta, c);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  if (M == 0 || N == 0) return;
  if (batch == 1) {
    gemm_one(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Many small products: one per thread (Eigen runs single-threaded inside a parallel region).
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < batch; ++i)
    gemm_one(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
             C + i * stride_c, ldc);
}

}  // namespace mm::cpu
