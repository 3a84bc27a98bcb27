// Reductions: sum and mean over any set of dimensions, max / argmax over one.
#include <algorithm>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
Split split_at(const Shape& s, int64_t d) {
  Split r;
  for (int64_t i = 0; i < d; ++i) r.outer *= s[i];
  r.n = s[d];
  for (size_t i = d + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}

// Sums a contiguous tensor over dimension d, keeping it as size 1 (no autograd).
Tensor sum_dim_keep(const Tensor& x, int64_t d) {
  Split sp = split_at(x.shape(), d);
  Shape os = x.shape();
  os[d] = 1;
  Tensor out = Tensor::empty(os, DType::F32, x.device());
  MM_DISPATCH(x.device(), reduce_dim, ReduceOp::Sum, x, sp.outer, sp.n, sp.inner, out, nullptr);
  return out;
}

std::vector<int64_t> normalise_dims(const std::vector<int64_t>& dims, int64_t nd, const char* op) {
  std::vector<int64_t> w;
  for (int64_t d : dims) w.push_back(wrap_dim(d, nd, op));
  std::sort(w.begin(), w.end());
  MM_CHECK(std::adjacent_find(w.begin(), w.end()) == w.end(), op << ": repeated dimension");
  return w;
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  MM_CHECK(x.defined() && x.dtype() == DType::F32, "sum: expected a f32 tensor");
  std::vector<int64_t> dims = normalise_dims(dims_in, x.dim(), "sum");
  Tensor cur = x.detach().contiguous();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) cur = sum_dim_keep(cur, *it);
  Shape keep_shape = cur.shape();
  Shape out_shape;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (keepdim || !std::binary_search(dims.begin(), dims.end(), i)) out_shape.push_back(x.shape()[i]);
  Tensor out = keepdim ? cur : cur.reshape(out_shape).detach();
  Shape xs = x.shape();
  record(out, "sum", {x}, [xs, keep_shape](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{expand(g.contiguous().reshape(keep_shape), xs).contiguous()};
  });
  return out;
}

Tensor sum(const Tensor& x) {
  std::vector<int64_t> all(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) all[i] = i;
  if (all.empty()) return x.clone();
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  int64_t count = 1;
  for (int64_t d : normalise_dims(dims, x.dim(), "mean")) count *= x.shape()[d];
  MM_CHECK(count > 0, "mean: reducing over an empty dimension of " << x.describe());
  return mul_scalar(sum(x, dims, keepdim), 1.0f / static_cast<float>(count));
}

Tensor mean(const Tensor& x) {
  MM_CHECK(x.numel() > 0, "mean: empty tensor " << x.describe());
  return mul_scalar(sum(x), 1.0f / static_cast<float>(x.numel()));
}

namespace {
Tensor max_impl(const Tensor& x, int64_t dim, bool keepdim, Tensor* argmax_out) {
  MM_CHECK(x.defined() && x.dtype() == DType::F32, "max: expected a f32 tensor");
  int64_t d = wrap_dim(dim, x.dim(), "max");
  MM_CHECK(x.shape()[d] > 0, "max: dimension " << dim << " of " << x.describe() << " is empty");
  Tensor xc = x.detach().contiguous();
  Split sp = split_at(x.shape(), d);
  Shape keep_shape = x.shape();
  keep_shape[d] = 1;
  Tensor out = Tensor::empty(keep_shape, DType::F32, x.device());
  Tensor idx = Tensor::empty(keep_shape, DType::I64, x.device());
  MM_DISPATCH(x.device(), reduce_dim, ReduceOp::Max, xc, sp.outer, sp.n, sp.inner, out, &idx);
  if (argmax_out) *argmax_out = keepdim ? idx : idx.squeeze(d).detach();
  if (!keepdim) out = out.squeeze(d).detach();
  Shape xs = x.shape();
  record(out, "max", {x}, [xs, keep_shape, idx, sp](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(xs, DType::F32, g.device());
    MM_DISPATCH(g.device(), reduce_max_backward, gc, idx, sp.outer, sp.n, sp.inner, gx);
    return std::vector<Tensor>{gx};
  });
  return out;
}
}  // namespace

Tensor max(const Tensor& x, int64_t dim, bool keepdim) { return max_impl(x, dim, keepdim, nullptr); }

Tensor argmax(const Tensor& x, int64_t dim) {
  NoGradGuard ng;
  Tensor idx;
  max_impl(x, dim, false, &idx);
  return idx;
}

}  // namespace mm
