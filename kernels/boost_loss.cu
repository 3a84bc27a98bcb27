// mmboost kernels: the sustained-boosting loss (eqs (2)-(5)), forward and backward fused.
// See boost_loss.cuh for the math and the versions.
//
// Versions 1 and 2 keep three online-softmax states (running max and sum of exponentials) for
// S_{n-1}, S_n and z_new per thread over a first pass, merge them across the row's lanes (a
// segment of a warp, a warp, or a block) in a fixed tree, and a second pass over the
// (cache-resident) row writes both gradients: about 3.75 exponentials an element in the first
// pass (maxsum_push_n) and 3 in the second. Version 3 loads the row once into registers, reduces
// the three maxima, then takes each element's three exponentials once and keeps them for the
// gradients: 3 an element, no second read. Nsight Compute on an H100 found the two-pass kernel
// bound by its exponentials at K = 309 (SM throughput 83%, DRAM 60%; docs/benchmarks.md).
#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/boost_loss.cuh"
#include "kernels/common.cuh"

namespace mm::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // element visits per thread whose loads are issued together
// Version 3 holds at most this many visits a lane, three floats each, in registers.
constexpr int kResidentVisits = 16;
constexpr int64_t kResidentRowMax = int64_t(kResidentVisits) * BlockGroup::kThreads;
constexpr float kLog2e = 1.4426950408889634f;

// Names a row group and the visits a lane holds (0: versions 1 and 2, which hold none) on the
// host, where the group's __device__ members cannot run.
template <class G, int V = 0>
struct GroupTag {
  using type = G;
  static constexpr int kVisits = V;
};

// Elements k0, k0 + stride, ..., k0 + (N - 1) stride of a row of length K, `past_end` past its
// end.
template <int N>
__device__ inline void load_visits(const float* row, int64_t k0, int64_t stride, int64_t K,
                                   float (&out)[N], float past_end = 0.0f) {
#pragma unroll
  for (int u = 0; u < N; ++u) {
    const int64_t k = k0 + u * stride;
    out[u] = k < K ? row[k] : past_end;
  }
}

// exp(d) for d = x - max <= 0: the hardware's base-2 exponential of d log2(e). d is formed
// first, so the rounding of the product is relative to d, not to the logits' scale.
__device__ inline float exp_shifted(float d) { return exp2f(d * kLog2e); }

// A row's log-sum-exp as (max m, log of the sum of exp(v - m)): log softmax(v)_k is formed as
// (v_k - m) - l, never as v_k - (m + l). The latter rounds at the scale of the max, so for large
// logits (|v| ~ 40) a confident row's P_y - 1 would carry an absolute error of ~ulp(max) ~ 4e-6
// instead of ~1e-7.
struct LogSumExp {
  float m, l;
};

// The row's terms, eqs (2)-(4), and p_true = P_y, written by the group's rank 0 (p: S_{n-1},
// n: S_n, u: z_new). Returns 1 - lambda q_y, the residual label's only non-zero entry.
template <class Group>
__device__ inline float write_terms(const Group& g, const float* a, const float* z, int64_t y,
                                    LogSumExp p, LogSumExp n, LogSumExp u, float lambda,
                                    float* terms, float* p_true, int64_t r) {
  const float ay = a[y], zy = z[y], ny = ay + zy;
  const float q_y = expf((ay - p.m) - p.l);
  const float yhat = 1.0f - lambda * q_y;
  if (g.rank() == 0) {
    terms[r * 3 + 0] = yhat * (u.l - (zy - u.m));  // eps,   eq (2)
    terms[r * 3 + 1] = n.l - (ny - n.m);           // eps_o, eq (3)
    terms[r * 3 + 2] = p.l - (ay - p.m);           // eps_p, eq (4)
    p_true[r] = expf((ny - n.m) - n.l);
  }
  return yhat;
}

