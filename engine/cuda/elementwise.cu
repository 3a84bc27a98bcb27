// CUDA backend: fill, strided copy, unary and binary elementwise ops, axpy, random fills.
// One thread per element in grid-stride loops; strided views go through StridedPlan.
#include <cmath>

#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/strided.cuh"

namespace mm::cuda {

namespace {

constexpr int kThreads = 256;

#define MM_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);           \
       i += int64_t(gridDim.x) * blockDim.x)

__global__ void fill_kernel(float* p, int64_t n, float value) {
  MM_GRID_STRIDE(i, n) p[i] = value;
}

// dst (any strides) = src (any strides); T is the element type (float or int64_t).
template <class T>
__global__ void copy_strided_kernel(const T* src, T* dst, int64_t n, StridedPlan<2> plan) {
  MM_GRID_STRIDE(i, n) {
    int64_t off[2];
    plan.offsets(i, off);
    dst[off[1]] = src[off[0]];
  }
}

// ---- unary -----------------------------------------------------------------------------------

template <UnaryOp OP>
__device__ inline float unary_fn(float v, float alpha) {
  if constexpr (OP == UnaryOp::Neg) return -v;
  else if constexpr (OP == UnaryOp::Relu) return v > 0.0f ? v : 0.0f;
  else if constexpr (OP == UnaryOp::Sigmoid) return 1.0f / (1.0f + expf(-v));
  else if constexpr (OP == UnaryOp::Tanh) return tanhf(v);
  else if constexpr (OP == UnaryOp::Exp) return expf(v);
  else if constexpr (OP == UnaryOp::Log) return logf(v);
  else if constexpr (OP == UnaryOp::Sqrt) return sqrtf(v);
  else if constexpr (OP == UnaryOp::Abs) return fabsf(v);
  else if constexpr (OP == UnaryOp::AddScalar) return v + alpha;
  else if constexpr (OP == UnaryOp::MulScalar) return v * alpha;
  else return powf(v, alpha);  // PowScalar
}

// gx from x (a), y = op(x) (b) and gy (g), as the CPU backend defines each derivative.
template <UnaryOp OP>
__device__ inline float unary_grad_fn(float a, float b, float g, float alpha) {
  if constexpr (OP == UnaryOp::Neg) return -g;
  else if constexpr (OP == UnaryOp::Relu) return a > 0.0f ? g : 0.0f;
  else if constexpr (OP == UnaryOp::Sigmoid) return g * b * (1.0f - b);
  else if constexpr (OP == UnaryOp::Tanh) return g * (1.0f - b * b);
  else if constexpr (OP == UnaryOp::Exp) return g * b;
  else if constexpr (OP == UnaryOp::Log) return g / a;
  else if constexpr (OP == UnaryOp::Sqrt) return g * 0.5f / b;
  else if constexpr (OP == UnaryOp::Abs) return a > 0.0f ? g : (a < 0.0f ? -g : 0.0f);
  else if constexpr (OP == UnaryOp::AddScalar) return g;
  else if constexpr (OP == UnaryOp::MulScalar) return g * alpha;
  else return g * alpha * powf(a, alpha - 1.0f);  // PowScalar
}

// y may alias x (in-place scaling of optimizer state): each element is read before written.
template <UnaryOp OP>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float alpha) {
  MM_GRID_STRIDE(i, n) y[i] = unary_fn<OP>(x[i], alpha);
}

template <UnaryOp OP>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* gy, float* gx,
                                      int64_t n, float alpha) {
  MM_GRID_STRIDE(i, n) {
    const float a = x ? x[i] : 0.0f;
    const float b = y ? y[i] : 0.0f;
    gx[i] = unary_grad_fn<OP>(a, b, gy[i], alpha);
  }
}

template <UnaryOp OP>
void launch_unary(const float* x, float* y, int64_t n, float alpha) {
  unary_kernel<OP><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, y, n, alpha);
  MM_CUDA_LAUNCH_CHECK();
}

template <UnaryOp OP>
void launch_unary_backward(const float* x, const float* y, const float* gy, float* gx, int64_t n,
                           float alpha) {
  unary_backward_kernel<OP>
      <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, y, gy, gx, n, alpha);
  MM_CUDA_LAUNCH_CHECK();
}

// ---- binary ----------------------------------------------------------------------------------

template <BinaryOp OP>
__device__ inline float binary_fn(float u, float v) {
  if constexpr (OP == BinaryOp::Add) return u + v;
  else if constexpr (OP == BinaryOp::Sub) return u - v;
  else if constexpr (OP == BinaryOp::Mul) return u * v;
  else return u / v;
}

template <BinaryOp OP>
__global__ void binary_contiguous_kernel(const float* a, const float* b, float* out, int64_t n) {
  MM_GRID_STRIDE(i, n) out[i] = binary_fn<OP>(a[i], b[i]);
}

