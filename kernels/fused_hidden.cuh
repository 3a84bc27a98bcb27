// mmboost kernels: the configurable classifiers' fused hidden layer (backend.h:
// fused_hidden_forward / fused_hidden_backward; CPU twin engine/cpu/fused_classifier.cpp).
//
// The N classifiers of a modality read the same features x (B,D); their first layers
// Linear(D->H) are stacked into w1 (N*H,D), so one GEMM gives every hidden unit:
//   act (B,N*H) = relu(x w1^T + b1)                      cuBLASLt, bias+ReLU epilogue
//   hsum (B,H)  = sum_{j<N-1} coef_j act[:, jH:(j+1)H]   one reduction kernel
//   hnew (B,H)  = act[:, (N-1)H:NH]                      (same kernel)
// Backward from g_hsum, g_hnew (B,H):
//   g_act (B,N*H) = [act > 0] * (coef_j g_hsum | g_hnew)  one elementwise kernel
//   gx = g_act w1,  gw1 = g_act^T x                        two cuBLAS GEMMs
//   gb1 = column sums of g_act                             deterministic reduction
// These raw-pointer launchers are what the engine entry points call; the benchmarks call them
// directly to compare the GEMM paths.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mm::kernels {

// How the hidden-layer GEMM is computed.
enum class HiddenGemm {
  Auto,           // cuBLASLt with the bias+ReLU epilogue when it has an algorithm, else Sgemm
  LtEpilogue,     // cuBLASLt, bias+ReLU fused into the GEMM; the reduction only reads act
  SgemmThenBias,  // cublasSgemm for x w1^T; the reduction kernel adds b1, applies ReLU and
                  // writes act back in place
};

// x (B,D), w1 (NH,D), b1 (NH), coef (N) -> act (B,NH), hsum (B,H), hnew (B,H); NH = N*H.
// Returns the path actually taken (Auto resolves to one of the others).
HiddenGemm fused_hidden_forward(const float* x, const float* w1, const float* b1,
                                const float* coef, float* act, float* hsum, float* hnew,
                                int64_t B, int64_t D, int64_t N, int64_t H, HiddenGemm path);

// The reduction kernel alone (version 1: one thread per (b,h), classifiers in order).
// With b1 != nullptr, act holds x w1^T on entry and relu(x w1^T + b1) on exit.
void fused_hidden_reduce(float* act, const float* b1, const float* coef, float* hsum, float* hnew,
                         int64_t B, int64_t N, int64_t H, cudaStream_t stream);

// act (B,NH), coef (N), g_hsum, g_hnew (B,H) or nullptr (zero) -> g_act (B,NH).
void fused_hidden_grad_act(const float* act, const float* coef, const float* g_hsum,
                           const float* g_hnew, float* g_act, int64_t B, int64_t N, int64_t H,
                           cudaStream_t stream);

// The whole backward; any of gx (B,D), gw1 (NH,D), gb1 (NH) may be nullptr.
void fused_hidden_backward(const float* x, const float* w1, const float* coef, const float* act,
                           const float* g_hsum, const float* g_hnew, float* gx, float* gw1,
                           float* gb1, int64_t B, int64_t D, int64_t N, int64_t H);

}  // namespace mm::kernels
