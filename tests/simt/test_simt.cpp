// The SIMT host runtime itself (tests/simt/simt.h, libs.h), built only with -DMMBOOST_CUDA=SIMT:
// thread coordinates, barriers and warp collectives with CUDA's semantics, the misuses it must
// report (deadlock, masks, exited lanes, bad launch configurations), the thread-order switch
// that exposes races, the cuBLAS/cuBLASLt and cuDNN stand-ins against results worked out by
// hand, and engine/cuda/conv2d.cu's choice among cuDNN's algorithms.
// Launches are written in the translated form, ::simt::Launch(...)(kernel, args).
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/upload.h"
#include "tests/cuda_testing.h"
#include "tests/simt/dnn.h"
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

// Sets conv2d.cu's determinism rule and benchmark mode (cuDNN's timing ranks the algorithms)
// for one test and restores the previous settings, so that the conv2d tests do not depend on
// MMBOOST_CUDNN_DETERMINISTIC or MMBOOST_CUDNN_BENCHMARK in the environment.
struct ConvRule {
  explicit ConvRule(bool deterministic, bool benchmark = false)
      : saved_deterministic(mm::cuda::conv_deterministic()),
        saved_benchmark(mm::cuda::conv_benchmark()) {
    mm::cuda::set_conv_deterministic(deterministic);
    mm::cuda::set_conv_benchmark(benchmark);
  }
  ~ConvRule() {
    mm::cuda::set_conv_deterministic(saved_deterministic);
    mm::cuda::set_conv_benchmark(saved_benchmark);
  }
  bool saved_deterministic, saved_benchmark;
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

TEST_CASE("simt: a copy from page-locked memory lands when an event, a later launch or a stream "
          "sync orders after it, as on a GPU's copy engine",
          "[simt]") {
  cudaStream_t copy = nullptr, compute = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking) == cudaSuccess);
  float* pinned = nullptr;
  REQUIRE(cudaHostAlloc(reinterpret_cast<void**>(&pinned), 4 * sizeof(float), cudaHostAllocPortable) ==
          cudaSuccess);
  for (int i = 0; i < 4; ++i) pinned[i] = 1.0f + i;
  void* dev = nullptr;
  REQUIRE(cudaMalloc(&dev, 4 * sizeof(float)) == cudaSuccess);
  float back[4] = {0, 0, 0, 0};
  cudaEvent_t done = nullptr;
  REQUIRE(cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess);

  SECTION("an event recorded after it, waited for by another stream") {
    REQUIRE(cudaMemcpyAsync(dev, pinned, 4 * sizeof(float), cudaMemcpyHostToDevice, copy) == cudaSuccess);
    REQUIRE(cudaEventRecord(done, copy) == cudaSuccess);
    // Nothing has ordered anything after the copy yet: it has not run.
    int is_nan = 0;
    LAUNCH(read_fresh, 1, 1, 0, compute)(read_fresh, static_cast<const float*>(dev), &is_nan);
    CHECK(is_nan == 1);
    CHECK(cudaEventQuery(done) == cudaErrorNotReady);
    CHECK(cudaGetLastError() == cudaSuccess);  // not an error
    REQUIRE(cudaStreamWaitEvent(compute, done, 0) == cudaSuccess);
    CHECK(cudaEventQuery(done) == cudaSuccess);
    LAUNCH(read_fresh, 1, 1, 0, compute)(read_fresh, static_cast<const float*>(dev), &is_nan);
    CHECK(is_nan == 0);
  }
  SECTION("a later launch on its own stream") {
    REQUIRE(cudaMemcpyAsync(dev, pinned, 4 * sizeof(float), cudaMemcpyHostToDevice, copy) == cudaSuccess);
    int is_nan = 0;
    LAUNCH(read_fresh, 1, 1, 0, copy)(read_fresh, static_cast<const float*>(dev), &is_nan);
    CHECK(is_nan == 0);
  }
  SECTION("the stream's synchronisation; an event recorded before it does not cover it") {
    REQUIRE(cudaEventRecord(done, copy) == cudaSuccess);
    REQUIRE(cudaMemcpyAsync(dev, pinned, 4 * sizeof(float), cudaMemcpyHostToDevice, copy) == cudaSuccess);
    REQUIRE(cudaEventSynchronize(done) == cudaSuccess);
    int is_nan = 0;
    LAUNCH(read_fresh, 1, 1, 0, compute)(read_fresh, static_cast<const float*>(dev), &is_nan);
    CHECK(is_nan == 1);
    REQUIRE(cudaStreamSynchronize(copy) == cudaSuccess);
    LAUNCH(read_fresh, 1, 1, 0, compute)(read_fresh, static_cast<const float*>(dev), &is_nan);
    CHECK(is_nan == 0);
  }
  // From ordinary (pageable) memory the copy is made at once, as the driver stages it.
  std::vector<float> pageable = {5, 6, 7, 8};
  REQUIRE(cudaMemcpyAsync(dev, pageable.data(), 4 * sizeof(float), cudaMemcpyHostToDevice, copy) == cudaSuccess);
  REQUIRE(cudaMemcpy(back, dev, 4 * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(back[3] == 8.0f);
  cudaEventDestroy(done);
  cudaFree(dev);
  CHECK(cudaFreeHost(pinned) == cudaSuccess);
  CHECK(cudaFreeHost(pageable.data()) == cudaErrorInvalidValue);  // not from cudaHostAlloc
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
}

TEST_CASE("upload.cpp on the SIMT build: an upload dropped before its copy has landed waits for "
          "it; one joined by get() has landed and releases without a wait",
          "[simt]") {
  mm::Tensor x = mm::Tensor::empty_pinned({4, 33});
  REQUIRE(x.is_pinned());
  for (int64_t i = 0; i < x.numel(); ++i) x.data_f32()[i] = static_cast<float>(i);
  int64_t before = mm::cuda::host_waits();
  { mm::Upload dropped({x}, mm::Device::CUDA); }
  CHECK(mm::cuda::host_waits() - before == 1);  // nothing had ordered the host after the copy
  before = mm::cuda::host_waits();
  {
    mm::Upload up({x}, mm::Device::CUDA);
    REQUIRE(up.overlapped());
    const mm::Tensor& d = up.get()[0];
    CHECK(mm::cuda::host_waits() == before);
    CHECK(d.to_vector() == x.to_vector());  // this read waits (the compute stream), not the release
    before = mm::cuda::host_waits();
  }
  CHECK(mm::cuda::host_waits() == before);
}

TEST_CASE("upload.cpp on the SIMT build: an upload that fails part-way (out of device memory) "
          "waits for the copies it had queued before their buffers are freed",
          "[simt]") {
  mm::Tensor small = mm::Tensor::empty_pinned({4, 33});
  mm::Tensor large = mm::Tensor::empty_pinned({int64_t(1) << 22});  // 16 MiB
  REQUIRE(small.is_pinned());
  REQUIRE(large.is_pinned());
  for (int64_t i = 0; i < small.numel(); ++i) small.data_f32()[i] = 1.0f;
  mm::cuda::empty_cache();  // no cached block for `large`: its allocation asks cudaMalloc
  simt::fail_mallocs_from(size_t(8) << 20);
  // small's copy is queued on the copy stream, then large's destination cannot be allocated.
  CHECK_THROWS_AS(mm::Upload({small, large}, mm::Device::CUDA), mm::Error);
  simt::fail_mallocs_from(0);
  // The block the failed upload took for small's copy is free again, and the next tensor of that
  // size gets it. Had the copy still been queued, it would land on that tensor's values.
  mm::Tensor t = mm::Tensor::full({4, 33}, 7.0f, mm::Device::CUDA);
  mm::cuda::synchronize();  // the copy stream too
  CHECK(t.to_vector() == std::vector<float>(static_cast<size_t>(t.numel()), 7.0f));
}

TEST_CASE("simt: events time host work, and the device properties name the host runtime",
          "[simt]") {
  cudaEvent_t start = nullptr, stop = nullptr;
  REQUIRE(cudaEventCreate(&start) == cudaSuccess);
  REQUIRE(cudaEventCreate(&stop) == cudaSuccess);
  float ms = -1.0f;
  CHECK(cudaEventElapsedTime(&ms, start, stop) == cudaErrorInvalidValue);  // never recorded
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  REQUIRE(cudaEventRecord(start, nullptr) == cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(cudaEventRecord(stop, nullptr) == cudaSuccess);
  REQUIRE(cudaEventSynchronize(stop) == cudaSuccess);
  REQUIRE(cudaEventElapsedTime(&ms, start, stop) == cudaSuccess);
  CHECK(ms >= 19.0f);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaDeviceProp p;
  REQUIRE(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(std::string(p.name).find("SIMT host runtime") != std::string::npos);
  int l2 = 0;
  REQUIRE(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0) == cudaSuccess);
  CHECK(l2 == p.l2CacheSize);
  CHECK(cudaGetDeviceProperties(&p, 1) == cudaErrorInvalidDevice);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
}

TEST_CASE("simt runtime: the backend's settings report the stand-ins' CUDA and cuDNN versions",
          "[simt]") {
  // runtime.cu's settings() asks the libraries; here they are the stand-ins, which follow the
  // CUDA 13.0 runtime API and the cuDNN 9 API.
  const mm::cuda::Settings s = mm::cuda::settings();
  CHECK(s.gpu == "SIMT host runtime (no GPU: times are the host's)");
  CHECK(s.cuda_runtime == 13000);
  CHECK(s.cuda_driver == 13000);
  CHECK(s.cudnn == 90000);
  CHECK(s.cudnn_built == 90000);
  CHECK(mm::cuda::cuda_version_name(s.cuda_runtime) == "13.0");
  CHECK(mm::cuda::cudnn_version_name(s.cudnn) == "9.0.0");
  CHECK(cudaRuntimeGetVersion(nullptr) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
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

// ---- cuDNN stand-in --------------------------------------------------------------------------

namespace {

// A handle with its stream set and the descriptors of one 2-d convolution (NCHW, FP32).
struct Conv {
  cudnnHandle_t h = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Conv(int C, int H, int W, int O, int k, int pad, int stride, int Ho, int Wo,
       cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION) {
    REQUIRE(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetStream(h, nullptr) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateTensorDescriptor(&x) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateTensorDescriptor(&y) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateFilterDescriptor(&w) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateConvolutionDescriptor(&conv) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, C, H, W) ==
            CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, O, C, k, k) ==
            CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetConvolution2dDescriptor(conv, pad, pad, stride, stride, 1, 1, mode,
                                            CUDNN_DATA_FLOAT) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, O, Ho, Wo) ==
            CUDNN_STATUS_SUCCESS);
  }
  ~Conv() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroy(h);
  }
};

std::string last_cudnn_error() {
  char buf[512];
  cudnnGetLastErrorString(buf, sizeof(buf));
  return buf;
}

constexpr auto kImplicitGemm = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;

}  // namespace

