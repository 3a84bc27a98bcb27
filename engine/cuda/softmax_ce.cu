// CUDA backend: softmax / log-softmax rows, soft-target cross-entropy, true-class gathers and
// one-hot rows.
//
// Row kernels run one warp per row for rows up to kWarpRowMax long (8 rows per 256-thread
// block) and one block per row beyond, through the WarpGroup / BlockGroup helpers of
// kernels/common.cuh; the reductions inside a row have a fixed shape, so results are
// deterministic.
#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/common.cuh"

namespace mm::cuda {

namespace {

using kernels::BlockGroup;
using kernels::ceil_div;
using kernels::WarpGroup;

constexpr int kThreads = 256;

template <class Group>
unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(ceil_div(rows, Group::kRowsPerBlock));
}

// Launches kernel<WarpGroup> or kernel<BlockGroup> by row length.
#define MM_LAUNCH_ROWS(kernel, rows, K, ...)                                                  \
  do {                                                                                        \
    if ((K) <= kernels::kWarpRowMax) {                                                        \
      kernel<WarpGroup><<<row_blocks<WarpGroup>(rows), kThreads, 0, stream()>>>(__VA_ARGS__); \
    } else {                                                                                  \
      kernel<BlockGroup>                                                                      \
          <<<row_blocks<BlockGroup>(rows), kThreads, 0, stream()>>>(__VA_ARGS__);             \
    }                                                                                         \
    MM_CUDA_LAUNCH_CHECK();                                                                   \
  } while (0)

// x, y are (R,K)
template <class Group>
__global__ void softmax_forward_kernel(const float* x, float* y, int64_t R, int64_t K, bool log) {
  const int64_t r = Group::row();
  if (r >= R) return;  // whole warps/blocks leave together: rows are per group
  Group g;
  const float* xr = x + r * K;
  float* yr = y + r * K;
  float m = -INFINITY;
  for (int64_t k = g.rank(); k < K; k += g.size()) m = fmaxf(m, xr[k]);
  m = g.max(m);
  float s = 0.0f;
  for (int64_t k = g.rank(); k < K; k += g.size()) s += expf(xr[k] - m);
  s = g.sum(s);
  if (log) {
    // (x - max) - log(s), as the CPU twin: x - (max + log(s)) would round at the scale of the
    // max (~ulp(max) absolute error on every element of a row with large logits).
    const float ls = logf(s);
    for (int64_t k = g.rank(); k < K; k += g.size()) yr[k] = (xr[k] - m) - ls;
  } else {
    const float inv = 1.0f / s;
    for (int64_t k = g.rank(); k < K; k += g.size()) yr[k] = expf(xr[k] - m) * inv;
  }
}

// softmax:     gx = y * (gy - sum(gy * y))
// log-softmax: gx = gy - exp(y) * sum(gy)
// y, gy, gx are (R,K)
template <class Group>
__global__ void softmax_backward_kernel(const float* y, const float* gy, float* gx, int64_t R,
                                        int64_t K, bool log) {
  const int64_t r = Group::row();
  if (r >= R) return;
  Group g;
  const float* yr = y + r * K;
  const float* gr = gy + r * K;
  float* out = gx + r * K;
  float acc = 0.0f;
  for (int64_t k = g.rank(); k < K; k += g.size()) acc += log ? gr[k] : gr[k] * yr[k];
  acc = g.sum(acc);
  for (int64_t k = g.rank(); k < K; k += g.size())
    out[k] = log ? gr[k] - expf(yr[k]) * acc : yr[k] * (gr[k] - acc);
}

// loss_rows[r] = sum_k t_k (lse - z_k) = -sum_k t_k log softmax(z)_k; probs = softmax(z).
// Targets need not sum to 1 (residual labels), so nothing here assumes they do.
// logits, targets, probs are (B,K); loss_rows is (B)
template <class Group>
__global__ void ce_soft_forward_kernel(const float* logits, const float* targets, float* loss_rows,
                                       float* probs, int64_t B, int64_t K) {
  const int64_t r = Group::row();
  if (r >= B) return;
  Group g;
  const float* z = logits + r * K;
  const float* t = targets + r * K;
  float* p = probs + r * K;
  float m = -INFINITY;
  for (int64_t k = g.rank(); k < K; k += g.size()) m = fmaxf(m, z[k]);
  m = g.max(m);
  float s = 0.0f;
  for (int64_t k = g.rank(); k < K; k += g.size()) s += expf(z[k] - m);
  s = g.sum(s);
  const float ls = logf(s), inv = 1.0f / s;
  float loss = 0.0f;
  for (int64_t k = g.rank(); k < K; k += g.size()) {
    const float zk = z[k];
    loss += t[k] * (ls - (zk - m));  // -log softmax(z)_k, formed relative to the max
    p[k] = expf(zk - m) * inv;
  }
  loss = g.sum(loss);
  if (g.rank() == 0) loss_rows[r] = loss;
}

// grad = (probs * rowsum(t) - t) * scale
// probs, targets, grad are (B,K). The scale g / B is divided here as on the host (IEEE division,
// correctly rounded), from the incoming gradient in device memory.
template <class Group>
__global__ void ce_soft_backward_kernel(const float* probs, const float* targets, const float* g_in,
                                        float* grad, int64_t B, int64_t K) {
  const int64_t r = Group::row();
  if (r >= B) return;
  const float scale = *g_in / static_cast<float>(B);
  Group g;
  const float* p = probs + r * K;
  const float* t = targets + r * K;
  float* out = grad + r * K;
  float ts = 0.0f;
  for (int64_t k = g.rank(); k < K; k += g.size()) ts += t[k];
  ts = g.sum(ts);
  for (int64_t k = g.rank(); k < K; k += g.size()) out[k] = (p[k] * ts - t[k]) * scale;
}

// Labels outside [0, K) cannot throw from a kernel; they give NaN so the error shows in the
// loss instead of reading out of bounds.
// x is (B,K), labels (B), out (B)
__global__ void gather_rows_kernel(const float* x, const int64_t* labels, float* out, int64_t B,
                                   int64_t K) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= B) return;
  const int64_t y = labels[i];
  out[i] = (y >= 0 && y < K) ? x[i * K + y] : NAN;
}

