// mmboost kernels: the configurable classifiers' fused hidden layer. See fused_hidden.cuh for
// the math; the CPU twin is engine/cpu/fused_classifier.cpp.
//
// Row-major / column-major: cuBLAS(Lt) sees the row-major act (B,NH) as the column-major
// act^T (NH,B) = w1 (as stored: col-major (D,NH), transposed) times x^T (col-major (D,B)).
// The epilogue's bias runs along the rows of that column-major result, i.e. along NH: b1.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "engine/backend.h"
#include "engine/cuda/reduce.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"
#include "kernels/fused_hidden.cuh"

namespace mm::kernels {

namespace {

constexpr int kThreads = 256;
constexpr size_t kLtWorkspace = size_t(32) << 20;

// One thread per (b,h): walks the N classifiers' unit h in order (a fixed summation order, the
// CPU twin's). Consecutive threads take consecutive h, so every load and store is coalesced.
// act is (B,N*H), b1 (N*H) or null, coef (N), hsum and hnew (B,H)
__global__ void fused_hidden_reduce_kernel(float* act, const float* b1, const float* coef,
                                           float* hsum, float* hnew, int64_t B, int64_t N,
                                           int64_t H) {
  const int64_t total = B * H;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t b = t / H, h = t % H;
    float* row = act + b * N * H;
    float s = 0.0f;
    for (int64_t j = 0; j < N; ++j) {
      float v = row[j * H + h];
      if (b1) {
        v += b1[j * H + h];
        v = v > 0.0f ? v : 0.0f;
        row[j * H + h] = v;
      }
      if (j + 1 < N) s += coef[j] * v;
      else hnew[t] = v;
    }
    hsum[t] = s;
  }
}

// g_act[b, jH+h] = [act > 0] * (j < N-1 ? coef_j g_hsum[b,h] : g_hnew[b,h])
// act, g_act are (B,N*H); g_hsum, g_hnew (B,H) or null (zero)
__global__ void fused_hidden_grad_act_kernel(const float* act, const float* coef,
                                             const float* g_hsum, const float* g_hnew,
                                             float* g_act, int64_t B, int64_t N, int64_t H) {
  const int64_t NH = N * H, total = B * NH;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t b = t / NH, col = t % NH, j = col / H, h = col % H;
    const bool is_new = j == N - 1;
    const float* src = is_new ? g_hnew : g_hsum;
    const float c = is_new ? 1.0f : coef[j];
    g_act[t] = (src && act[t] > 0.0f) ? c * src[b * H + h] : 0.0f;
  }
}

// ---- the cuBLASLt plan ---------------------------------------------------------------------

struct LtKey {
  int64_t B, D, NH;
  unsigned align;
  bool tf32;
  bool operator<(const LtKey& o) const {
    return std::tie(B, D, NH, align, tf32) < std::tie(o.B, o.D, o.NH, o.align, o.tf32);
  }
};

struct LtPlan {
  bool usable = false;  // cuBLASLt has an algorithm for this shape with the epilogue
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
};

std::mutex g_lt_mu;
std::map<LtKey, LtPlan>& lt_plans() {
  static auto* m = new std::map<LtKey, LtPlan>();  // leaked, as the handles it refers to
  return *m;
}

unsigned alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  unsigned a = 256;
  while (a > 4 && (v % a) != 0) a >>= 1;
  return a;
}

LtPlan& lt_plan(const float* x, const float* w1, const float* b1, float* act, int64_t B,
                int64_t D, int64_t NH) {
  unsigned align = alignment_of(x);
  for (const void* p : {static_cast<const void*>(w1), static_cast<const void*>(b1),
                        static_cast<const void*>(act)})
    align = std::min(align, alignment_of(p));
  const LtKey key{B, D, NH, align, mm::cuda::tf32_enabled()};
  auto& plans = lt_plans();
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  LtPlan p;
  if (align >= 16) {  // narrower alignments: leave it to the Sgemm path
    const cublasComputeType_t compute =
        key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    MM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, compute, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    MM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    MM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_RELU_BIAS;
    MM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    MM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b1,
                                                   sizeof(b1)));
    // A = w1 as stored: col-major (D, NH), ld D (op T). B = x: col-major (D, B), ld D.
    // C = D = act: col-major (NH, B), ld NH.
    MM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_32F, D, NH, D));
    MM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_32F, D, B, D));
    MM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, NH, B, NH));
    cublasLtMatmulPreference_t pref = nullptr;
    MM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kLtWorkspace;
    MM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    const uint32_t al = align;
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      MM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &al, sizeof(al)));
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(mm::cuda::cublaslt_handle(), p.op, p.a, p.b, p.c, p.c,
                                       pref, 1, &heur, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && heur.state == CUBLAS_STATUS_SUCCESS) {
      p.usable = true;
      p.algo = heur.algo;
      p.workspace = heur.workspaceSize;
    }
  }
  return plans.emplace(key, p).first->second;
}

