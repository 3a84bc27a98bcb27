// CPU kernels: fill, strided copy, unary and binary elementwise ops, axpy, random fills.
#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/cpu/strided.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace mm::cpu {

void fill(Tensor& t, float value) {
  float* p = t.data_f32();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

void copy_strided(const Tensor& src, Tensor& dst) {
  const size_t es = dtype_size(src.dtype());
  if (src.is_contiguous() && dst.is_contiguous()) {
    if (src.raw_data() != dst.raw_data())
      std::memmove(dst.raw_data(), src.raw_data(), static_cast<size_t>(src.numel()) * es);
    return;
  }
  const Shape& ss = src.strides();
  const Shape& ds = dst.strides();
  const int64_t nd = src.dim();
  const int64_t si = nd ? ss[nd - 1] : 1, di = nd ? ds[nd - 1] : 1;
  if (es == 4) {
    const float* s = src.data_f32();
    float* d = dst.data_f32();
    for_each_row<2>(src.shape(), {&ss, &ds}, [&](int64_t, const int64_t* b, int64_t n) {
      for (int64_t i = 0; i < n; ++i) d[b[1] + i * di] = s[b[0] + i * si];
    });
  } else {
    const int64_t* s = src.data_i64();
    int64_t* d = dst.data_i64();
    for_each_row<2>(src.shape(), {&ss, &ds}, [&](int64_t, const int64_t* b, int64_t n) {
      for (int64_t i = 0; i < n; ++i) d[b[1] + i * di] = s[b[0] + i * si];
    });
  }
}

namespace {
template <class F>
void map1(const Tensor& x, Tensor& y, F f) {
  const float* a = x.data_f32();
  float* o = y.data_f32();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
}
template <class F>
void map3(const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx, F f) {
  const float* a = x.data_f32();
  const float* b = y.data_f32();
  const float* g = gy.data_f32();
  float* o = gx.data_f32();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i], g[i]);
}
}  // namespace