TEST_CASE("simt cuDNN: forward, backward-data and backward-filter of a 3x3 input and 2x2 filter "
          "(hand-worked)",
          "[simt]") {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], stride 1, no padding: y is 2x2.
  Conv c(1, 3, 3, 1, 2, 0, 1, 2, 2);
  int n, ch, ho, wo;
  REQUIRE(cudnnGetConvolution2dForwardOutputDim(c.conv, c.x, c.w, &n, &ch, &ho, &wo) ==
          CUDNN_STATUS_SUCCESS);
  CHECK((n == 1 && ch == 1 && ho == 2 && wo == 2));
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 2, 3, 4}, ones[4] = {1, 1, 1, 1};
  std::vector<char> ws(4096);
  const float one = 1.0f, zero = 0.0f, two = 2.0f;
  // Cross-correlation: y[0][0] = 1*1 + 2*2 + 4*3 + 5*4 = 37, and so on.
  float y[4] = {NAN, NAN, NAN, NAN};  // beta == 0: y is not read
  REQUIRE(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv, kImplicitGemm, ws.data(),
                                  ws.size(), &zero, c.y, y) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(y, y + 4) == std::vector<float>{37, 47, 67, 77});
  // alpha = 2, beta = 1 adds twice the convolution to what y holds.
  REQUIRE(cudnnConvolutionForward(c.h, &two, c.x, x, c.w, w, c.conv, kImplicitGemm, ws.data(),
                                  ws.size(), &one, c.y, y) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(y, y + 4) == std::vector<float>{111, 141, 201, 231});
  // dy = ones: dx[i][j] sums the filter taps that touch (i, j).
  float dx[9];
  std::fill(dx, dx + 9, NAN);
  REQUIRE(cudnnConvolutionBackwardData(c.h, &one, c.w, w, c.y, ones, c.conv,
                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ws.data(), ws.size(),
                                       &zero, c.x, dx) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(dx, dx + 9) == std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4});
  // dw[i][j] sums the 2x2 window of x at offset (i, j).
  float dw[4] = {NAN, NAN, NAN, NAN};
  REQUIRE(cudnnConvolutionBackwardFilter(c.h, &one, c.x, x, c.y, ones, c.conv,
                                         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ws.data(),
                                         ws.size(), &zero, c.w, dw) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(dw, dw + 4) == std::vector<float>{12, 16, 24, 28});
  // CUDNN_CONVOLUTION flips the filter: y[0][0] = 1*4 + 2*3 + 4*2 + 5*1 = 23.
  Conv flipped(1, 3, 3, 1, 2, 0, 1, 2, 2, CUDNN_CONVOLUTION);
  REQUIRE(cudnnConvolutionForward(flipped.h, &one, flipped.x, x, flipped.w, w, flipped.conv,
                                  kImplicitGemm, ws.data(), ws.size(), &zero, flipped.y,
                                  y) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(y, y + 4) == std::vector<float>{23, 33, 53, 63});
  // Padding 1 and stride 2: output 1 + (3 + 2 - 2) / 2 = 2 per axis; y[0][0] sees only x[0][0]
  // (under w[1][1] = 4), y[1][1] the window x[1..2][1..2].
  Conv strided(1, 3, 3, 1, 2, 1, 2, 2, 2);
  REQUIRE(cudnnConvolutionForward(strided.h, &one, strided.x, x, strided.w, w, strided.conv,
                                  kImplicitGemm, ws.data(), ws.size(), &zero, strided.y,
                                  y) == CUDNN_STATUS_SUCCESS);
  CHECK(std::vector<float>(y, y + 4) == std::vector<float>{4, 2 * 3 + 3 * 4, 4 * 2 + 7 * 4,
                                                           5 + 2 * 6 + 3 * 8 + 4 * 9});
}

