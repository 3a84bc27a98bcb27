// CUDA backend: conv2d forward and backward through cuDNN (NCHW, FP32, cross-correlation).
//
// Per geometry (shapes, stride, padding) a plan caches the descriptors and the algorithm of
// each pass: cuDNN's heuristics (cudnnGet*Algorithm_v7) rank the candidates, or with
// conv_benchmark() cuDNN's timing of each (cudnnFind*Algorithm, once per geometry and pass);
// we keep those that succeed and fit the workspace cap, deterministic ones
// (CUDNN_DETERMINISTIC) first, so a fixed input gives bit-identical gradients run to run
// (unless conv_deterministic() is off: then in cuDNN's order alone). Without
// MMBOOST_TF32=1 the math is plain FP32 (CUDNN_FMA_MATH), matching the CPU to rounding.
// Should cuDNN refuse the first candidate at run time, the next is tried and remembered.
// conv_choices() lists each geometry's algorithm per pass, beside cuDNN's own first choice
// (determinism aside) and, in benchmark mode, cuDNN's timing of both.
// Workspaces come from the caching allocator. The bias is added, and its gradient reduced, by
// our own deterministic kernels.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/reduce.h"
#include "engine/cuda/runtime.h"

namespace mm::cuda {

namespace {

constexpr size_t kWorkspaceCap = size_t(1) << 30;  // 1 GiB

struct ConvKey {
  int64_t B, C, H, W, O, k;
  int stride, padding;
  bool operator<(const ConvKey& o) const {
    return std::tie(B, C, H, W, O, k, stride, padding) <
           std::tie(o.B, o.C, o.H, o.W, o.O, o.k, o.stride, o.padding);
  }
};

template <class Algo>
struct Candidate {
  Algo algo;
  size_t workspace;
  cudnnMathType_t math;
  bool deterministic;
  float ms;  // cuDNN's timing (benchmark mode), else -1
};

// One pass of a geometry: the candidates in the order they are tried, cuDNN's own first choice
// among them (determinism aside), and how often the pass ran (for conv_choices()).
template <class Algo>
struct PassPlan {
  std::vector<Candidate<Algo>> cands;
  Candidate<Algo> first{};
  bool ranked = false;
  int64_t calls = 0;
};

struct ConvPlan {
  std::string what;  // "x (B, C, H, W), w (O, C, k, k), stride s, padding p", for errors
  bool deterministic_only = true;  // conv_deterministic() when the geometry was first used
  bool benchmark = false;          // conv_benchmark() then
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  PassPlan<cudnnConvolutionFwdAlgo_t> fwd;
  PassPlan<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  PassPlan<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
};

// cuDNN's names of the algorithms, without the CUDNN_CONVOLUTION_<pass>_ALGO_ prefix.
std::string algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "algo " + std::to_string(static_cast<int>(a));  // newer than this list
  }
}
std::string algo_name(cudnnConvolutionBwdDataAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0: return "0";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1: return "1";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "algo " + std::to_string(static_cast<int>(a));  // newer than this list
  }
}
std::string algo_name(cudnnConvolutionBwdFilterAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0: return "0";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1: return "1";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3: return "3";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING: return "FFT_TILING";
    default: return "algo " + std::to_string(static_cast<int>(a));  // newer than this list
  }
}

int as_int(int64_t v, const char* what) {
  MM_CHECK(v >= 0 && v <= INT32_MAX, "conv2d: " << what << " = " << v
                                                << " exceeds the 32-bit range cuDNN accepts");
  return static_cast<int>(v);
}

std::atomic<bool>& conv_deterministic_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("MMBOOST_CUDNN_DETERMINISTIC");
    return !(v && std::strcmp(v, "0") == 0);
  }()};
  return on;
}

std::atomic<bool>& conv_benchmark_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("MMBOOST_CUDNN_BENCHMARK");
    return v && std::strcmp(v, "1") == 0;
  }()};
  return on;
}

