// mmboost CUDA benchmarks: timing, L2 flush, validation and JSON output shared by the
// standalone benchmark files of this folder (one file per kernel, llm.c style: each file keeps
// its own versions, references and sizes; what they all do the same way is here).
//
// Timing: each repetition first overwrites a buffer twice the size of the L2 cache (so that
// no input is served from L2 left warm by the previous repetition), then times one call with
// CUDA events on the engine's stream. Reported: the mean over repetitions after warm-up.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"

namespace mmbench {

// Small sizes only: with MMBOOST_BENCH_QUICK=1, and always in the SIMT build (tests/simt),
// where the kernels run on the host and the point is to rehearse each version's validation.
inline bool quick() {
#ifdef MMBOOST_CUDA_SIMT
  return true;
#else
  const char* v = std::getenv("MMBOOST_BENCH_QUICK");
  return v && std::string(v) == "1";
#endif
}

// The sizes to run: `full`, or `small` in quick mode.
inline std::vector<int64_t> sizes(std::initializer_list<int64_t> full,
                                  std::initializer_list<int64_t> small) {
  return quick() ? std::vector<int64_t>(small) : std::vector<int64_t>(full);
}

// Measurements that failed validation or threw; main() returns exit_code() so that a run with
// any of them fails visibly (the device script records each program's exit status).
inline int& failures() {
  static int n = 0;
  return n;
}
inline int exit_code() {
  if (failures() > 0)
    std::fprintf(stderr, "%d measurement(s) failed validation or threw; see their JSON lines\n",
                 failures());
  return failures() > 0 ? 1 : 0;
}

struct L2Flusher {
  void* buf = nullptr;
  size_t bytes = 0;
  L2Flusher() {
    int l2 = 0;
    MM_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, mm::cuda::current_device()));
    bytes = static_cast<size_t>(l2) * 2;
    if (bytes == 0) bytes = size_t(64) << 20;
    MM_CUDA_CHECK(cudaMalloc(&buf, bytes));
  }
  ~L2Flusher() { cudaFree(buf); }
  void flush() { MM_CUDA_CHECK(cudaMemsetAsync(buf, 0, bytes, mm::cuda::stream())); }
};

inline L2Flusher& l2_flusher() {
  static L2Flusher f;
  return f;
}

// Mean milliseconds of f() over `reps` timed calls after `warmup` untimed ones (3, or 1 in
// quick mode).
template <class F>
double time_ms(F&& f, int reps = 20, int warmup = -1) {
  if (warmup < 0) warmup = quick() ? 1 : 3;
  L2Flusher& flusher = l2_flusher();
  cudaStream_t s = mm::cuda::stream();
  for (int i = 0; i < warmup; ++i) f();
  MM_CUDA_CHECK(cudaStreamSynchronize(s));
  cudaEvent_t start, stop;
  MM_CUDA_CHECK(cudaEventCreate(&start));
  MM_CUDA_CHECK(cudaEventCreate(&stop));
  double total = 0.0;
  for (int i = 0; i < reps; ++i) {
    flusher.flush();
    MM_CUDA_CHECK(cudaEventRecord(start, s));
    f();
    MM_CUDA_CHECK(cudaEventRecord(stop, s));
    MM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    MM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    total += ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return total / reps;
}

inline std::string device_name() {
  cudaDeviceProp p{};
  MM_CUDA_CHECK(cudaGetDeviceProperties(&p, mm::cuda::current_device()));
  return p.name;
}

// Max |got - want| / (atol + rtol |want|) over the elements; <= 1 passes.
struct Check {
  bool ok = true;
  double worst = 0.0;
};

inline Check validate_result(const std::vector<float>& got, const std::vector<float>& want,
                             double rtol, double atol) {
  Check c;
  if (got.size() != want.size()) return {false, INFINITY};
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i])) / (atol + rtol * std::fabs(want[i]));
    if (std::isnan(err)) c.worst = INFINITY;  // NaN fails the check
    else if (err > c.worst) c.worst = err;
  }
  c.ok = c.worst <= 1.0;
  return c;
}

// Fills a version's device outputs with NaN (all bits set) before its validation run. The
// versions of one kernel write into the same buffers, so without this an element a version leaves
// unwritten would pass the check with what the reference run or an earlier version left there.
template <class... Tensors>
void fill_nan(Tensors&... outputs) {
  auto one = [](float* p, int64_t n) {
    MM_CUDA_CHECK(cudaMemsetAsync(p, 0xff, sizeof(float) * size_t(n), mm::cuda::stream()));
  };
  (one(outputs.data_f32(), outputs.numel()), ...);
}

