// The SIMT host runtime itself (tests/simt/simt.h, libs.h), built only with -DMMBOOST_CUDA=SIMT:
// thread coordinates, barriers and warp collectives with CUDA's semantics, the misuses it must
// report (deadlock, masks, exited lanes, bad launch configurations), the thread-order switch
// that exposes races, and the cuBLAS/cuBLASLt stand-ins against products worked out by hand.
// Launches are written in the translated form, ::simt::Launch(...)(kernel, args).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tests/simt/libs.h"
#include "tests/simt/simt.h"

namespace {

#define LAUNCH(kernel, ...) ::simt::Launch(#kernel, __FILE__, __LINE__, __VA_ARGS__)

// Restores lane order when a test that reversed it ends (also on failure).
struct Order {
  explicit Order(bool reverse) : saved(simt::reverse_order()) { simt::set_reverse_order(reverse); }
  ~Order() { simt::set_reverse_order(saved); }
  bool saved;
};

// ---- kernels ---------------------------------------------------------------------------------

__global__ void write_ids(int* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned per_block = blockDim.x * blockDim.y * blockDim.z;
  out[b * per_block + t] = int(b * per_block + t);
}

// Block sum through shared memory; `barrier` false leaves out the __syncthreads between the
// writes and the reads (a race).
__global__ void block_sum(const float* x, float* out, bool barrier) {
  __shared__ float buf[64];
  buf[threadIdx.x] = x[blockIdx.x * 64 + threadIdx.x];
  if (barrier) __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int i = 0; i < 64; ++i) s += buf[i];
    out[blockIdx.x] = s;
  }
}

__global__ void butterfly(float* out) {
  float v = float(threadIdx.x + 1);
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  out[threadIdx.x] = v;
}

__global__ void shuffles(int* down, int* idx, unsigned* ballot, unsigned* match) {
  const int lane = threadIdx.x;
  down[lane] = __shfl_down_sync(0xffffffffu, lane * 10, 4);
  idx[lane] = __shfl_sync(0xffffffffu, lane * 10, 3);
  ballot[lane] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  match[lane] = __match_any_sync(0xffffffffu, lane % 4);
}

__global__ void mixed_collectives() {
  if (threadIdx.x < 16) {
    __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  } else {
    __syncthreads();
  }
}

__global__ void read_outside_mask(float* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 16);
}

__global__ void lane_not_in_mask() { __syncwarp(0x1u); }

__global__ void exited_lane() {
  if (threadIdx.x >= 16) return;
  __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void sync_after_block0(float* out) {
  if (blockIdx.x > 0) __syncthreads();
  out[0] = 1.0f;
}

__global__ void set_flag(int* flag) { *flag = 1; }

__global__ void read_fresh(const float* p, int* is_nan) { *is_nan = std::isnan(p[0]) ? 1 : 0; }

}  // namespace

// ---- coordinates and barriers ----------------------------------------------------------------

TEST_CASE("simt: every thread of a 3-d grid of 3-d blocks runs once with its coordinates", "[simt]") {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  std::vector<int> out(12 * 24, -1);
  const uint64_t launches = simt::launches_run(), threads = simt::threads_run();
  LAUNCH(write_ids, grid, block)(write_ids, out.data());
  for (int i = 0; i < int(out.size()); ++i) REQUIRE(out[i] == i);
  CHECK(simt::launches_run() == launches + 1);
  CHECK(simt::threads_run() == threads + out.size());
}

TEST_CASE("simt: __syncthreads orders shared-memory writes before reads in either thread order",
          "[simt]") {
  std::vector<float> x(3 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 64);
  for (bool reverse : {false, true}) {
    Order o(reverse);
    std::vector<float> out(3, -1.0f);
    LAUNCH(block_sum, 3, 64)(block_sum, x.data(), out.data(), true);
    for (float s : out) REQUIRE(s == 2016.0f);  // 0 + 1 + ... + 63
  }
}