// Keeps the perf results that cuDNN can run here in cuDNN's ranking order; with
// `deterministic_only`, the deterministic ones first (each group in that order). Should a pass
// then have no deterministic algorithm for this geometry, the others are used and a warning
// says so once per geometry and pass. `timed`: perf holds cuDNN's timings.
template <class Perf, class Algo>
void select(const Perf* perf, int n, const char* pass, bool deterministic_only, bool timed,
            PassPlan<Algo>& out) {
  std::vector<Candidate<Algo>> first, later;  // later: non-deterministic, if deterministic_only
  bool have_first = false;
  const bool tf32 = tf32_enabled();
  for (int i = 0; i < n; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (p.memory > kWorkspaceCap) continue;
    // Tensor cores (TF32 on FP32 data) only with MMBOOST_TF32=1; never ALLOW_CONVERSION, under
    // which cuDNN may round FP32 inputs down to FP16, below what TF32 promises.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    if (!tf32 && p.mathType == CUDNN_TENSOR_OP_MATH) continue;
    const bool d = p.determinism == CUDNN_DETERMINISTIC;
    const Candidate<Algo> c{p.algo, p.memory, tf32 ? p.mathType : CUDNN_FMA_MATH, d,
                            timed ? p.time : -1.0f};
    if (!have_first) out.first = c;
    have_first = true;
    (d || !deterministic_only ? first : later).push_back(c);
  }
  MM_CHECK(!first.empty() || !later.empty(),
           "conv2d: cuDNN offers no usable " << pass
                                             << " algorithm for this geometry (FP32, workspace "
                                                "<= 1 GiB)");
  if (first.empty())
    std::fprintf(stderr,
                 "mmboost: warning: cuDNN has no deterministic conv2d %s algorithm for this "
                 "geometry; results may differ in the last bits run to run\n",
                 pass);
  first.insert(first.end(), later.begin(), later.end());
  out.cands = std::move(first);
  out.ranked = true;
}

std::mutex g_plans_mu;
std::map<ConvKey, ConvPlan>& plans() {
  static auto* m = new std::map<ConvKey, ConvPlan>();  // leaked with the handles it refers to
  return *m;
}

ConvPlan& plan_for(const Tensor& x, const Tensor& w, int stride, int padding, const Tensor& y) {
  const ConvKey key{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), stride,
                    padding};
  auto& m = plans();
  auto it = m.find(key);
  if (it != m.end()) return it->second;
  ConvPlan p;
  p.what = "x (" + std::to_string(key.B) + ", " + std::to_string(key.C) + ", " +
           std::to_string(key.H) + ", " + std::to_string(key.W) + "), w (" +
           std::to_string(key.O) + ", " + std::to_string(key.C) + ", " + std::to_string(key.k) +
           ", " + std::to_string(key.k) + "), stride " + std::to_string(stride) + ", padding " +
           std::to_string(padding);
  MM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  MM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  MM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  MM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  MM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                            as_int(key.B, "B"), as_int(key.C, "C"),
                                            as_int(key.H, "H"), as_int(key.W, "W")));
  MM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                            as_int(key.O, "O"), as_int(key.C, "C"),
                                            as_int(key.k, "k"), as_int(key.k, "k")));
  MM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, padding, padding, stride, stride, 1, 1,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  MM_CUDNN_CHECK(cudnnSetConvolutionMathType(
      p.conv, tf32_enabled() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  p.deterministic_only = conv_deterministic();
  p.benchmark = conv_benchmark();
  int n = 0, c = 0, h = 0, wd = 0;
  MM_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c, &h, &wd));
  MM_CHECK(n == y.size(0) && c == y.size(1) && h == y.size(2) && wd == y.size(3),
           "conv2d: cuDNN computes output (" << n << ", " << c << ", " << h << ", " << wd
                                             << ") but y is " << y.describe());
  MM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, wd));
  return m.emplace(key, p).first->second;
}

// The descriptor's math type for a ranking query: a run leaves the last candidate's there.
void reset_math(ConvPlan& p) {
  MM_CUDNN_CHECK(cudnnSetConvolutionMathType(
      p.conv, tf32_enabled() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
}

// Ranks one pass of a geometry, once: `query(find, count, &n, perf)` asks cuDNN's heuristics,
// or with find (p.benchmark) has cuDNN run and time every algorithm (on buffers it allocates
// itself; host-blocking), fastest first.
template <class Perf, int kCount, class Algo, class Query>
void rank(ConvPlan& p, PassPlan<Algo>& pass_plan, const char* pass, Query query) {
  if (pass_plan.ranked) return;
  Perf perf[kCount];
  int n = 0;
  reset_math(p);
  query(p.benchmark, kCount, &n, perf);
  select(perf, n, pass, p.deterministic_only, p.benchmark, pass_plan);
}

void rank_forward(ConvPlan& p) {
  rank<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
      p, p.fwd, "forward", [&](bool find, int count, int* n, cudnnConvolutionFwdAlgoPerf_t* perf) {
        if (find)
          MM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(cudnn_handle(), p.x, p.w, p.conv,
                                                              p.y, count, n, perf));
        else
          MM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_handle(), p.x, p.w, p.conv,
                                                                p.y, count, n, perf));
      });
}

