// mmboost kernels: the sustained-boosting loss (eqs (2)-(5)), forward and backward fused.
// See boost_loss.cuh for the math.
//
// One pass keeps three online-softmax states (running max and sum of exponentials) for
// S_{n-1}, S_n and z_new per thread, merges them across the row's lanes (a segment of a warp,
// a warp, or a block) in a fixed tree, and
// a second pass over the (cache-resident) row writes both gradients. Reading s_prev and z_new
// twice costs less than materialising any of the three softmaxes.
#include "engine/backend.h"
#include "engine/cuda/runtime.h"
#include "kernels/boost_loss.cuh"
#include "kernels/common.cuh"

namespace mm::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // element visits per thread whose loads are issued together

template <class G>
struct GroupTag {  // names a row group on the host, where its __device__ members cannot run
  using type = G;
};

// Elements k0, k0 + stride, ..., k0 + (N - 1) stride of a row of length K, 0 past its end.
template <int N>
__device__ inline void load_visits(const float* row, int64_t k0, int64_t stride, int64_t K,
                                   float (&out)[N]) {
#pragma unroll
  for (int u = 0; u < N; ++u) {
    const int64_t k = k0 + u * stride;
    out[u] = k < K ? row[k] : 0.0f;
  }
}

// s_prev, z_new, g_prev, g_new are (B,K); labels, p_true (B); terms (B,3)
template <class Group>
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
  // Each thread visits its elements k = rank, rank + size, ... in increasing order, kUnroll
  // visits at a time: their loads are issued before any of them is used, so a warp keeps
  // several memory requests in flight, and they enter the online softmaxes together
  // (maxsum_push_n: no per-element branch, 1.25 exponentials per element instead of up to 2).
  const int64_t stride = g.size();
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
  // Log-sum-exp kept as (max, log of the sum relative to it): log softmax(v)_k is formed as
  // (v_k - max) - log_l, never as v_k - (max + log_l). The latter rounds at the scale of the
  // max, so for large logits (|v| ~ 40) a confident row's P_y - 1 would carry an absolute error
  // of ~ulp(max) ~ 4e-6 instead of ~1e-7.
  const float lp = logf(sp.l);  // S_{n-1}
  const float ln = logf(sn.l);  // S_n
  const float lu = logf(su.l);  // z_new
  const int64_t y = labels[r];
  const bool valid = y >= 0 && y < K;
  float* gp = g_prev + r * K;
  float* gn = g_new + r * K;
  if (!valid) {
    for (int64_t k = g.rank(); k < K; k += g.size()) gp[k] = gn[k] = NAN;
    if (g.rank() == 0) {
      terms[r * 3 + 0] = terms[r * 3 + 1] = terms[r * 3 + 2] = NAN;
      p_true[r] = NAN;
    }
    return;
  }
  const float ay = a[y], zy = z[y], ny = ay + zy;
  const float q_y = expf((ay - sp.m) - lp);
  const float yhat = 1.0f - lambda * q_y;  // the residual label's only non-zero entry
  if (g.rank() == 0) {
    terms[r * 3 + 0] = yhat * (lu - (zy - su.m));  // eps,   eq (2)
    terms[r * 3 + 1] = ln - (ny - sn.m);           // eps_o, eq (3)
    terms[r * 3 + 2] = lp - (ay - sp.m);           // eps_p, eq (4)
    p_true[r] = expf((ny - sn.m) - ln);
  }
  const float c_new = scale * w_eps * yhat, c_o = scale * w_o, c_p = scale * w_p;
  for (int64_t k0 = g.rank(); k0 < K; k0 += kUnroll * stride) {
    float av[kUnroll], zv[kUnroll];
    load_visits(a, k0, stride, K, av);
    load_visits(z, k0, stride, K, zv);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t k = k0 + u * stride;
      if (k >= K) break;
      const float ak = av[u], zk = zv[u], nk = ak + zk;  // S_n in f32, as the CPU twin forms it
      const float e = k == y ? 1.0f : 0.0f;
      const float d_o = expf((nk - sn.m) - ln) - e;  // P - e_y
      const float d_u = expf((zk - su.m) - lu) - e;  // u - e_y
      const float d_q = expf((ak - sp.m) - lp) - e;  // q - e_y
      gn[k] = c_new * d_u + c_o * d_o;
      gp[k] = c_o * d_o + c_p * d_q;
    }
  }
}

}  // namespace

void boost_loss_forward_backward(const float* s_prev, const float* z_new, const int64_t* labels,
                                 float lambda, float w_eps, float w_o, float w_p, float scale,
                                 float* terms, float* g_prev, float* g_new, float* p_true,
                                 int64_t B, int64_t K, cudaStream_t stream, bool warp_rows) {
  if (B == 0 || K == 0) return;
  auto launch = [&](auto tag) {
    using Group = typename decltype(tag)::type;
    const unsigned blocks = static_cast<unsigned>(ceil_div(B, Group::kRowsPerBlock));
    boost_loss_kernel<Group><<<blocks, kThreads, 0, stream>>>(
        s_prev, z_new, labels, lambda, w_eps, w_o, w_p, scale, terms, g_prev, g_new, p_true, B,
        K);
  };
  // Rows of K <= 64 get the fewest lanes (a power of two) that cover them in one round of
  // kUnroll visits each, several rows per warp; up to kWarpRowMax a warp; beyond, a block.
  if (warp_rows && K <= kWarpRowMax)
    launch(GroupTag<WarpGroup>{});
  else if (K <= kUnroll)
    launch(GroupTag<SegmentGroup<1>>{});
  else if (K <= 2 * kUnroll)
    launch(GroupTag<SegmentGroup<2>>{});
  else if (K <= 4 * kUnroll)
    launch(GroupTag<SegmentGroup<4>>{});
  else if (K <= 8 * kUnroll)
    launch(GroupTag<SegmentGroup<8>>{});
  else if (K <= 16 * kUnroll)
    launch(GroupTag<SegmentGroup<16>>{});
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