void unary(UnaryOp op, const Tensor& x, Tensor& y, float alpha) {
  switch (op) {
    case UnaryOp::Neg: return map1(x, y, [](float v) { return -v; });
    case UnaryOp::Relu: return map1(x, y, [](float v) { return v > 0.0f ? v : 0.0f; });
    case UnaryOp::Sigmoid: return map1(x, y, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
    case UnaryOp::Tanh: return map1(x, y, [](float v) { return std::tanh(v); });
    case UnaryOp::Exp: return map1(x, y, [](float v) { return std::exp(v); });
    case UnaryOp::Log: return map1(x, y, [](float v) { return std::log(v); });
    case UnaryOp::Sqrt: return map1(x, y, [](float v) { return std::sqrt(v); });
    case UnaryOp::Abs: return map1(x, y, [](float v) { return std::fabs(v); });
    case UnaryOp::AddScalar: return map1(x, y, [alpha](float v) { return v + alpha; });
    case UnaryOp::MulScalar: return map1(x, y, [alpha](float v) { return v * alpha; });
    case UnaryOp::PowScalar: return map1(x, y, [alpha](float v) { return std::pow(v, alpha); });
  }
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx,
                    float alpha) {
  switch (op) {
    case UnaryOp::Neg: return map3(x, y, gy, gx, [](float, float, float g) { return -g; });
    case UnaryOp::Relu:
      return map3(x, y, gy, gx, [](float a, float, float g) { return a > 0.0f ? g : 0.0f; });
    case UnaryOp::Sigmoid:
      return map3(x, y, gy, gx, [](float, float b, float g) { return g * b * (1.0f - b); });
    case UnaryOp::Tanh:
      return map3(x, y, gy, gx, [](float, float b, float g) { return g * (1.0f - b * b); });
    case UnaryOp::Exp: return map3(x, y, gy, gx, [](float, float b, float g) { return g * b; });
    case UnaryOp::Log: return map3(x, y, gy, gx, [](float a, float, float g) { return g / a; });
    case UnaryOp::Sqrt:
      return map3(x, y, gy, gx, [](float, float b, float g) { return g * 0.5f / b; });
    case UnaryOp::Abs:
      return map3(x, y, gy, gx, [](float a, float, float g) {
        return a > 0.0f ? g : (a < 0.0f ? -g : 0.0f);
      });
    case UnaryOp::AddScalar: return map3(x, y, gy, gx, [](float, float, float g) { return g; });
    case UnaryOp::MulScalar:
      return map3(x, y, gy, gx, [alpha](float, float, float g) { return g * alpha; });
    case UnaryOp::PowScalar:
      return map3(x, y, gy, gx, [alpha](float a, float, float g) {
        return g * alpha * std::pow(a, alpha - 1.0f);
      });
  }
}

namespace {
template <class F>
void binary_impl(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const float* pa = a.data_f32();
  const float* pb = b.data_f32();
  float* po = out.data_f32();
  if (a.is_contiguous() && b.is_contiguous()) {
    const int64_t n = out.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  const Shape& sa = a.strides();
  const Shape& sb = b.strides();
  const Shape& so = out.strides();
  const int64_t nd = out.dim();
  const int64_t ia = sa[nd - 1], ib = sb[nd - 1];
  for_each_row<3>(out.shape(), {&sa, &sb, &so}, [&](int64_t, const int64_t* base, int64_t n) {
    const float* ra = pa + base[0];
    const float* rb = pb + base[1];
    float* ro = po + base[2];
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < n; ++i) ro[i] = f(ra[i], rb[i]);
    } else if (ia == 1 && ib == 0) {
      const float vb = rb[0];
      for (int64_t i = 0; i < n; ++i) ro[i] = f(ra[i], vb);
    } else if (ia == 0 && ib == 1) {
      const float va = ra[0];
      for (int64_t i = 0; i < n; ++i) ro[i] = f(va, rb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) ro[i] = f(ra[i * ia], rb[i * ib]);
    }
  });
}
}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  if (out.dim() == 0) {
    // Scalars: one element, no rows to walk.
    const float va = *a.data_f32(), vb = *b.data_f32();
    float r = op == BinaryOp::Add ? va + vb
            : op == BinaryOp::Sub ? va - vb
            : op == BinaryOp::Mul ? va * vb
                                  : va / vb;
    *out.data_f32() = r;
    return;
  }
  switch (op) {
    case BinaryOp::Add: return binary_impl(a, b, out, [](float u, float v) { return u + v; });
    case BinaryOp::Sub: return binary_impl(a, b, out, [](float u, float v) { return u - v; });
    case BinaryOp::Mul: return binary_impl(a, b, out, [](float u, float v) { return u * v; });
    case BinaryOp::Div: return binary_impl(a, b, out, [](float u, float v) { return u / v; });
  }
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  const float* px = x.data_f32();
  float* py = y.data_f32();
  const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) py[i] += alpha * px[i];
}

void random_fill(Tensor& t, RandomDist dist, float a, float b, uint64_t seed, uint64_t counter) {
  float* p = t.data_f32();
  const int64_t n = t.numel();
  switch (dist) {
    case RandomDist::Uniform:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i)
        p[i] = a + (b - a) * Generator::to_unit(Generator::bits(seed, counter + i));
      break;
    case RandomDist::Normal:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        float u1 = Generator::to_unit(Generator::bits(seed, counter + 2 * i));
        float u2 = Generator::to_unit(Generator::bits(seed, counter + 2 * i + 1));
        if (u1 < 1e-12f) u1 = 1e-12f;
        p[i] = a + b * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
      }
      break;
    case RandomDist::Bernoulli:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i)
        p[i] = Generator::to_unit(Generator::bits(seed, counter + i)) < a ? 1.0f : 0.0f;
      break;
  }
}

}  // namespace mm::cpu