// act = relu(x w1^T + b1) through cuBLASLt; false when cuBLASLt declines this shape.
bool lt_forward(const float* x, const float* w1, const float* b1, float* act, int64_t B,
                int64_t D, int64_t NH) {
  std::lock_guard<std::mutex> lock(g_lt_mu);
  LtPlan& p = lt_plan(x, w1, b1, act, B, D, NH);
  if (!p.usable) return false;
  MM_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b1, sizeof(b1)));
  mm::cuda::Scratch ws(p.workspace);
  const float one = 1.0f, zero = 0.0f;
  const cublasStatus_t st =
      cublasLtMatmul(mm::cuda::cublaslt_handle(), p.op, &one, w1, p.a, x, p.b, &zero, act, p.c,
                     act, p.c, &p.algo, ws.get(), p.workspace, mm::cuda::stream());
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) {
    p.usable = false;  // remembered: this shape takes the Sgemm path from now on
    return false;
  }
  MM_CUBLAS_CHECK(st);
  return true;
}

HiddenGemm default_path() {
  // MMBOOST_FUSED_HIDDEN=sgemm forces the Sgemm path (for comparisons on a new GPU).
  static const HiddenGemm p = [] {
    const char* v = std::getenv("MMBOOST_FUSED_HIDDEN");
    return v && std::strcmp(v, "sgemm") == 0 ? HiddenGemm::SgemmThenBias : HiddenGemm::Auto;
  }();
  return p;
}

}  // namespace

void fused_hidden_reduce(float* act, const float* b1, const float* coef, float* hsum, float* hnew,
                         int64_t B, int64_t N, int64_t H, cudaStream_t stream) {
  const int64_t total = B * H;
  if (total == 0) return;
  fused_hidden_reduce_kernel<<<mm::cuda::grid_for(total, kThreads), kThreads, 0, stream>>>(
      act, b1, coef, hsum, hnew, B, N, H);
  MM_CUDA_LAUNCH_CHECK();
}

void fused_hidden_grad_act(const float* act, const float* coef, const float* g_hsum,
                           const float* g_hnew, float* g_act, int64_t B, int64_t N, int64_t H,
                           cudaStream_t stream) {
  const int64_t total = B * N * H;
  if (total == 0) return;
  fused_hidden_grad_act_kernel<<<mm::cuda::grid_for(total, kThreads), kThreads, 0, stream>>>(
      act, coef, g_hsum, g_hnew, g_act, B, N, H);
  MM_CUDA_LAUNCH_CHECK();
}

HiddenGemm fused_hidden_forward(const float* x, const float* w1, const float* b1,
                                const float* coef, float* act, float* hsum, float* hnew,
                                int64_t B, int64_t D, int64_t N, int64_t H, HiddenGemm path) {
  const int64_t NH = N * H;
  if (B * NH == 0) return path;
  cudaStream_t s = mm::cuda::stream();
  if (path == HiddenGemm::Auto) path = default_path();
  if (path != HiddenGemm::SgemmThenBias && D > 0 && lt_forward(x, w1, b1, act, B, D, NH)) {
    fused_hidden_reduce(act, nullptr, coef, hsum, hnew, B, N, H, s);
    return HiddenGemm::LtEpilogue;
  }
  // act (B,NH) = x (B,D) w1^T; the reduction adds b1 and applies ReLU in place.
  mm::cuda::gemm(false, true, B, NH, D, 1.0f, x, D, w1, D, 0.0f, act, NH, 1, 0, 0, 0);
  fused_hidden_reduce(act, b1, coef, hsum, hnew, B, N, H, s);
  return HiddenGemm::SgemmThenBias;
}

