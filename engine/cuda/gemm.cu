// CUDA backend: row-major GEMM through cuBLAS.
//
// cuBLAS is column-major. A row-major matrix with leading dimension ld is the same memory as
// its transpose in column-major with the same ld, so the row-major C = op(A) op(B) is computed
// as the column-major C^T = op(B)^T op(A)^T: swap the operands (and M with N), keep the flags.
#include "engine/backend.h"
#include "engine/cuda/runtime.h"

namespace mm::cuda {

namespace {

// C (M,N) row-major with leading dimension ldc: C *= beta (beta == 0 writes zeros, also over
// NaN). Used for K == 0, where the product is empty.
__global__ void scale_matrix_kernel(float* C, int64_t M, int64_t N, int64_t ldc, float beta) {
  const int64_t total = M * N;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    float* p = C + (t / N) * ldc + t % N;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

int to_int(int64_t v, const char* what) {
  MM_CHECK(v >= 0 && v <= INT32_MAX,
           "gemm: " << what << " = " << v << " exceeds the 32-bit range cuBLAS accepts");
  return static_cast<int>(v);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < batch; ++i) {
      scale_matrix_kernel<<<grid_for(M * N, 256), 256, 0, stream()>>>(C + i * stride_c, M, N,
                                                                      ldc, beta);
      MM_CUDA_LAUNCH_CHECK();
    }
    return;
  }
  cublasHandle_t h = cublas_handle();
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K");
  const int la = to_int(lda, "lda"), lb = to_int(ldb, "ldb"), lc = to_int(ldc, "ldc");
  if (batch == 1) {
    MM_CUBLAS_CHECK(cublasSgemm(h, op_b, op_a, m, n, k, &alpha, B, lb, A, la, &beta, C, lc));
  } else {
    MM_CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, m, n, k, &alpha, B, lb, stride_b, A,
                                              la, stride_a, &beta, C, lc, stride_c,
                                              to_int(batch, "batch")));
  }
}

}  // namespace mm::cuda
