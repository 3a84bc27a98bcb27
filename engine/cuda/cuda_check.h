// mmboost CUDA backend: throwing checks for CUDA runtime, cuBLAS(Lt) and cuDNN calls.
//
// Each macro evaluates the call once and, on failure, throws mm::Error (through
// mm::throw_error, so the message carries file:line) naming the call, the library's own error
// name and text, and where one is known a hint on what to do about it.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "engine/error.h"

namespace mm::cuda::detail {

// "cudaErrorMemoryAllocation: out of memory" plus advice for the common failures.
std::string describe_cuda_error(cudaError_t e);
std::string describe_cublas_error(cublasStatus_t s);
std::string describe_cudnn_error(cudnnStatus_t s);

}  // namespace mm::cuda::detail

#define MM_CUDA_CHECK(call)                                                                 \
  do {                                                                                      \
    cudaError_t mm_cuda_err_ = (call);                                                      \
    if (mm_cuda_err_ != cudaSuccess) {                                                      \
      ::mm::throw_error(__FILE__, __LINE__,                                                 \
                        std::string("CUDA call `" #call "` failed: ") +                     \
                            ::mm::cuda::detail::describe_cuda_error(mm_cuda_err_));         \
    }                                                                                       \
  } while (0)

#define MM_CUBLAS_CHECK(call)                                                               \
  do {                                                                                      \
    cublasStatus_t mm_cublas_st_ = (call);                                                  \
    if (mm_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                           \
      ::mm::throw_error(__FILE__, __LINE__,                                                 \
                        std::string("cuBLAS call `" #call "` failed: ") +                   \
                            ::mm::cuda::detail::describe_cublas_error(mm_cublas_st_));      \
    }                                                                                       \
  } while (0)

#define MM_CUDNN_CHECK(call)                                                                \
  do {                                                                                      \
    cudnnStatus_t mm_cudnn_st_ = (call);                                                    \
    if (mm_cudnn_st_ != CUDNN_STATUS_SUCCESS) {                                             \
      ::mm::throw_error(__FILE__, __LINE__,                                                 \
                        std::string("cuDNN call `" #call "` failed: ") +                    \
                            ::mm::cuda::detail::describe_cudnn_error(mm_cudnn_st_));        \
    }                                                                                       \
  } while (0)

// After a kernel launch: reports bad launch configurations at the launch site (asynchronous
// faults inside the kernel surface at the next synchronising call).
#define MM_CUDA_LAUNCH_CHECK() MM_CUDA_CHECK(cudaGetLastError())
