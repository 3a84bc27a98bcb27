// mmboost CUDA backend: device discovery, the caching allocator, the per-device stream,
// host/device copies and the lazily created library handles.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/cuda/runtime.h"

namespace mm::cuda {

// ---- error text ------------------------------------------------------------------------------

namespace detail {

std::string describe_cuda_error(cudaError_t e) {
  std::string s = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  switch (e) {
    case cudaErrorMemoryAllocation:
      s += " (the GPU is out of memory: reduce the batch size or the model width)";
      break;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      s += " (no usable CUDA device: check nvidia-smi, or run with --device cpu)";
      break;
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
      s += " (a kernel faulted and the CUDA context is now unusable; rerun under "
           "compute-sanitizer to find the kernel)";
      break;
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      s += " (this build has no code for this GPU: reconfigure with "
           "-DMMBOOST_CUDA_ARCHS=<the GPU's compute capability, e.g. 80 or 90>)";
      break;
    default:
      break;
  }
  return s;
}

std::string describe_cublas_error(cublasStatus_t st) {
  std::string s = std::string(cublasGetStatusName(st)) + ": " + cublasGetStatusString(st);
  if (st == CUBLAS_STATUS_NOT_INITIALIZED)
    s += " (cuBLAS could not start: is the GPU out of memory or the driver too old?)";
  return s;
}

std::string describe_cudnn_error(cudnnStatus_t st) {
  std::string s = cudnnGetErrorString(st);
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0]) s += std::string(" (") + detail + ")";
  if (st == CUDNN_STATUS_NOT_INITIALIZED)
    s += " (cuDNN could not load: put cuDNN 9's libraries on LD_LIBRARY_PATH)";
  return s;
}

}  // namespace detail

// ---- devices ---------------------------------------------------------------------------------

namespace {
// What cudaGetDeviceCount said (cudaSuccess with no device counts as cudaErrorNoDevice).
cudaError_t device_count_status() {
  static const cudaError_t status = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
      return e;
    }
    return n > 0 ? cudaSuccess : cudaErrorNoDevice;
  }();
  return status;
}
}  // namespace

bool available() { return device_count_status() == cudaSuccess; }

std::string unavailable_reason() {
  const cudaError_t e = device_count_status();
  if (e == cudaSuccess) return "";
  return std::string("the CUDA runtime finds no usable GPU (") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e) +
         (std::getenv("CUDA_VISIBLE_DEVICES") ? std::string("; CUDA_VISIBLE_DEVICES=") + std::getenv("CUDA_VISIBLE_DEVICES")
                                              : std::string()) +
         ")";
}

bool emulated() { return false; }

int device_count() {
  if (!available()) return 0;
  int n = 0;
  MM_CUDA_CHECK(cudaGetDeviceCount(&n));
  return n;
}

int current_device() {
  int d = 0;
  MM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

namespace {

constexpr int kMaxDevices = 64;

struct DeviceState {
  std::once_flag stream_once, copy_once, cublas_once, cublaslt_once, cudnn_once, sm_once;
  cudaStream_t stream = nullptr;
  cudaStream_t copy_stream = nullptr;  // uploads only (upload_h2d)
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  cudnnHandle_t cudnn = nullptr;
  int sms = 0;
};

// Leaked on purpose: tensors destroyed during static destruction still return their memory
// here, whatever the order in which translation units tear down.
DeviceState& device_state() {
  static DeviceState* states = new DeviceState[kMaxDevices];
  int d = current_device();
  MM_CHECK(d >= 0 && d < kMaxDevices, "CUDA device index " << d << " is out of range");
  return states[d];
}

}  // namespace

cudaStream_t stream() {
  DeviceState& s = device_state();
  std::call_once(s.stream_once, [&] {
    MM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  });
  return s.stream;
}

namespace {
// The stream of uploads from page-locked memory, which run beside the compute stream's kernels.
cudaStream_t copy_stream() {
  DeviceState& s = device_state();
  std::call_once(s.copy_once, [&] {
    MM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.copy_stream, cudaStreamNonBlocking));
  });
  return s.copy_stream;
}
}  // namespace

Settings settings() {
  Settings s;
  cudaDeviceProp p{};
  MM_CUDA_CHECK(cudaGetDeviceProperties(&p, current_device()));
  s.gpu = p.name;
  s.tf32 = tf32_enabled();
  s.conv_deterministic = conv_deterministic();
  s.conv_benchmark = conv_benchmark();
  MM_CUDA_CHECK(cudaRuntimeGetVersion(&s.cuda_runtime));
  MM_CUDA_CHECK(cudaDriverGetVersion(&s.cuda_driver));
  s.cudnn = static_cast<int>(cudnnGetVersion());
  s.cudnn_built = CUDNN_VERSION;
  return s;
}

bool tf32_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MMBOOST_TF32");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

