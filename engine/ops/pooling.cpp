// max_pool2d and adaptive_avg_pool2d: checks, output shapes and autograd records; the work is
// in the backends (engine/cpu/pooling.cpp).
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
void check_input(const Tensor& x, const char* op) {
  MM_CHECK(x.defined(), op << ": undefined input");
  MM_CHECK(x.dtype() == DType::F32 && x.dim() == 4,
           op << ": expected a f32 input (B,C,H,W), got " << x.describe());
}
}  // namespace

// x (B,C,H,W) -> (B,C,Ho,Wo), Ho = (H + 2*padding - kernel) / stride + 1 (floor).
Tensor max_pool2d(const Tensor& x_in, int kernel, int stride, int padding) {
  check_input(x_in, "max_pool2d");
  MM_CHECK(kernel >= 1, "max_pool2d: kernel must be >= 1, got " << kernel);
  MM_CHECK(stride >= 1, "max_pool2d: stride must be >= 1, got " << stride);
  MM_CHECK(padding >= 0 && 2 * padding <= kernel,
           "max_pool2d: padding must be in [0, kernel/2], got padding "
               << padding << " for kernel " << kernel
               << " (a larger padding would give windows made only of padding)");
  const int64_t B = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  MM_CHECK(H + 2 * padding >= kernel && W + 2 * padding >= kernel,
           "max_pool2d: kernel " << kernel << " is larger than the padded input "
                                 << H + 2 * padding << "x" << W + 2 * padding << " of "
                                 << x_in.describe());
  const int64_t Ho = (H + 2 * padding - kernel) / stride + 1;
  const int64_t Wo = (W + 2 * padding - kernel) / stride + 1;
  Tensor x = x_in.detach().contiguous();
  Tensor y = Tensor::empty({B, C, Ho, Wo}, DType::F32, x.device());
  Tensor indices = Tensor::empty({B, C, Ho, Wo}, DType::I64, x.device());
  MM_DISPATCH(x.device(), max_pool2d_forward, x, kernel, stride, padding, y, indices);
  Shape xs = x.shape();
  record(y, "max_pool2d", {x_in}, [xs, indices](const Tensor& g, const std::vector<bool>&) {
    Tensor gy = g.contiguous();
    Tensor gx = Tensor::empty(xs, DType::F32, gy.device());
    MM_DISPATCH(gy.device(), max_pool2d_backward, gy, indices, gx);
    return std::vector<Tensor>{gx};
  });
  return y;
}

// x (B,C,H,W) -> (B,C,out_h,out_w); bin i of n over L covers [floor(i*L/n), ceil((i+1)*L/n)).
Tensor adaptive_avg_pool2d(const Tensor& x_in, int out_h, int out_w) {
  check_input(x_in, "adaptive_avg_pool2d");
  MM_CHECK(out_h >= 1 && out_w >= 1,
           "adaptive_avg_pool2d: output size must be >= 1, got " << out_h << "x" << out_w);
  const int64_t B = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  MM_CHECK(H >= 1 && W >= 1,
           "adaptive_avg_pool2d: empty spatial dimensions in " << x_in.describe());
  Tensor x = x_in.detach().contiguous();
  Tensor y = Tensor::empty({B, C, out_h, out_w}, DType::F32, x.device());
  MM_DISPATCH(x.device(), adaptive_avg_pool2d_forward, x, y);
  Shape xs = x.shape();
  record(y, "adaptive_avg_pool2d", {x_in}, [xs](const Tensor& g, const std::vector<bool>&) {
    Tensor gy = g.contiguous();
    Tensor gx = Tensor::empty(xs, DType::F32, gy.device());
    MM_DISPATCH(gy.device(), adaptive_avg_pool2d_backward, gy, gx);
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace mm
