// softmax / log_softmax over any dimension (computed over rows after moving `dim` last).
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  MM_CHECK(x.defined() && x.dtype() == DType::F32, name << ": expected a f32 tensor");
  MM_CHECK(x.dim() >= 1 && x.numel() > 0, name << ": expected a non-empty tensor, got "
                                               << x.describe());
  const int64_t d = wrap_dim(dim, x.dim(), name);
  if (d != x.dim() - 1) {
    // Move the softmax dimension last, compute over rows, move it back (all differentiable).
    std::vector<int64_t> order;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (i != d) order.push_back(i);
    order.push_back(d);
    std::vector<int64_t> inverse(x.dim());
    for (int64_t i = 0; i < x.dim(); ++i) inverse[order[i]] = i;
    return softmax_impl(x.permute(order), -1, log).permute(inverse);
  }
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
  MM_DISPATCH(x.device(), softmax_forward, xc, y, log);
  Tensor yd = y.detach();
  record(y, name, {x}, [yd, log](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(yd.shape(), DType::F32, yd.device());
    MM_DISPATCH(yd.device(), softmax_backward, yd, gc, gx, log);
    return std::vector<Tensor>{gx};
  });
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace mm
