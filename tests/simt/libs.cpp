// mmboost SIMT host runtime: cuBLAS and cuBLASLt stand-ins. See libs.h.
#include "tests/simt/libs.h"

#include <Eigen/Core>

#include <algorithm>
#include <cstring>

namespace {

using ColMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using ConstMap = Eigen::Map<const ColMajor, 0, Eigen::OuterStride<>>;
using MutMap = Eigen::Map<ColMajor, 0, Eigen::OuterStride<>>;

bool valid_op(cublasOperation_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T; }

cublasStatus_t check_gemm(cublasOperation_t ta, cublasOperation_t tb, long long m, long long n,
                          long long k, long long lda, long long ldb, long long ldc) {
  if (!valid_op(ta) || !valid_op(tb) || m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1LL, ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldb < std::max(1LL, tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldc < std::max(1LL, m)) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

// D = alpha op(A) op(B) + beta C (+ bias[i], then ReLU, when asked), column-major; C and D
// share the leading dimension ldc (they may be the same memory).
void gemm(cublasOperation_t ta, cublasOperation_t tb, long long m, long long n, long long k,
          float alpha, const float* A, long long lda, const float* B, long long ldb, float beta,
          const float* C, long long ldc, float* D, const float* bias, bool relu) {
  if (m == 0 || n == 0) return;
  // A is stored m x k (op N) or k x m (op T); likewise B.
  const ConstMap a(A, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, Eigen::OuterStride<>(lda));
  const ConstMap b(B, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, Eigen::OuterStride<>(ldb));
  ColMajor prod(m, n);
  if (k == 0) {
    prod.setZero();
  } else if (ta == CUBLAS_OP_N && tb == CUBLAS_OP_N) {
    prod.noalias() = a * b;
  } else if (ta == CUBLAS_OP_N) {
    prod.noalias() = a * b.transpose();
  } else if (tb == CUBLAS_OP_N) {
    prod.noalias() = a.transpose() * b;
  } else {
    prod.noalias() = a.transpose() * b.transpose();
  }
  MutMap d(D, m, n, Eigen::OuterStride<>(ldc));
  for (long long j = 0; j < n; ++j)
    for (long long i = 0; i < m; ++i) {
      float v = alpha * prod(i, j);
      if (beta != 0.0f) v += beta * C[i + j * ldc];  // C is not read when beta == 0
      if (bias) v += bias[i];
      if (relu) v = v > 0.0f ? v : 0.0f;
      d(i, j) = v;
    }
}

}  // namespace

namespace {
template <class T>
cublasStatus_t make(T** out) {
  *out = new T();
  return CUBLAS_STATUS_SUCCESS;
}
template <class T>
cublasStatus_t release(T* p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace

struct cublasContext {
  cudaStream_t stream = nullptr;
};
struct cublasLtContext {};
struct cublasLtMatmulDescOpaque {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const float* bias = nullptr;
};
struct cublasLtMatrixLayoutOpaque {
  uint64_t rows, cols;
  int64_t ld;
};
struct cublasLtMatmulPreferenceOpaque {};

const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_INTERNAL_ERROR";
  }
}
const char* cublasGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_INVALID_VALUE ? "an invalid value was used as an argument"
                                          : "status of the SIMT cuBLAS stand-in";
}
cublasStatus_t cublasCreate(cublasHandle_t* h) { return make(h); }
cublasStatus_t cublasDestroy(cublasHandle_t h) { return release(h); }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float* alpha, const float* A, int lda,
                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc,
                                   0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda,
                                         long long stride_a, const float* B, int ldb,
                                         long long stride_b, const float* beta, float* C, int ldc,
                                         long long stride_c, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  const cublasStatus_t st = check_gemm(ta, tb, m, n, k, lda, ldb, ldc);
  if (st != CUBLAS_STATUS_SUCCESS || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int i = 0; i < batch; ++i)
    gemm(ta, tb, m, n, k, *alpha, A + i * stride_a, lda, B + i * stride_b, ldb, *beta,
         C + i * stride_c, ldc, C + i * stride_c, nullptr, false);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) { return make(h); }
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { return release(h); }
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* d, cublasComputeType_t,
                                        cudaDataType_t scale) {
  if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *d = new cublasLtMatmulDescOpaque();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) { return release(d); }
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t size) {
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      if (size != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
      cublasOperation_t t;
      std::memcpy(&t, buf, size);
      if (!valid_op(t)) return CUBLAS_STATUS_INVALID_VALUE;
      (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->ta : d->tb) = t;
      return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      if (size != sizeof(cublasLtEpilogue_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->epilogue, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      if (size != sizeof(const float*)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->bias, buf, size);
      return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* l, cudaDataType_t type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  if (type != CUDA_R_32F || ld < int64_t(std::max<uint64_t>(1, rows)))
    return CUBLAS_STATUS_INVALID_VALUE;
  *l = new cublasLtMatrixLayoutOpaque{rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) { return release(l); }
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* p) { return make(p); }
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) { return release(p); }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void*, size_t size) {
  const size_t want = attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES ? sizeof(uint64_t)
                                                                       : sizeof(uint32_t);
  return size == want ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

namespace {
// Shapes of D = op(A) op(B) (+ C): m x n with inner size k, or false when they do not fit.
bool lt_shapes(const cublasLtMatmulDescOpaque& d, const cublasLtMatrixLayoutOpaque& a,
               const cublasLtMatrixLayoutOpaque& b, const cublasLtMatrixLayoutOpaque& c,
               const cublasLtMatrixLayoutOpaque& dl, long long& m, long long& n, long long& k) {
  const uint64_t am = d.ta == CUBLAS_OP_N ? a.rows : a.cols, ak = d.ta == CUBLAS_OP_N ? a.cols : a.rows;
  const uint64_t bk = d.tb == CUBLAS_OP_N ? b.rows : b.cols, bn = d.tb == CUBLAS_OP_N ? b.cols : b.rows;
  if (ak != bk || am != dl.rows || bn != dl.cols || c.rows != dl.rows || c.cols != dl.cols ||
      c.ld != dl.ld)
    return false;
  m = (long long)am;
  n = (long long)bn;
  k = (long long)ak;
  return true;
}
}  // namespace

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,
    cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl,
    cublasLtMatmulPreference_t pref, int requested, cublasLtMatmulHeuristicResult_t* results,
    int* returned) {
  long long m, n, k;
  if (!h || !d || !pref || requested < 1 || !lt_shapes(*d, *a, *b, *c, *dl, m, n, k))
    return CUBLAS_STATUS_INVALID_VALUE;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].workspaceSize = 0;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void* alpha,
                              const void* A, cublasLtMatrixLayout_t a, const void* B,
                              cublasLtMatrixLayout_t b, const void* beta, const void* C,
                              cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t dl,
                              const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t) {
  long long m, n, k;
  if (!h || !d || !lt_shapes(*d, *a, *b, *c, *dl, m, n, k)) return CUBLAS_STATUS_INVALID_VALUE;
  const bool bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS || d->epilogue == CUBLASLT_EPILOGUE_RELU_BIAS;
  const bool relu = d->epilogue == CUBLASLT_EPILOGUE_RELU || d->epilogue == CUBLASLT_EPILOGUE_RELU_BIAS;
  if (bias && !d->bias) return CUBLAS_STATUS_INVALID_VALUE;
  gemm(d->ta, d->tb, m, n, k, *static_cast<const float*>(alpha), static_cast<const float*>(A),
       a->ld, static_cast<const float*>(B), b->ld, *static_cast<const float*>(beta),
       static_cast<const float*>(C), dl->ld, static_cast<float*>(D), bias ? d->bias : nullptr,
       relu);
  return CUBLAS_STATUS_SUCCESS;
}
