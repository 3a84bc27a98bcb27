// mmboost SIMT host runtime: the cuDNN convolution stand-in. See dnn.h.
#include "tests/simt/dnn.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

struct cudnnContext {
  bool stream_set = false;  // which stream does not matter here: launches run when made
};
struct cudnnTensorStruct {
  bool set = false;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct {
  bool set = false;
  int k = 0, c = 0, h = 0, w = 0;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace simt {
DnnStats& dnn_stats() {
  static DnnStats s;
  return s;
}

namespace {
cudnnStatus_t g_inject = CUDNN_STATUS_SUCCESS;
int g_inject_count = 0;
}  // namespace

void dnn_fail_next_runs(cudnnStatus_t st, int count) {
  g_inject = st;
  g_inject_count = count;
}
}  // namespace simt

namespace {

thread_local std::string g_last_error;

cudnnStatus_t fail(cudnnStatus_t st, const std::string& why) {
  g_last_error = why;
  return st;
}

constexpr size_t kHuge = size_t(2) << 30;  // a workspace the backend must not accept (2 GiB)

// 0 when the (dilated) filter does not fit in the padded input.
int out_dim(int in, int pad, int k, int stride, int dil) {
  const int room = in + 2 * pad - ((k - 1) * dil + 1);
  return room < 0 ? 0 : 1 + room / stride;
}

// One convolution's sizes, checked against each other.
struct Geo {
  int B, C, H, W, O, kh, kw, Ho, Wo;
  const cudnnConvolutionStruct* conv;
};

cudnnStatus_t geometry(const char* call, cudnnConvolutionDescriptor_t conv,
                       cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                       cudnnTensorDescriptor_t y, Geo& g) {
  const std::string who = call;
  if (!conv || !x || !w || !y) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, who + ": null descriptor");
  if (!conv->set || !x->set || !w->set || !y->set)
    return fail(CUDNN_STATUS_BAD_PARAM, who + ": a descriptor was created but never set");
  if (w->c != x->c)
    return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                who + ": the filter has " + std::to_string(w->c) + " input channels, x has " +
                    std::to_string(x->c));
  g = Geo{x->n, x->c, x->h, x->w, w->k, w->h, w->w,
          out_dim(x->h, conv->pad_h, w->h, conv->stride_h, conv->dil_h),
          out_dim(x->w, conv->pad_w, w->w, conv->stride_w, conv->dil_w), conv};
  if (y->n != g.B || y->c != g.O || y->h != g.Ho || y->w != g.Wo)
    return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                who + ": the output descriptor is (" + std::to_string(y->n) + ", " +
                    std::to_string(y->c) + ", " + std::to_string(y->h) + ", " +
                    std::to_string(y->w) + ") but the convolution gives (" +
                    std::to_string(g.B) + ", " + std::to_string(g.O) + ", " +
                    std::to_string(g.Ho) + ", " + std::to_string(g.Wo) + ")");
  return CUDNN_STATUS_SUCCESS;
}

// Calls f(x_index, w_index, y_index) for every tap of the convolution, in one fixed order.
template <class F>
void for_taps(const Geo& g, F f) {
  const cudnnConvolutionStruct& cv = *g.conv;
  const bool flip = cv.mode == CUDNN_CONVOLUTION;
  for (int b = 0; b < g.B; ++b)
    for (int o = 0; o < g.O; ++o)
      for (int c = 0; c < g.C; ++c)
        for (int i = 0; i < g.kh; ++i)
          for (int j = 0; j < g.kw; ++j) {
            const size_t wi = ((size_t(o) * g.C + c) * g.kh + (flip ? g.kh - 1 - i : i)) * g.kw +
                              (flip ? g.kw - 1 - j : j);
            for (int oh = 0; oh < g.Ho; ++oh) {
              const int ih = oh * cv.stride_h - cv.pad_h + i * cv.dil_h;
              if (ih < 0 || ih >= g.H) continue;
              for (int ow = 0; ow < g.Wo; ++ow) {
                const int iw = ow * cv.stride_w - cv.pad_w + j * cv.dil_w;
                if (iw < 0 || iw >= g.W) continue;
                f(((size_t(b) * g.C + c) * g.H + ih) * g.W + iw, wi,
                  ((size_t(b) * g.O + o) * g.Ho + oh) * g.Wo + ow);
              }
            }
          }
}

