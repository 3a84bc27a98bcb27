// mmboost engine: the backend interface every device implements.
//
// An op front-end (engine/ops/<op>.cpp) checks its inputs, allocates outputs, and calls
// MM_DISPATCH(device, fn, args...), which lands in cpu::fn (engine/cpu/<op>.cpp) or cuda::fn
// (engine/cuda/<op>.cu). The list is declared once, by macro, for both namespaces so the two
// backends cannot drift apart. A CPU-only build links engine/cuda/no_cuda.cpp, whose cuda::
// functions throw "built without CUDA".
//
// Conventions: tensors passed in are on the backend's device; inputs are contiguous unless the
// comment says "any strides"; outputs are preallocated, contiguous, and fully overwritten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mm {

enum class UnaryOp { Neg, Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Abs, AddScalar, MulScalar, PowScalar };
enum class BinaryOp { Add, Sub, Mul, Div };
enum class ReduceOp { Sum, Max };
enum class RandomDist { Uniform, Normal, Bernoulli };

// One parameter tensor of a multi-tensor SGD step (sgd_step below). param, grad and buf are
// contiguous f32 tensors of one numel on the backend's device; buf is undefined when the step
// has no momentum. first: buf holds nothing yet and is written, not read.
struct SgdSlot {
  Tensor param, grad, buf;
  float lr = 0.0f, weight_decay = 0.0f;
  bool first = false;
};