cublasHandle_t cublas_handle() {
  DeviceState& s = device_state();
  cudaStream_t st = stream();
  std::call_once(s.cublas_once, [&] {
    MM_CUBLAS_CHECK(cublasCreate(&s.cublas));
    MM_CUBLAS_CHECK(cublasSetStream(s.cublas, st));
    // Default math keeps FP32 precision (no TF32) unless asked for.
    MM_CUBLAS_CHECK(cublasSetMathMode(
        s.cublas, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  });
  return s.cublas;
}

cublasLtHandle_t cublaslt_handle() {
  DeviceState& s = device_state();
  std::call_once(s.cublaslt_once, [&] { MM_CUBLAS_CHECK(cublasLtCreate(&s.cublaslt)); });
  return s.cublaslt;
}

cudnnHandle_t cudnn_handle() {
  DeviceState& s = device_state();
  cudaStream_t st = stream();
  std::call_once(s.cudnn_once, [&] {
    MM_CUDNN_CHECK(cudnnCreate(&s.cudnn));
    MM_CUDNN_CHECK(cudnnSetStream(s.cudnn, st));
  });
  return s.cudnn;
}

int sm_count() {
  DeviceState& s = device_state();
  std::call_once(s.sm_once, [&] {
    MM_CUDA_CHECK(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount,
                                         current_device()));
  });
  return s.sms;
}

// ---- caching allocator -----------------------------------------------------------------------
//
// Freed blocks go to a free list keyed by (device, rounded size) instead of back to the driver,
// so a training loop that allocates the same shapes every step calls cudaMalloc only in its
// first step. Sizes round up to 512 B below 1 MiB and to 2 MiB above, which keeps the number of
// distinct buckets small at a waste of at most one rounding step per block.

namespace {

struct Block {
  size_t size;
  int device;
};

struct CachingAllocator {
  std::mutex mu;
  std::unordered_map<void*, Block> live;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_lists;
  size_t allocated = 0;  // bytes in live blocks
  size_t cached = 0;     // bytes in free lists

  // Gives every cached block back to the driver. Caller holds mu.
  void release_cached_locked() {
    if (cached == 0) return;
    int prev = 0;
    cudaGetDevice(&prev);
    for (auto& [key, ptrs] : free_lists) {
      cudaSetDevice(key.first);
      for (void* p : ptrs) cudaFree(p);  // cudaFree waits for queued work on the device
    }
    cudaSetDevice(prev);
    free_lists.clear();
    cached = 0;
  }
};

CachingAllocator& allocator() {
  static CachingAllocator* a = new CachingAllocator();  // leaked, see device_state()
  return *a;
}

// MMBOOST_CUDA_NO_CACHE=1: exact-size cudaMalloc/cudaFree per tensor, so that
// compute-sanitizer memcheck sees every allocation's true bounds (tools/device_check.sh).
bool caching_disabled() {
  static const bool off = [] {
    const char* v = std::getenv("MMBOOST_CUDA_NO_CACHE");
    return v && std::strcmp(v, "1") == 0;
  }();
  return off;
}

size_t round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSplit = size_t(1) << 20;
  if (n == 0) n = 1;
  if (n <= kSplit) return (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}

}  // namespace

void* device_alloc(size_t nbytes) {
  MM_CHECK(available(), "CUDA tensor requested but no CUDA device is available: check "
                        "nvidia-smi, or run with --device cpu");
  const bool exact = caching_disabled();
  const size_t size = exact ? (nbytes ? nbytes : 1) : round_size(nbytes);
  const int dev = current_device();
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = exact ? a.free_lists.end() : a.free_lists.find({dev, size});
  if (it != a.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    a.cached -= size;
    a.allocated += size;
    a.live.emplace(p, Block{size, dev});
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    // Out of memory: hand the cache back to the driver and try once more.
    cudaGetLastError();
    a.release_cached_locked();
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    std::ostringstream os;
    os << "CUDA allocation of " << (size >> 20) << " MiB (" << size << " bytes) failed with "
       << (a.allocated >> 20) << " MiB in use by tensors: "
       << detail::describe_cuda_error(e);
    ::mm::throw_error(__FILE__, __LINE__, os.str());
  }
  a.allocated += size;
  a.live.emplace(p, Block{size, dev});
  return p;
}

void device_free(void* ptr) {
  // Called from Storage's destructor: must not throw.
  if (!ptr) return;
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = a.live.find(ptr);
  if (it == a.live.end()) return;  // not ours; nothing sensible to do
  const Block b = it->second;
  a.live.erase(it);
  a.allocated -= b.size;
  if (caching_disabled()) {
    cudaFree(ptr);  // waits for queued work that may still use the block
    return;
  }
  a.cached += b.size;
  a.free_lists[{b.device, b.size}].push_back(ptr);
}

size_t allocated_bytes() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.allocated;
}

size_t cached_bytes() {
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.cached;
}

void empty_cache() {
  if (!available()) return;
  CachingAllocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.release_cached_locked();
}