// out = alpha acc + beta out, out not read when beta == 0.
void blend(const void* alpha, const void* beta, const std::vector<double>& acc, void* out) {
  const float a = *static_cast<const float*>(alpha), bt = *static_cast<const float*>(beta);
  float* o = static_cast<float*>(out);
  for (size_t i = 0; i < acc.size(); ++i)
    o[i] = float(a * acc[i]) + (bt != 0.0f ? bt * o[i] : 0.0f);
}

// One entry of a made-up heuristic list; `refuse_at_run` is refused when executed although the
// heuristics report it as usable.
struct Entry {
  int algo;
  cudnnStatus_t status;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
  bool refuse_at_run;
};

std::vector<Entry> forward_list(const Geo& g) {
  const size_t col = sizeof(float) * size_t(g.C) * g.kh * g.kw;
  return {{CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, CUDNN_STATUS_SUCCESS, col, CUDNN_DETERMINISTIC,
           CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, false},
          {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_STATUS_SUCCESS, col,
           CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, false},
          {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, CUDNN_STATUS_NOT_SUPPORTED, 0,
           CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_STATUS_SUCCESS, kHuge, CUDNN_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_STATUS_SUCCESS, col, CUDNN_NON_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, CUDNN_STATUS_SUCCESS, 0, CUDNN_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, true},
          {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_STATUS_SUCCESS, col,
           CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, false}};
}
std::vector<Entry> backward_data_list(const Geo& g) {
  const size_t col = sizeof(float) * size_t(g.O) * g.kh * g.kw;
  return {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_STATUS_SUCCESS, 0, CUDNN_NON_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, CUDNN_STATUS_NOT_SUPPORTED, 0,
           CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_STATUS_SUCCESS, col, CUDNN_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false}};
}
std::vector<Entry> backward_filter_list(const Geo& g) {
  const size_t plane = sizeof(float) * size_t(g.Ho) * g.Wo;
  return {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_STATUS_SUCCESS, 0, CUDNN_NON_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_STATUS_SUCCESS, plane,
           CUDNN_NON_DETERMINISTIC, CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, CUDNN_STATUS_SUCCESS, kHuge,
           CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, false},
          {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_STATUS_SUCCESS, plane, CUDNN_DETERMINISTIC,
           CUDNN_DEFAULT_MATH, false}};
}

template <class Perf>
cudnnStatus_t report(const std::vector<Entry>& list, int requested, int* returned, Perf* perf) {
  if (!returned || !perf || requested < 1)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGet*Algorithm_v7: no room for results");
  const int n = std::min<int>(requested, int(list.size()));
  for (int i = 0; i < n; ++i) {
    const Entry& e = list[size_t(i)];
    perf[i] = Perf{};
    perf[i].algo = static_cast<decltype(perf[i].algo)>(e.algo);
    perf[i].status = e.status;
    perf[i].time = e.status == CUDNN_STATUS_SUCCESS ? float(i + 1) : -1.0f;
    perf[i].memory = e.memory;
    perf[i].determinism = e.determinism;
    perf[i].mathType = e.math;
  }
  *returned = n;
  return CUDNN_STATUS_SUCCESS;
}

