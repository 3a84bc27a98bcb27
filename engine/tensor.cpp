#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/error.h"

namespace mm {

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : "i64"; }
const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* what) {
  int64_t w = d < 0 ? d + ndim : d;
  MM_CHECK(w >= 0 && w < ndim, what << ": dimension " << d << " is out of range for a tensor with "
                                    << ndim << " dimensions");
  return w;
}

// ---- Storage -----------------------------------------------------------------------------

Storage::~Storage() {
  if (!data) return;
  if (pinned) {
    cuda::pinned_free(data);
  } else if (device == Device::CPU) {
    std::free(data);
  } else {
    cuda::device_free(data);
  }
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  size_t padded = ((nbytes + 63) / 64) * 64;
  if (padded == 0) padded = 64;
  if (device == Device::CPU) {
    s->data = std::aligned_alloc(64, padded);
    MM_CHECK(s->data != nullptr, "out of host memory allocating " << nbytes << " bytes");
  } else {
    s->data = cuda::device_alloc(padded);
  }
  return s;
}

std::shared_ptr<Storage> Storage::allocate_pinned(size_t nbytes) {
  void* p = cuda::pinned_alloc(nbytes == 0 ? 64 : nbytes);
  if (!p) return allocate(nbytes, Device::CPU);
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->data = p;
  s->pinned = true;
  return s;
}

// ---- factories ---------------------------------------------------------------------------

namespace {
// A contiguous tensor's metadata, its storage still to be attached.
std::shared_ptr<TensorImpl> contiguous_impl(const Shape& shape, DType dtype) {
  for (int64_t d : shape) MM_CHECK(d >= 0, "negative dimension in shape " << shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  auto impl = contiguous_impl(shape, dtype);
  impl->storage = Storage::allocate(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype), device);
  return Tensor(std::move(impl));
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  auto impl = contiguous_impl(shape, dtype);
  impl->storage = Storage::allocate_pinned(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::CPU) {
    std::memset(t.raw_data(), 0, t.numel() * dtype_size(dtype));
  } else {
    MM_CHECK(dtype == DType::F32, "zeros: integer tensors on CUDA are created from host data");
    cuda::fill(t, 0.0f);
  }
  return t;
}

Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::F32, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value, Device device) { return full({}, value, device); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  MM_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
           "from_vector: " << values.size() << " values do not fill shape " << shape_str(shape));
  Tensor t = empty(shape, DType::F32, device);
  if (device == Device::CPU) {
    if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * 4);
  } else {
    cuda::memcpy_h2d(t.raw_data(), values.data(), values.size() * 4);
  }
  return t;
}

Tensor Tensor::from_ints(const std::vector<int64_t>& values, const Shape& shape, Device device) {
  MM_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
           "from_ints: " << values.size() << " values do not fill shape " << shape_str(shape));
  Tensor t = empty(shape, DType::I64, device);
  if (device == Device::CPU) {
    if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * 8);
  } else {
    cuda::memcpy_h2d(t.raw_data(), values.data(), values.size() * 8);
  }
  return t;
}

// ---- metadata ----------------------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
  MM_CHECK(impl_, "use of an undefined tensor");
  return *impl_;
}
const Shape& Tensor::shape() const { return checked().shape; }
const Shape& Tensor::strides() const { return checked().strides; }
int64_t Tensor::offset() const { return checked().offset; }
int64_t Tensor::dim() const { return static_cast<int64_t>(checked().shape.size()); }
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return numel_of(shape()); }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device; }

bool Tensor::is_pinned() const { return checked().storage->pinned; }

Tensor Tensor::pin_memory() const {
  MM_CHECK(device() == Device::CPU, "pin_memory: " << describe() << " is not a host tensor");
  Tensor src = contiguous();
  Tensor p = empty_pinned(shape(), dtype());
  if (numel() > 0) std::memcpy(p.raw_data(), src.raw_data(), static_cast<size_t>(numel()) * dtype_size(dtype()));
  return p;
}

