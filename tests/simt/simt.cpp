// mmboost SIMT host runtime: the scheduler and the CUDA runtime calls. See simt.h.
#include "tests/simt/simt.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define MM_SIMT_ASAN 1
#else
#define MM_SIMT_ASAN 0
#endif

namespace simt {


void set_last_error(cudaError_t e);

namespace {

std::atomic<uint64_t> g_launches{0}, g_threads{0};

constexpr int kMaxBlockThreads = 1024;
// Each fiber stack has an inaccessible guard page below it, so an overflow faults instead of
// running into the neighbouring fiber. Small under AddressSanitizer: its swapcontext clears
// the shadow of the whole target stack on every switch.
constexpr size_t kStackBytes = MM_SIMT_ASAN ? (size_t(64) << 10) : (size_t(128) << 10);
constexpr size_t kGuardBytes = 4096;
constexpr size_t kSlotBytes = kStackBytes + kGuardBytes;

enum class State { Ready, WaitBlock, WaitWarp, Done };

struct Fiber {
  ucontext_t context;
  ThreadCoords coords;
  int lane = 0;
  State state = State::Ready;
  unsigned wait_mask = 0;  // WaitWarp: the collective's mask
  const char* wait_what = "";
  uint64_t contribution = 0;
  WarpExchange exchange{};  // filled when a collective releases this fiber
  void* asan_fake_stack = nullptr;
};

// The block being run on this host thread.
struct BlockRun {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  bool fiber_mode = false;
  bool used_sync = false;
  std::string error;  // first misuse seen, with the thread's coordinates
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
  void* scheduler_fake_stack = nullptr;
};

thread_local BlockRun* g_run = nullptr;
thread_local const ThreadCoords* g_coords = nullptr;

// Fiber stacks, reused by every block this host thread runs (mapped on first use).
struct StackPool {
  char* base = nullptr;
  ~StackPool() {
    if (base) munmap(base, kSlotBytes * kMaxBlockThreads);
  }
  char* stack(int i) {
    if (!base) {
      void* p = mmap(nullptr, kSlotBytes * kMaxBlockThreads, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw std::runtime_error("simt: cannot map fiber stacks");
      base = static_cast<char*>(p);
      for (int k = 0; k < kMaxBlockThreads; ++k)
        if (mprotect(base + size_t(k) * kSlotBytes, kGuardBytes, PROT_NONE) != 0)
          throw std::runtime_error("simt: cannot protect the fiber stacks' guard pages");
    }
    return base + size_t(i) * kSlotBytes + kGuardBytes;
  }
};
thread_local StackPool g_stacks;

std::string coords_str(const ThreadCoords& c) {
  std::ostringstream os;
  os << "block (" << c.block.x << "," << c.block.y << "," << c.block.z << ") thread ("
     << c.thread.x << "," << c.thread.y << "," << c.thread.z << ")";
  return os.str();
}

// `at`: the thread concerned (default: the one running, if any).
void record_error(BlockRun& run, const std::string& what, const ThreadCoords* at = nullptr) {
  if (!run.error.empty()) return;
  run.error = what;
  if (!at) at = g_coords;
  if (at) run.error += " [at " + coords_str(*at) + "]";
}

// ---- fiber switching (with AddressSanitizer's stack-switch annotations) ----------------------

void switch_to_fiber(BlockRun& run, Fiber& f, int index) {
  run.current = &f;
  g_coords = &f.coords;
#if MM_SIMT_ASAN
  __sanitizer_start_switch_fiber(&run.scheduler_fake_stack, g_stacks.stack(index), kStackBytes);
#endif
  swapcontext(&run.scheduler, &f.context);
#if MM_SIMT_ASAN
  __sanitizer_finish_switch_fiber(run.scheduler_fake_stack, nullptr, nullptr);
#endif
  g_coords = nullptr;
  run.current = nullptr;
}

void switch_to_scheduler(BlockRun& run, Fiber& f) {
#if MM_SIMT_ASAN
  // A finished fiber's fake stack is released (null save slot).
  __sanitizer_start_switch_fiber(f.state == State::Done ? nullptr : &f.asan_fake_stack,
                                 run.scheduler_stack_bottom, run.scheduler_stack_size);
#endif
  swapcontext(&f.context, &run.scheduler);
#if MM_SIMT_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &run.scheduler_stack_bottom,
                                  &run.scheduler_stack_size);
#endif
}

void fiber_entry() {
  BlockRun& run = *g_run;
  Fiber& f = *run.current;
#if MM_SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &run.scheduler_stack_bottom,
                                  &run.scheduler_stack_size);
#endif
  (*run.body)();
  f.state = State::Done;
  switch_to_scheduler(run, f);
  // never resumed
}

// Prepares f to run the kernel body from the start on stack `index`. Out of line: getcontext
// returns twice, which would make every local of the caller suspect of being clobbered.
__attribute__((noinline)) void start_fiber(Fiber& f, int index) {
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = g_stacks.stack(index);
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = nullptr;
  f.asan_fake_stack = nullptr;
  makecontext(&f.context, fiber_entry, 0);
}

// Called by a fiber at a barrier or collective: parks it until the scheduler releases it.
void wait(State s, unsigned mask, const char* what) {
  BlockRun& run = *g_run;
  Fiber& f = *run.current;
  f.state = s;
  f.wait_mask = mask;
  f.wait_what = what;
  switch_to_scheduler(run, f);
}

// Releases every barrier and collective whose participants have all arrived; returns whether
// any was released.
bool release(BlockRun& run, int nwarps, int nthreads) {
  bool released = false;
  int waiting_block = 0, alive = 0;
  for (const Fiber& f : run.fibers) {
    if (f.state != State::Done) ++alive;
    if (f.state == State::WaitBlock) ++waiting_block;
  }
  if (waiting_block > 0 && waiting_block == alive) {
    for (Fiber& f : run.fibers)
      if (f.state == State::WaitBlock) f.state = State::Ready;
    return true;
  }
  for (int w = 0; w < nwarps; ++w) {
    const int first = w * 32;
    const int last = std::min(nthreads, first + 32);
    for (int i = first; i < last; ++i) {
      Fiber& f = run.fibers[i];
      if (f.state != State::WaitWarp) continue;
      const unsigned mask = f.wait_mask;
      bool complete = true;
      for (int l = 0; l < 32 && complete; ++l) {
        if (!(mask >> l & 1u)) continue;
        const int j = first + l;
        if (j >= last) {
          complete = false;
          record_error(run, std::string(f.wait_what) + ": the mask names lane " +
                                std::to_string(l) + ", which this block does not have",
                       &f.coords);
        } else if (run.fibers[j].state == State::Done) {
          complete = false;
          record_error(run, std::string(f.wait_what) + ": the mask names lane " +
                                std::to_string(l) + ", which has exited",
                       &f.coords);
        } else if (run.fibers[j].state != State::WaitWarp || run.fibers[j].wait_mask != mask) {
          complete = false;
        }
      }
      if (!complete) continue;
      WarpExchange ex{};
      ex.mask = mask;
      for (int l = 0; l < 32; ++l)
        if (mask >> l & 1u) ex.value[l] = run.fibers[first + l].contribution;
      for (int l = 0; l < 32; ++l) {
        if (!(mask >> l & 1u)) continue;
        Fiber& p = run.fibers[first + l];
        p.exchange = ex;
        p.state = State::Ready;
      }
      released = true;
    }
  }
  return released;
}

std::string deadlock_report(const BlockRun& run) {
  std::ostringstream os;
  os << "deadlock: no thread can go on;";
  int shown = 0;
  for (const Fiber& f : run.fibers) {
    if (f.state == State::Done || f.state == State::Ready) continue;
    if (shown++ == 4) {
      os << " ...";
      break;
    }
    os << " " << coords_str(f.coords) << " waits at "
       << (f.state == State::WaitBlock ? "__syncthreads" : f.wait_what);
    if (f.state == State::WaitWarp) os << " (mask 0x" << std::hex << f.wait_mask << std::dec << ")";
    os << ";";
  }
  return os.str();
}

std::atomic<bool>& reverse_flag() {
  static std::atomic<bool> rev{[] {
    const char* v = std::getenv("MMBOOST_SIMT_ORDER");
    return v && std::string(v) == "reverse";
  }()};
  return rev;
}

}  // namespace

