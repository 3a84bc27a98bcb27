// mmboost SIMT host runtime: runs the project's own CUDA kernels on the CPU, thread by thread,
// for builds with -DMMBOOST_CUDA=SIMT (machines without a GPU).
//
// The kernel sources (engine/cuda/*.cu, kernels/*.cu) are compiled unchanged as C++ against
// this header and the stand-in CUDA headers of tests/simt/include; the only rewrite is the
// launch syntax, `k<<<grid, block, smem, stream>>>(args)` becoming
// `::simt::Launch("k", __FILE__, __LINE__, grid, block, smem, stream)(k, args)`
// (tests/simt/translate.pl). Every CUDA thread of a launch then runs the kernel body:
//
//   - Blocks run one after another, in index order. Within a block every thread is a fiber
//     (its own stack); a thread runs until it reaches a barrier (__syncthreads, __syncwarp) or
//     a warp collective (__shfl_*_sync, __ballot_sync, __match_any_sync) and waits there until
//     every thread the barrier names has arrived. Threads run in lane order, or in reverse lane
//     order with MMBOOST_SIMT_ORDER=reverse: a kernel whose results depend on that order has a
//     race (a missing barrier).
//   - A warp collective gives every participant the values of all participants as they were
//     when the last one arrived, so a lane that runs ahead cannot disturb a slower one.
//   - Misuse that is undefined on a GPU is an error here, thrown from the launch with the
//     kernel's name and the thread's coordinates: a barrier some threads can never reach
//     (deadlock), a collective whose mask leaves out the calling lane or names a lane that has
//     exited, a shuffle reading a lane outside the mask. A bad launch configuration runs
//     nothing and sets cudaGetLastError(), as on a GPU.
//   - Block 0 always runs on fibers. When none of its threads used a barrier or collective,
//     the remaining blocks run each thread as a plain call (much faster); a thread that then
//     reaches a barrier is reported as an error rather than run wrongly.
//   - __shared__ variables are `static thread_local`: one copy per host thread, which is one
//     copy per block because a block runs to completion before the next one starts.
//
// What it cannot show: timing, memory coalescing, bank conflicts, the device's math library
// (expf, logf run on the host's libm) and the hardware's out-of-bounds traps (build with
// -DMMBOOST_SANITIZE=ON and MMBOOST_CUDA_NO_CACHE=1 to have AddressSanitizer catch those:
// device memory is then one host allocation of the exact size per tensor).
#pragma once

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- CUDA language keywords ----------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static thread_local
#define __constant__ static
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// ---- CUDA runtime types (the subset the backend uses) ----------------------------------------

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNotReady = 600,
  cudaErrorInitializationError = 3,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorUnsupportedPtxVersion = 222,
  cudaErrorIllegalAddress = 700,
  cudaErrorMisalignedAddress = 716,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrL2CacheSize = 89 };

// The fields of cudaDeviceProp the project reads (the benchmarks print `name`; test_simt checks
// l2CacheSize against the attribute).
struct cudaDeviceProp {
  char name[256];
  int l2CacheSize;
};

// Events time host work here (steady clock); a benchmark run on this build measures the host.
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
constexpr unsigned cudaEventDefault = 0x00;
constexpr unsigned cudaEventDisableTiming = 0x02;

// Streams. Kernels, library calls and copies run to completion when they are made, with one
// exception that stands in for a GPU's asynchrony where it matters to the backend: a copy from
// page-locked host memory (cudaHostAlloc) to the device is queued on its stream and runs only
// when something orders the host or another stream after it: cudaStreamSynchronize of its
// stream, cudaEventSynchronize or cudaStreamWaitEvent of an event recorded after it, a later
// launch or copy on the same stream (cudaEventQuery reports cudaErrorNotReady meanwhile). So a
// kernel that reads the destination without such an order reads what was there before (0xff
// bytes in fresh memory: NaN), and cudaFreeHost of a buffer that a queued copy still reads
// stops the program with a message, as a GPU would copy freed memory.
struct CUstream_st;
using cudaStream_t = CUstream_st*;
constexpr unsigned cudaStreamNonBlocking = 0x01;
constexpr unsigned cudaHostAllocDefault = 0x00;
constexpr unsigned cudaHostAllocPortable = 0x01;

// The CUDA runtime API these stand-ins follow (1000 major + 10 minor); cudaRuntimeGetVersion and
// cudaDriverGetVersion report it.
#define CUDART_VERSION 13000

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void** p, size_t nbytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaHostAlloc(void** p, size_t nbytes, unsigned flags);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s);

namespace simt {

// ---- the running thread ----------------------------------------------------------------------

struct ThreadCoords {
  dim3 thread, block, block_dim, grid_dim;
};
// The coordinates of the CUDA thread running on this host thread (only valid inside a launch).
// A function, not an extern thread_local variable: with one, kernel code running on a fiber
// stack in the ASan + UBSan build (GCC 12) read it through a null address.
const ThreadCoords& coords();

// A CUDA thread's view of the warp collective it just took part in: the 64-bit value each
// participant contributed (valid for lanes in `mask`).
struct WarpExchange {
  unsigned mask;
  uint64_t value[32];
};

int lane_id();
// Waits until every lane of `mask` has called a warp collective with the same mask, then
// returns what each contributed. `what` names the intrinsic in errors.
const WarpExchange& warp_exchange(const char* what, unsigned mask, uint64_t mine);
void block_barrier();
// Records a misuse found inside a kernel (reported when the launch ends) and returns.
void kernel_error(const char* what);

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a wide type");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// ---- launches --------------------------------------------------------------------------------

// Runs the copies queued on `s` (a copy from page-locked memory; see the streams above).
void run_queued(cudaStream_t s);

class Launch {
 public:
  Launch(const char* name, const char* file, int line, dim3 grid, dim3 block, size_t smem = 0,
         cudaStream_t stream = nullptr)
      : name_(name), file_(file), line_(line), grid_(grid), block_(block), smem_(smem),
        stream_(stream) {}