bool Tensor::is_contiguous() const {
  const auto& s = shape();
  const auto& st = strides();
  int64_t acc = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (s[i] != 1 && st[i] != acc) return false;
    acc *= s[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device_name(device());
}

void* Tensor::raw_data() const {
  const auto& t = checked();
  return static_cast<char*>(t.storage->data) + t.offset * dtype_size(t.dtype);
}
float* Tensor::data_f32() const {
  MM_CHECK(dtype() == DType::F32, "expected a f32 tensor, got " << describe());
  return static_cast<float*>(raw_data());
}
int64_t* Tensor::data_i64() const {
  MM_CHECK(dtype() == DType::I64, "expected an i64 tensor, got " << describe());
  return static_cast<int64_t*>(raw_data());
}

// ---- host access -------------------------------------------------------------------------

std::vector<float> Tensor::to_vector() const {
  MM_CHECK(dtype() == DType::F32, "to_vector: expected f32, got " << describe());
  Tensor c = detach().contiguous().to(Device::CPU);
  const float* p = c.data_f32();
  return std::vector<float>(p, p + c.numel());
}

std::vector<int64_t> Tensor::to_int_vector() const {
  MM_CHECK(dtype() == DType::I64, "to_int_vector: expected i64, got " << describe());
  Tensor c = detach().contiguous().to(Device::CPU);
  const int64_t* p = c.data_i64();
  return std::vector<int64_t>(p, p + c.numel());
}

float Tensor::item() const {
  MM_CHECK(numel() == 1, "item: tensor " << describe() << " has " << numel() << " elements, not 1");
  return to_vector()[0];
}

// ---- copies ------------------------------------------------------------------------------

Tensor Tensor::detach() const {
  const auto& t = checked();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->shape = t.shape;
  impl->strides = t.strides;
  impl->offset = t.offset;
  impl->dtype = t.dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  if (dtype() == DType::F32) {
    record(out, "clone", {*this},
           [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
  }
  return out;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor src = detach().contiguous();
  Tensor out = empty(shape(), dtype(), dev);
  size_t n = static_cast<size_t>(numel()) * dtype_size(dtype());
  if (dev == Device::CUDA) {
    cuda::memcpy_h2d(out.raw_data(), src.raw_data(), n);
  } else {
    cuda::memcpy_d2h(out.raw_data(), src.raw_data(), n);
  }
  if (dtype() == DType::F32) {
    Device from = device();
    record(out, "to_device", {*this}, [from](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g.to(from)};
    });
  }
  return out;
}

// ---- views -------------------------------------------------------------------------------

namespace {
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::reshape(const Shape& new_shape_in) const {
  Shape ns = new_shape_in;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (ns[i] == -1) {
      MM_CHECK(infer < 0, "reshape: more than one -1 in " << shape_str(new_shape_in));
      infer = static_cast<int64_t>(i);
    } else {
      MM_CHECK(ns[i] >= 0, "reshape: negative size in " << shape_str(new_shape_in));
      known *= ns[i];
    }
  }
  if (infer >= 0) {
    MM_CHECK(known > 0 && numel() % known == 0,
             "reshape: cannot infer -1 in " << shape_str(new_shape_in) << " for " << describe());
    ns[infer] = numel() / known;
  }
  MM_CHECK(numel_of(ns) == numel(), "reshape: " << describe() << " has " << numel()
                                                << " elements, shape " << shape_str(ns)
                                                << " needs " << numel_of(ns));
  Tensor src = contiguous();
  Tensor out = make_view(src, ns, contiguous_strides(ns), src.offset());
  Shape old = shape();
  record(out, "reshape", {*this}, [old](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.reshape(old)};
  });
  return out;
}

Tensor Tensor::flatten(int64_t start_dim) const {
  int64_t sd = wrap_dim(start_dim, dim(), "flatten");
  Shape ns(shape().begin(), shape().begin() + sd);
  int64_t rest = 1;
  for (int64_t i = sd; i < dim(); ++i) rest *= shape()[i];
  ns.push_back(rest);
  return reshape(ns);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  int64_t w = wrap_dim(d, dim(), "slice");
  int64_t n = shape()[w];
  MM_CHECK(0 <= start && start <= end && end <= n,
           "slice: range [" << start << ", " << end << ") is outside dimension " << d << " of "
                            << describe());
  Shape ns = shape();
  ns[w] = end - start;
  Tensor out = make_view(*this, ns, strides(), offset() + start * strides()[w]);
  Shape full = shape();
  DType dt = dtype();
  Device dev = device();
  if (dt == DType::F32) {
    record(out, "slice", {*this},
           [full, w, start, end, dev](const Tensor& g, const std::vector<bool>&) {
             Tensor gx = Tensor::zeros(full, DType::F32, dev);
             Tensor region = gx.slice(w, start, end);
             region.copy_(g);
             return std::vector<Tensor>{gx};
           });
  }
  return out;
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  MM_CHECK(static_cast<int64_t>(order.size()) == dim(),
           "permute: order has " << order.size() << " entries for " << describe());
  Shape ns(dim()), nst(dim());
  std::vector<bool> seen(dim(), false);
  std::vector<int64_t> inverse(dim());
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t o = wrap_dim(order[i], dim(), "permute");
    MM_CHECK(!seen[o], "permute: dimension " << o << " repeated");
    seen[o] = true;
    ns[i] = shape()[o];
    nst[i] = strides()[o];
    inverse[o] = i;
  }
  Tensor out = make_view(*this, ns, nst, offset());
  record(out, "permute", {*this}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(d0, dim(), "transpose")], order[wrap_dim(d1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int64_t w = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape ns = shape();
  ns.insert(ns.begin() + w, 1);
  return reshape(ns);
}

Tensor Tensor::squeeze(int64_t d) const {
  int64_t w = wrap_dim(d, dim(), "squeeze");
  MM_CHECK(shape()[w] == 1, "squeeze: dimension " << d << " of " << describe() << " is not 1");
  Shape ns = shape();
  ns.erase(ns.begin() + w);
  return reshape(ns);
}

// ---- in-place ----------------------------------------------------------------------------

Tensor& Tensor::fill_(float value) {
  MM_CHECK(dtype() == DType::F32, "fill_: expected f32, got " << describe());
  if (is_contiguous()) {
    MM_DISPATCH(device(), fill, *this, value);
  } else {
    Tensor tmp = Tensor::full(shape(), value, device());
    copy_(tmp);
  }
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  MM_CHECK(src.shape() == shape(), "copy_: source " << src.describe() << " does not match "
                                                    << describe());
  MM_CHECK(src.dtype() == dtype(), "copy_: dtype mismatch, " << src.describe() << " into "
                                                             << describe());
  Tensor s = src.detach();
  if (s.device() != device()) s = s.to(device());
  MM_DISPATCH(device(), copy_strided, s, *this);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  MM_CHECK(other.shape() == shape(), "add_: " << other.describe() << " does not match "
                                              << describe());
  MM_CHECK(is_contiguous(), "add_: destination must be contiguous");
  Tensor o = other.detach().contiguous();
  MM_DISPATCH(device(), axpy, alpha, o, *this);
  return *this;
}

Tensor& Tensor::mul_(float value) {
  MM_CHECK(is_contiguous(), "mul_: destination must be contiguous");
  MM_DISPATCH(device(), unary, UnaryOp::MulScalar, *this, *this, value);
  return *this;
}

// ---- autograd accessors ------------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::set_requires_grad(bool value) {
  MM_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad "
                      "(call detach() first)");
  MM_CHECK(!value || dtype() == DType::F32, "set_requires_grad: only f32 tensors have gradients");
  impl_->requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& g) {
  checked();
  impl_->grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  checked();
  impl_->grad.reset();
}

void Tensor::backward(const Tensor& grad) const { run_backward(*this, grad); }

}  // namespace mm
