// mmboost CUDA backend: the runtime every launcher uses (internal to engine/cuda and kernels/).
//
// One stream per device carries every kernel, copy and library call, so work is ordered
// without events and a block returned to the caching allocator can be handed out again at
// once: its next user is queued behind its last one on the same stream. cuBLAS, cuBLASLt and
// cuDNN handles are created lazily, bound to that stream. The one exception is the upload of a
// batch from page-locked memory (upload_h2d, engine/upload.h), on a second stream so that it
// overlaps the kernels: it is ordered by events behind the work queued before it and ahead of
// the kernels that read it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/backend.h"
#include "engine/cuda/cuda_check.h"
#include "engine/tensor.h"

namespace mm::cuda {

int current_device();
cudaStream_t stream();  // the current device's stream (created on first use)
cublasHandle_t cublas_handle();
cublasLtHandle_t cublaslt_handle();
cudnnHandle_t cudnn_handle();
int sm_count();

// TF32 tensor cores for FP32 GEMMs and convolutions: off by default so that CUDA results match
// the CPU to FP32 rounding; MMBOOST_TF32=1 in the environment turns them on (faster, ~1e-3
// relative error).
bool tf32_enabled();

// cuDNN convolution algorithms: by default only those cuDNN reports as deterministic, so that a
// fixed input gives bit-identical gradients run to run. MMBOOST_CUDNN_DETERMINISTIC=0 in the
// environment, or set_conv_deterministic(false), lets cuDNN's own ranking decide among all of
// them, as PyTorch does by default: faster backward passes for some geometries, results that
// may differ in the last bits run to run. Each geometry's choice is made on its first use and
// kept, so a change applies to geometries not used before it. Defined in conv2d.cu.
bool conv_deterministic();
void set_conv_deterministic(bool on);

// cuDNN convolution algorithms ranked by cuDNN's timing of each one on this GPU
// (cudnnFind*Algorithm, run once per geometry and pass when first used, host-blocking) instead
// of by its heuristics: PyTorch's cudnn.benchmark. The determinism rule above still applies
// (the fastest deterministic algorithm, unless it is off). MMBOOST_CUDNN_BENCHMARK=1 in the
// environment, or set_conv_benchmark(true); off by default. Defined in conv2d.cu.
bool conv_benchmark();
void set_conv_benchmark(bool on);

// Bytes held by the caching allocator: in use by tensors, and cached (free, ready for reuse).
size_t allocated_bytes();
size_t cached_bytes();
// Returns every cached (free) block to the driver; in-use blocks are untouched.
void empty_cache();

// Scratch memory for one op (workspaces, partial sums), from the caching allocator. Freeing it
// when the launcher returns is safe although kernels using it may still be queued: the block's
// next user runs on the same stream, after them.
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t nbytes) : ptr_(nbytes ? device_alloc(nbytes) : nullptr), n_(nbytes) {}
  ~Scratch() { if (ptr_) device_free(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }
  size_t size() const { return n_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  size_t n_ = 0;
};

// Precondition helpers for the launchers (the op front-ends check shapes; these catch a host
// pointer reaching a kernel, which would otherwise poison the CUDA context).
void require_cuda(const Tensor& t, const char* op, const char* name);
void require_cuda_contiguous(const Tensor& t, const char* op, const char* name);

// Launch geometry for grid-stride loops over n elements.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  const int64_t cap = int64_t(1) << 20;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

}  // namespace mm::cuda