void set_reverse_order(bool reverse) { reverse_flag() = reverse; }
bool reverse_order() { return reverse_flag().load(); }

uint64_t launches_run() { return g_launches.load(); }
uint64_t threads_run() { return g_threads.load(); }

const ThreadCoords& coords() { return *g_coords; }

int lane_id() {
  const ThreadCoords& c = *g_coords;
  const unsigned linear =
      c.thread.x + c.block_dim.x * (c.thread.y + c.block_dim.y * c.thread.z);
  return int(linear % 32);
}

void kernel_error(const char* what) {
  if (g_run) record_error(*g_run, what);
}

const WarpExchange& warp_exchange(const char* what, unsigned mask, uint64_t mine) {
  BlockRun& run = *g_run;
  run.used_sync = true;
  if (!run.fiber_mode)
    throw std::logic_error(std::string("simt: ") + what + " reached in " +
                           coords_str(*g_coords) +
                           " although block 0 of this launch used no barrier or collective "
                           "(the emulator cannot run such a kernel)");
  Fiber& f = *run.current;
  if (!(mask >> f.lane & 1u)) {
    record_error(run, std::string(what) + ": the calling lane " + std::to_string(f.lane) +
                          " is not in the mask");
    mask |= 1u << f.lane;
  }
  f.contribution = mine;
  wait(State::WaitWarp, mask, what);
  return f.exchange;
}