// g (B), labels (B) -> gx (B,K)
__global__ void gather_rows_backward_kernel(const float* g, const int64_t* labels, float* gx,
                                            int64_t B, int64_t K) {
  const int64_t total = B * K;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t i = t / K, k = t % K;
    gx[t] = labels[i] == k ? g[i] : 0.0f;
  }
}

// labels (B) -> out (B,K); an out-of-range label gives a row of NaN.
__global__ void one_hot_kernel(const int64_t* labels, float* out, int64_t B, int64_t K) {
  const int64_t total = B * K;
  for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * kThreads) {
    const int64_t i = t / K, k = t % K;
    const int64_t y = labels[i];
    out[t] = (y >= 0 && y < K) ? (y == k ? 1.0f : 0.0f) : NAN;
  }
}

// Rows of a tensor whose last dimension has K entries.
void rows_of(const Tensor& x, int64_t& R, int64_t& K) {
  K = x.dim() == 0 ? 1 : x.size(-1);
  R = K == 0 ? 0 : x.numel() / K;
}

}  // namespace

void softmax_forward(const Tensor& x, Tensor& y, bool log) {
  require_cuda_contiguous(x, "softmax_forward", "x");
  require_cuda_contiguous(y, "softmax_forward", "y");
  int64_t R, K;
  rows_of(x, R, K);
  if (R == 0) return;
  MM_LAUNCH_ROWS(softmax_forward_kernel, R, K, x.data_f32(), y.data_f32(), R, K, log);
}

void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  require_cuda_contiguous(y, "softmax_backward", "y");
  require_cuda_contiguous(gy, "softmax_backward", "gy");
  require_cuda_contiguous(gx, "softmax_backward", "gx");
  int64_t R, K;
  rows_of(y, R, K);
  if (R == 0) return;
  MM_LAUNCH_ROWS(softmax_backward_kernel, R, K, y.data_f32(), gy.data_f32(), gx.data_f32(), R, K,
                 log);
}