// The checks every execution makes before computing: handle and stream, the data pointers,
// that the algorithm is one the heuristics offer as usable, math type and workspace. Fills the
// workspace it was promised.
cudnnStatus_t admit(const char* call, cudnnHandle_t h, const std::vector<Entry>& list, int algo,
                    const Geo& g, std::initializer_list<const void*> data, const void* alpha,
                    const void* beta, void* ws, size_t ws_bytes) {
  const std::string who = call;
  if (!h) return fail(CUDNN_STATUS_NOT_INITIALIZED, who + ": null handle");
  if (simt::g_inject_count > 0) {
    --simt::g_inject_count;
    return fail(simt::g_inject, who + ": failure injected by simt::dnn_fail_next_runs");
  }
  if (!h->stream_set)
    return fail(CUDNN_STATUS_BAD_PARAM,
                who + ": the handle has no stream set, so its work would not be ordered with the "
                      "backend's stream");
  for (const void* p : data)
    if (!p) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, who + ": null data pointer");
  if (!alpha || !beta) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, who + ": null alpha or beta");
  const auto it = std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.algo == algo; });
  if (it == list.end() || it->status != CUDNN_STATUS_SUCCESS)
    return fail(CUDNN_STATUS_NOT_SUPPORTED,
                who + ": algorithm " + std::to_string(algo) + " is not supported here");
  if (it->refuse_at_run) {
    ++simt::dnn_stats().refused;
    return fail(CUDNN_STATUS_NOT_SUPPORTED_SHAPE,
                who + ": algorithm " + std::to_string(algo) + " refuses this shape");
  }
  if (it->math == CUDNN_TENSOR_OP_MATH && g.conv->math != CUDNN_TENSOR_OP_MATH &&
      g.conv->math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
    return fail(CUDNN_STATUS_NOT_SUPPORTED,
                who + ": a tensor-op algorithm run with a math type that forbids tensor ops");
  if (ws_bytes < it->memory)
    return fail(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT,
                who + ": workspace of " + std::to_string(ws_bytes) + " bytes, algorithm " +
                    std::to_string(algo) + " needs " + std::to_string(it->memory));
  if (it->memory > 0 && !ws)
    return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, who + ": null workspace");
  if (it->memory > 0) std::memset(ws, 0x5a, it->memory);
  return CUDNN_STATUS_SUCCESS;
}

template <class T>
cudnnStatus_t make(T** out) {
  *out = new T();
  return CUDNN_STATUS_SUCCESS;
}
template <class T>
cudnnStatus_t release(T* p) {
  delete p;
  return CUDNN_STATUS_SUCCESS;
}

// Tensor and filter descriptors alike: four positive sizes, NCHW, FP32.
template <class D>
cudnnStatus_t set4d(const char* call, D* d, cudnnTensorFormat_t format, cudnnDataType_t type,
                    int n, int c, int h, int w) {
  const std::string who = call;
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, who + ": null descriptor");
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, who + ": sizes must be positive");
  if (format != CUDNN_TENSOR_NCHW)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT, who + ": only NCHW here");
  if (type != CUDNN_DATA_FLOAT) return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE, who + ": only FP32 here");
  *d = D{true, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

// A *_v7 heuristic query: the descriptors checked against each other, then the list reported.
template <class Perf>
cudnnStatus_t rank(const char* who, cudnnHandle_t h, cudnnConvolutionDescriptor_t conv,
                   cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
                   cudnnTensorDescriptor_t yd, std::vector<Entry> (*list)(const Geo&),
                   int requested, int* returned, Perf* perf) {
  if (!h) return fail(CUDNN_STATUS_NOT_INITIALIZED, std::string(who) + ": null handle");
  Geo g;
  const cudnnStatus_t st = geometry(who, conv, xd, wd, yd, g);
  return st != CUDNN_STATUS_SUCCESS ? st : report(list(g), requested, returned, perf);
}

// A cudnnFind* query: as the heuristics, with the entries reordered as if each had been run
// and timed (`fastest`: the usable ones, fastest first), those that cannot run after them with
// the status a run gives (refused when run: NOT_SUPPORTED_SHAPE). Runs on the handle's stream,
// so the stream must be set.
template <class Perf>
cudnnStatus_t find(const char* who, cudnnHandle_t h, cudnnConvolutionDescriptor_t conv,
                   cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
                   cudnnTensorDescriptor_t yd, std::vector<Entry> (*list)(const Geo&),
                   std::initializer_list<int> fastest, int requested, int* returned, Perf* perf) {
  if (!h) return fail(CUDNN_STATUS_NOT_INITIALIZED, std::string(who) + ": null handle");
  if (!h->stream_set)
    return fail(CUDNN_STATUS_BAD_PARAM, std::string(who) + ": the handle has no stream set");
  Geo g;
  const cudnnStatus_t st = geometry(who, conv, xd, wd, yd, g);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  std::vector<Entry> all = list(g), timed;
  for (int algo : fastest)
    for (const Entry& e : all)
      if (e.algo == algo && e.status == CUDNN_STATUS_SUCCESS && !e.refuse_at_run)
        timed.push_back(e);
  for (Entry e : all) {
    if (e.status == CUDNN_STATUS_SUCCESS && !e.refuse_at_run) continue;
    if (e.refuse_at_run) e.status = CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    timed.push_back(e);
  }
  if (timed.size() != all.size())
    return fail(CUDNN_STATUS_INTERNAL_ERROR, std::string(who) + ": stand-in timing order is "
                                                                "missing a usable algorithm");
  ++simt::dnn_stats().finds;
  return report(timed, requested, returned, perf);
}

// One execution: the descriptors checked against each other, the call admitted, then every tap
// accumulated in double by `tap(acc, x_index, w_index, y_index)` and blended into `out`;
// runs[algo] counts it.
template <class Tap>
cudnnStatus_t execute(const char* who, cudnnHandle_t h, cudnnConvolutionDescriptor_t conv,
                      cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
                      cudnnTensorDescriptor_t yd, std::vector<Entry> (*list)(const Geo&),
                      int algo, std::initializer_list<const void*> data, const void* alpha,
                      const void* beta, void* ws, size_t ws_bytes, size_t (*out_size)(const Geo&),
                      Tap tap, void* out, int* runs) {
  Geo g;
  cudnnStatus_t st = geometry(who, conv, xd, wd, yd, g);
  if (st == CUDNN_STATUS_SUCCESS) st = admit(who, h, list(g), algo, g, data, alpha, beta, ws, ws_bytes);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  std::vector<double> acc(out_size(g), 0.0);
  for_taps(g, [&](size_t xi, size_t wi, size_t yi) { tap(acc, xi, wi, yi); });
  blend(alpha, beta, acc, out);
  ++runs[algo];  // algo is one of the list's, so within the array
  return CUDNN_STATUS_SUCCESS;
}

size_t x_size(const Geo& g) { return size_t(g.B) * g.C * g.H * g.W; }
size_t w_size(const Geo& g) { return size_t(g.O) * g.C * g.kh * g.kw; }
size_t y_size(const Geo& g) { return size_t(g.B) * g.O * g.Ho * g.Wo; }

}  // namespace