void block_barrier() {
  BlockRun& run = *g_run;
  run.used_sync = true;
  if (!run.fiber_mode)
    throw std::logic_error("simt: __syncthreads reached in " + coords_str(*g_coords) +
                           " although block 0 of this launch used no barrier or collective "
                           "(the emulator cannot run such a kernel)");
  wait(State::WaitBlock, 0, "__syncthreads");
}

void Launch::run(const std::function<void()>& body) const {
  run_queued(stream_);  // stream order: the copies queued before this launch land first
  const uint64_t nthreads64 = uint64_t(block_.x) * block_.y * block_.z;
  std::string bad;
  if (nthreads64 == 0 || nthreads64 > kMaxBlockThreads || block_.z > 64)
    bad = "block of " + std::to_string(block_.x) + "x" + std::to_string(block_.y) + "x" +
          std::to_string(block_.z) + " threads";
  else if (grid_.x == 0 || grid_.y == 0 || grid_.z == 0 || grid_.x > 0x7fffffffu ||
           grid_.y > 65535 || grid_.z > 65535)
    bad = "grid of " + std::to_string(grid_.x) + "x" + std::to_string(grid_.y) + "x" +
          std::to_string(grid_.z) + " blocks";
  else if (smem_ > 48 * 1024)
    bad = std::to_string(smem_) + " bytes of dynamic shared memory";
  if (!bad.empty()) {
    // As on a GPU: the launch does nothing and the error is reported by cudaGetLastError().
    std::fprintf(stderr, "simt: %s (%s:%d): invalid launch: %s\n", name_, file_, line_,
                 bad.c_str());
    set_last_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (g_run) throw std::logic_error(std::string("simt: launch of ") + name_ + " from a kernel");
  ++g_launches;
  const int nthreads = int(nthreads64), nwarps = (nthreads + 31) / 32;
  const bool rev = reverse_order();
  BlockRun run;
  run.body = &body;
  run.fibers.resize(nthreads);
  g_run = &run;
  struct Reset {
    ~Reset() {
      g_run = nullptr;
      g_coords = nullptr;
    }
  } reset;
  const uint64_t nblocks = uint64_t(grid_.x) * grid_.y * grid_.z;
  bool direct = false;
  for (uint64_t b = 0; b < nblocks; ++b) {
    const dim3 bid(unsigned(b % grid_.x), unsigned(b / grid_.x % grid_.y),
                   unsigned(b / grid_.x / grid_.y));
    for (int t = 0; t < nthreads; ++t) {
      Fiber& f = run.fibers[t];
      f.coords.thread = dim3(unsigned(t % block_.x), unsigned(t / block_.x % block_.y),
                             unsigned(t / block_.x / block_.y));
      f.coords.block = bid;
      f.coords.block_dim = block_;
      f.coords.grid_dim = grid_;
      f.lane = t % 32;
      f.state = State::Ready;
    }
    g_threads += nthreads;
    if (direct) {
      run.fiber_mode = false;
      for (int i = 0; i < nthreads; ++i) {
        const int t = rev ? nthreads - 1 - i : i;
        g_coords = &run.fibers[t].coords;
        body();
      }
      g_coords = nullptr;
      continue;
    }
    run.fiber_mode = true;
    run.used_sync = false;
    for (int t = 0; t < nthreads; ++t) start_fiber(run.fibers[t], t);
    for (;;) {
      bool ran = false;
      for (int i = 0; i < nthreads; ++i) {
        const int t = rev ? nthreads - 1 - i : i;
        Fiber& f = run.fibers[t];
        if (f.state != State::Ready) continue;
        switch_to_fiber(run, f, t);
        ran = true;
      }
      if (!run.error.empty()) break;
      bool all_done = true;
      for (const Fiber& f : run.fibers) all_done = all_done && f.state == State::Done;
      if (all_done) break;
      if (!release(run, nwarps, nthreads) && !ran) {
        if (run.error.empty()) record_error(run, deadlock_report(run));
        break;
      }
      if (!run.error.empty()) break;
    }
    if (!run.error.empty())
      throw std::logic_error(std::string("simt: kernel ") + name_ + " launched at " + file_ +
                             ":" + std::to_string(line_) + ": " + run.error);
    direct = !run.used_sync;
  }
}

// ---- the CUDA runtime ------------------------------------------------------------------------

namespace {
thread_local cudaError_t g_last_error = cudaSuccess;
cudaError_t fail(cudaError_t e) {
  g_last_error = e;
  return e;
}
}  // namespace

void set_last_error(cudaError_t e) { g_last_error = e; }

namespace {
std::atomic<size_t> g_fail_mallocs_from{0};  // fail_mallocs_from
bool malloc_fails(size_t nbytes) {
  const size_t from = g_fail_mallocs_from.load();
  return from != 0 && nbytes >= from;
}
}  // namespace
void fail_mallocs_from(size_t bytes) { g_fail_mallocs_from.store(bytes); }

// ---- streams: queued copies from page-locked memory (see simt.h) ------------------------------

struct QueuedCopy {
  uint64_t seq;  // the stream's count of queued copies when this one was queued
  void* dst;
  const void* src;
  size_t n;
};

}  // namespace simt

