// The emulated CUDA device (-DMMBOOST_CUDA=EMULATE): every mm::cuda entry point runs the CPU
// backend on "device" memory that is ordinary host memory, and available() is true. Tensors
// still carry Device::CUDA, so everything above the backend (op front-ends, autograd, nn
// modules, optimizers, the boosting method, the trainer, checkpoints, the CLI's --device cuda)
// takes its CUDA code path: device checks, copies between devices, buffers created on the
// right device. A machine without a GPU can therefore run the [cuda] tests and a whole
// training run on "cuda" and find device-placement mistakes before a GPU session.
//
// What it cannot show: the kernels themselves (the arithmetic is the CPU twin's), the caching
// allocator, streams, and any host read of device memory (here that memory is readable).
// Behaviours of the real backend that differ from the CPU's on purpose are reported by
// emulated() so that the tests of those behaviours can skip (e.g. labels outside [0,K) give
// NaN rows on the GPU and an error on the CPU).
#include <cstdlib>
#include <cstring>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cuda {

bool available() { return true; }
std::string unavailable_reason() { return ""; }
bool emulated() { return true; }
int device_count() { return 1; }

void* device_alloc(size_t nbytes) {
  const size_t padded = nbytes == 0 ? 64 : ((nbytes + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, padded);
  MM_CHECK(p != nullptr, "emulated CUDA device: out of host memory allocating " << nbytes << " bytes");
  return p;
}
void device_free(void* ptr) { std::free(ptr); }
void memcpy_h2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, src, nbytes);
}
void memcpy_d2h(void* dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, src, nbytes);
}
void memcpy_d2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, src, nbytes);
}
void synchronize() {}
// Page-locked memory is ordinary memory here and an upload is a copy made at once; the event is
// a token, so that the trainer's overlapping uploads take their CUDA code path.
void* pinned_alloc(size_t nbytes) { return device_alloc(nbytes); }
void pinned_free(void* ptr) { std::free(ptr); }
void upload_begin() {}
void upload_h2d(void* dst, const void* pinned_src, size_t nbytes) { memcpy_h2d(dst, pinned_src, nbytes); }
void* upload_end() {
  static char token;
  return &token;
}
void upload_join(void*) {}
void upload_release(void*) {}
int64_t host_waits() { return 0; }
int64_t upload_waits() { return 0; }
std::vector<ConvChoice> conv_choices() { return {}; }
void reset_conv_calls() {}
Settings settings() {
  Settings s;
  s.gpu = "emulated device (CPU backend)";
  return s;
}

void fill(Tensor& t, float value) { cpu::fill(t, value); }
void copy_strided(const Tensor& src, Tensor& dst) { cpu::copy_strided(src, dst); }
void unary(UnaryOp op, const Tensor& x, Tensor& y, float alpha) { cpu::unary(op, x, y, alpha); }
void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx,
                    float alpha) {
  cpu::unary_backward(op, x, y, gy, gx, alpha);
}
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) { cpu::binary(op, a, b, out); }
void axpy(float alpha, const Tensor& x, Tensor& y) { cpu::axpy(alpha, x, y); }
void sgd_step(const std::vector<SgdSlot>& slots, float momentum, float dampening, bool nesterov) {
  cpu::sgd_step(slots, momentum, dampening, nesterov);
}
void reduce_dim(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner, Tensor& out,
                Tensor* argmax) {
  cpu::reduce_dim(op, x, outer, n, inner, out, argmax);
}
void reduce_max_backward(const Tensor& g, const Tensor& argmax, int64_t outer, int64_t n,
                         int64_t inner, Tensor& gx) {
  cpu::reduce_max_backward(g, argmax, outer, n, inner, gx);
}
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int64_t batch,
          int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  cpu::gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, stride_a, stride_b,
            stride_c);
}
void softmax_forward(const Tensor& x, Tensor& y, bool log) { cpu::softmax_forward(x, y, log); }
void softmax_backward(const Tensor& y, const Tensor& gy, Tensor& gx, bool log) {
  cpu::softmax_backward(y, gy, gx, log);
}
void cross_entropy_soft_forward(const Tensor& logits, const Tensor& targets, Tensor& loss_rows,
                                Tensor& probs) {
  cpu::cross_entropy_soft_forward(logits, targets, loss_rows, probs);
}
void cross_entropy_soft_backward(const Tensor& probs, const Tensor& targets, const Tensor& g, Tensor& grad) {
  cpu::cross_entropy_soft_backward(probs, targets, g, grad);
}
void gather_rows(const Tensor& x, const Tensor& labels, Tensor& out) { cpu::gather_rows(x, labels, out); }
void gather_rows_backward(const Tensor& g, const Tensor& labels, Tensor& gx) {
  cpu::gather_rows_backward(g, labels, gx);
}
void one_hot(const Tensor& labels, Tensor& out) { cpu::one_hot(labels, out); }
// conv2d: host_conv2d.cpp (shared with the SIMT build).
void batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          Tensor& running_mean, Tensor& running_var, bool training, float momentum,
                          float eps, const Tensor& residual, bool relu, Tensor& y,
                          Tensor& save_mean, Tensor& save_invstd) {
  cpu::batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                            residual, relu, y, save_mean, save_invstd);
}
void batch_norm2d_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                           const Tensor& save_invstd, const Tensor& gy, const Tensor& relu_y,
                           bool training, Tensor* gx, Tensor* ggamma, Tensor* gbeta,
                           Tensor* g_act) {
  cpu::batch_norm2d_backward(x, gamma, save_mean, save_invstd, gy, relu_y, training, gx, ggamma,
                             gbeta, g_act);
}
void max_pool2d_forward(const Tensor& x, int kernel, int stride, int padding, Tensor& y,
                        Tensor& indices) {
  cpu::max_pool2d_forward(x, kernel, stride, padding, y, indices);
}
void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) {
  cpu::max_pool2d_backward(gy, indices, gx);
}
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) { cpu::adaptive_avg_pool2d_forward(x, y); }
void adaptive_avg_pool2d_backward(const Tensor& gy, Tensor& gx) {
  cpu::adaptive_avg_pool2d_backward(gy, gx);
}
void fused_hidden_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& coef,
                          Tensor& hsum, Tensor& hnew, Tensor& act) {
  cpu::fused_hidden_forward(x, w1, b1, coef, hsum, hnew, act);
}
void fused_hidden_backward(const Tensor& x, const Tensor& w1, const Tensor& coef, const Tensor& act,
                           const Tensor& g_hsum, const Tensor& g_hnew, Tensor* gx, Tensor* gw1,
                           Tensor* gb1) {
  cpu::fused_hidden_backward(x, w1, coef, act, g_hsum, g_hnew, gx, gw1, gb1);
}
void boost_loss_forward_backward(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 Tensor& terms, Tensor& g_prev, Tensor& g_new, Tensor& p_true) {
  cpu::boost_loss_forward_backward(s_prev, z_new, labels, lambda, w_eps, w_o, w_p, scale, terms,
                                   g_prev, g_new, p_true);
}
void ogm_score_sum(const Tensor& v, Tensor& out) { cpu::ogm_score_sum(v, out); }
void random_fill(Tensor& t, RandomDist dist, float a, float b, uint64_t seed, uint64_t counter) {
  cpu::random_fill(t, dist, a, b, seed, counter);
}

}  // namespace mm::cuda