void cross_entropy_soft_forward(const Tensor& logits, const Tensor& targets, Tensor& loss_rows,
                                Tensor& probs) {
  const char* op = "cross_entropy_soft_forward";
  require_cuda_contiguous(logits, op, "logits");
  require_cuda_contiguous(targets, op, "targets");
  require_cuda_contiguous(loss_rows, op, "loss_rows");
  require_cuda_contiguous(probs, op, "probs");
  MM_CHECK(logits.dim() == 2 && targets.shape() == logits.shape(),
           op << ": logits " << logits.describe() << " and targets " << targets.describe()
              << " must both be (B,K)");
  const int64_t B = logits.size(0), K = logits.size(1);
  if (B == 0) return;
  MM_LAUNCH_ROWS(ce_soft_forward_kernel, B, K, logits.data_f32(), targets.data_f32(),
                 loss_rows.data_f32(), probs.data_f32(), B, K);
}

void cross_entropy_soft_backward(const Tensor& probs, const Tensor& targets, const Tensor& g,
                                 Tensor& grad) {
  const char* op = "cross_entropy_soft_backward";
  require_cuda_contiguous(probs, op, "probs");
  require_cuda_contiguous(targets, op, "targets");
  require_cuda_contiguous(g, op, "g");
  require_cuda_contiguous(grad, op, "grad");
  MM_CHECK(probs.dim() == 2, op << ": probs must be (B,K), got " << probs.describe());
  MM_CHECK(g.numel() == 1 && g.dtype() == DType::F32, op << ": g must be one f32, got " << g.describe());
  const int64_t B = probs.size(0), K = probs.size(1);
  if (B == 0) return;
  MM_LAUNCH_ROWS(ce_soft_backward_kernel, B, K, probs.data_f32(), targets.data_f32(), g.data_f32(),
                 grad.data_f32(), B, K);
}

void gather_rows(const Tensor& x, const Tensor& labels, Tensor& out) {
  require_cuda_contiguous(x, "gather_rows", "x");
  require_cuda_contiguous(labels, "gather_rows", "labels");
  require_cuda_contiguous(out, "gather_rows", "out");
  MM_CHECK(x.dim() == 2, "gather_rows: x must be (B,K), got " << x.describe());
  const int64_t B = x.size(0), K = x.size(1);
  if (B == 0) return;
  gather_rows_kernel<<<static_cast<unsigned>(ceil_div(B, kThreads)), kThreads, 0, stream()>>>(
      x.data_f32(), labels.data_i64(), out.data_f32(), B, K);
  MM_CUDA_LAUNCH_CHECK();
}

void gather_rows_backward(const Tensor& g, const Tensor& labels, Tensor& gx) {
  require_cuda_contiguous(g, "gather_rows_backward", "g");
  require_cuda_contiguous(labels, "gather_rows_backward", "labels");
  require_cuda_contiguous(gx, "gather_rows_backward", "gx");
  MM_CHECK(gx.dim() == 2, "gather_rows_backward: gx must be (B,K), got " << gx.describe());
  const int64_t B = gx.size(0), K = gx.size(1);
  if (B * K == 0) return;
  gather_rows_backward_kernel<<<grid_for(B * K, kThreads), kThreads, 0, stream()>>>(
      g.data_f32(), labels.data_i64(), gx.data_f32(), B, K);
  MM_CUDA_LAUNCH_CHECK();
}

void one_hot(const Tensor& labels, Tensor& out) {
  require_cuda_contiguous(labels, "one_hot", "labels");
  require_cuda_contiguous(out, "one_hot", "out");
  MM_CHECK(out.dim() == 2, "one_hot: out must be (B,K), got " << out.describe());
  const int64_t B = out.size(0), K = out.size(1);
  if (B * K == 0) return;
  one_hot_kernel<<<grid_for(B * K, kThreads), kThreads, 0, stream()>>>(labels.data_i64(),
                                                                       out.data_f32(), B, K);
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::cuda
