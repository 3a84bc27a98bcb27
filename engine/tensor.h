// mmboost engine: the Tensor.
//
// A Tensor is a cheap handle (shared pointer) to a TensorImpl: a view (shape, strides, offset,
// in elements) into a reference-counted Storage that lives on one Device. Views (reshape,
// slice, transpose, permute) share storage; compute ops read contiguous inputs and write fresh
// contiguous outputs. Autograd state (requires_grad, grad, grad_fn) lives on the impl; see
// autograd.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mm {

enum class DType { F32, I64 };
enum class Device { CPU, CUDA };

using Shape = std::vector<int64_t>;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
std::string shape_str(const Shape& s);
int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& s);

// Raw memory on one device. CPU memory is 64-byte aligned; CUDA memory comes from the caching
// allocator of the CUDA backend. CPU memory may be page-locked (`pinned`, from the CUDA
// backend's cache): the source of an upload that overlaps the device's work (engine/upload.h).
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device = Device::CPU;
  bool pinned = false;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  // Page-locked host memory where the CUDA backend has a device, else ordinary host memory.
  static std::shared_ptr<Storage> allocate_pinned(size_t nbytes);
};

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the op that produced this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor scalar(float value, Device device = Device::CPU);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::CPU);
  static Tensor from_ints(const std::vector<int64_t>& values, const Shape& shape,
                          Device device = Device::CPU);
  // A host tensor in page-locked memory (Storage::allocate_pinned), which Upload copies to the
  // device without making the host wait; ordinary host memory where there is no CUDA device.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::F32);
  // A copy of this host tensor in page-locked memory (empty_pinned), contiguous.
  Tensor pin_memory() const;

  // ---- metadata --------------------------------------------------------------------------
  bool defined() const { return static_cast<bool>(impl_); }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const;
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  bool is_pinned() const;  // host memory that is page-locked
  std::string describe() const;  // "f32[3, 4] cpu"

  // Pointer to the first element of this view (device memory for CUDA tensors).
  float* data_f32() const;
  int64_t* data_i64() const;
  void* raw_data() const;

  // ---- host access (copies; works for any device and any strides) ------------------------
  std::vector<float> to_vector() const;
  std::vector<int64_t> to_int_vector() const;
  float item() const;

  // ---- copies and views ------------------------------------------------------------------
  Tensor contiguous() const;  // self if already contiguous; differentiable
  Tensor clone() const;       // always a fresh contiguous copy; differentiable
  Tensor to(Device device) const;
  Tensor detach() const;      // shares storage, no autograd history
  Tensor reshape(const Shape& shape) const;  // one dim may be -1; view when contiguous
  Tensor flatten(int64_t start_dim = 1) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;  // [start, end) view
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze(int64_t d) const;

  // ---- in-place, outside autograd (optimizers, initialisation, buffers) ------------------
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& src);  // shapes must match; any strides; cross-device allowed
  Tensor& add_(const Tensor& other, float alpha = 1.0f);  // this += alpha * other
  Tensor& mul_(float value);

  // ---- autograd --------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value);  // only on leaves
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward reached this leaf
  void set_grad(const Tensor& g);
  void zero_grad();     // drops the accumulated gradient
  // Backpropagates from this tensor. `grad` defaults to ones (a scalar loss).
  void backward(const Tensor& grad = Tensor()) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dimension index; throws naming `what` when out of range.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* what);

}  // namespace mm