void rank_backward_data(ConvPlan& p) {
  rank<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
      p, p.bwd_data, "backward-data",
      [&](bool find, int count, int* n, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
        if (find)
          MM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(cudnn_handle(), p.w, p.y,
                                                                   p.conv, p.x, count, n, perf));
        else
          MM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_handle(), p.w, p.y,
                                                                     p.conv, p.x, count, n, perf));
      });
}

void rank_backward_filter(ConvPlan& p) {
  rank<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
      p, p.bwd_filter, "backward-filter",
      [&](bool find, int count, int* n, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
        if (find)
          MM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(cudnn_handle(), p.x, p.y,
                                                                     p.conv, p.w, count, n, perf));
        else
          MM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
              cudnn_handle(), p.x, p.y, p.conv, p.w, count, n, perf));
      });
}

// Runs `call(candidate, workspace)` with the first candidate cuDNN accepts; a candidate refused
// with NOT_SUPPORTED is dropped so that later calls start from the one that worked. Any other
// failure, or a refusal of the last candidate, throws naming the pass, algorithm and geometry.
template <class Algo, class Call>
void run_first_supported(ConvPlan& p, PassPlan<Algo>& pass_plan, const char* pass, Call call) {
  std::vector<Candidate<Algo>>& cands = pass_plan.cands;
  while (!cands.empty()) {
    const Candidate<Algo> c = cands.front();
    MM_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, c.math));
    Scratch ws(c.workspace);
    const cudnnStatus_t st = call(c.algo, ws.get(), c.workspace);
    if (st == CUDNN_STATUS_SUCCESS) {
      ++pass_plan.calls;
      return;
    }
    // cuDNN 9 refuses with a code of the NOT_SUPPORTED category (3000..3999: _SHAPE,
    // _ARCH_MISMATCH, _SHARED_MEMORY_INSUFFICIENT, ...), not only with 3000 itself.
    const bool refused = static_cast<int>(st) / 1000 * 1000 == CUDNN_STATUS_NOT_SUPPORTED;
    if (!refused || cands.size() == 1)
      throw_error(__FILE__, __LINE__,
                  std::string("conv2d ") + pass + ": cuDNN algorithm " +
                      std::to_string(static_cast<int>(c.algo)) + " (workspace " +
                      std::to_string(c.workspace) + " bytes) failed on " + p.what + ": " +
                      detail::describe_cudnn_error(st) +
                      (refused ? " (the last algorithm left for this geometry)" : ""));
    cands.erase(cands.begin());
    if (p.deterministic_only && c.deterministic && !cands.front().deterministic)
      std::fprintf(stderr,
                   "mmboost: warning: cuDNN refused every deterministic conv2d %s algorithm for "
                   "%s; results may differ in the last bits run to run\n",
                   pass, p.what.c_str());
  }
  MM_FAIL("conv2d: no " << pass << " algorithm left to try");
}

// y (B,O,P) += bias (O)
__global__ void add_bias_kernel(float* y, const float* bias, int64_t O, int64_t P, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[(i / P) % O];
}

template <class Algo>
void report_pass(const ConvPlan& p, const PassPlan<Algo>& pp, const char* pass,
                 std::vector<ConvChoice>& out) {
  if (!pp.ranked || pp.cands.empty()) return;
  const Candidate<Algo>& c = pp.cands.front();
  ConvChoice r;
  r.geometry = p.what;
  r.pass = pass;
  r.algo = algo_name(c.algo);
  r.deterministic = c.deterministic;
  r.workspace = c.workspace;
  r.calls = pp.calls;
  r.ms = c.ms;
  r.first = algo_name(pp.first.algo);
  r.first_deterministic = pp.first.deterministic;
  r.first_ms = pp.first.ms;
  out.push_back(std::move(r));
}

}  // namespace

std::vector<ConvChoice> conv_choices() {
  std::lock_guard<std::mutex> lock(g_plans_mu);
  std::vector<ConvChoice> out;
  for (const auto& [key, p] : plans()) {
    report_pass(p, p.fwd, "forward", out);
    report_pass(p, p.bwd_data, "backward-data", out);
    report_pass(p, p.bwd_filter, "backward-filter", out);
  }
  return out;
}

