// mmboost kernels: the sustained-boosting loss of one modality, paper eqs (2)-(5), forward and
// backward in one pass over each row (backend.h: boost_loss_forward_backward; CPU twin
// engine/cpu/boost_loss.cpp).
//
// Per row i (y its true class; q = softmax(S_{n-1}), P = softmax(S_n), u = softmax(z_new),
// S_n = S_{n-1} + z_new):
//   eps   = -(1 - lambda q_y) log u_y     eq (2): CE(z_new, y_hat), y_hat = y - lambda y*q
//   eps_o = -log P_y                      eq (3)
//   eps_p = -log q_y                      eq (4)
//   g_new  = scale (w_eps (1 - lambda q_y)(u - e_y) + w_o (P - e_y))
//   g_prev = scale (w_o (P - e_y) + w_p (q - e_y))
//   p_true = P_y                          (the OGM score's summand)
// The residual label sums to 1 - lambda q_y, not 1, which is why the eps gradient carries that
// factor on u as well as on e_y.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mm::kernels {

// The kernel's versions, kept side by side so that a benchmark can time each (llm.c style).
enum class BoostLossVersion {
  // 1: a warp per row up to kWarpRowMax, a block per row beyond; three online softmaxes
  // (running max and sum) over a first pass, the gradients in a second pass over the row.
  WarpRows = 1,
  // 2: version 1 with rows of K <= 64 on the fewest lanes (1, 2, 4, 8 or 16) that cover a row
  // in four visits each, several rows per warp.
  Online = 2,
  // 3: the row held in registers (4, 8 or 16 visits a lane: K <= 64 on version 2's
  // lane segments, K <= 512 on a warp, K <= 4096 on a block): one read of the row, the three
  // maxima, then each exponential once, kept for the gradients. Three exponentials an element
  // where version 2 evaluates about seven. Longer rows fall back to version 2.
  Resident = 3,
};

// s_prev, z_new (B,K), labels (B) -> terms (B,3), g_prev, g_new (B,K), p_true (B).
// A label outside [0,K) yields NaN terms, NaN p_true and NaN gradients for its row. The
// outputs must not overlap each other or the inputs (the kernel's pointers are __restrict__).
void boost_loss_forward_backward(const float* s_prev, const float* z_new, const int64_t* labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 float* terms, float* g_prev, float* g_new, float* p_true,
                                 int64_t B, int64_t K, cudaStream_t stream,
                                 BoostLossVersion version = BoostLossVersion::Resident);

}  // namespace mm::kernels