  // Runs kernel(args...) on every thread of the grid. Arguments are converted to the kernel's
  // parameter types once, as a GPU launch copies them; each thread gets its own copy.
  template <class... P, class... A>
  void operator()(void (*kernel)(P...), A&&... args) const {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong argument count");
    const std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    run([&] {
      std::tuple<std::decay_t<P>...> mine = params;
      std::apply(kernel, std::move(mine));
    });
  }

 private:
  void run(const std::function<void()>& body) const;
  const char* name_;
  const char* file_;
  int line_;
  dim3 grid_, block_;
  size_t smem_;
  cudaStream_t stream_;
};

// Threads of a block run in lane order, or in reverse (MMBOOST_SIMT_ORDER=reverse in the
// environment sets the initial choice).
void set_reverse_order(bool reverse);
bool reverse_order();

// Number of launches and of CUDA threads run since the program started (for tests).
uint64_t launches_run();
uint64_t threads_run();

// From now on every cudaMalloc of at least `bytes` fails with cudaErrorMemoryAllocation, as on a
// device that is out of memory (for tests of error paths); 0 turns that off.
void fail_mallocs_from(size_t bytes);

}  // namespace simt

#define threadIdx (::simt::coords().thread)
#define blockIdx (::simt::coords().block)
#define blockDim (::simt::coords().block_dim)
#define gridDim (::simt::coords().grid_dim)
constexpr int warpSize = 32;

// ---- intrinsics ------------------------------------------------------------------------------

inline void __syncthreads() { ::simt::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::simt::warp_exchange("__syncwarp", mask, 0);
}

namespace simt::detail {
// Source lane of a shuffle, or -1 when the caller keeps its own value (CUDA's rule for a
// source outside the caller's `width` segment).
inline int segment_lane(int lane, int src, int width) {
  const int base = lane - lane % width;
  return src >= base && src < base + width ? src : -1;
}
template <class T>
T shuffle(const char* what, unsigned mask, T v, int src, int width) {
  const ::simt::WarpExchange& ex = ::simt::warp_exchange(what, mask, ::simt::to_bits(v));
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
    ::simt::kernel_error("shuffle width must be a power of two up to 32");
    return v;
  }
  if (src < 0) return v;
  if (!(ex.mask >> src & 1u)) {
    ::simt::kernel_error("shuffle reads a lane that is not in the mask");
    return v;
  }
  return ::simt::from_bits<T>(ex.value[src]);
}
}  // namespace simt::detail

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  const int lane = ::simt::lane_id();
  const int src = lane - lane % width + ((src_lane % width) + width) % width;
  return ::simt::detail::shuffle("__shfl_sync", mask, v, src, width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = ::simt::lane_id();
  return ::simt::detail::shuffle("__shfl_xor_sync", mask, v,
                                 ::simt::detail::segment_lane(lane, lane ^ lane_mask, width), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::simt::lane_id();
  return ::simt::detail::shuffle("__shfl_down_sync", mask, v,
                                 ::simt::detail::segment_lane(lane, lane + int(delta), width),
                                 width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::simt::lane_id();
  return ::simt::detail::shuffle("__shfl_up_sync", mask, v,
                                 ::simt::detail::segment_lane(lane, lane - int(delta), width),
                                 width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const ::simt::WarpExchange& ex = ::simt::warp_exchange("__ballot_sync", mask, pred != 0);
  unsigned r = 0;
  for (int l = 0; l < 32; ++l)
    if ((ex.mask >> l & 1u) && ex.value[l]) r |= 1u << l;
  return r;
}
template <class T>
unsigned __match_any_sync(unsigned mask, T v) {
  const uint64_t mine = ::simt::to_bits(v);
  const ::simt::WarpExchange& ex = ::simt::warp_exchange("__match_any_sync", mask, mine);
  unsigned r = 0;
  for (int l = 0; l < 32; ++l)
    if ((ex.mask >> l & 1u) && ex.value[l] == mine) r |= 1u << l;
  return r;
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
// Round-to-nearest add and multiply that the compiler may not contract into an FMA (they are
// defined out of line, in simt.cpp), and the fused multiply-add rounded once.
float __fadd_rn(float a, float b);
float __fmul_rn(float a, float b);
float __fmaf_rn(float a, float b, float c);

// CUDA's device-side min/max overloads: integers compare, floats follow fminf/fmaxf (a NaN
// operand yields the other one).
template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point<T>::value) return std::fmin(T(a), T(b));
  else return T(a) < T(b) ? T(a) : T(b);
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
  using T = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point<T>::value) return std::fmax(T(a), T(b));
  else return T(a) < T(b) ? T(b) : T(a);
}