TEST_CASE("simt cuDNN: a wrong output shape, a short workspace, no stream and refused algorithms "
          "give cuDNN's status and say why",
          "[simt]") {
  Conv c(1, 3, 3, 1, 2, 0, 1, 2, 2);
  const float x[9] = {}, w[4] = {};
  float y[4];
  std::vector<char> ws(4096);
  const float one = 1.0f, zero = 0.0f;
  // y described as 3x3 where the convolution gives 2x2.
  Conv wrong(1, 3, 3, 1, 2, 0, 1, 3, 3);
  CHECK(cudnnConvolutionForward(wrong.h, &one, wrong.x, x, wrong.w, w, wrong.conv, kImplicitGemm,
                                ws.data(), ws.size(), &zero, wrong.y,
                                y) == CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH);
  CHECK(last_cudnn_error().find("gives (1, 1, 2, 2)") != std::string::npos);
  // IMPLICIT_GEMM needs C k k floats (16 bytes) of workspace here.
  CHECK(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv, kImplicitGemm, ws.data(), 15,
                                &zero, c.y, y) == CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT);
  CHECK(last_cudnn_error().find("needs 16") != std::string::npos);
  CHECK(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv, kImplicitGemm, nullptr, 16,
                                &zero, c.y, y) == CUDNN_STATUS_BAD_PARAM_NULL_POINTER);
  // An algorithm the heuristics list as unsupported, and one refused only when run.
  CHECK(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv,
                                CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, ws.data(),
                                ws.size(), &zero, c.y, y) == CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv,
                                CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, ws.data(), ws.size(), &zero,
                                c.y, y) == CUDNN_STATUS_NOT_SUPPORTED_SHAPE);
  // A tensor-op algorithm with the FP32 (FMA) math type.
  REQUIRE(cudnnSetConvolutionMathType(c.conv, CUDNN_FMA_MATH) == CUDNN_STATUS_SUCCESS);
  CHECK(cudnnConvolutionForward(c.h, &one, c.x, x, c.w, w, c.conv,
                                CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, ws.data(),
                                ws.size(), &zero, c.y, y) == CUDNN_STATUS_NOT_SUPPORTED);
  // A handle whose stream was never set.
  cudnnHandle_t bare = nullptr;
  REQUIRE(cudnnCreate(&bare) == CUDNN_STATUS_SUCCESS);
  CHECK(cudnnConvolutionForward(bare, &one, c.x, x, c.w, w, c.conv, kImplicitGemm, ws.data(),
                                ws.size(), &zero, c.y, y) == CUDNN_STATUS_BAD_PARAM);
  CHECK(last_cudnn_error().find("no stream") != std::string::npos);
  cudnnDestroy(bare);
  // A 2x2 filter over a 1x1 input without padding has no output, whatever the stride (a
  // truncating division would make 1 + (1 - 2) / 2 = 1 of it).
  Conv tiny(1, 1, 1, 1, 2, 0, 2, 1, 1);
  int n, ch, ho, wo;
  CHECK(cudnnGetConvolution2dForwardOutputDim(tiny.conv, tiny.x, tiny.w, &n, &ch, &ho, &wo) ==
        CUDNN_STATUS_BAD_PARAM);
  // Descriptors that cannot be set.
  CHECK(cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 3, 3) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 1, 3, 3) ==
        CUDNN_STATUS_NOT_SUPPORTED_LAYOUT);
}