struct CUstream_st {
  std::vector<simt::QueuedCopy> queue;  // in order of seq
  uint64_t queued = 0;                  // copies queued so far
};

struct CUevent_st {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
  cudaStream_t stream = nullptr;  // where it was recorded
  uint64_t seq = 0;               // that stream's queued count then: the copies it marks
};

namespace simt {
namespace {

// Guards the queues and the page-locked registry: the loader's workers allocate page-locked
// batches while the trainer's thread queues copies.
std::mutex& streams_mu() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::vector<CUstream_st*>& all_streams() {
  static auto* v = new std::vector<CUstream_st*>();
  return *v;
}
std::vector<std::pair<const char*, const char*>>& pinned_ranges() {  // [begin, end)
  static auto* r = new std::vector<std::pair<const char*, const char*>>();
  return *r;
}
bool is_pinned_locked(const void* p) {
  const char* c = static_cast<const char*>(p);
  for (const auto& [b, e] : pinned_ranges())
    if (c >= b && c < e) return true;
  return false;
}
// Runs the copies of `s` queued before its count reached `upto`. Caller holds streams_mu().
void run_queued_locked(cudaStream_t s, uint64_t upto) {
  if (!s) return;
  size_t done = 0;
  while (done < s->queue.size() && s->queue[done].seq < upto) {
    const QueuedCopy& c = s->queue[done++];
    std::memmove(c.dst, c.src, c.n);
  }
  s->queue.erase(s->queue.begin(), s->queue.begin() + static_cast<std::ptrdiff_t>(done));
}
}  // namespace

void run_queued(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(streams_mu());
  if (s) run_queued_locked(s, s->queued);
}

}  // namespace simt

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorUnsupportedPtxVersion: return "cudaErrorUnsupportedPtxVersion";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "error of the SIMT host runtime";
  }
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = simt::g_last_error;
  simt::g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return simt::fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return simt::fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : simt::fail(cudaErrorInvalidDevice); }