#define MM_BACKEND_DECLS                                                                        \
  /* t = value */                                                                               \
  void fill(Tensor& t, float value);                                                            \
  /* dst = src; same shape, any strides on both, same device */                                 \
  void copy_strided(const Tensor& src, Tensor& dst);                                            \
  /* y = op(x[, alpha]) */                                                                      \
  void unary(UnaryOp op, const Tensor& x, Tensor& y, float alpha);                              \
  /* gx = gy * op'(x) (y = op(x) given for ops whose derivative is cheaper from y) */           \
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,          \
                      Tensor& gx, float alpha);                                                 \
  /* out = a op b; a, b are views expanded to out's shape (any strides, stride 0 allowed) */    \
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);                      \
  /* y += alpha * x (same numel) */                                                             \
  void axpy(float alpha, const Tensor& x, Tensor& y);                                           \
  /* x viewed as (outer, n, inner) -> out (outer, inner); argmax (I64) for Max, may be null */  \
  void reduce_dim(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,       \
                  Tensor& out, Tensor* argmax);                                                 \
  /* gx (outer, n, inner) = 0 except gx[o, argmax[o,i], i] = g[o,i] */                           \
  void reduce_max_backward(const Tensor& g, const Tensor& argmax, int64_t outer, int64_t n,    \
                           int64_t inner, Tensor& gx);                                          \
  /* C (M,N) = alpha * op(A) op(B) + beta * C, row-major, batch strides in elements */         \
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,          \
            const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,    \
            int64_t ldc, int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c); \
  /* rows of x (R,K) -> softmax or log-softmax rows */                                          \
  void softmax_forward(const Tensor& x, Tensor& y, bool log);                                   \
  void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log);              \
  /* logits, targets (B,K) -> loss_rows (B) = -sum t log softmax(z); probs (B,K) = softmax */   \
  void cross_entropy_soft_forward(const Tensor& logits, const Tensor& targets,                 \
                                  Tensor& loss_rows, Tensor& probs);                            \
  /* grad (B,K) = (probs * rowsum(t) - t) * (g / B), g the incoming gradient of the batch-mean */ \
  /* loss (one element, on the device: no host read, so no wait for the device)              */ \
  void cross_entropy_soft_backward(const Tensor& probs, const Tensor& targets, const Tensor& g, \
                                   Tensor& grad);                                               \
  /* out (B) = x[i, labels[i]];  gx (B,K) = 0 except gx[i, labels[i]] = g[i] */                 \
  void gather_rows(const Tensor& x, const Tensor& labels, Tensor& out);                        \
  void gather_rows_backward(const Tensor& g, const Tensor& labels, Tensor& gx);                \
  void one_hot(const Tensor& labels, Tensor& out);                                              \
  /* x (B,C,H,W), w (O,C,kh,kw), bias (O) or undefined -> y (B,O,Ho,Wo) */                      \
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride,        \
                      int padding, Tensor& y);                                                  \
  /* any of gx, gw, gb may be null (not needed) */                                              \
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, int stride,         \
                       int padding, Tensor* gx, Tensor* gw, Tensor* gb);                        \
  /* y = act(bn(x) + residual): residual (x's shape) may be undefined (none), act is ReLU    */ \
  /* when relu, else the identity; save_mean, save_invstd (C): the statistics used           */ \
  void batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,          \
                            Tensor& running_mean, Tensor& running_var, bool training,          \
                            float momentum, float eps, const Tensor& residual, bool relu,      \
                            Tensor& y, Tensor& save_mean, Tensor& save_invstd);                \
  /* relu_y: the forward's y when it applied the ReLU, else undefined; the gradient reaching  */ \
  /* bn(x) + residual is then g_act = (relu_y > 0 ? gy : 0), else gy. g_act (x's shape, only  */ \
  /* with relu_y) receives it: the residual's gradient. Any of gx, ggamma, gbeta, g_act may   */ \
  /* be null (not needed). */                                                                   \
  void batch_norm2d_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,    \
                             const Tensor& save_invstd, const Tensor& gy,                      \
                             const Tensor& relu_y, bool training, Tensor* gx, Tensor* ggamma,  \
                             Tensor* gbeta, Tensor* g_act);                                     \
  /* indices (I64, y's shape): flat index h*W+w of the max inside its (b,c) plane */           \
  void max_pool2d_forward(const Tensor& x, int kernel, int stride, int padding, Tensor& y,     \
                          Tensor& indices);                                                     \
  void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx);               \
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y);                                 \
  void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx);                              \
  /* ---- the method's fused hot spots (CPU twins in engine/cpu, CUDA kernels in kernels/) ---- */ \
  /* Configurable classifiers' first layers as one GEMM. x (B,D); w1 (N*H,D): the N          */ \
  /* classifiers' Linear(D->H) weights stacked; b1 (N*H); coef (N): weight of classifier j in  */ \
  /* the running sum of the first N-1 (coef[N-1] unused) ->                                    */ \
  /* hsum (B,H) = sum_{j<N-1} coef_j relu(x w1_j^T + b1_j)  (zeros when N == 1),              */ \
  /* hnew (B,H) = relu(x w1_{N-1}^T + b1_{N-1}), act (B,N*H) the ReLU outputs for backward.   */ \
  void fused_hidden_forward(const Tensor& x, const Tensor& w1, const Tensor& b1,               \
                            const Tensor& coef, Tensor& hsum, Tensor& hnew, Tensor& act);       \
  /* From g_hsum, g_hnew (B,H): gx (B,D), gw1 (N*H,D), gb1 (N*H); each may be null. */          \
  void fused_hidden_backward(const Tensor& x, const Tensor& w1, const Tensor& coef,            \
                             const Tensor& act, const Tensor& g_hsum, const Tensor& g_hnew,    \
                             Tensor* gx, Tensor* gw1, Tensor* gb1);                             \
  /* Sustained-boosting loss terms of one modality, paper eqs (2)-(5), per row.                */ \
  /* s_prev (B,K) = S_{n-1} (sum of the first n-1 classifiers' logits), z_new (B,K) = newest,  */ \
  /* S_n = s_prev + z_new, labels (B) I64 ->                                                   */ \
  /* terms (B,3) = [eps (2): CE(z_new, y_hat), y_hat = y - lambda y*softmax(S_{n-1}) detached, */ \
  /*               eps_o (3): CE(S_n, y), eps_p (4): CE(S_{n-1}, y)];                          */ \
  /* g_prev, g_new (B,K): gradients of scale * sum_i (w_eps eps + w_o eps_o + w_p eps_p)      */ \
  /* w.r.t. s_prev and z_new; p_true (B) = softmax(S_n)[y] (the OGM score's summand).          */ \
  void boost_loss_forward_backward(const Tensor& s_prev, const Tensor& z_new,                  \
                                   const Tensor& labels, float lambda, float w_eps, float w_o, \
                                   float w_p, float scale, Tensor& terms, Tensor& g_prev,      \
                                   Tensor& g_new, Tensor& p_true);                              \
  /* out (1) = sum of v (R) in a fixed order (deterministic, no float atomics) */             \
  void ogm_score_sum(const Tensor& v, Tensor& out);                                             \
  /* SGD with momentum (PyTorch's rule, L2 through the gradient) on every slot at once:       */ \
  /* d = g + wd p; with momentum: buf = first ? d : momentum buf + (1 - dampening) d,         */ \
  /* d = nesterov ? d + momentum buf : buf; then p -= lr d. The CPU runs that as its own     */ \
  /* axpy and scale passes per tensor; CUDA as one kernel over all slots whose every update   */ \
  /* rounds as CUDA's axpy (one FMA) and scale do, so both give what per-tensor ops give.    */ \
  void sgd_step(const std::vector<SgdSlot>& slots, float momentum, float dampening,           \
                bool nesterov);                                                                 \
  /* element i of t from Generator::bits(seed, counter + i) */                                  \
  void random_fill(Tensor& t, RandomDist dist, float a, float b, uint64_t seed,                \
                   uint64_t counter);