TEST_CASE("conv2d.cu on the SIMT build picks deterministic FP32 algorithms within the workspace "
          "cap, drops a refused one once, and matches the CPU",
          "[simt]") {
  using namespace mm;
  using mmtest::cpu_empty;
  using mmtest::cuda_empty;
  using mmtest::dev;
  const ConvRule deterministic(true);
  // A geometry no other test of this program uses, so that its plan starts unranked.
  const int64_t B = 2, C = 3, H = 6, W = 5, O = 4, k = 3;
  Tensor x = mmtest::randn({B, C, H, W}, 11), w = mmtest::randn({O, C, k, k}, 12, 0.3f), b = mmtest::randn({O}, 13);
  Tensor y = cpu_empty({B, O, 3, 3}), yd = cuda_empty({B, O, 3, 3});
  simt::dnn_stats() = simt::DnnStats{};
  cpu::conv2d_forward(x, w, b, 2, 1, y);
  cuda::conv2d_forward(dev(x), dev(w), dev(b), 2, 1, yd);
  mmtest::require_close(yd, y, 1e-5, 1e-5, "forward");
  const simt::DnnStats& s = simt::dnn_stats();
  // The heuristics rank a tensor-op, an unsupported, a 2 GiB and a non-deterministic algorithm
  // above DIRECT, which is refused when run; IMPLICIT_GEMM then runs. With MMBOOST_TF32=1 the
  // tensor-op algorithm is allowed, and comes first.
  const bool tf32 = cuda::tf32_enabled();
  const int chosen = tf32 ? CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
                          : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  CHECK(s.refused == (tf32 ? 0 : 1));
  CHECK(s.forward[chosen] == 1);
  for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a)
    if (a != chosen) CHECK(s.forward[a] == 0);
  // The plan remembers: a refused algorithm is not tried again.
  cuda::conv2d_forward(dev(x), dev(w), dev(b), 2, 1, yd);
  CHECK(s.refused == (tf32 ? 0 : 1));
  CHECK(s.forward[chosen] == 2);

  Tensor gy = mmtest::randn({B, O, 3, 3}, 14);
  Tensor gx = cpu_empty(x.shape()), gw = cpu_empty(w.shape()), gb = cpu_empty({O});
  Tensor gxd = cuda_empty(x.shape()), gwd = cuda_empty(w.shape()), gbd = cuda_empty({O});
  cpu::conv2d_backward(x, w, gy, 2, 1, &gx, &gw, &gb);
  cuda::conv2d_backward(dev(x), dev(w), dev(gy), 2, 1, &gxd, &gwd, &gbd);
  mmtest::require_close(gxd, gx, 1e-5, 1e-5, "gx");
  mmtest::require_close(gwd, gw, 1e-5, 1e-5, "gw");
  mmtest::require_close(gbd, gb, 1e-5, 1e-5, "gb");
  // The deterministic ALGO_1 of each backward pass, not the non-deterministic ones ranked first
  // nor the one that needs 2 GiB.
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_1] == 1);
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_0] == 0);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1] == 1);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0] == 0);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3] == 0);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING] == 0);
}

