// CUDA backend: the multi-tensor SGD step. One launch updates up to kSlotsPerLaunch parameter
// tensors (cremad_aug's two ResNet18 encoders with classifiers 1,4, 132 tensors, take three
// launches where per-tensor ops took up to four each), so the optimizer costs one pass over p,
// g and the momentum buffer instead of a launch and a pass per term and tensor.
//
// The slot table travels in the kernel's parameters (no host-to-device copy, so no wait for the
// stream): slot s owns the blocks [block_end[s-1], block_end[s]), each block a fixed chunk of
// kChunk elements of that tensor. Every update rounds as the per-tensor ops did: d = g + wd p,
// buf = momentum buf + (1 - dampening) d and p - lr d are one FMA each (CUDA's axpy), momentum
// buf is one rounded product (CUDA's scale).
#include <algorithm>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"

namespace mm::cuda {

namespace {

using kernels::ceil_div;

constexpr int kThreads = 256;
constexpr int kSlotsPerLaunch = 48;  // keeps the parameter block under the 4 KB limit
constexpr int64_t kChunk = 8 * 1024;  // elements of one tensor per block

struct SgdLaunchSlot {
  float* p;
  const float* g;
  float* buf;  // null without momentum
  int64_t n;
  int64_t block_end;  // blocks of this slot and the ones before it
  float lr, weight_decay;
  int first;  // buf is written, not read
};

struct SgdLaunch {
  SgdLaunchSlot slot[kSlotsPerLaunch];
  int count;
};
static_assert(sizeof(SgdLaunch) + 16 <= 4096, "SGD slot table exceeds the kernel parameter limit");

__global__ void sgd_step_kernel(const SgdLaunch launch, float momentum, float dampening,
                                bool nesterov) {
  const int64_t b = blockIdx.x;
  int s = 0;
  while (launch.slot[s].block_end <= b) ++s;  // the same for every thread of the block
  const SgdLaunchSlot& t = launch.slot[s];
  const int64_t lo = (b - (s ? launch.slot[s - 1].block_end : 0)) * kChunk;
  const int64_t hi = min(t.n, lo + kChunk);
  const float keep = 1.0f - dampening;
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) {
    const float p = t.p[i];
    float d = t.g[i];
    if (t.weight_decay != 0.0f) d = __fmaf_rn(t.weight_decay, p, d);
    if (momentum != 0.0f) {
      const float buf = t.first ? d : __fmaf_rn(keep, d, __fmul_rn(t.buf[i], momentum));
      t.buf[i] = buf;
      d = nesterov ? __fmaf_rn(momentum, buf, d) : buf;
    }
    t.p[i] = __fmaf_rn(-t.lr, d, p);
  }
}

}  // namespace

void sgd_step(const std::vector<SgdSlot>& slots, float momentum, float dampening,
              bool nesterov) {
  SgdLaunch launch{};
  int64_t blocks = 0;
  const int64_t max_blocks = (int64_t(1) << 31) - 1;
  auto flush = [&] {
    if (launch.count == 0) return;
    sgd_step_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        launch, momentum, dampening, nesterov);
    MM_CUDA_LAUNCH_CHECK();
    launch.count = 0;
    blocks = 0;
  };
  for (const SgdSlot& s : slots) {
    require_cuda_contiguous(s.param, "sgd_step", "param");
    require_cuda_contiguous(s.grad, "sgd_step", "grad");
    const int64_t n = s.param.numel();
    MM_CHECK(s.grad.numel() == n, "sgd_step: gradient " << s.grad.describe()
                                                        << " does not match parameter "
                                                        << s.param.describe());
    if (momentum != 0.0f) {
      require_cuda_contiguous(s.buf, "sgd_step", "momentum buffer");
      MM_CHECK(s.buf.numel() == n, "sgd_step: momentum buffer " << s.buf.describe()
                                                                << " does not match parameter "
                                                                << s.param.describe());
    }
    if (n == 0) continue;
    const int64_t need = ceil_div(n, kChunk);
    if (launch.count == kSlotsPerLaunch || blocks + need > max_blocks) flush();
    SgdLaunchSlot& t = launch.slot[launch.count++];
    t.p = s.param.data_f32();
    t.g = s.grad.data_f32();
    t.buf = momentum != 0.0f ? s.buf.data_f32() : nullptr;
    t.n = n;
    blocks += need;
    t.block_end = blocks;
    t.lr = s.lr;
    t.weight_decay = s.weight_decay;
    t.first = s.first ? 1 : 0;
  }
  flush();
}

}  // namespace mm::cuda