// s_prev, z_new, g_prev, g_new are (B,K); labels, p_true (B); terms (B,3).
// V == 0: versions 1 and 2 (two passes, online softmaxes); V > 0: version 3, at most V visits a
// lane (K <= V * Group::size()).
template <class Group, int V>
__global__ void boost_loss_kernel(const float* __restrict__ s_prev,
                                  const float* __restrict__ z_new,
                                  const int64_t* __restrict__ labels, float lambda, float w_eps,
                                  float w_o, float w_p, float scale, float* __restrict__ terms,
                                  float* __restrict__ g_prev, float* __restrict__ g_new,
                                  float* __restrict__ p_true, int64_t B, int64_t K) {
  const int64_t r = Group::row();
  if (r >= B) return;  // the whole warp / block owns the row and leaves together
  Group g;
  const float* a = s_prev + r * K;
  const float* z = z_new + r * K;
  float* gp = g_prev + r * K;
  float* gn = g_new + r * K;
  const int64_t stride = g.size();
  const int64_t y = labels[r];
  if (y < 0 || y >= K) {  // the same for every lane of the row, so before any collective
    for (int64_t k = g.rank(); k < K; k += stride) gp[k] = gn[k] = NAN;
    if (g.rank() == 0) {
      terms[r * 3 + 0] = terms[r * 3 + 1] = terms[r * 3 + 2] = NAN;
      p_true[r] = NAN;
    }
    return;
  }
  const float c_o = scale * w_o, c_p = scale * w_p;
  if constexpr (V == 0) {
    // Each thread visits its elements k = rank, rank + size, ... in increasing order, kUnroll
    // visits at a time: their loads are issued before any of them is used, so a warp keeps
    // several memory requests in flight, and they enter the online softmaxes together
    // (maxsum_push_n: no per-element branch, 1.25 exponentials per element instead of up to 2).
    MaxSum sp = maxsum_identity(), sn = maxsum_identity(), su = maxsum_identity();
    for (int64_t k0 = g.rank(); k0 < K; k0 += kUnroll * stride) {
      float av[kUnroll], zv[kUnroll], nv[kUnroll];
      load_visits(a, k0, stride, K, av);
      load_visits(z, k0, stride, K, zv);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) nv[u] = av[u] + zv[u];
      const int64_t left = (K - k0 + stride - 1) / stride;  // visits left to this thread, >= 1
      const int n = left < kUnroll ? static_cast<int>(left) : kUnroll;
      maxsum_push_n(sp, av, n);
      maxsum_push_n(sn, nv, n);
      maxsum_push_n(su, zv, n);
    }
    sp = g.maxsum(sp);
    sn = g.maxsum(sn);
    su = g.maxsum(su);
    const LogSumExp p{sp.m, logf(sp.l)}, n{sn.m, logf(sn.l)}, u{su.m, logf(su.l)};
    const float yhat = write_terms(g, a, z, y, p, n, u, lambda, terms, p_true, r);
    const float c_new = scale * w_eps * yhat;
    for (int64_t k0 = g.rank(); k0 < K; k0 += kUnroll * stride) {
      float av[kUnroll], zv[kUnroll];
      load_visits(a, k0, stride, K, av);
      load_visits(z, k0, stride, K, zv);
#pragma unroll
      for (int v = 0; v < kUnroll; ++v) {
        const int64_t k = k0 + v * stride;
        if (k >= K) break;
        const float ak = av[v], zk = zv[v], nk = ak + zk;  // S_n in f32, as the CPU twin forms it
        const float e = k == y ? 1.0f : 0.0f;
        const float d_o = expf((nk - n.m) - n.l) - e;  // P - e_y
        const float d_u = expf((zk - u.m) - u.l) - e;  // u - e_y
        const float d_q = expf((ak - p.m) - p.l) - e;  // q - e_y
        gn[k] = c_new * d_u + c_o * d_o;
        gp[k] = c_o * d_o + c_p * d_q;
      }
    }
  } else {
    // The row in registers: visit v of this lane is element rank + v * size. Past the end a
    // visit holds -inf, whose exponential is 0. All 2V loads are issued before the first use.
    float ep[V], en[V], eu[V];  // S_{n-1}, S_n, z_new; then exp(. - max) of each
    load_visits(a, g.rank(), stride, K, ep, -INFINITY);
    load_visits(z, g.rank(), stride, K, eu, -INFINITY);
    float mp = -INFINITY, mn = -INFINITY, mu = -INFINITY;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      en[v] = ep[v] + eu[v];  // S_n in f32, as the CPU twin forms it
      mp = fmaxf(mp, ep[v]);
      mn = fmaxf(mn, en[v]);
      mu = fmaxf(mu, eu[v]);
    }
    mp = g.max(mp);
    mn = g.max(mn);
    mu = g.max(mu);
    float lp = 0.0f, ln = 0.0f, lu = 0.0f;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      ep[v] = exp_shifted(ep[v] - mp);
      en[v] = exp_shifted(en[v] - mn);
      eu[v] = exp_shifted(eu[v] - mu);
      lp += ep[v];
      ln += en[v];
      lu += eu[v];
    }
    lp = g.sum(lp);
    ln = g.sum(ln);
    lu = g.sum(lu);
    const float yhat = write_terms(g, a, z, y, {mp, logf(lp)}, {mn, logf(ln)}, {mu, logf(lu)},
                                   lambda, terms, p_true, r);
    const float c_new = scale * w_eps * yhat;
    const float ip = 1.0f / lp, in = 1.0f / ln, iu = 1.0f / lu;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int64_t k = g.rank() + v * stride;
      if (k >= K) break;
      const float e = k == y ? 1.0f : 0.0f;
      const float d_o = en[v] * in - e;  // P - e_y
      const float d_u = eu[v] * iu - e;  // u - e_y
      const float d_q = ep[v] * ip - e;  // q - e_y
      gn[k] = c_new * d_u + c_o * d_o;
      gp[k] = c_o * d_o + c_p * d_q;
    }
  }
}

}  // namespace