TEST_CASE("conv2d.cu on the SIMT build: a cuDNN failure names the pass, algorithm and geometry; "
          "a refusal moves on to the next algorithm",
          "[simt]") {
  using namespace mm;
  using Catch::Matchers::Contains;
  using mmtest::cpu_empty;
  using mmtest::cuda_empty;
  using mmtest::dev;
  const ConvRule deterministic(true);
  // Another geometry of its own: x (1, 2, 5, 5), w (3, 2, 3, 3), stride 1, padding 1.
  Tensor x = mmtest::randn({1, 2, 5, 5}, 21), w = mmtest::randn({3, 2, 3, 3}, 22, 0.3f);
  Tensor y = cpu_empty({1, 3, 5, 5}), yd = cuda_empty({1, 3, 5, 5});
  cpu::conv2d_forward(x, w, Tensor(), 1, 1, y);
  simt::dnn_stats() = simt::DnnStats{};
  // A failure that is not a refusal stops the call, whichever algorithm was running.
  // The first candidate is DIRECT (3), or with MMBOOST_TF32=1 IMPLICIT_PRECOMP_GEMM (1).
  const bool tf32 = cuda::tf32_enabled();
  simt::dnn_fail_next_runs(CUDNN_STATUS_EXECUTION_FAILED);
  REQUIRE_THROWS_WITH(cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 1, yd),
                      Contains(tf32 ? "conv2d forward: cuDNN algorithm 1"
                                    : "conv2d forward: cuDNN algorithm 3") &&
                          Contains("x (1, 2, 5, 5), w (3, 2, 3, 3), stride 1, padding 1") &&
                          Contains("CUDNN_STATUS_EXECUTION_FAILED") &&
                          Contains("failure injected"));
  // The failed algorithm is still first in line. DIRECT is then refused when run, and
  // IMPLICIT_GEMM gives the result.
  cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 1, yd);
  mmtest::require_close(yd, y, 1e-5, 1e-5, "forward after a failed call");
  CHECK(simt::dnn_stats().refused == (tf32 ? 0 : 1));
  CHECK(simt::dnn_stats().forward[tf32 ? CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
                                       : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM] == 1);

  // Backward data: the deterministic ALGO_1 and then the non-deterministic ALGO_0 refused; the
  // second refusal leaves nothing to try.
  Tensor gy = mmtest::randn({1, 3, 5, 5}, 23);
  Tensor gx = cpu_empty(x.shape()), gxd = cuda_empty(x.shape());
  cpu::conv2d_backward(x, w, gy, 1, 1, &gx, nullptr, nullptr);
  simt::dnn_fail_next_runs(CUDNN_STATUS_NOT_SUPPORTED_SHAPE, 2);
  REQUIRE_THROWS_WITH(cuda::conv2d_backward(dev(x), dev(w), dev(gy), 1, 1, &gxd, nullptr, nullptr),
                      Contains("conv2d backward-data: cuDNN algorithm 0") &&
                          Contains("CUDNN_STATUS_NOT_SUPPORTED_SHAPE") &&
                          Contains("the last algorithm left for this geometry"));
  // The plan kept the last candidate, which now runs (with a warning on stderr that no
  // deterministic algorithm is left).
  cuda::conv2d_backward(dev(x), dev(w), dev(gy), 1, 1, &gxd, nullptr, nullptr);
  mmtest::require_close(gxd, gx, 1e-5, 1e-5, "gx from the non-deterministic fallback");
  CHECK(simt::dnn_stats().backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_0] == 1);
  CHECK(simt::dnn_stats().backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_1] == 0);
}