size_t cudnnGetVersion() { return CUDNN_VERSION; }
const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT: return "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}
void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (!max_size) return;
  const size_t n = std::min(max_size - 1, g_last_error.size());
  std::memcpy(message, g_last_error.data(), n);
  message[n] = '\0';
  g_last_error.clear();
}
cudnnStatus_t cudnnCreate(cudnnHandle_t* h) { return make(h); }
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) { return release(h); }
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t) {
  if (!h) return fail(CUDNN_STATUS_NOT_INITIALIZED, "cudnnSetStream: null handle");
  h->stream_set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) { return make(d); }
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { return release(d); }
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  return set4d("cudnnSetTensor4dDescriptor", d, format, type, n, c, h, w);
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) { return make(d); }
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { return release(d); }
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  return set4d("cudnnSetFilter4dDescriptor", d, format, type, k, c, h, w);
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  return make(d);
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  return release(d);
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h,
                                              int pad_w, int u, int v, int dilation_h,
                                              int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute_type) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnSetConvolution2dDescriptor: null");
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0 ||
      (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
    return fail(CUDNN_STATUS_BAD_PARAM,
                "cudnnSetConvolution2dDescriptor: negative padding, or a stride or dilation "
                "below 1, or an unknown mode");
  if (compute_type != CUDNN_DATA_FLOAT)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
                "cudnnSetConvolution2dDescriptor: FP32 data needs FP32 compute here");
  d->set = true;
  d->pad_h = pad_h;
  d->pad_w = pad_w;
  d->stride_h = u;
  d->stride_w = v;
  d->dil_h = dilation_h;
  d->dil_w = dilation_w;
  d->mode = mode;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (!d) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnSetConvolutionMathType: null");
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t conv,
                                                    cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int* n, int* c,
                                                    int* h, int* wd) {
  const char* who = "cudnnGetConvolution2dForwardOutputDim";
  if (!conv || !x || !w || !n || !c || !h || !wd)
    return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, std::string(who) + ": null argument");
  if (!conv->set || !x->set || !w->set)
    return fail(CUDNN_STATUS_BAD_PARAM, std::string(who) + ": a descriptor was never set");
  if (w->c != x->c)
    return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                std::string(who) + ": filter and input disagree on the channels");
  *n = x->n;
  *c = w->k;
  *h = out_dim(x->h, conv->pad_h, w->h, conv->stride_h, conv->dil_h);
  *wd = out_dim(x->w, conv->pad_w, w->w, conv->stride_w, conv->dil_w);
  if (*h <= 0 || *wd <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, std::string(who) + ": the filter is larger than the input");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t conv,
                                                     cudnnTensorDescriptor_t y, int requested,
                                                     int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf) {
  return rank("cudnnGetConvolutionForwardAlgorithm_v7", h, conv, x, w, y, forward_list, requested,
              returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t dx, int requested, int* returned,
    cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return rank("cudnnGetConvolutionBackwardDataAlgorithm_v7", h, conv, dx, w, dy,
              backward_data_list, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t conv, cudnnFilterDescriptor_t dw, int requested, int* returned,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return rank("cudnnGetConvolutionBackwardFilterAlgorithm_v7", h, conv, x, dw, dy,
              backward_filter_list, requested, returned, perf);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                   cudnnFilterDescriptor_t w,
                                                   cudnnConvolutionDescriptor_t conv,
                                                   cudnnTensorDescriptor_t y, int requested,
                                                   int* returned,
                                                   cudnnConvolutionFwdAlgoPerf_t* perf) {
  return find("cudnnFindConvolutionForwardAlgorithm", h, conv, x, w, y, forward_list,
              {CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
               CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
               CUDNN_CONVOLUTION_FWD_ALGO_FFT},
              requested, returned, perf);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(
    cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t dx, int requested, int* returned,
    cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return find("cudnnFindConvolutionBackwardDataAlgorithm", h, conv, dx, w, dy, backward_data_list,
              {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0}, requested,
              returned, perf);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(
    cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t conv, cudnnFilterDescriptor_t dw, int requested, int* returned,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return find("cudnnFindConvolutionBackwardFilterAlgorithm", h, conv, x, dw, dy,
              backward_filter_list,
              {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
               CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING},
              requested, returned, perf);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha,
                                      cudnnTensorDescriptor_t xd, const void* x,
                                      cudnnFilterDescriptor_t wd, const void* w,
                                      cudnnConvolutionDescriptor_t conv,
                                      cudnnConvolutionFwdAlgo_t algo, void* workspace,
                                      size_t workspace_bytes, const void* beta,
                                      cudnnTensorDescriptor_t yd, void* y) {
  const float* xs = static_cast<const float*>(x);
  const float* ws = static_cast<const float*>(w);
  return execute(
      "cudnnConvolutionForward", h, conv, xd, wd, yd, forward_list, algo, {x, w, y}, alpha, beta,
      workspace, workspace_bytes, y_size,
      [&](std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
        acc[yi] += double(ws[wi]) * xs[xi];
      },
      y, simt::dnn_stats().forward);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha,
                                           cudnnFilterDescriptor_t wd, const void* w,
                                           cudnnTensorDescriptor_t dyd, const void* dy,
                                           cudnnConvolutionDescriptor_t conv,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workspace,
                                           size_t workspace_bytes, const void* beta,
                                           cudnnTensorDescriptor_t dxd, void* dx) {
  const float* ws = static_cast<const float*>(w);
  const float* gy = static_cast<const float*>(dy);
  return execute(
      "cudnnConvolutionBackwardData", h, conv, dxd, wd, dyd, backward_data_list, algo,
      {w, dy, dx}, alpha, beta, workspace, workspace_bytes, x_size,
      [&](std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
        acc[xi] += double(ws[wi]) * gy[yi];
      },
      dx, simt::dnn_stats().backward_data);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha,
                                             cudnnTensorDescriptor_t xd, const void* x,
                                             cudnnTensorDescriptor_t dyd, const void* dy,
                                             cudnnConvolutionDescriptor_t conv,
                                             cudnnConvolutionBwdFilterAlgo_t algo,
                                             void* workspace, size_t workspace_bytes,
                                             const void* beta, cudnnFilterDescriptor_t dwd,
                                             void* dw) {
  const float* xs = static_cast<const float*>(x);
  const float* gy = static_cast<const float*>(dy);
  return execute(
      "cudnnConvolutionBackwardFilter", h, conv, xd, dwd, dyd, backward_filter_list, algo,
      {x, dy, dw}, alpha, beta, workspace, workspace_bytes, w_size,
      [&](std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
        acc[wi] += double(xs[xi]) * gy[yi];
      },
      dw, simt::dnn_stats().backward_filter);
}
