// CPU conv2d: im2col + GEMM (mm::cpu::gemm, Eigen).
//
// Layout: x (B,C,H,W), w (O,C,k,k) viewed as (O,Ckk) with Ckk = C*k*k, y (B,O,Ho,Wo); P = Ho*Wo.
// Per chunk of nb samples:  col (Ckk, nb*P) = im2col(x[b0:b0+nb])
//                           y_chunk (O, nb*P) = w (O,Ckk) @ col
// Backward:                 gw (O,Ckk) += gy_chunk (O, nb*P) @ col^T
//                           gcol (Ckk, nb*P) = w^T @ gy_chunk, then col2im into gx.
// Several samples share one GEMM so that late layers with tiny Ho*Wo (a 9x4 map has P = 36)
// still give the GEMM a few hundred columns; chunks stay small enough for col to sit in L2.
// A 1x1 stride-1 unpadded convolution skips im2col: x_b (C,P) is already the col matrix.
//
// im2col reads from a zero-padded copy of each sample, so windows need no boundary tests:
// stride 1 copies contiguous runs, stride 2 with rows of >= 8 outputs uses AVX2 deinterleaving
// row kernels, any other stride a precomputed offset table (a branch-free gather). col2im is
// the adjoint of each (scatter-adds into a padded buffer, then copies its interior out). The
// backward recomputes col rather than keeping it from the forward: im2col costs about as much
// as a GEMM pass over col would, while keeping it would cost Ckk*P floats per sample per layer.
//
// Threading: with at least as many samples as threads, each thread takes a contiguous range of
// samples and runs single-threaded GEMMs on its own scratch (Eigen stays single-threaded inside
// an OpenMP parallel region); otherwise samples are processed in order and Eigen threads each
// GEMM. gw is summed deterministically: each thread accumulates its own partial over its
// samples in order, and the partials are added in thread order afterwards, so a fixed thread
// count gives bit-identical results. gx of a sample is written by exactly one thread.
#include <omp.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cpu {

namespace {

struct ConvGeom {
  int64_t B, C, H, W, O, k, s, p, Ho, Wo;
  int64_t P;    // Ho*Wo
  int64_t Ckk;  // C*k*k
  bool pointwise;  // 1x1, stride 1, pad 0: the input itself is the col matrix
  bool s2vec;      // stride 2 with rows of >= 8 outputs: AVX2 row kernels instead of the table
};

ConvGeom geometry(const Tensor& x, const Tensor& w, int stride, int padding) {
  ConvGeom g;
  g.B = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.O = w.size(0);
  g.k = w.size(2);
  g.s = stride;
  g.p = padding;
  g.Ho = (g.H + 2 * g.p - g.k) / g.s + 1;
  g.Wo = (g.W + 2 * g.p - g.k) / g.s + 1;
  g.P = g.Ho * g.Wo;
  g.Ckk = g.C * g.k * g.k;
  g.pointwise = g.k == 1 && g.s == 1 && g.p == 0;
#ifdef __AVX2__
  g.s2vec = g.s == 2 && g.Wo >= 8;
#else
  g.s2vec = false;
#endif
  return g;
}

// Padded planes: a sample's (C,H,W) input copied into (C,Hp,Wp) with zero borders, so that
// every window position is a plain read and im2col has no boundary logic. Without padding the
// input itself is used, except on the AVX2 stride-2 path, whose 16-wide loads may touch one
// float past a row's last window position and so need the copy's trailing slack.
struct Padded {
  int64_t Hp, Wp;
  const float* data;  // (C,Hp,Wp)
};

constexpr int64_t kSlack = 16;  // floats after a padded buffer that vector loads may touch

inline bool needs_copy(const ConvGeom& g) { return g.p > 0 || g.s2vec; }

size_t padded_floats(const ConvGeom& g) {
  return static_cast<size_t>(g.C * (g.H + 2 * g.p) * (g.W + 2 * g.p) + kSlack);
}

Padded pad_sample(const float* x, const ConvGeom& g, float* buf) {
  if (!needs_copy(g)) return {g.H, g.W, x};
  const int64_t Hp = g.H + 2 * g.p, Wp = g.W + 2 * g.p;
  for (int64_t c = 0; c < g.C; ++c) {
    float* pc = buf + c * Hp * Wp;
    std::memset(pc, 0, sizeof(float) * g.p * Wp);
    for (int64_t h = 0; h < g.H; ++h) {
      float* r = pc + (h + g.p) * Wp;
      for (int64_t j = 0; j < g.p; ++j) r[j] = 0.0f;
      std::memcpy(r + g.p, x + (c * g.H + h) * g.W, sizeof(float) * g.W);
      for (int64_t j = g.p + g.W; j < Wp; ++j) r[j] = 0.0f;
    }
    std::memset(pc + (g.p + g.H) * Wp, 0, sizeof(float) * g.p * Wp);
  }
  std::memset(buf + g.C * Hp * Wp, 0, sizeof(float) * kSlack);
  return {Hp, Wp, buf};
}

// For strided convolutions: table[(ki*k + kj)*P + oh*Wo + ow] = offset of the input element
// that output (oh,ow) reads at kernel position (ki,kj), inside one padded plane. The same for
// every channel and sample, so im2col becomes a branch-free gather (rows of a 9x4 output map
// are too short for per-row boundary logic to pay off).
std::vector<int32_t> gather_table(const ConvGeom& g, int64_t Wp) {
  std::vector<int32_t> t(static_cast<size_t>(g.k * g.k * g.P));
  for (int64_t ki = 0; ki < g.k; ++ki)
    for (int64_t kj = 0; kj < g.k; ++kj)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow)
          t[(ki * g.k + kj) * g.P + oh * g.Wo + ow] =
              static_cast<int32_t>((oh * g.s + ki) * Wp + ow * g.s + kj);
  return t;
}