TEST_CASE("simt: a missing __syncthreads shows as results that depend on the thread order",
          "[simt]") {
  std::vector<float> x(64, 1.0f), fwd(1), rev(1);
  {
    Order o(false);
    LAUNCH(block_sum, 1, 64)(block_sum, x.data(), fwd.data(), false);
  }
  {
    Order o(true);
    LAUNCH(block_sum, 1, 64)(block_sum, x.data(), rev.data(), false);
  }
  // Lane order: thread 0 sums before the others wrote (it reads whatever shared memory held:
  // zeros, or an earlier launch's values); reverse order: everyone wrote first. They differ.
  CHECK(rev[0] == 64.0f);
  CHECK(fwd[0] != rev[0]);
}

// ---- warp collectives ------------------------------------------------------------------------

TEST_CASE("simt: __shfl_xor_sync butterfly gives every lane the warp's sum", "[simt]") {
  for (bool reverse : {false, true}) {
    Order o(reverse);
    std::vector<float> out(64, 0.0f);
    LAUNCH(butterfly, 1, 64)(butterfly, out.data());
    for (int t = 0; t < 64; ++t) {
      // Warp 0 holds 1..32 (sum 528), warp 1 holds 33..64 (sum 1552).
      REQUIRE(out[t] == (t < 32 ? 528.0f : 1552.0f));
    }
  }
}

TEST_CASE("simt: shfl_down, shfl, ballot and match_any follow CUDA's definitions", "[simt]") {
  std::vector<int> down(32), idx(32);
  std::vector<unsigned> ballot(32), match(32);
  LAUNCH(shuffles, 1, 32)(shuffles, down.data(), idx.data(), ballot.data(), match.data());
  unsigned every_third = 0;
  for (int l = 0; l < 32; l += 3) every_third |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    INFO("lane " << l);
    CHECK(down[l] == (l + 4 < 32 ? (l + 4) * 10 : l * 10));  // past the end: own value
    CHECK(idx[l] == 30);
    CHECK(ballot[l] == every_third);
    CHECK(match[l] == (0x11111111u << (l % 4)));
  }
}

// ---- misuse ----------------------------------------------------------------------------------

TEST_CASE("simt: a barrier some threads cannot reach is reported as a deadlock", "[simt]") {
  REQUIRE_THROWS_WITH(LAUNCH(mixed_collectives, 1, 32)(mixed_collectives),
                      Catch::Contains("deadlock") && Catch::Contains("mixed_collectives"));
}

TEST_CASE("simt: shuffles from a lane outside the mask and callers outside it are errors",
          "[simt]") {
  std::vector<float> out(16);
  REQUIRE_THROWS_WITH(LAUNCH(read_outside_mask, 1, 32)(read_outside_mask, out.data()),
                      Catch::Contains("not in the mask"));
  REQUIRE_THROWS_WITH(LAUNCH(lane_not_in_mask, 1, 32)(lane_not_in_mask),
                      Catch::Contains("calling lane") && Catch::Contains("is not in the mask"));
  REQUIRE_THROWS_WITH(LAUNCH(exited_lane, 1, 32)(exited_lane),
                      Catch::Contains("has exited") && Catch::Contains("[at block (0,0,0) thread ("));
}

TEST_CASE("simt: a barrier first met after block 0 is refused, not run wrongly", "[simt]") {
  std::vector<float> out(1);
  REQUIRE_THROWS_WITH(LAUNCH(sync_after_block0, 2, 32)(sync_after_block0, out.data()),
                      Catch::Contains("block 0 of this launch used no barrier"));
}

TEST_CASE("simt: an invalid launch configuration runs nothing and sets the last error", "[simt]") {
  int flag = 0;
  REQUIRE(cudaGetLastError() == cudaSuccess);
  LAUNCH(set_flag, 1, 2048)(set_flag, &flag);
  CHECK(flag == 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // read once, then cleared
  LAUNCH(set_flag, dim3(1, 70000), 32)(set_flag, &flag);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  LAUNCH(set_flag, 1, 1)(set_flag, &flag);
  CHECK(flag == 1);
}

TEST_CASE("simt: fresh device memory reads as NaN, so reads of unwritten memory show", "[simt]") {
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, 4 * sizeof(float)) == cudaSuccess);
  int is_nan = 0;
  LAUNCH(read_fresh, 1, 1)(read_fresh, static_cast<const float*>(p), &is_nan);
  CHECK(is_nan == 1);
  cudaFree(p);
}

// ---- cuBLAS and cuBLASLt stand-ins -----------------------------------------------------------