// An H100 SXM's multiprocessor count and L2 size, so that grid sizing and the benchmarks' L2
// flush follow the real path.
constexpr int kSimtMultiprocessors = 132;
constexpr int kSimtL2Bytes = 50 << 20;

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return simt::fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = kSimtMultiprocessors; return cudaSuccess;
    case cudaDevAttrL2CacheSize: *value = kSimtL2Bytes; return cudaSuccess;
  }
  return simt::fail(cudaErrorInvalidValue);
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return simt::fail(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof(p->name), "SIMT host runtime (no GPU: times are the host's)");
  p->l2CacheSize = kSimtL2Bytes;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return simt::fail(cudaErrorInvalidValue);
  e->at = std::chrono::steady_clock::now();  // launches run to completion when made
  e->recorded = true;
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  e->stream = s;
  e->seq = s ? s->queued : 0;
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (!e) return simt::fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  const bool pending = e->stream && !e->stream->queue.empty() && e->stream->queue.front().seq < e->seq;
  return pending ? cudaErrorNotReady : cudaSuccess;  // not a sticky error: last error unchanged
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return simt::fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  simt::run_queued_locked(e->stream, e->seq);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (!ms || !start || !stop || !start->recorded || !stop->recorded)
    return simt::fail(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_st();  // kept for the program's life, as the backend keeps its streams
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  simt::all_streams().push_back(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
  if (!e) return simt::fail(cudaErrorInvalidValue);
  // The waiting stream's later work runs when made, so what it waits for runs now.
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  simt::run_queued_locked(e->stream, e->seq);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  simt::run_queued(s);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t nbytes) {
  // One host allocation of the exact size (AddressSanitizer then bounds every access), filled
  // with 0xff bytes so that a kernel reading memory nobody wrote sees NaN, not zero.
  void* q = simt::malloc_fails(nbytes) ? nullptr : std::malloc(nbytes ? nbytes : 1);
  if (!q) {
    *p = nullptr;
    return simt::fail(cudaErrorMemoryAllocation);
  }
  std::memset(q, 0xff, nbytes);
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t s) {
  {
    std::lock_guard<std::mutex> lock(simt::streams_mu());
    if (s) {
      if (n && kind == cudaMemcpyHostToDevice && simt::is_pinned_locked(src)) {
        s->queue.push_back(simt::QueuedCopy{s->queued++, dst, src, n});
        return cudaSuccess;
      }
      simt::run_queued_locked(s, s->queued);  // in stream order: after the queued ones
    }
  }
  return cudaMemcpy(dst, src, n, kind);
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  simt::run_queued(s);
  if (n) std::memset(p, value, n);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t nbytes, unsigned) {
  void* q = std::malloc(nbytes ? nbytes : 1);
  if (!q) {
    *p = nullptr;
    return simt::fail(cudaErrorMemoryAllocation);
  }
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  const char* c = static_cast<const char*>(q);
  simt::pinned_ranges().emplace_back(c, c + (nbytes ? nbytes : 1));
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(simt::streams_mu());
  auto& r = simt::pinned_ranges();
  auto it = std::find_if(r.begin(), r.end(), [&](const auto& b) { return b.first == p; });
  if (it == r.end()) return simt::fail(cudaErrorInvalidValue);
  // A copy still queued from this buffer would read freed memory on a GPU.
  for (CUstream_st* s : simt::all_streams())
    for (const simt::QueuedCopy& c : s->queue) {
      const char* src = static_cast<const char*>(c.src);
      if (src < it->second && src + c.n > it->first) {
        std::fprintf(stderr, "simt: cudaFreeHost(%p) while a queued copy of %zu bytes still reads it "
                     "(nothing ordered the host after that copy)\n", p, c.n);
        std::abort();
      }
    }
  r.erase(it);
  std::free(p);
  return cudaSuccess;
}

float __fadd_rn(float a, float b) { return a + b; }
float __fmul_rn(float a, float b) { return a * b; }
float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