#ifdef __AVX2__
// d[ow] = s[2*ow] for ow < n. Reads s[0 .. 2n-1] (one float past the last one used).
inline void gather_stride2(const float* s, float* d, int64_t n) {
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    const __m256 a = _mm256_loadu_ps(s + 2 * ow), b = _mm256_loadu_ps(s + 2 * ow + 8);
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    _mm256_storeu_ps(d + ow, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                                    _MM_SHUFFLE(3, 1, 2, 0))));
  }
  for (; ow < n; ++ow) d[ow] = s[2 * ow];
}

// d[2*ow] += s[ow] for ow < n; adds 0 to the odd positions in between, up to d[2n-1].
inline void scatter_add_stride2(const float* s, float* d, int64_t n) {
  const __m256 z = _mm256_setzero_ps();
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    const __m256 v = _mm256_loadu_ps(s + ow);
    const __m256 lo = _mm256_unpacklo_ps(v, z), hi = _mm256_unpackhi_ps(v, z);  // s0 0 s1 0 | s4 0 s5 0
    float* p = d + 2 * ow;
    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), _mm256_permute2f128_ps(lo, hi, 0x20)));
    _mm256_storeu_ps(p + 8,
                     _mm256_add_ps(_mm256_loadu_ps(p + 8), _mm256_permute2f128_ps(lo, hi, 0x31)));
  }
  for (; ow < n; ++ow) d[2 * ow] += s[ow];
}
#endif

// One sample's padded planes -> col rows r = (c*k + ki)*k + kj, each holding P columns
// (oh*Wo + ow) at col + r*ldc.
void im2col(const Padded& x, const ConvGeom& g, const int32_t* table, float* col, int64_t ldc) {
  const int64_t kk = g.k * g.k, plane = x.Hp * x.Wp;
  for (int64_t c = 0; c < g.C; ++c) {
    const float* __restrict src = x.data + c * plane;
    for (int64_t r = 0; r < kk; ++r) {
      float* __restrict dst = col + (c * kk + r) * ldc;
      const int64_t ki = r / g.k, kj = r % g.k;
      if (g.s == 1) {  // each output row reads a contiguous run of the padded input row
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          std::memcpy(dst + oh * g.Wo, src + (oh + ki) * x.Wp + kj, sizeof(float) * g.Wo);
#ifdef __AVX2__
      } else if (g.s2vec) {
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          gather_stride2(src + (2 * oh + ki) * x.Wp + kj, dst + oh * g.Wo, g.Wo);
#endif
      } else {
        const int32_t* __restrict t = table + r * g.P;
        for (int64_t j = 0; j < g.P; ++j) dst[j] = src[t[j]];
      }
    }
  }
}