TEST_CASE("simt cuBLAS: Sgemm is column-major C = alpha op(A) op(B) + beta C (hand-worked)",
          "[simt]") {
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  // A column-major 2x3 [[1,2,3],[4,5,6]] stored as 1,4,2,5,3,6; B 3x2 [[1,0],[0,1],[1,1]]
  // stored as 1,0,1,0,1,1. A B = [[4,5],[10,11]], stored 4,10,5,11.
  const float A[6] = {1, 4, 2, 5, 3, 6}, B[6] = {1, 0, 1, 0, 1, 1};
  float C[4] = {1, 1, 1, 1};
  const float alpha = 2.0f, beta = 1.0f;
  REQUIRE(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, A, 2, B, 3, &beta, C, 2) ==
          CUBLAS_STATUS_SUCCESS);
  CHECK(std::vector<float>(C, C + 4) == std::vector<float>{9, 21, 11, 23});
  // op(A) = A^T with A stored 3x2 (ld 3): the same A^T... here A' = [[1,2],[3,4],[5,6]] stored
  // 1,3,5,2,4,6 and op(A') = A'^T = [[1,3,5],[2,4,6]]; times B = [[6,8],[8,10]].
  const float At[6] = {1, 3, 5, 2, 4, 6};
  float D[4] = {NAN, NAN, NAN, NAN};  // beta == 0: C is not read
  const float one = 1.0f, zero = 0.0f;
  REQUIRE(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 2, 3, &one, At, 3, B, 3, &zero, D, 2) ==
          CUBLAS_STATUS_SUCCESS);
  CHECK(std::vector<float>(D, D + 4) == std::vector<float>{6, 8, 8, 10});
  // A leading dimension below the rows stored is refused, as cuBLAS does.
  CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, A, 1, B, 3, &zero, D, 2) ==
        CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, A, 2, B, 2, &zero, D, 2) ==
        CUBLAS_STATUS_INVALID_VALUE);
  cublasDestroy(h);
}

TEST_CASE("simt cuBLASLt: the bias+ReLU epilogue adds a bias per row of D, then clamps",
          "[simt]") {
  cublasLtHandle_t h = nullptr;
  cublasLtMatmulDesc_t d = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  REQUIRE(cublasLtCreate(&h) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS);
  const cublasOperation_t t = CUBLAS_OP_T;
  const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_RELU_BIAS;
  const float bias[2] = {-10.0f, 1.0f};
  const float* bp = bias;
  REQUIRE(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)) ==
          CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)) ==
          CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)) ==
          CUBLAS_STATUS_SUCCESS);
  // A stored 3x2 (1,3,5,2,4,6), op(A) = [[1,3,5],[2,4,6]]; B 3x2 [[1,0],[0,1],[1,1]].
  // op(A) B = [[6,8],[8,10]]; + bias per row (-10 on row 0, +1 on row 1) = [[-4,-2],[9,11]];
  // ReLU: [[0,0],[9,11]], stored 0,9,0,11.
  REQUIRE(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 3, 2, 3) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, 3, 2, 3) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, 2, 2, 2) == CUBLAS_STATUS_SUCCESS);
  const float A[6] = {1, 3, 5, 2, 4, 6}, B[6] = {1, 0, 1, 0, 1, 1};
  float D[4] = {NAN, NAN, NAN, NAN};
  const float one = 1.0f, zero = 0.0f;
  REQUIRE(cublasLtMatmul(h, d, &one, A, la, B, lb, &zero, D, lc, D, lc, nullptr, nullptr, 0,
                         nullptr) == CUBLAS_STATUS_SUCCESS);
  CHECK(std::vector<float>(D, D + 4) == std::vector<float>{0, 9, 0, 11});
  // Layouts that do not chain (op(A) is 2x3, a 2x3 B) are refused.
  cublasLtMatrixLayout_t bad = nullptr;
  REQUIRE(cublasLtMatrixLayoutCreate(&bad, CUDA_R_32F, 2, 3, 2) == CUBLAS_STATUS_SUCCESS);
  CHECK(cublasLtMatmul(h, d, &one, A, la, B, bad, &zero, D, lc, D, lc, nullptr, nullptr, 0,
                       nullptr) == CUBLAS_STATUS_INVALID_VALUE);
  for (auto* l : {la, lb, lc, bad}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(d);
  cublasLtDestroy(h);
}