// Several outputs checked together: all must pass; the worst ratio is reported.
inline Check all_of(std::initializer_list<Check> checks) {
  Check c;
  for (const Check& x : checks) {
    c.ok = c.ok && x.ok;
    c.worst = std::max(c.worst, x.worst);
  }
  return c;
}

// One JSON object per line. Fields are appended as key/value pairs.
class JsonLine {
 public:
  explicit JsonLine(const char* bench) { add("bench", bench); }
  JsonLine& add(const char* k, const std::string& v) {
    sep();
    s_ += "\"" + std::string(k) + "\":\"" + escaped(v) + "\"";
    return *this;
  }
  JsonLine& add(const char* k, const char* v) { return add(k, std::string(v)); }
  JsonLine& add(const char* k, double v) {
    sep();
    char b[64];
    if (std::isfinite(v)) std::snprintf(b, sizeof(b), "%.6g", v);
    else std::snprintf(b, sizeof(b), "null");
    s_ += "\"" + std::string(k) + "\":" + b;
    return *this;
  }
  JsonLine& add(const char* k, int64_t v) {
    sep();
    s_ += "\"" + std::string(k) + "\":" + std::to_string(v);
    return *this;
  }
  JsonLine& add(const char* k, int v) { return add(k, static_cast<int64_t>(v)); }
  JsonLine& add(const char* k, bool v) {
    sep();
    s_ += "\"" + std::string(k) + "\":" + (v ? "true" : "false");
    return *this;
  }
  void print() {
    std::printf("{%s}\n", s_.c_str());
    std::fflush(stdout);
  }

 private:
  void sep() {
    if (!s_.empty()) s_ += ",";
  }
  // String values include error messages (quotes, backslashes, newlines from cuDNN's text),
  // which must not break the one-object-per-line JSON.
  static std::string escaped(const std::string& v) {
    std::string o;
    for (const char ch : v) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        o += '\\';
        o += ch;
      } else if (c == '\n') {
        o += "\\n";
      } else if (c < 0x20) {
        char b[8];
        std::snprintf(b, sizeof(b), "\\u%04x", c);
        o += b;
      } else {
        o += ch;
      }
    }
    return o;
  }
  std::string s_;
};

// What one timed call moves or computes, reported as `key` = amount / seconds / unit.
struct Rate {
  const char* key;
  double amount;
  double unit;
};
inline Rate gbps(double bytes) { return {"gbps", bytes, 1e9}; }
inline Rate tflops(double flops) { return {"tflops", flops, 1e12}; }

// One measurement of one version: check() runs it once untimed and returns the validation of
// its outputs; then timed() is timed over `reps` calls. Completes `line` with ms, the rate,
// valid and max_err_ratio, or with "error" when either throws (a version that cannot run on
// this device, e.g. a cuBLASLt epilogue it lacks, is reported rather than ending the
// benchmark), then the device name, and prints it.
template <class CheckFn, class TimedFn>
void measure(JsonLine line, const Rate& rate, CheckFn&& check, TimedFn&& timed, int reps) {
  try {
    const Check c = check();
    const double ms = time_ms(timed, reps);
    line.add("ms", ms).add(rate.key, rate.amount / (ms * 1e-3) / rate.unit).add("valid", c.ok);
    line.add("max_err_ratio", c.worst);
    if (!c.ok) ++failures();
  } catch (const std::exception& e) {
    line.add("error", e.what());
    ++failures();
  }
  line.add("device", device_name()).print();
}

// False, with a note on stderr, when there is no CUDA device (then the benchmark has nothing
// to run and exits 0).
inline bool device_present(const char* bench) {
  if (mm::cuda::available()) return true;
  std::fprintf(stderr, "%s: no CUDA device, nothing to run\n", bench);
  return false;
}

// Repetitions from MMBOOST_BENCH_REPS (default 20, or 2 in quick mode), so the device script
// can shorten runs.
inline int reps_from_env() {
  const int fallback = quick() ? 2 : 20;
  const char* v = std::getenv("MMBOOST_BENCH_REPS");
  const int r = v ? std::atoi(v) : fallback;
  return r > 0 ? r : fallback;
}

}  // namespace mmbench