// The adjoint of im2col for one sample: gx (C,H,W) = col2im(gcol), through a zeroed padded
// buffer gpad (C,Hp,Wp) whose interior is then copied out. One sample, one thread, fixed order:
// deterministic.
void col2im(const float* gcol, int64_t ldc, const ConvGeom& g, const int32_t* table, float* gpad,
            float* gx) {
  const int64_t Hp = g.H + 2 * g.p, Wp = g.W + 2 * g.p, plane = Hp * Wp, kk = g.k * g.k;
  float* acc = needs_copy(g) ? gpad : gx;
  std::memset(acc, 0, sizeof(float) * (g.C * plane + (needs_copy(g) ? kSlack : 0)));
  for (int64_t c = 0; c < g.C; ++c) {
    float* dst = acc + c * plane;
    for (int64_t r = 0; r < kk; ++r) {
      const float* __restrict src = gcol + (c * kk + r) * ldc;
      const int64_t ki = r / g.k, kj = r % g.k;
      if (g.s == 1) {
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          float* __restrict d = dst + (oh + ki) * Wp + kj;
          const float* __restrict sr = src + oh * g.Wo;
          for (int64_t ow = 0; ow < g.Wo; ++ow) d[ow] += sr[ow];
        }
#ifdef __AVX2__
      } else if (g.s2vec) {
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          scatter_add_stride2(src + oh * g.Wo, dst + (2 * oh + ki) * Wp + kj, g.Wo);
#endif
      } else {  // positions within one row are distinct, so the adds do not collide
        const int32_t* t = table + r * g.P;
        for (int64_t j = 0; j < g.P; ++j) dst[t[j]] += src[j];
      }
    }
  }
  if (acc == gx) return;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(gx + (c * g.H + h) * g.W, gpad + (c * Hp + h + g.p) * Wp + g.p,
                  sizeof(float) * g.W);
}

// Per-thread scratch, grown on demand and kept for the thread's lifetime (OpenMP threads are
// pooled), so steady-state training steps do not allocate. Uninitialised: callers overwrite.
enum Slot { kCol = 0, kOut = 1, kPad = 2, kSlots = 3 };
float* scratch(Slot slot, size_t n) {
  thread_local std::unique_ptr<float[]> buf[kSlots];
  thread_local size_t cap[kSlots] = {0, 0, 0};
  if (cap[slot] < n) {
    buf[slot].reset(new float[n]);
    cap[slot] = n;
  }
  return buf[slot].get();
}

// GEMM width a chunk aims for, and the most floats one col buffer may hold (16 MiB).
constexpr int64_t kTargetCols = 256;
constexpr int64_t kMaxColFloats = int64_t{1} << 22;

// Samples per chunk out of `avail`, balanced so that the chunks have near-equal size.
int64_t chunk_samples(const ConvGeom& g, int64_t avail) {
  if (g.pointwise || avail <= 1) return 1;
  int64_t nb = (kTargetCols + g.P - 1) / g.P;
  nb = std::min(nb, std::max<int64_t>(1, kMaxColFloats / std::max<int64_t>(1, g.Ckk * g.P)));
  nb = std::clamp<int64_t>(nb, 1, avail);
  const int64_t chunks = (avail + nb - 1) / nb;
  return (avail + chunks - 1) / chunks;
}

// Threads to split the batch over: all of them when there is a sample per thread, else 1 (the
// GEMMs then use Eigen's own threads).
int batch_threads(int64_t B) {
  if (omp_in_parallel()) return 1;
  const int t = omp_get_max_threads();
  return B >= t ? t : 1;
}

inline void gemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc, 1, 0, 0, 0);
}

// col (Ckk, nb*P) for samples [b0, b0+nb) of x (B,C,H,W).
void im2col_chunk(const ConvGeom& g, const int32_t* table, const float* x, int64_t b0, int64_t nb,
                  float* col) {
  const int64_t CHW = g.C * g.H * g.W, ldc = nb * g.P;
  float* pad = needs_copy(g) ? scratch(kPad, padded_floats(g)) : nullptr;
  for (int64_t i = 0; i < nb; ++i)
    im2col(pad_sample(x + (b0 + i) * CHW, g, pad), g, table, col + i * g.P, ldc);
}

