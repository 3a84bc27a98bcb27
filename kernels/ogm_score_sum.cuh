// mmboost kernels: the OGM score's sum over samples (backend.h: ogm_score_sum; CPU twin in
// engine/cpu/boost_loss.cpp). s = sum_i softmax(S_n)[y_i], the adaptive classifier
// assignment's measure of a modality's classification ability (paper section 4.2).
//
// Two passes, no float atomics: blocks reduce fixed chunks of v to double partials, then one
// block adds the partials in a fixed tree. The chunking depends on R alone, so the sum is
// bit-identical run to run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mm::kernels {

// v (R) -> out (1), float result of a double accumulation. partial must hold
// ogm_score_partials(R) doubles.
int64_t ogm_score_partials(int64_t R);
void ogm_score_sum(const float* v, int64_t R, double* partial, float* out, cudaStream_t stream);

}  // namespace mm::kernels