namespace cpu {
MM_BACKEND_DECLS
}  // namespace cpu

namespace cuda {
MM_BACKEND_DECLS
// Device memory and runtime; see engine/cuda/runtime.cu.
bool available();  // built with CUDA and a device is present (or the emulated device)
// Why available() is false, for error messages ("" when it is true): a build without CUDA, or
// what the CUDA runtime said when asked for its devices.
std::string unavailable_reason();
bool emulated();   // the emulated device of -DMMBOOST_CUDA=EMULATE (engine/cuda/emulated.cpp)
int device_count();
void* device_alloc(size_t nbytes);  // from the caching allocator
void device_free(void* ptr);        // back to the caching allocator
void memcpy_h2d(void* dst, const void* src, size_t nbytes);
void memcpy_d2h(void* dst, const void* src, size_t nbytes);
void memcpy_d2d(void* dst, const void* src, size_t nbytes);
void synchronize();
// Page-locked ("pinned") host memory, the host side of uploads that overlap the device's work
// (below), from a cache of its own; thread-safe, since the data loader's workers build batches
// in it. nullptr where there is none (no CUDA device, out of page-locked memory): the caller
// then uses ordinary memory. pinned_free does not throw.
void* pinned_alloc(size_t nbytes);
void pinned_free(void* ptr);
// Uploads that overlap the device's work (engine/upload.h). upload_begin() opens a group: the
// device's copy stream waits for the work queued so far on the compute stream, so that a
// destination block freed by queued kernels is theirs no more when the copy writes it.
// upload_h2d() queues a copy from page-locked memory on the copy stream; the host goes on at
// once. upload_end() marks the end of the group and returns it as an event; upload_join(event)
// makes the compute stream wait for it (the kernels queued after see the data; the host does not
// wait); upload_release(event) destroys it, first waiting on the host for copies still in
// flight (counted in host_waits and upload_waits), after which both sides' buffers may be
// freed. It does not throw.
void upload_begin();
void upload_h2d(void* dst, const void* pinned_src, size_t nbytes);
void* upload_end();
void upload_join(void* event);
void upload_release(void* event);
// How many times the backend has made the host wait for the device since the program started:
// each copy to or from the host and each synchronize(). A training step that waits once (to
// read its loss) lets the host queue the next kernels while the device runs; every further wait
// idles the device until the host has launched again. Zero on the emulated device and without
// CUDA.
int64_t host_waits();
// The part of host_waits() spent in upload_release() on copies still in flight. Training never
// has any (each step's loss read has ordered the host after the batch's copy); evaluation, which
// reads nothing per batch, has one whenever the host has run ahead of the copy engine, so how
// many depends on the timing of the device.
int64_t upload_waits();

// The cuDNN convolution algorithm in use for one geometry and pass (engine/cuda/conv2d.cu), for
// reports such as bench_train_step's: what the determinism rule chose, beside cuDNN's own first
// choice with determinism aside (what MMBOOST_CUDNN_DETERMINISTIC=0 would take), so that one
// run shows what the rule costs. With conv_benchmark() on, the ranking is cuDNN's timing (cudnnFind*, at the geometry's
// first use) and both times are cuDNN's measurements; otherwise they are -1.
struct ConvChoice {
  std::string geometry;  // "x (B, C, H, W), w (O, C, k, k), stride s, padding p"
  std::string pass;      // "forward", "backward-data" or "backward-filter"
  std::string algo;      // cuDNN's name without its prefix, e.g. "IMPLICIT_PRECOMP_GEMM"
  bool deterministic = false;
  size_t workspace = 0;  // bytes
  int64_t calls = 0;     // runs of this pass since reset_conv_calls() (or the start)
  double ms = -1;        // cuDNN's timing of `algo`
  std::string first;     // cuDNN's first usable algorithm, deterministic or not
  bool first_deterministic = false;
  double first_ms = -1;  // cuDNN's timing of `first`
};
// Every geometry and pass ranked so far, in a fixed order (geometry, then pass); empty on
// builds without cuDNN (CPU-only, the emulated device).
std::vector<ConvChoice> conv_choices();
void reset_conv_calls();

// What decides a CUDA run's numbers beyond its config, for run reports: the GPU, TF32
// (MMBOOST_TF32), the convolution determinism rule (MMBOOST_CUDNN_DETERMINISTIC) and benchmark
// mode (MMBOOST_CUDNN_BENCHMARK); engine/cuda/runtime.h has the details. `gpu` is empty
// without CUDA; on the emulated device, which runs the CPU backend, the three settings do not
// apply and read as their defaults.
//
// The library versions say which CUDA and cuDNN computed a run: `cuda_runtime`, the CUDA
// runtime the program runs with, and `cuda_driver`, the newest CUDA the driver supports (both
// 1000 major + 10 minor, e.g. 13000); `cudnn`, the cuDNN library loaded at run time, and
// `cudnn_built`, the one whose header the build compiled against (cuDNN 9's encoding, 10000
// major + 100 minor + patch, e.g. 91400). Zero where there is no such library (no CUDA, the
// emulated device).
struct Settings {
  std::string gpu;
  bool tf32 = false;
  bool conv_deterministic = true;
  bool conv_benchmark = false;
  int cuda_runtime = 0;
  int cuda_driver = 0;
  int cudnn = 0;
  int cudnn_built = 0;
};
Settings settings();

// "13.0" for 13000: the CUDA runtime's and driver's version encoding.
inline std::string cuda_version_name(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}
// "9.14.0" for 91400 (cuDNN 9 and later: 10000 major + 100 minor + patch), "8.9.7" for 8907
// (cuDNN 8 and earlier: 1000 major + 100 minor + patch).
inline std::string cudnn_version_name(int v) {
  const int major = v >= 90000 ? v / 10000 : v / 1000;
  const int minor = v >= 90000 ? v / 100 % 100 : v % 1000 / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}
}  // namespace cuda

#define MM_DISPATCH(device, fn, ...) \
  ((device) == ::mm::Device::CPU ? ::mm::cpu::fn(__VA_ARGS__) : ::mm::cuda::fn(__VA_ARGS__))

}  // namespace mm
