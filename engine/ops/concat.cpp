// concat along one dimension and inverted dropout.
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  MM_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  MM_CHECK(first.defined(), "concat: tensor 0 is undefined");
  const int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape os = first.shape();
  os[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    MM_CHECK(x.defined() && x.dim() == first.dim() && x.dtype() == first.dtype() &&
                 x.device() == first.device(),
             "concat: tensor " << i << " (" << x.describe() << ") does not match tensor 0 ("
                               << first.describe() << ")");
    for (int64_t k = 0; k < x.dim(); ++k)
      MM_CHECK(k == d || x.shape()[k] == first.shape()[k],
               "concat: tensor " << i << " has shape " << shape_str(x.shape())
                                 << ", which differs from " << shape_str(first.shape())
                                 << " outside dimension " << d);
    os[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(os, first.dtype(), first.device());
  std::vector<int64_t> starts;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    starts.push_back(at);
    Tensor region = out.detach().slice(d, at, at + x.shape()[d]);
    MM_DISPATCH(out.device(), copy_strided, x.detach(), region);
    at += x.shape()[d];
  }
  if (first.dtype() == DType::F32) {
    std::vector<int64_t> sizes;
    for (const Tensor& x : xs) sizes.push_back(x.shape()[d]);
    record(out, "concat", xs, [d, starts, sizes](const Tensor& g, const std::vector<bool>& needs) {
      std::vector<Tensor> gs(needs.size());
      for (size_t i = 0; i < needs.size(); ++i)
        if (needs[i]) gs[i] = g.slice(d, starts[i], starts[i] + sizes[i]).contiguous();
      return gs;
    });
  }
  return out;
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  MM_CHECK(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got " << p);
  if (!training || p == 0.0f) return x;
  Tensor mask = Tensor::empty(x.shape(), DType::F32, x.device());
  bernoulli_(mask, 1.0f - p, gen);
  mask.mul_(1.0f / (1.0f - p));
  return mul(x, mask);
}

}  // namespace mm
