// Shared by the CUDA tests (test_cuda_ops.cpp, test_cuda_kernels.cpp): skipping without a
// device, moving tensors there, empty buffers on either device, bit-exact comparison for the
// determinism checks and random labels.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "tests/testing.h"

// Returns from the test case (which then passes with a warning) when no CUDA device is present,
// so that the [cuda] tests run everywhere and check something only where they can.
#define SKIP_WITHOUT_CUDA()                 \
  do {                                      \
    if (!mm::cuda::available()) {           \
      WARN("no CUDA device: test skipped"); \
      return;                               \
    }                                       \
  } while (0)

// Returns from a test of a behaviour only the real GPU backend has (the emulated device of
// -DMMBOOST_CUDA=EMULATE runs the CPU backend, engine/cuda/emulated.cpp).
#define SKIP_ON_EMULATED_CUDA(why)                   \
  do {                                               \
    if (mm::cuda::emulated()) {                      \
      WARN("emulated CUDA device: " why ": skipped"); \
      return;                                        \
    }                                                \
  } while (0)

namespace mmtest {

// A copy of `t` on the device, outside any autograd graph.
inline mm::Tensor dev(const mm::Tensor& t) { return t.detach().to(mm::Device::CUDA); }

inline mm::Tensor cpu_empty(const mm::Shape& s, mm::DType dt = mm::DType::F32) {
  return mm::Tensor::empty(s, dt, mm::Device::CPU);
}
inline mm::Tensor cuda_empty(const mm::Shape& s, mm::DType dt = mm::DType::F32) {
  return mm::Tensor::empty(s, dt, mm::Device::CUDA);
}

// Fails the test case, naming `what`, unless same_bits(a, b).
inline void require_same_bits(const mm::Tensor& a, const mm::Tensor& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.numel() == b.numel());
  REQUIRE(same_bits(a, b));
}

// B labels in [0, K), the same for a given seed: (B) i64 on the CPU.
inline mm::Tensor labels_for(int64_t B, int64_t K, uint64_t seed) {
  mm::Generator g(seed);
  std::vector<int64_t> v(B);
  for (auto& y : v) y = g.randint(K);
  return mm::Tensor::from_ints(v, {B});
}

}  // namespace mmtest