TEST_CASE("conv2d.cu on the SIMT build with conv_deterministic() off follows cuDNN's ranking, "
          "non-deterministic algorithms included, and matches the CPU",
          "[simt]") {
  using namespace mm;
  using mmtest::cpu_empty;
  using mmtest::cuda_empty;
  using mmtest::dev;
  const ConvRule any_algorithm(false);
  // A geometry of its own, x (1, 3, 7, 4), w (2, 3, 3, 3), stride 1, padding 0: its plan is
  // made now, under the setting.
  Tensor x = mmtest::randn({1, 3, 7, 4}, 31), w = mmtest::randn({2, 3, 3, 3}, 32, 0.3f);
  Tensor y = cpu_empty({1, 2, 5, 2}), yd = cuda_empty({1, 2, 5, 2});
  simt::dnn_stats() = simt::DnnStats{};
  cpu::conv2d_forward(x, w, Tensor(), 1, 0, y);
  cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 0, yd);
  mmtest::require_close(yd, y, 1e-5, 1e-5, "forward");
  // Past the tensor-op (unless MMBOOST_TF32=1), unsupported and 2 GiB entries, the
  // non-deterministic GEMM is the first usable algorithm; DIRECT, below it, is never tried.
  const bool tf32 = cuda::tf32_enabled();
  const simt::DnnStats& s = simt::dnn_stats();
  CHECK(s.forward[tf32 ? CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
                       : CUDNN_CONVOLUTION_FWD_ALGO_GEMM] == 1);
  CHECK(s.forward[CUDNN_CONVOLUTION_FWD_ALGO_DIRECT] == 0);
  CHECK(s.refused == 0);

  Tensor gy = mmtest::randn({1, 2, 5, 2}, 33);
  Tensor gx = cpu_empty(x.shape()), gw = cpu_empty(w.shape());
  Tensor gxd = cuda_empty(x.shape()), gwd = cuda_empty(w.shape());
  cpu::conv2d_backward(x, w, gy, 1, 0, &gx, &gw, nullptr);
  cuda::conv2d_backward(dev(x), dev(w), dev(gy), 1, 0, &gxd, &gwd, nullptr);
  mmtest::require_close(gxd, gx, 1e-5, 1e-5, "gx");
  mmtest::require_close(gwd, gw, 1e-5, 1e-5, "gw");
  // cuDNN's first choices, both non-deterministic, where the default would take ALGO_1.
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_0] == 1);
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_1] == 0);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0] == 1);
  CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1] == 0);

  // Back on: a geometry first used now gets the deterministic choice again.
  cuda::set_conv_deterministic(true);
  Tensor x2 = mmtest::randn({1, 3, 8, 4}, 34), gy2 = mmtest::randn({1, 2, 6, 2}, 35);
  Tensor gx2d = cuda_empty(x2.shape());
  cuda::conv2d_backward(dev(x2), dev(w), dev(gy2), 1, 0, &gx2d, nullptr, nullptr);
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_1] == 1);
  CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_0] == 1);
}