void reset_conv_calls() {
  std::lock_guard<std::mutex> lock(g_plans_mu);
  for (auto& [key, p] : plans()) p.fwd.calls = p.bwd_data.calls = p.bwd_filter.calls = 0;
}

bool conv_deterministic() { return conv_deterministic_flag().load(); }
void set_conv_deterministic(bool on) { conv_deterministic_flag().store(on); }
bool conv_benchmark() { return conv_benchmark_flag().load(); }
void set_conv_benchmark(bool on) { conv_benchmark_flag().store(on); }

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                    Tensor& y) {
  require_cuda_contiguous(x, "conv2d_forward", "x");
  require_cuda_contiguous(w, "conv2d_forward", "w");
  require_cuda_contiguous(y, "conv2d_forward", "y");
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {  // empty reduction: only the bias remains
    fill(y, 0.0f);
  } else {
    std::lock_guard<std::mutex> lock(g_plans_mu);
    ConvPlan& p = plan_for(x, w, stride, padding, y);
    rank_forward(p);
    const float one = 1.0f, zero = 0.0f;
    run_first_supported(p, p.fwd, "forward",
                        [&](cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_size) {
                          return cudnnConvolutionForward(cudnn_handle(), &one, p.x, x.data_f32(),
                                                         p.w, w.data_f32(), p.conv, algo, ws,
                                                         ws_size, &zero, p.y, y.data_f32());
                        });
  }
  if (bias.defined()) {
    require_cuda_contiguous(bias, "conv2d_forward", "bias");
    const int64_t O = y.size(1), P = y.size(2) * y.size(3), n = y.numel();
    add_bias_kernel<<<grid_for(n, 256), 256, 0, stream()>>>(y.data_f32(), bias.data_f32(), O, P,
                                                            n);
    MM_CUDA_LAUNCH_CHECK();
  }
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, int stride, int padding,
                     Tensor* gx, Tensor* gw, Tensor* gb) {
  require_cuda_contiguous(x, "conv2d_backward", "x");
  require_cuda_contiguous(w, "conv2d_backward", "w");
  require_cuda_contiguous(gy, "conv2d_backward", "gy");
  if (gx) require_cuda_contiguous(*gx, "conv2d_backward", "gx");
  if (gw) require_cuda_contiguous(*gw, "conv2d_backward", "gw");
  if (gb) require_cuda_contiguous(*gb, "conv2d_backward", "gb");
  const int64_t B = gy.size(0), O = gy.size(1), P = gy.size(2) * gy.size(3);
  if (gb) {  // gb[o] = sum over b, p of gy[b,o,p]: over p, then over b, both deterministic
    Scratch per_sample(sizeof(float) * std::max<int64_t>(1, B * O));
    sum_over_dim(gy.data_f32(), B * O, P, 1, per_sample.as<float>());
    sum_over_dim(per_sample.as<float>(), 1, B, O, gb->data_f32());
  }
  if (!gx && !gw) return;
  if (gy.numel() == 0 || x.numel() == 0 || w.numel() == 0) {
    if (gx && gx->numel()) fill(*gx, 0.0f);
    if (gw && gw->numel()) fill(*gw, 0.0f);
    return;
  }
  std::lock_guard<std::mutex> lock(g_plans_mu);
  ConvPlan& p = plan_for(x, w, stride, padding, gy);
  const float one = 1.0f, zero = 0.0f;
  if (gx) {
    rank_backward_data(p);
    run_first_supported(p, p.bwd_data, "backward-data",
                        [&](cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t ws_size) {
                          return cudnnConvolutionBackwardData(
                              cudnn_handle(), &one, p.w, w.data_f32(), p.y, gy.data_f32(),
                              p.conv, algo, ws, ws_size, &zero, p.x, gx->data_f32());
                        });
  }
  if (gw) {
    rank_backward_filter(p);
    run_first_supported(p, p.bwd_filter, "backward-filter",
                        [&](cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_size) {
                          return cudnnConvolutionBackwardFilter(
                              cudnn_handle(), &one, p.x, x.data_f32(), p.y, gy.data_f32(),
                              p.conv, algo, ws, ws_size, &zero, p.w, gw->data_f32());
                        });
  }
}

}  // namespace mm::cuda
