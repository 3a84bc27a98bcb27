// matmul (2-D and batched 3-D) and linear, through the backend GEMM.
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
// C = op(A) op(B) for 2-D or 3-D contiguous tensors (batch dim first in 3-D).
void gemm_tensors(bool ta, bool tb, const Tensor& a, const Tensor& b, float beta, Tensor& c) {
  const bool batched = a.dim() == 3;
  const int64_t bs = batched ? a.size(0) : 1;
  const int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  const int64_t M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  MM_DISPATCH(a.device(), gemm, ta, tb, M, N, K, 1.0f, a.data_f32(), ac, b.data_f32(), bc, beta,
              c.data_f32(), N, bs, batched ? ar * ac : 0, batched ? br * bc : 0,
              batched ? M * N : 0);
}
}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  MM_CHECK(a_in.defined() && b_in.defined(), "matmul: undefined input");
  MM_CHECK(a_in.dtype() == DType::F32 && b_in.dtype() == DType::F32, "matmul: expected f32 inputs");
  MM_CHECK(a_in.device() == b_in.device(), "matmul: inputs on different devices");
  MM_CHECK((a_in.dim() == 2 && b_in.dim() == 2) || (a_in.dim() == 3 && b_in.dim() == 3),
           "matmul: expected two 2-D or two 3-D tensors, got " << a_in.describe() << " and "
                                                              << b_in.describe());
  MM_CHECK(a_in.size(-1) == b_in.size(-2), "matmul: inner dimensions differ, "
                                               << a_in.describe() << " x " << b_in.describe());
  if (a_in.dim() == 3)
    MM_CHECK(a_in.size(0) == b_in.size(0), "matmul: batch sizes differ, "
                                               << a_in.describe() << " x " << b_in.describe());
  Tensor a = a_in.detach().contiguous(), b = b_in.detach().contiguous();
  Shape os = a.shape();
  os.back() = b.size(-1);
  Tensor c = Tensor::empty(os, DType::F32, a.device());
  gemm_tensors(false, false, a, b, 0.0f, c);
  record(c, "matmul", {a_in, b_in}, [a, b](const Tensor& g, const std::vector<bool>& needs) {
    Tensor gc = g.contiguous(), ga, gb;
    if (needs[0]) {
      ga = Tensor::empty(a.shape(), DType::F32, a.device());
      gemm_tensors(false, true, gc, b, 0.0f, ga);  // dA = dC B^T
    }
    if (needs[1]) {
      gb = Tensor::empty(b.shape(), DType::F32, b.device());
      gemm_tensors(true, false, a, gc, 0.0f, gb);  // dB = A^T dC
    }
    return std::vector<Tensor>{ga, gb};
  });
  return c;
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& bias) {
  MM_CHECK(x_in.defined() && w_in.defined(), "linear: undefined input or weight");
  MM_CHECK(x_in.dim() == 2 && w_in.dim() == 2,
           "linear: expected x (B,Din) and weight (Dout,Din), got " << x_in.describe() << " and "
                                                                   << w_in.describe());
  MM_CHECK(x_in.size(1) == w_in.size(1), "linear: input has " << x_in.size(1)
                                             << " features but the weight expects "
                                             << w_in.size(1));
  MM_CHECK(x_in.device() == w_in.device(), "linear: input and weight on different devices");
  const int64_t B = x_in.size(0), Din = x_in.size(1), Dout = w_in.size(0);
  if (bias.defined())
    MM_CHECK(bias.dim() == 1 && bias.size(0) == Dout,
             "linear: bias " << bias.describe() << " does not match " << Dout << " outputs");
  Tensor x = x_in.detach().contiguous(), w = w_in.detach().contiguous();
  Tensor y = Tensor::empty({B, Dout}, DType::F32, x.device());
  float beta = 0.0f;
  if (bias.defined()) {
    MM_DISPATCH(x.device(), copy_strided, expand(bias.detach(), {B, Dout}), y);
    beta = 1.0f;
  }
  // y (B,Dout) = x (B,Din) W^T
  MM_DISPATCH(x.device(), gemm, false, true, B, Dout, Din, 1.0f, x.data_f32(), Din, w.data_f32(),
              Din, beta, y.data_f32(), Dout, 1, 0, 0, 0);
  record(y, "linear", {x_in, w_in, bias},
         [x, w, B, Din, Dout](const Tensor& g, const std::vector<bool>& needs) {
           Tensor gc = g.contiguous(), gx, gw, gb;
           if (needs[0]) {  // gx (B,Din) = g (B,Dout) W (Dout,Din)
             gx = Tensor::empty({B, Din}, DType::F32, g.device());
             MM_DISPATCH(g.device(), gemm, false, false, B, Din, Dout, 1.0f, gc.data_f32(), Dout,
                         w.data_f32(), Din, 0.0f, gx.data_f32(), Din, 1, 0, 0, 0);
           }
           if (needs[1]) {  // gw (Dout,Din) = g^T (Dout,B) x (B,Din)
             gw = Tensor::empty({Dout, Din}, DType::F32, g.device());
             MM_DISPATCH(g.device(), gemm, true, false, Dout, Din, B, 1.0f, gc.data_f32(), Dout,
                         x.data_f32(), Din, 0.0f, gw.data_f32(), Din, 1, 0, 0, 0);
           }
           if (needs.size() > 2 && needs[2]) gb = sum(gc, {0});
           return std::vector<Tensor>{gx, gw, gb};
         });
  return y;
}

}  // namespace mm
