// CPU-only builds link this file in place of the CUDA backend: every CUDA entry point throws
// a clear error, and available() is false so that [cuda] tests skip.
#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  MM_FAIL("mmboost was built without CUDA (" << what
                                             << "): reconfigure with -DMMBOOST_CUDA=ON on a "
                                                "machine with the CUDA toolkit, or use --device cpu");
}
}  // namespace

bool available() { return false; }
std::string unavailable_reason() {
  return "this mmboost was built without CUDA (reconfigure with -DMMBOOST_CUDA=ON on a machine with the CUDA "
         "toolkit and cuDNN)";
}
bool emulated() { return false; }
int device_count() { return 0; }
void* device_alloc(size_t) { no_cuda("device_alloc"); }
void device_free(void*) {}
void memcpy_h2d(void*, const void*, size_t) { no_cuda("memcpy_h2d"); }
void memcpy_d2h(void*, const void*, size_t) { no_cuda("memcpy_d2h"); }
void memcpy_d2d(void*, const void*, size_t) { no_cuda("memcpy_d2d"); }
void synchronize() {}
void* pinned_alloc(size_t) { return nullptr; }  // ordinary memory then
void pinned_free(void*) {}
void upload_begin() { no_cuda("upload_begin"); }
void upload_h2d(void*, const void*, size_t) { no_cuda("upload_h2d"); }
void* upload_end() { no_cuda("upload_end"); }
void upload_join(void*) { no_cuda("upload_join"); }
void upload_release(void*) {}
int64_t host_waits() { return 0; }
int64_t upload_waits() { return 0; }
std::vector<ConvChoice> conv_choices() { return {}; }
void reset_conv_calls() {}
Settings settings() { return {}; }

void fill(Tensor&, float) { no_cuda("fill"); }
void copy_strided(const Tensor&, Tensor&) { no_cuda("copy_strided"); }
void unary(UnaryOp, const Tensor&, Tensor&, float) { no_cuda("unary"); }
void unary_backward(UnaryOp, const Tensor&, const Tensor&, const Tensor&, Tensor&, float) {
  no_cuda("unary_backward");
}
void binary(BinaryOp, const Tensor&, const Tensor&, Tensor&) { no_cuda("binary"); }
void axpy(float, const Tensor&, Tensor&) { no_cuda("axpy"); }
void sgd_step(const std::vector<SgdSlot>&, float, float, bool) { no_cuda("sgd_step"); }
void reduce_dim(ReduceOp, const Tensor&, int64_t, int64_t, int64_t, Tensor&, Tensor*) {
  no_cuda("reduce_dim");
}
void reduce_max_backward(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, Tensor&) {
  no_cuda("reduce_max_backward");
}
void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
          int64_t, float, float*, int64_t, int64_t, int64_t, int64_t, int64_t) {
  no_cuda("gemm");
}
void softmax_forward(const Tensor&, Tensor&, bool) { no_cuda("softmax_forward"); }
void softmax_backward(const Tensor&, const Tensor&, Tensor&, bool) { no_cuda("softmax_backward"); }
void cross_entropy_soft_forward(const Tensor&, const Tensor&, Tensor&, Tensor&) {
  no_cuda("cross_entropy_soft_forward");
}
void cross_entropy_soft_backward(const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  no_cuda("cross_entropy_soft_backward");
}
void gather_rows(const Tensor&, const Tensor&, Tensor&) { no_cuda("gather_rows"); }
void gather_rows_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda("gather_rows_backward"); }
void one_hot(const Tensor&, Tensor&) { no_cuda("one_hot"); }
void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, int, int, Tensor&) {
  no_cuda("conv2d_forward");
}
void conv2d_backward(const Tensor&, const Tensor&, const Tensor&, int, int, Tensor*, Tensor*,
                     Tensor*) {
  no_cuda("conv2d_backward");
}
void batch_norm2d_forward(const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, bool,
                          float, float, const Tensor&, bool, Tensor&, Tensor&, Tensor&) {
  no_cuda("batch_norm2d_forward");
}
void batch_norm2d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const Tensor&, bool, Tensor*, Tensor*, Tensor*,
                           Tensor*) {
  no_cuda("batch_norm2d_backward");
}
void max_pool2d_forward(const Tensor&, int, int, int, Tensor&, Tensor&) {
  no_cuda("max_pool2d_forward");
}
void max_pool2d_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda("max_pool2d_backward"); }
void adaptive_avg_pool2d_forward(const Tensor&, Tensor&) { no_cuda("adaptive_avg_pool2d_forward"); }
void adaptive_avg_pool2d_backward(const Tensor&, Tensor&) {
  no_cuda("adaptive_avg_pool2d_backward");
}
void random_fill(Tensor&, RandomDist, float, float, uint64_t, uint64_t) { no_cuda("random_fill"); }
void fused_hidden_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&,
                          Tensor&, Tensor&) {
  no_cuda("fused_hidden_forward");
}
void fused_hidden_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const Tensor&, Tensor*, Tensor*, Tensor*) {
  no_cuda("fused_hidden_backward");
}
void boost_loss_forward_backward(const Tensor&, const Tensor&, const Tensor&, float, float, float,
                                 float, float, Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cuda("boost_loss_forward_backward");
}
void ogm_score_sum(const Tensor&, Tensor&) { no_cuda("ogm_score_sum"); }

}  // namespace mm::cuda