// out is contiguous; plan views 0 and 1 are a and b expanded to out's shape.
template <BinaryOp OP>
__global__ void binary_strided_kernel(const float* a, const float* b, float* out, int64_t n,
                                      StridedPlan<2> plan) {
  MM_GRID_STRIDE(i, n) {
    int64_t off[2];
    plan.offsets(i, off);
    out[i] = binary_fn<OP>(a[off[0]], b[off[1]]);
  }
}

template <BinaryOp OP>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const float* pa = a.data_f32();
  const float* pb = b.data_f32();
  float* po = out.data_f32();
  if (a.is_contiguous() && b.is_contiguous() && a.numel() == n && b.numel() == n) {
    binary_contiguous_kernel<OP><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(pa, pb, po, n);
  } else {
    auto plan = make_plan<2>(out.shape(), {&a.strides(), &b.strides()}, "binary");
    binary_strided_kernel<OP>
        <<<grid_for(n, kThreads), kThreads, 0, stream()>>>(pa, pb, po, n, plan);
  }
  MM_CUDA_LAUNCH_CHECK();
}

// One FMA, spelled out so that every build (nvcc, and the host compiler of the SIMT build) rounds
// it once; sgd_step (optim.cu) makes the same roundings.
__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  MM_GRID_STRIDE(i, n) y[i] = __fmaf_rn(alpha, x[i], y[i]);
}

// ---- random numbers: the same bits as Generator::bits (engine/rng.h) ------------------------

__device__ inline uint64_t rng_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + (i + 1) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

__device__ inline float rng_unit(uint64_t b) {
  return static_cast<float>(b >> 40) * (1.0f / 16777216.0f);
}

// The explicit _rn intrinsics stop nvcc from contracting a + (b - a) * u into one FMA, so the
// values round as the CPU's separate multiply and add do.
__global__ void random_fill_kernel(float* p, int64_t n, RandomDist dist, float a, float b,
                                   uint64_t seed, uint64_t counter) {
  MM_GRID_STRIDE(i, n) {
    const uint64_t c = static_cast<uint64_t>(i);
    if (dist == RandomDist::Uniform) {
      p[i] = __fadd_rn(a, __fmul_rn(b - a, rng_unit(rng_bits(seed, counter + c))));
    } else if (dist == RandomDist::Normal) {
      float u1 = rng_unit(rng_bits(seed, counter + 2 * c));
      const float u2 = rng_unit(rng_bits(seed, counter + 2 * c + 1));
      if (u1 < 1e-12f) u1 = 1e-12f;
      const float r = sqrtf(__fmul_rn(-2.0f, logf(u1)));
      const float t = cosf(__fmul_rn(6.28318530717958647692f, u2));
      p[i] = __fadd_rn(a, __fmul_rn(__fmul_rn(b, r), t));
    } else {
      p[i] = rng_unit(rng_bits(seed, counter + c)) < a ? 1.0f : 0.0f;
    }
  }
}

}  // namespace

void fill(Tensor& t, float value) {
  require_cuda_contiguous(t, "fill", "t");
  const int64_t n = t.numel();
  if (n == 0) return;
  fill_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(t.data_f32(), n, value);
  MM_CUDA_LAUNCH_CHECK();
}

void copy_strided(const Tensor& src, Tensor& dst) {
  require_cuda(src, "copy_strided", "src");
  require_cuda(dst, "copy_strided", "dst");
  MM_CHECK(src.dtype() == dst.dtype() && src.numel() == dst.numel(),
           "copy_strided: " << src.describe() << " does not match " << dst.describe());
  const int64_t n = dst.numel();
  if (n == 0) return;
  const size_t es = dtype_size(src.dtype());
  if (src.is_contiguous() && dst.is_contiguous()) {
    memcpy_d2d(dst.raw_data(), src.raw_data(), static_cast<size_t>(n) * es);
    return;
  }
  auto plan = make_plan<2>(dst.shape(), {&src.strides(), &dst.strides()}, "copy_strided");
  if (src.dtype() == DType::F32) {
    copy_strided_kernel<float><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        src.data_f32(), dst.data_f32(), n, plan);
  } else {
    copy_strided_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        src.data_i64(), dst.data_i64(), n, plan);
  }
  MM_CUDA_LAUNCH_CHECK();
}