void fused_hidden_backward(const float* x, const float* w1, const float* coef, const float* act,
                           const float* g_hsum, const float* g_hnew, float* gx, float* gw1,
                           float* gb1, int64_t B, int64_t D, int64_t N, int64_t H) {
  const int64_t NH = N * H;
  if (!gx && !gw1 && !gb1) return;
  mm::cuda::Scratch g_act(sizeof(float) * std::max<int64_t>(1, B * NH));
  fused_hidden_grad_act(act, coef, g_hsum, g_hnew, g_act.as<float>(), B, N, H,
                        mm::cuda::stream());
  if (gx)  // gx (B,D) = g_act (B,NH) w1 (NH,D)
    mm::cuda::gemm(false, false, B, D, NH, 1.0f, g_act.as<float>(), NH, w1, D, 0.0f, gx, D, 1, 0,
                   0, 0);
  if (gw1)  // gw1 (NH,D) = g_act^T (NH,B) x (B,D)
    mm::cuda::gemm(true, false, NH, D, B, 1.0f, g_act.as<float>(), NH, x, D, 0.0f, gw1, D, 1, 0,
                   0, 0);
  if (gb1)  // gb1 (NH) = column sums of g_act, in batch order per column chunk
    mm::cuda::sum_over_dim(g_act.as<float>(), 1, B, NH, gb1);
}

}  // namespace mm::kernels

// ---- the backend entry points ---------------------------------------------------------------

namespace mm::cuda {

void fused_hidden_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& coef,
                          Tensor& hsum, Tensor& hnew, Tensor& act) {
  const char* op = "fused_hidden_forward";
  for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&x, "x"}, {&w1, "w1"},
                                {&b1, "b1"}, {&coef, "coef"}, {&hsum, "hsum"}, {&hnew, "hnew"},
                                {&act, "act"}})
    require_cuda_contiguous(*t, op, name);
  const int64_t B = x.size(0), D = x.size(1), NH = w1.size(0), N = coef.numel();
  MM_CHECK(N >= 1 && NH % N == 0 && w1.size(1) == D && b1.numel() == NH && act.numel() == B * NH,
           op << ": x " << x.describe() << ", w1 " << w1.describe() << ", b1 " << b1.describe()
              << ", coef " << coef.describe() << ", act " << act.describe()
              << " do not fit x (B,D), w1 (N*H,D), b1 (N*H), coef (N), act (B,N*H)");
  const int64_t H = NH / N;
  kernels::fused_hidden_forward(x.data_f32(), w1.data_f32(), b1.data_f32(), coef.data_f32(),
                                act.data_f32(), hsum.data_f32(), hnew.data_f32(), B, D, N, H,
                                kernels::HiddenGemm::Auto);
}

void fused_hidden_backward(const Tensor& x, const Tensor& w1, const Tensor& coef,
                           const Tensor& act, const Tensor& g_hsum, const Tensor& g_hnew,
                           Tensor* gx, Tensor* gw1, Tensor* gb1) {
  const char* op = "fused_hidden_backward";
  require_cuda_contiguous(x, op, "x");
  require_cuda_contiguous(w1, op, "w1");
  require_cuda_contiguous(coef, op, "coef");
  require_cuda_contiguous(act, op, "act");
  const float* gs = nullptr;
  const float* gn = nullptr;
  if (g_hsum.defined()) {
    require_cuda_contiguous(g_hsum, op, "g_hsum");
    gs = g_hsum.data_f32();
  }
  if (g_hnew.defined()) {
    require_cuda_contiguous(g_hnew, op, "g_hnew");
    gn = g_hnew.data_f32();
  }
  if (gx) require_cuda_contiguous(*gx, op, "gx");
  if (gw1) require_cuda_contiguous(*gw1, op, "gw1");
  if (gb1) require_cuda_contiguous(*gb1, op, "gb1");
  const int64_t B = x.size(0), D = x.size(1), NH = w1.size(0), N = coef.numel();
  MM_CHECK(N >= 1 && NH % N == 0, op << ": w1 " << w1.describe() << " does not hold " << N
                                     << " classifiers");
  kernels::fused_hidden_backward(x.data_f32(), w1.data_f32(), coef.data_f32(), act.data_f32(), gs,
                                 gn, gx ? gx->data_f32() : nullptr,
                                 gw1 ? gw1->data_f32() : nullptr, gb1 ? gb1->data_f32() : nullptr,
                                 B, D, N, NH / N);
}

}  // namespace mm::cuda