void boost_loss_forward_backward(const float* s_prev, const float* z_new, const int64_t* labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 float* terms, float* g_prev, float* g_new, float* p_true,
                                 int64_t B, int64_t K, cudaStream_t stream,
                                 BoostLossVersion version) {
  if (B == 0 || K == 0) return;
  auto launch = [&](auto tag) {
    using Tag = decltype(tag);
    using Group = typename Tag::type;
    const unsigned blocks = static_cast<unsigned>(ceil_div(B, Group::kRowsPerBlock));
    boost_loss_kernel<Group, Tag::kVisits><<<blocks, kThreads, 0, stream>>>(
        s_prev, z_new, labels, lambda, w_eps, w_o, w_p, scale, terms, g_prev, g_new, p_true, B,
        K);
  };
  const bool resident = version == BoostLossVersion::Resident && K <= kResidentRowMax;
  // Rows of K <= 64 (versions 2 and 3) get the fewest lanes (a power of two) that cover them
  // in kUnroll visits each, several rows per warp.
  auto segment = [&](auto tag) {
    using Group = typename decltype(tag)::type;
    if (resident)
      launch(GroupTag<Group, kUnroll>{});
    else
      launch(GroupTag<Group, 0>{});
  };
  // Version 3 on a warp or a block of `lanes` lanes: the fewest visits (4, 8 or 16) that hold K.
  auto held = [&](auto tag, int64_t lanes) {
    using Group = typename decltype(tag)::type;
    if (K <= 4 * lanes)
      launch(GroupTag<Group, 4>{});
    else if (K <= 8 * lanes)
      launch(GroupTag<Group, 8>{});
    else
      launch(GroupTag<Group, kResidentVisits>{});
  };
  static_assert(kResidentVisits == 16, "held() picks among 4, 8 and kResidentVisits visits");
  if (version == BoostLossVersion::WarpRows && K <= kWarpRowMax)
    launch(GroupTag<WarpGroup>{});
  else if (K <= kUnroll)
    segment(GroupTag<SegmentGroup<1>>{});
  else if (K <= 2 * kUnroll)
    segment(GroupTag<SegmentGroup<2>>{});
  else if (K <= 4 * kUnroll)
    segment(GroupTag<SegmentGroup<4>>{});
  else if (K <= 8 * kUnroll)
    segment(GroupTag<SegmentGroup<8>>{});
  else if (K <= 16 * kUnroll)
    segment(GroupTag<SegmentGroup<16>>{});
  else if (resident && K <= int64_t(kResidentVisits) * kWarpSize)
    held(GroupTag<WarpGroup>{}, kWarpSize);
  else if (resident)
    held(GroupTag<BlockGroup>{}, BlockGroup::kThreads);
  else if (K <= kWarpRowMax)
    launch(GroupTag<WarpGroup>{});
  else
    launch(GroupTag<BlockGroup>{});
  MM_CUDA_LAUNCH_CHECK();
}

}  // namespace mm::kernels

namespace mm::cuda {

void boost_loss_forward_backward(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 Tensor& terms, Tensor& g_prev, Tensor& g_new, Tensor& p_true) {
  const char* op = "boost_loss_forward_backward";
  require_cuda_contiguous(s_prev, op, "s_prev");
  require_cuda_contiguous(z_new, op, "z_new");
  require_cuda_contiguous(labels, op, "labels");
  require_cuda_contiguous(terms, op, "terms");
  require_cuda_contiguous(g_prev, op, "g_prev");
  require_cuda_contiguous(g_new, op, "g_new");
  require_cuda_contiguous(p_true, op, "p_true");
  MM_CHECK(s_prev.dim() == 2 && z_new.shape() == s_prev.shape() &&
               labels.numel() == s_prev.size(0) && labels.dtype() == DType::I64,
           op << ": s_prev " << s_prev.describe() << ", z_new " << z_new.describe()
              << " and labels " << labels.describe() << " must be (B,K), (B,K) and i64 (B)");
  const int64_t B = s_prev.size(0), K = s_prev.size(1);
  kernels::boost_loss_forward_backward(s_prev.data_f32(), z_new.data_f32(), labels.data_i64(),
                                       lambda, w_eps, w_o, w_p, scale, terms.data_f32(),
                                       g_prev.data_f32(), g_new.data_f32(), p_true.data_f32(), B,
                                       K, stream());
}

}  // namespace mm::cuda