TEST_CASE("conv2d.cu on the SIMT build with conv_benchmark() takes cuDNN's fastest timed "
          "algorithm, deterministic unless the rule is off, timing each pass once",
          "[simt]") {
  using namespace mm;
  using mmtest::cpu_empty;
  using mmtest::cuda_empty;
  using mmtest::dev;
  const simt::DnnStats& s = simt::dnn_stats();
  // Two geometries of their own, so that their plans are made under these settings:
  // x (2, 2, H, 5), w (4, 2, 3, 3), stride 1, padding 1, with H = 6, then 7.
  for (const bool deterministic : {true, false}) {
    INFO((deterministic ? "deterministic" : "any algorithm"));
    const ConvRule rule(deterministic, /*benchmark=*/true);
    const int64_t H = deterministic ? 6 : 7;
    Tensor x = mmtest::randn({2, 2, H, 5}, 41), w = mmtest::randn({4, 2, 3, 3}, 42, 0.3f);
    Tensor y = cpu_empty({2, 4, H, 5}), yd = cuda_empty({2, 4, H, 5});
    simt::dnn_stats() = simt::DnnStats{};
    cpu::conv2d_forward(x, w, Tensor(), 1, 1, y);
    cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 1, yd);
    mmtest::require_close(yd, y, 1e-5, 1e-5, "forward");
    // The timing puts IMPLICIT_GEMM (deterministic) first, and reports DIRECT, which the
    // heuristics rank above it but which is refused when run, as failed: nothing is refused.
    CHECK(s.finds == 1);
    CHECK(s.forward[CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM] == 1);
    CHECK(s.forward[CUDNN_CONVOLUTION_FWD_ALGO_DIRECT] == 0);
    CHECK(s.refused == 0);
    cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 1, yd);
    CHECK(s.finds == 1);  // timed once per geometry and pass

    Tensor gy = mmtest::randn({2, 4, H, 5}, 43);
    Tensor gx = cpu_empty(x.shape()), gw = cpu_empty(w.shape());
    Tensor gxd = cuda_empty(x.shape()), gwd = cuda_empty(w.shape());
    cpu::conv2d_backward(x, w, gy, 1, 1, &gx, &gw, nullptr);
    cuda::conv2d_backward(dev(x), dev(w), dev(gy), 1, 1, &gxd, &gwd, nullptr);
    mmtest::require_close(gxd, gx, 1e-5, 1e-5, "gx");
    mmtest::require_close(gwd, gw, 1e-5, 1e-5, "gw");
    CHECK(s.finds == 3);
    // Backward data: the timed ALGO_1 either way (the heuristics' first is ALGO_0).
    CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_1] == 1);
    CHECK(s.backward_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_0] == 0);
    // Backward filter: the fastest, non-deterministic ALGO_3, only with the rule off; with it,
    // the fastest deterministic one, ALGO_1.
    CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3] == (deterministic ? 0 : 1));
    CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1] == (deterministic ? 1 : 0));
    CHECK(s.backward_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0] == 0);
  }
}