void unary(UnaryOp op, const Tensor& x, Tensor& y, float alpha) {
  require_cuda_contiguous(x, "unary", "x");
  require_cuda_contiguous(y, "unary", "y");
  const int64_t n = x.numel();
  if (n == 0) return;
  const float* px = x.data_f32();
  float* py = y.data_f32();
  switch (op) {
    case UnaryOp::Neg: return launch_unary<UnaryOp::Neg>(px, py, n, alpha);
    case UnaryOp::Relu: return launch_unary<UnaryOp::Relu>(px, py, n, alpha);
    case UnaryOp::Sigmoid: return launch_unary<UnaryOp::Sigmoid>(px, py, n, alpha);
    case UnaryOp::Tanh: return launch_unary<UnaryOp::Tanh>(px, py, n, alpha);
    case UnaryOp::Exp: return launch_unary<UnaryOp::Exp>(px, py, n, alpha);
    case UnaryOp::Log: return launch_unary<UnaryOp::Log>(px, py, n, alpha);
    case UnaryOp::Sqrt: return launch_unary<UnaryOp::Sqrt>(px, py, n, alpha);
    case UnaryOp::Abs: return launch_unary<UnaryOp::Abs>(px, py, n, alpha);
    case UnaryOp::AddScalar: return launch_unary<UnaryOp::AddScalar>(px, py, n, alpha);
    case UnaryOp::MulScalar: return launch_unary<UnaryOp::MulScalar>(px, py, n, alpha);
    case UnaryOp::PowScalar: return launch_unary<UnaryOp::PowScalar>(px, py, n, alpha);
  }
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx,
                    float alpha) {
  require_cuda_contiguous(gy, "unary_backward", "gy");
  require_cuda_contiguous(gx, "unary_backward", "gx");
  const int64_t n = gx.numel();
  if (n == 0) return;
  // Ops whose derivative needs only one of x, y may be given the other undefined.
  const float* px = nullptr;
  const float* py = nullptr;
  if (x.defined()) {
    require_cuda_contiguous(x, "unary_backward", "x");
    px = x.data_f32();
  }
  if (y.defined()) {
    require_cuda_contiguous(y, "unary_backward", "y");
    py = y.data_f32();
  }
  const float* pg = gy.data_f32();
  float* po = gx.data_f32();
  switch (op) {
    case UnaryOp::Neg: return launch_unary_backward<UnaryOp::Neg>(px, py, pg, po, n, alpha);
    case UnaryOp::Relu: return launch_unary_backward<UnaryOp::Relu>(px, py, pg, po, n, alpha);
    case UnaryOp::Sigmoid:
      return launch_unary_backward<UnaryOp::Sigmoid>(px, py, pg, po, n, alpha);
    case UnaryOp::Tanh: return launch_unary_backward<UnaryOp::Tanh>(px, py, pg, po, n, alpha);
    case UnaryOp::Exp: return launch_unary_backward<UnaryOp::Exp>(px, py, pg, po, n, alpha);
    case UnaryOp::Log: return launch_unary_backward<UnaryOp::Log>(px, py, pg, po, n, alpha);
    case UnaryOp::Sqrt: return launch_unary_backward<UnaryOp::Sqrt>(px, py, pg, po, n, alpha);
    case UnaryOp::Abs: return launch_unary_backward<UnaryOp::Abs>(px, py, pg, po, n, alpha);
    case UnaryOp::AddScalar:
      return launch_unary_backward<UnaryOp::AddScalar>(px, py, pg, po, n, alpha);
    case UnaryOp::MulScalar:
      return launch_unary_backward<UnaryOp::MulScalar>(px, py, pg, po, n, alpha);
    case UnaryOp::PowScalar:
      return launch_unary_backward<UnaryOp::PowScalar>(px, py, pg, po, n, alpha);
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  require_cuda(a, "binary", "a");
  require_cuda(b, "binary", "b");
  require_cuda_contiguous(out, "binary", "out");
  switch (op) {
    case BinaryOp::Add: return launch_binary<BinaryOp::Add>(a, b, out);
    case BinaryOp::Sub: return launch_binary<BinaryOp::Sub>(a, b, out);
    case BinaryOp::Mul: return launch_binary<BinaryOp::Mul>(a, b, out);
    case BinaryOp::Div: return launch_binary<BinaryOp::Div>(a, b, out);
  }
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  require_cuda_contiguous(x, "axpy", "x");
  require_cuda_contiguous(y, "axpy", "y");
  MM_CHECK(x.numel() == y.numel(),
           "axpy: x " << x.describe() << " and y " << y.describe() << " differ in size");
  const int64_t n = y.numel();
  if (n == 0) return;
  axpy_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(alpha, x.data_f32(),
                                                                 y.data_f32(), n);
  MM_CUDA_LAUNCH_CHECK();
}

void random_fill(Tensor& t, RandomDist dist, float a, float b, uint64_t seed, uint64_t counter) {
  require_cuda_contiguous(t, "random_fill", "t");
  const int64_t n = t.numel();
  if (n == 0) return;
  random_fill_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(t.data_f32(), n, dist, a,
                                                                       b, seed, counter);
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::cuda
