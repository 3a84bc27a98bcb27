// mmboost kernels: deterministic two-pass sum for the OGM score. See ogm_score_sum.cuh.
#include <algorithm>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"
#include "kernels/ogm_score_sum.cuh"

namespace mm::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 4096;       // elements per first-pass block (16 per thread)
constexpr int64_t kMaxPartials = 4096;  // first-pass blocks at most

// Block c sums v[c*len, min(R, (c+1)*len)) into partial[c].
// v is (R), partial (P)
__global__ void ogm_partial_kernel(const float* v, int64_t R, int64_t len, double* partial) {
  const int64_t lo = int64_t(blockIdx.x) * len, hi = min(R, lo + len);
  double acc = 0.0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) acc += v[i];
  acc = block_sum_256(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// One block: out[0] = sum of the P partials (thread t takes t, t+256, ...; then the block tree).
__global__ void ogm_final_kernel(const double* partial, int64_t P, float* out) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < P; i += kThreads) acc += partial[i];
  acc = block_sum_256(acc);
  if (threadIdx.x == 0) out[0] = static_cast<float>(acc);
}

}  // namespace

int64_t ogm_score_partials(int64_t R) {
  return std::max<int64_t>(1, std::min<int64_t>(kMaxPartials, ceil_div(R, kChunk)));
}

void ogm_score_sum(const float* v, int64_t R, double* partial, float* out, cudaStream_t stream) {
  const int64_t P = ogm_score_partials(R);
  const int64_t len = std::max<int64_t>(1, ceil_div(R, P));
  ogm_partial_kernel<<<static_cast<unsigned>(P), kThreads, 0, stream>>>(v, R, len, partial);
  MM_CUDA_LAUNCH_CHECK();
  ogm_final_kernel<<<1, kThreads, 0, stream>>>(partial, P, out);
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::kernels

namespace mm::cuda {

void ogm_score_sum(const Tensor& v, Tensor& out) {
  require_cuda_contiguous(v, "ogm_score_sum", "v");
  require_cuda_contiguous(out, "ogm_score_sum", "out");
  MM_CHECK(out.numel() == 1, "ogm_score_sum: out must hold one value, got " << out.describe());
  const int64_t R = v.numel();
  Scratch partial(sizeof(double) * kernels::ogm_score_partials(R));
  kernels::ogm_score_sum(R ? v.data_f32() : nullptr, R, partial.as<double>(), out.data_f32(),
                         stream());
}

}  // namespace mm::cuda