TEST_CASE("conv2d.cu's conv_choices() reports each pass's algorithm beside cuDNN's own first "
          "choice, cuDNN's timings in benchmark mode, and the runs since reset_conv_calls()",
          "[simt]") {
  using namespace mm;
  using mmtest::cuda_empty;
  using mmtest::dev;
  const bool tf32 = cuda::tf32_enabled();
  // The entry of one geometry and pass; geometries of their own, x (2, 2, H, 5),
  // w (4, 2, 3, 3), stride 1, padding 1, so that their plans are made under these settings.
  auto choice = [](int64_t H, const std::string& pass) {
    const std::string geometry =
        "x (2, 2, " + std::to_string(H) + ", 5), w (4, 2, 3, 3), stride 1, padding 1";
    int found = 0;
    cuda::ConvChoice c;
    for (const cuda::ConvChoice& e : cuda::conv_choices())
      if (e.geometry == geometry && e.pass == pass) {
        c = e;
        ++found;
      }
    REQUIRE(found == 1);
    return c;
  };
  auto run = [](int64_t H, int forwards) {
    Tensor x = mmtest::randn({2, 2, H, 5}, 51), w = mmtest::randn({4, 2, 3, 3}, 52, 0.3f);
    Tensor yd = cuda_empty({2, 4, H, 5});
    for (int i = 0; i < forwards; ++i) cuda::conv2d_forward(dev(x), dev(w), Tensor(), 1, 1, yd);
    Tensor gy = mmtest::randn({2, 4, H, 5}, 53);
    Tensor gxd = cuda_empty(x.shape()), gwd = cuda_empty(w.shape());
    cuda::conv2d_backward(dev(x), dev(w), dev(gy), 1, 1, &gxd, &gwd, nullptr);
  };

  SECTION("benchmark mode: the stand-in's timings (1 ms for the fastest, then 2, 3, ...)") {
    const ConvRule rule(/*deterministic=*/true, /*benchmark=*/true);
    run(9, 2);
    // Forward: the fastest, FFT_TILING (1 ms), allows FP16 conversion and is never taken, with
    // TF32 on or off; IMPLICIT_GEMM (2 ms) is both the choice and cuDNN's first usable one.
    const cuda::ConvChoice f = choice(9, "forward");
    CHECK(f.algo == "IMPLICIT_GEMM");
    CHECK(f.deterministic);
    CHECK(f.calls == 2);
    CHECK(f.ms == 2.0);
    CHECK(f.first == "IMPLICIT_GEMM");
    CHECK(f.first_ms == 2.0);
    const cuda::ConvChoice d = choice(9, "backward-data");
    CHECK(d.algo == "1");
    CHECK(d.calls == 1);
    CHECK(d.ms == 1.0);
    // Backward filter: the rule costs the difference between ALGO_1 (timed second) and the
    // non-deterministic ALGO_3 (timed first).
    const cuda::ConvChoice g = choice(9, "backward-filter");
    CHECK(g.algo == "1");
    CHECK(g.deterministic);
    CHECK(g.workspace > 0);
    CHECK(g.calls == 1);
    CHECK(g.ms == 2.0);
    CHECK(g.first == "3");
    CHECK_FALSE(g.first_deterministic);
    CHECK(g.first_ms == 1.0);

    cuda::reset_conv_calls();
    CHECK(choice(9, "forward").calls == 0);
    CHECK(choice(9, "backward-filter").calls == 0);
    run(9, 1);
    CHECK(choice(9, "forward").calls == 1);
    CHECK(choice(9, "backward-data").calls == 1);
  }

  SECTION("heuristics: no timings; a candidate refused when run is no longer reported") {
    const ConvRule rule(/*deterministic=*/true, /*benchmark=*/false);
    run(10, 1);
    // With TF32 off, DIRECT, the heuristics' first deterministic FP32 forward algorithm, is
    // refused when run, so IMPLICIT_GEMM is in use; cuDNN's first usable one is the
    // non-deterministic GEMM. With TF32 on, the deterministic tensor-op IMPLICIT_PRECOMP_GEMM
    // is both.
    const cuda::ConvChoice f = choice(10, "forward");
    CHECK(f.algo == (tf32 ? "IMPLICIT_PRECOMP_GEMM" : "IMPLICIT_GEMM"));
    CHECK(f.calls == 1);
    CHECK(f.ms == -1.0);
    CHECK(f.first == (tf32 ? "IMPLICIT_PRECOMP_GEMM" : "GEMM"));
    CHECK(f.first_deterministic == tf32);
    CHECK(f.first_ms == -1.0);
    const cuda::ConvChoice d = choice(10, "backward-data");
    CHECK(d.algo == "1");
    CHECK(d.first == "0");
    CHECK_FALSE(d.first_deterministic);
    const cuda::ConvChoice g = choice(10, "backward-filter");
    CHECK(g.algo == "1");
    CHECK(g.first == "0");
    CHECK(g.ms == -1.0);
  }
}
