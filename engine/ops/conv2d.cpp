// conv2d: checks, output shape and the autograd record; the work is in the backends
// (engine/cpu/conv2d.cpp: im2col + GEMM).
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, int stride,
              int padding) {
  MM_CHECK(x_in.defined() && w_in.defined(), "conv2d: undefined input or weight");
  MM_CHECK(x_in.dtype() == DType::F32 && w_in.dtype() == DType::F32,
           "conv2d: expected f32 input and weight, got " << x_in.describe() << " and "
                                                        << w_in.describe());
  MM_CHECK(x_in.dim() == 4, "conv2d: expected input (B,C,H,W), got " << x_in.describe());
  MM_CHECK(w_in.dim() == 4, "conv2d: expected weight (O,C,k,k), got " << w_in.describe());
  MM_CHECK(x_in.device() == w_in.device(), "conv2d: input " << x_in.describe() << " and weight "
                                                            << w_in.describe()
                                                            << " are on different devices");
  const int64_t B = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  const int64_t O = w_in.size(0), k = w_in.size(2);
  MM_CHECK(w_in.size(1) == C, "conv2d: input has " << C << " channels but the weight "
                                                   << w_in.describe() << " expects "
                                                   << w_in.size(1));
  MM_CHECK(w_in.size(2) == w_in.size(3),
           "conv2d: only square kernels are supported, got weight " << w_in.describe());
  MM_CHECK(k >= 1, "conv2d: empty kernel in weight " << w_in.describe());
  MM_CHECK(stride >= 1, "conv2d: stride must be >= 1, got " << stride);
  MM_CHECK(padding >= 0, "conv2d: padding must be >= 0, got " << padding);
  MM_CHECK(H + 2 * padding >= k && W + 2 * padding >= k,
           "conv2d: kernel " << k << "x" << k << " is larger than the padded input "
                             << H + 2 * padding << "x" << W + 2 * padding << " of "
                             << x_in.describe() << "; use a smaller kernel or more padding");
  Tensor bias;
  if (bias_in.defined()) {
    MM_CHECK(bias_in.dtype() == DType::F32 && bias_in.dim() == 1 && bias_in.size(0) == O,
             "conv2d: bias " << bias_in.describe() << " does not match " << O
                             << " output channels");
    MM_CHECK(bias_in.device() == x_in.device(), "conv2d: bias on a different device");
    bias = bias_in.detach().contiguous();
  }
  const int64_t Ho = (H + 2 * padding - k) / stride + 1, Wo = (W + 2 * padding - k) / stride + 1;

  Tensor x = x_in.detach().contiguous(), w = w_in.detach().contiguous();
  Tensor y = Tensor::empty({B, O, Ho, Wo}, DType::F32, x.device());
  MM_DISPATCH(x.device(), conv2d_forward, x, w, bias, stride, padding, y);
  record(y, "conv2d", {x_in, w_in, bias_in},
         [x, w, stride, padding, O](const Tensor& g, const std::vector<bool>& needs) {
           Tensor gy = g.contiguous(), gx, gw, gb;
           if (needs[0]) gx = Tensor::empty(x.shape(), DType::F32, x.device());
           if (needs[1]) gw = Tensor::empty(w.shape(), DType::F32, w.device());
           if (needs[2]) gb = Tensor::empty({O}, DType::F32, w.device());
           MM_DISPATCH(x.device(), conv2d_backward, x, w, gy, stride, padding,
                       needs[0] ? &gx : nullptr, needs[1] ? &gw : nullptr,
                       needs[2] ? &gb : nullptr);
           return std::vector<Tensor>{gx, gw, gb};
         });
  return y;
}

}  // namespace mm