// ---- copies and synchronisation --------------------------------------------------------------
//
// Host copies go through the backend stream and then wait for it: the host buffer may be freed
// as soon as the call returns, and the data must have landed for the caller to read it.

namespace {
std::atomic<int64_t> g_host_waits{0};
std::atomic<int64_t> g_upload_waits{0};  // the part of g_host_waits in upload_release
void wait_for(cudaStream_t s) {
  g_host_waits.fetch_add(1, std::memory_order_relaxed);
  MM_CUDA_CHECK(cudaStreamSynchronize(s));
}
}  // namespace

int64_t host_waits() { return g_host_waits.load(std::memory_order_relaxed); }
int64_t upload_waits() { return g_upload_waits.load(std::memory_order_relaxed); }

void memcpy_h2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, s));
  wait_for(s);
}

void memcpy_d2h(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  wait_for(s);
}

void memcpy_d2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0 || dst == src) return;
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
}

// ---- page-locked host memory and overlapping uploads ------------------------------------------
//
// The data loader's workers build each batch in page-locked memory; the trainer queues its
// upload on the copy stream while the compute stream still runs the previous step, and joins it
// before the step that uses it (boosting/trainer.cpp, DeviceBatches). Freed page-locked blocks are
// cached by rounded size like device blocks (cudaHostAlloc pins pages, which is slow), and handed
// out again only by pinned_alloc, after the upload that read them has been released.

namespace {
struct PinnedCache {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;
  std::map<size_t, std::vector<void*>> free_lists;
};
PinnedCache& pinned_cache() {
  static PinnedCache* c = new PinnedCache();  // leaked, see device_state()
  return *c;
}
}  // namespace

void* pinned_alloc(size_t nbytes) {
  if (!available()) return nullptr;
  const size_t size = round_size(nbytes);
  PinnedCache& c = pinned_cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.live.emplace(p, size);
      return p;
    }
  }
  // A new block, outside the lock: page-locking is slow (every page is pinned), and the other
  // loader workers need not queue behind it for the blocks the cache already has.
  void* p = nullptr;
  if (cudaHostAlloc(&p, size, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();  // out of page-locked memory: ordinary memory will do
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.live.emplace(p, size);
  return p;
}

void pinned_free(void* ptr) {
  if (!ptr) return;
  PinnedCache& c = pinned_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(ptr);
  if (it == c.live.end()) return;
  c.free_lists[it->second].push_back(ptr);
  c.live.erase(it);
}

void upload_begin() {
  cudaEvent_t queued = nullptr;
  MM_CUDA_CHECK(cudaEventCreateWithFlags(&queued, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(queued, stream());
  if (e == cudaSuccess) e = cudaStreamWaitEvent(copy_stream(), queued, 0);
  cudaEventDestroy(queued);  // released once the wait has been queued
  MM_CUDA_CHECK(e);
}

void upload_h2d(void* dst, const void* pinned_src, size_t nbytes) {
  if (nbytes == 0) return;
  MM_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, nbytes, cudaMemcpyHostToDevice, copy_stream()));
}

void* upload_end() {
  cudaEvent_t done = nullptr;
  MM_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  const cudaError_t e = cudaEventRecord(done, copy_stream());
  if (e != cudaSuccess) {
    cudaEventDestroy(done);
    MM_CUDA_CHECK(e);
  }
  return done;
}

void upload_join(void* event) {
  MM_CUDA_CHECK(cudaStreamWaitEvent(stream(), static_cast<cudaEvent_t>(event), 0));
}

void upload_release(void* event) {
  if (!event) return;
  auto ev = static_cast<cudaEvent_t>(event);
  const cudaError_t q = cudaEventQuery(ev);
  if (q == cudaErrorNotReady) {
    g_host_waits.fetch_add(1, std::memory_order_relaxed);
    g_upload_waits.fetch_add(1, std::memory_order_relaxed);
    cudaEventSynchronize(ev);  // an error here is the context's and surfaces at the next check
  }
  if (q != cudaSuccess) cudaGetLastError();
  cudaEventDestroy(ev);
}

void synchronize() {
  if (!available()) return;
  // Uploads still in flight on the copy stream too (one wait as counted: the host waits once).
  cudaStream_t copy = device_state().copy_stream;
  if (copy) MM_CUDA_CHECK(cudaStreamSynchronize(copy));
  wait_for(stream());
}

// ---- launcher preconditions ------------------------------------------------------------------

void require_cuda(const Tensor& t, const char* op, const char* name) {
  MM_CHECK(t.defined() && t.device() == Device::CUDA,
           op << ": " << name << " must be a CUDA tensor, got " << t.describe()
              << " (move it with .to(Device::CUDA))");
}

void require_cuda_contiguous(const Tensor& t, const char* op, const char* name) {
  require_cuda(t, op, name);
  MM_CHECK(t.is_contiguous(), op << ": " << name << " must be contiguous, got " << t.describe()
                                 << " with strides " << shape_str(t.strides())
                                 << " (call .contiguous() first)");
}

}  // namespace mm::cuda