// y[b0:b0+nb] from x[b0:b0+nb].  x (B,C,H,W), w (O,Ckk), bias (O) or null, y (B,O,P).
void forward_chunk(const ConvGeom& g, const int32_t* table, const float* x, const float* w,
                   const float* bias, float* y, int64_t b0, int64_t nb) {
  const int64_t CHW = g.C * g.H * g.W, OP = g.O * g.P;
  auto add_bias = [&](float* yb) {  // yb (O,P)
    if (!bias) return;
    for (int64_t o = 0; o < g.O; ++o) {
      const float bo = bias[o];
      float* r = yb + o * g.P;
      for (int64_t i = 0; i < g.P; ++i) r[i] += bo;
    }
  };
  if (g.pointwise) {  // y_b (O,P) = w (O,C) @ x_b (C,P)
    for (int64_t b = b0; b < b0 + nb; ++b) {
      gemm1(false, false, g.O, g.P, g.C, w, g.C, x + b * CHW, g.P, 0.0f, y + b * OP, g.P);
      add_bias(y + b * OP);
    }
    return;
  }
  const int64_t ldc = nb * g.P;
  float* col = scratch(kCol, static_cast<size_t>(g.Ckk * ldc));
  im2col_chunk(g, table, x, b0, nb, col);
  if (nb == 1) {
    gemm1(false, false, g.O, g.P, g.Ckk, w, g.Ckk, col, ldc, 0.0f, y + b0 * OP, g.P);
    add_bias(y + b0 * OP);
    return;
  }
  float* out = scratch(kOut, static_cast<size_t>(g.O * ldc));  // (O, nb*P)
  gemm1(false, false, g.O, ldc, g.Ckk, w, g.Ckk, col, ldc, 0.0f, out, ldc);
  for (int64_t i = 0; i < nb; ++i) {
    for (int64_t o = 0; o < g.O; ++o) {
      const float bo = bias ? bias[o] : 0.0f;
      const float* src = out + o * ldc + i * g.P;
      float* dst = y + (b0 + i) * OP + o * g.P;
      for (int64_t j = 0; j < g.P; ++j) dst[j] = src[j] + bo;
    }
  }
}

// Backward of samples [b0, b0+nb): gw_acc (O,Ckk) = (first ? 0 : gw_acc) + gy_chunk @ col^T,
// and gx[b0:b0+nb] (overwritten). Either output may be null.
void backward_chunk(const ConvGeom& g, const int32_t* table, const float* x, const float* w,
                    const float* gy, float* gx, float* gw_acc, bool first, int64_t b0,
                    int64_t nb) {
  const int64_t CHW = g.C * g.H * g.W, OP = g.O * g.P, ldg = nb * g.P;
  // gy_chunk (O, nb*P): sample i's block of columns [i*P, (i+1)*P).
  const float* gyc = gy + b0 * OP;
  if (nb > 1) {
    float* buf = scratch(kOut, static_cast<size_t>(g.O * ldg));
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t o = 0; o < g.O; ++o)
        std::memcpy(buf + o * ldg + i * g.P, gy + (b0 + i) * OP + o * g.P, sizeof(float) * g.P);
    gyc = buf;
  }
  if (g.pointwise) {  // nb == 1; col is x_b (C,P)
    if (gw_acc)
      gemm1(false, true, g.O, g.C, g.P, gyc, g.P, x + b0 * CHW, g.P, first ? 0.0f : 1.0f, gw_acc,
            g.C);
    if (gx)  // gx_b (C,P) = w^T (C,O) @ gy_b (O,P)
      gemm1(true, false, g.C, g.P, g.O, w, g.C, gyc, g.P, 0.0f, gx + b0 * CHW, g.P);
    return;
  }
  float* col = scratch(kCol, static_cast<size_t>(g.Ckk * ldg));
  if (gw_acc) {
    im2col_chunk(g, table, x, b0, nb, col);
    gemm1(false, true, g.O, g.Ckk, ldg, gyc, ldg, col, ldg, first ? 0.0f : 1.0f, gw_acc, g.Ckk);
  }
  if (gx) {
    float* gcol = col;  // the col buffer is free again once gw has consumed it
    gemm1(true, false, g.Ckk, ldg, g.O, w, g.Ckk, gyc, ldg, 0.0f, gcol, ldg);
    float* gpad = needs_copy(g) ? scratch(kPad, padded_floats(g)) : nullptr;
    for (int64_t i = 0; i < nb; ++i) col2im(gcol + i * g.P, ldg, g, table, gpad, gx + (b0 + i) * CHW);
  }
}

