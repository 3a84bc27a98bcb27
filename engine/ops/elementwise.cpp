// Elementwise ops: binary with NumPy broadcasting, scalar ops, unary activations.
// Gradients are written with ordinary ops; broadcast gradients are reduced by sum_to_shape.
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
void check_float(const Tensor& t, const char* op) {
  MM_CHECK(t.defined(), op << ": input is undefined");
  MM_CHECK(t.dtype() == DType::F32, op << ": expected a f32 tensor, got " << t.describe());
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  MM_CHECK(a.device() == b.device(), op << ": tensors on different devices, " << a.describe()
                                        << " and " << b.describe());
}
}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MM_CHECK(da == db || da == 1 || db == 1,
             op << ": shapes " << shape_str(a) << " and " << shape_str(b)
                << " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(shape.size());
  const int64_t lead = n - x.dim();
  MM_CHECK(lead >= 0, "expand: " << x.describe() << " has more dimensions than "
                                 << shape_str(shape));
  Shape st(n, 0);
  for (int64_t i = 0; i < x.dim(); ++i) {
    int64_t d = x.shape()[i];
    MM_CHECK(d == shape[lead + i] || d == 1,
             "expand: " << x.describe() << " cannot be expanded to " << shape_str(shape));
    st[lead + i] = (d == shape[lead + i]) ? x.strides()[i] : 0;
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->shape = shape;
  impl->strides = st;
  impl->offset = x.offset();
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

namespace {
Tensor binary_op(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_float(a, name);
  check_float(b, name);
  check_same_device(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, DType::F32, a.device());
  Tensor ea = a.shape() == out_shape ? a.detach() : expand(a, out_shape);
  Tensor eb = b.shape() == out_shape ? b.detach() : expand(b, out_shape);
  MM_DISPATCH(a.device(), binary, op, ea, eb, out);
  Shape sa = a.shape(), sb = b.shape();
  Tensor ad = a.detach(), bd = b.detach();
  record(out, name, {a, b},
         [op, sa, sb, ad, bd](const Tensor& g, const std::vector<bool>& needs) {
           Tensor ga, gb;
           switch (op) {
             case BinaryOp::Add:
               if (needs[0]) ga = sum_to_shape(g, sa);
               if (needs[1]) gb = sum_to_shape(g, sb);
               break;
             case BinaryOp::Sub:
               if (needs[0]) ga = sum_to_shape(g, sa);
               if (needs[1]) gb = sum_to_shape(neg(g), sb);
               break;
             case BinaryOp::Mul:
               if (needs[0]) ga = sum_to_shape(mul(g, bd), sa);
               if (needs[1]) gb = sum_to_shape(mul(g, ad), sb);
               break;
             case BinaryOp::Div:
               if (needs[0]) ga = sum_to_shape(div(g, bd), sa);
               // d(a/b)/db = -a / b^2
               if (needs[1]) gb = sum_to_shape(neg(div(mul(g, ad), mul(bd, bd))), sb);
               break;
           }
           return std::vector<Tensor>{ga, gb};
         });
  return out;
}

Tensor unary_op(UnaryOp op, const char* name, const Tensor& x, float alpha = 0.0f) {
  check_float(x, name);
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
  MM_DISPATCH(x.device(), unary, op, xc, y, alpha);
  Tensor xd = xc.detach(), yd = y.detach();
  record(y, name, {x}, [op, xd, yd, alpha](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(xd.shape(), DType::F32, xd.device());
    MM_DISPATCH(xd.device(), unary_backward, op, xd, yd, gc, gx, alpha);
    return std::vector<Tensor>{gx};
  });
  return y;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Div, "div", a, b); }

Tensor add_scalar(const Tensor& x, float s) { return unary_op(UnaryOp::AddScalar, "add_scalar", x, s); }
Tensor mul_scalar(const Tensor& x, float s) { return unary_op(UnaryOp::MulScalar, "mul_scalar", x, s); }
Tensor pow_scalar(const Tensor& x, float p) { return unary_op(UnaryOp::PowScalar, "pow_scalar", x, p); }
Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, "neg", x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, "relu", x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, "sigmoid", x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, "tanh", x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, "exp", x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, "log", x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, "sqrt", x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, "abs", x); }

}  // namespace mm