std::vector<int32_t> table_for(const ConvGeom& g) {
  const int64_t Hp = g.H + 2 * g.p, Wp = g.W + 2 * g.p;
  MM_CHECK(Hp * Wp < (int64_t{1} << 31),
           "conv2d: a padded input plane of " << Hp << "x" << Wp << " is too large (2^31 elements)");
  if (g.pointwise || g.s == 1 || g.s2vec) return {};  // row kernels, no table
  return gather_table(g, Wp);
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                    Tensor& y) {
  const ConvGeom g = geometry(x, w, stride, padding);
  const float* px = x.data_f32();
  const float* pw = w.data_f32();
  const float* pb = bias.defined() ? bias.data_f32() : nullptr;
  float* py = y.data_f32();
  if (g.B == 0 || g.O == 0 || g.P == 0) return;
  const std::vector<int32_t> table = table_for(g);
  const int32_t* tb = table.data();
  const int T = batch_threads(g.B);
  if (T == 1) {
    const int64_t nb = chunk_samples(g, g.B);
    for (int64_t b = 0; b < g.B; b += nb)
      forward_chunk(g, tb, px, pw, pb, py, b, std::min(nb, g.B - b));
    return;
  }
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t b0 = g.B * t / nt, b1 = g.B * (t + 1) / nt;
    const int64_t nb = chunk_samples(g, b1 - b0);
    for (int64_t b = b0; b < b1; b += nb)
      forward_chunk(g, tb, px, pw, pb, py, b, std::min(nb, b1 - b));
  }
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, int stride, int padding,
                     Tensor* gx, Tensor* gw, Tensor* gb) {
  const ConvGeom g = geometry(x, w, stride, padding);
  const float* px = x.data_f32();
  const float* pw = w.data_f32();
  const float* pgy = gy.data_f32();
  float* pgx = gx ? gx->data_f32() : nullptr;
  float* pgw = gw ? gw->data_f32() : nullptr;

  if (gb) {  // gb[o] = sum over b, p of gy[b,o,p], in double, one thread per channel
    float* pgb = gb->data_f32();
#pragma omp parallel for schedule(static) if (g.B * g.O * g.P > 65536)
    for (int64_t o = 0; o < g.O; ++o) {
      double acc = 0.0;
      for (int64_t b = 0; b < g.B; ++b) {
        const float* r = pgy + (b * g.O + o) * g.P;
        for (int64_t i = 0; i < g.P; ++i) acc += r[i];
      }
      pgb[o] = static_cast<float>(acc);
    }
  }
  if (!pgx && !pgw) return;
  const int64_t wn = g.O * g.Ckk;
  if (g.B == 0 || g.P == 0) {
    if (pgx) std::memset(pgx, 0, sizeof(float) * x.numel());
    if (pgw) std::memset(pgw, 0, sizeof(float) * wn);
    return;
  }
  const std::vector<int32_t> table = table_for(g);
  const int32_t* tb = table.data();
  const int T = batch_threads(g.B);
  if (T == 1) {
    const int64_t nb = chunk_samples(g, g.B);
    for (int64_t b = 0; b < g.B; b += nb)
      backward_chunk(g, tb, px, pw, pgy, pgx, pgw, b == 0, b, std::min(nb, g.B - b));
    return;
  }
  // Thread 0 accumulates straight into gw; threads 1.. into their own partials.
  std::unique_ptr<float[]> partials(pgw ? new float[static_cast<size_t>((T - 1) * wn)] : nullptr);
  int used = T;
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    used = nt;
    const int64_t b0 = g.B * t / nt, b1 = g.B * (t + 1) / nt;
    float* acc = pgw ? (t == 0 ? pgw : partials.get() + (t - 1) * wn) : nullptr;
    if (acc && b0 == b1) std::memset(acc, 0, sizeof(float) * wn);
    const int64_t nb = chunk_samples(g, b1 - b0);
    for (int64_t b = b0; b < b1; b += nb)
      backward_chunk(g, tb, px, pw, pgy, pgx, acc, b == b0, b, std::min(nb, b1 - b));
  }
  if (pgw && used > 1) {
#pragma omp parallel for schedule(static) if (wn > 16384)
    for (int64_t i = 0; i < wn; ++i) {
      float s = pgw[i];
      for (int t = 1; t < used; ++t) s += partials[(t - 1) * wn + i];
      pgw[i] = s;
    }
  }
}

}  // namespace mm::cpu
