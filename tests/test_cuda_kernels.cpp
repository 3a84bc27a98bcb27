// The three custom boosting kernels on CUDA (kernels/fused_hidden, kernels/boost_loss,
// kernels/ogm_score_sum) against double-precision references written here and against their
// CPU twins, on odd shapes (B = 1, 7, 129; N = 1, 2, 3, 8 classifiers; for the loss K = 3, 6,
// 13, 31, 64 and B = 300, which reach every lane count of its short-row groups and rows past the
// end within a warp, and K = 100, 200, 309, 700, 1500, 3000, 5000, which reach every row group
// and register count of its versions); finite differences for the boosting loss gradients; and
// determinism (two runs bit-identical). Every test skips without a CUDA device.
//
// Tolerances: the references run in double; the kernels in FP32 with sums of up to D = 512
// products (GEMM: rtol 1e-4, atol 2e-4) or K = 5000 exponentials (loss: rtol 1e-4).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "tests/cuda_testing.h"
#include "tests/testing.h"

#if MMBOOST_WITH_CUDA
#include "engine/cuda/runtime.h"
#include "kernels/boost_loss.cuh"
#include "kernels/fused_hidden.cuh"
#endif

using namespace mm;
using namespace mmtest;  // randn, dev, cuda_empty, ... (tests/testing.h, tests/cuda_testing.h)

namespace {

// ---- fused hidden layer: double reference ----------------------------------------------------

struct HiddenRef {
  std::vector<double> act, hsum, hnew;
};

HiddenRef hidden_forward_ref(const Tensor& x_t, const Tensor& w1_t, const Tensor& b1_t,
                             const Tensor& coef_t, int64_t N) {
  const int64_t B = x_t.size(0), D = x_t.size(1), NH = w1_t.size(0), H = NH / N;
  std::vector<float> x = x_t.to_vector(), w1 = w1_t.to_vector(), b1 = b1_t.to_vector(),
                     coef = coef_t.to_vector();
  HiddenRef r;
  r.act.assign(B * NH, 0.0);
  r.hsum.assign(B * H, 0.0);
  r.hnew.assign(B * H, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < NH; ++c) {
      double z = b1[c];
      for (int64_t d = 0; d < D; ++d) z += static_cast<double>(x[b * D + d]) * w1[c * D + d];
      r.act[b * NH + c] = z > 0 ? z : 0;
    }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t j = 0; j + 1 < N; ++j) r.hsum[b * H + h] += coef[j] * r.act[b * NH + j * H + h];
      r.hnew[b * H + h] = r.act[b * NH + (N - 1) * H + h];
    }
  return r;
}

struct HiddenGradRef {
  std::vector<double> gx, gw1, gb1;
};

// The ReLU mask comes from `act`, the backward's own input.
HiddenGradRef hidden_backward_ref(const Tensor& x_t, const Tensor& w1_t, const Tensor& coef_t,
                                  const Tensor& act_t, const Tensor& gs_t, const Tensor& gn_t,
                                  int64_t N) {
  const int64_t B = x_t.size(0), D = x_t.size(1), NH = w1_t.size(0), H = NH / N;
  std::vector<float> x = x_t.to_vector(), w1 = w1_t.to_vector(), coef = coef_t.to_vector(),
                     act = act_t.to_vector();
  std::vector<float> gs = gs_t.defined() ? gs_t.to_vector() : std::vector<float>(B * H, 0.0f);
  std::vector<float> gn = gn_t.defined() ? gn_t.to_vector() : std::vector<float>(B * H, 0.0f);
  std::vector<double> ga(B * NH);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < NH; ++c) {
      const int64_t j = c / H, h = c % H;
      const double g = j == N - 1 ? gn[b * H + h] : static_cast<double>(coef[j]) * gs[b * H + h];
      ga[b * NH + c] = act[b * NH + c] > 0.0f ? g : 0.0;
    }
  HiddenGradRef r;
  r.gx.assign(B * D, 0.0);
  r.gw1.assign(NH * D, 0.0);
  r.gb1.assign(NH, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < NH; ++c) {
      const double g = ga[b * NH + c];
      if (g == 0.0) continue;
      r.gb1[c] += g;
      for (int64_t d = 0; d < D; ++d) {
        r.gx[b * D + d] += g * w1[c * D + d];
        r.gw1[c * D + d] += g * x[b * D + d];
      }
    }
  return r;
}

// ---- boosting loss: double reference ---------------------------------------------------------

struct LossRef {
  std::vector<double> terms, g_prev, g_new, p_true;
};

LossRef boost_loss_ref(const Tensor& sp_t, const Tensor& zn_t, const Tensor& y_t, double lambda,
                       double w_eps, double w_o, double w_p, double scale) {
  const int64_t B = sp_t.size(0), K = sp_t.size(1);
  std::vector<float> sp = sp_t.to_vector(), zn = zn_t.to_vector();
  std::vector<int64_t> y = y_t.to_int_vector();
  LossRef r;
  r.terms.resize(B * 3);
  r.g_prev.resize(B * K);
  r.g_new.resize(B * K);
  r.p_true.resize(B);
  auto softmax = [K](const std::vector<double>& v) {
    double m = v[0];
    for (double e : v) m = std::max(m, e);
    double s = 0;
    for (double e : v) s += std::exp(e - m);
    std::vector<double> p(K);
    for (int64_t k = 0; k < K; ++k) p[k] = std::exp(v[k] - m) / s;
    return p;
  };
  for (int64_t i = 0; i < B; ++i) {
    std::vector<double> a(K), z(K), n(K);
    for (int64_t k = 0; k < K; ++k) {
      a[k] = sp[i * K + k];
      z[k] = zn[i * K + k];
      n[k] = static_cast<float>(sp[i * K + k] + zn[i * K + k]);  // S_n formed in FP32
    }
    const std::vector<double> q = softmax(a), P = softmax(n), u = softmax(z);
    const int64_t c = y[i];
    // Residual label y_hat = y - lambda * y * q: only entry c survives the mask.
    const double yhat = 1.0 - lambda * q[c];
    r.terms[i * 3 + 0] = -yhat * std::log(u[c]);  // eq (2)
    r.terms[i * 3 + 1] = -std::log(P[c]);         // eq (3)
    r.terms[i * 3 + 2] = -std::log(q[c]);         // eq (4)
    r.p_true[i] = P[c];
    for (int64_t k = 0; k < K; ++k) {
      const double e = k == c ? 1.0 : 0.0;
      // d eps / d z_new = u * sum(y_hat) - y_hat with sum(y_hat) = yhat.
      r.g_new[i * K + k] = scale * (w_eps * (u[k] * yhat - yhat * e) + w_o * (P[k] - e));
      r.g_prev[i * K + k] = scale * (w_o * (P[k] - e) + w_p * (q[k] - e));
    }
  }
  return r;
}

struct LossOut {
  Tensor terms, g_prev, g_new, p_true;
};

LossOut run_loss(Device d, const Tensor& sp, const Tensor& zn, const Tensor& y, float lambda,
                 float w_eps, float w_o, float w_p, float scale) {
  const int64_t B = sp.size(0), K = sp.size(1);
  LossOut o;
  o.terms = Tensor::empty({B, 3}, DType::F32, d);
  o.g_prev = Tensor::empty({B, K}, DType::F32, d);
  o.g_new = Tensor::empty({B, K}, DType::F32, d);
  o.p_true = Tensor::empty({B}, DType::F32, d);
  if (d == Device::CUDA) {
    cuda::boost_loss_forward_backward(dev(sp), dev(zn), dev(y), lambda, w_eps, w_o, w_p, scale,
                                      o.terms, o.g_prev, o.g_new, o.p_true);
  } else {
    cpu::boost_loss_forward_backward(sp, zn, y, lambda, w_eps, w_o, w_p, scale, o.terms, o.g_prev,
                                     o.g_new, o.p_true);
  }
  return o;
}

struct LossWeights {
  float lambda, w_eps, w_o, w_p, scale;
};

// Row lengths of the loss tests: 3, 6, 13, 31, 64 take 1, 2, 4, 8, 16 lanes per row (several
// rows per warp); 100, 200, 309 a warp holding 4, 8, 16 visits a lane (version 3) or a warp per
// row (versions 1, 2); 700, 1500, 3000 a block holding 4, 8, 16 visits a lane (version 3), a warp
// or a block (versions 1, 2); 5000 a block with two passes (every version).
const int64_t kLossRowLengths[] = {3, 6, 13, 31, 64, 100, 200, 309, 700, 1500, 3000, 5000};

// The loss inputs of one case: 0 ordinary logits; 1 S_{n-1} = 0 (the first classifier);
// 2 large logits (|z| ~ 40).
struct LossInputs {
  Tensor sp, zn, y;
};

LossInputs loss_inputs(int64_t B, int64_t K, int variant) {
  const float spread = variant == 2 ? 20.0f : 3.0f;
  return {variant == 1 ? Tensor::zeros({B, K}) : randn({B, K}, 300 + K, spread),
          randn({B, K}, 400 + K, spread), labels_for(B, K, 500 + B)};
}

void require_loss_close(const LossOut& got, const LossRef& ref, const std::string& what) {
  mmtest::require_close(got.terms.to_vector(), ref.terms, 1e-4, 1e-5, what + " terms");
  mmtest::require_close(got.p_true.to_vector(), ref.p_true, 1e-4, 1e-6, what + " p_true");
  mmtest::require_close(got.g_new.to_vector(), ref.g_new, 1e-4, 1e-6, what + " g_new");
  mmtest::require_close(got.g_prev.to_vector(), ref.g_prev, 1e-4, 1e-6, what + " g_prev");
}

}  // namespace

// ---- fused hidden layer ----------------------------------------------------------------------

TEST_CASE("cuda fused_hidden forward/backward match a double reference and the CPU twin",
          "[cuda][fused_hidden]") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t B, D, N, H;
  };
  std::vector<Case> cases;
  for (int64_t B : {1, 7, 129})
    for (int64_t D : {5, 64})
      for (int64_t N : {1, 2, 3, 8})
        for (int64_t H : {1, 7, 33}) cases.push_back({B, D, N, H});
  cases.push_back({64, 512, 4, 256});  // the paper's width: D = 512, H = 256
  for (const Case& c : cases) {
    const std::string what = "B=" + std::to_string(c.B) + " D=" + std::to_string(c.D) +
                             " N=" + std::to_string(c.N) + " H=" + std::to_string(c.H);
    const int64_t NH = c.N * c.H;
    Tensor x = randn({c.B, c.D}, 200);
    Tensor w1 = randn({NH, c.D}, 201, 1.0f / std::sqrt(static_cast<float>(c.D)));
    Tensor b1 = randn({NH}, 202, 0.1f);
    Tensor coef = randu({c.N}, 203, 0.2f, 1.5f);
    HiddenRef ref = hidden_forward_ref(x, w1, b1, coef, c.N);

    Tensor hs = cpu_empty({c.B, c.H}), hn = cpu_empty({c.B, c.H}), act = cpu_empty({c.B, NH});
    cpu::fused_hidden_forward(x, w1, b1, coef, hs, hn, act);
    Tensor xd = dev(x), w1d = dev(w1), coefd = dev(coef);
    Tensor hsd = cuda_empty({c.B, c.H}), hnd = cuda_empty({c.B, c.H}), actd = cuda_empty({c.B, NH});
    cuda::fused_hidden_forward(xd, w1d, dev(b1), coefd, hsd, hnd, actd);
    mmtest::require_close(actd.to_vector(), ref.act, 1e-4, 2e-4, what + " act vs reference");
    mmtest::require_close(hsd.to_vector(), ref.hsum, 1e-4, 2e-4, what + " hsum vs reference");
    mmtest::require_close(hnd.to_vector(), ref.hnew, 1e-4, 2e-4, what + " hnew vs reference");
    mmtest::require_close(hsd, hs, 1e-4, 2e-4, what + " hsum vs cpu");
    mmtest::require_close(hnd, hn, 1e-4, 2e-4, what + " hnew vs cpu");

    Tensor gs = randn({c.B, c.H}, 204), gn = randn({c.B, c.H}, 205);
    // The backward reads the CUDA act on both sides, so the ReLU masks agree exactly.
    Tensor act_host = actd.to(Device::CPU);
    HiddenGradRef gref = hidden_backward_ref(x, w1, coef, act_host, gs, gn, c.N);
    Tensor gx = cpu_empty({c.B, c.D}), gw = cpu_empty({NH, c.D}), gb = cpu_empty({NH});
    cpu::fused_hidden_backward(x, w1, coef, act_host, gs, gn, &gx, &gw, &gb);
    Tensor gxd = cuda_empty({c.B, c.D}), gwd = cuda_empty({NH, c.D}), gbd = cuda_empty({NH});
    cuda::fused_hidden_backward(xd, w1d, coefd, actd, dev(gs), dev(gn), &gxd, &gwd, &gbd);
    mmtest::require_close(gxd.to_vector(), gref.gx, 1e-4, 2e-4, what + " gx vs reference");
    mmtest::require_close(gwd.to_vector(), gref.gw1, 1e-4, 2e-4, what + " gw1 vs reference");
    mmtest::require_close(gbd.to_vector(), gref.gb1, 1e-5, 1e-5, what + " gb1 vs reference");
    mmtest::require_close(gxd, gx, 1e-4, 2e-4, what + " gx vs cpu");
    mmtest::require_close(gwd, gw, 1e-4, 2e-4, what + " gw1 vs cpu");
    mmtest::require_close(gbd, gb, 1e-5, 1e-5, what + " gb1 vs cpu");
  }
}

TEST_CASE("cuda fused_hidden backward with an undefined g_hsum and partial outputs",
          "[cuda][fused_hidden]") {
  SKIP_WITHOUT_CUDA();
  const int64_t B = 7, D = 31, N = 3, H = 9, NH = N * H;
  Tensor x = randn({B, D}, 210), w1 = randn({NH, D}, 211, 0.2f), b1 = randn({NH}, 212, 0.1f);
  Tensor coef = randu({N}, 213, 0.5f, 1.0f);
  Tensor xd = dev(x), w1d = dev(w1), coefd = dev(coef);
  Tensor hsd = cuda_empty({B, H}), hnd = cuda_empty({B, H}), actd = cuda_empty({B, NH});
  cuda::fused_hidden_forward(xd, w1d, dev(b1), coefd, hsd, hnd, actd);
  Tensor gn = randn({B, H}, 214);
  Tensor none;
  HiddenGradRef gref = hidden_backward_ref(x, w1, coef, actd.to(Device::CPU), none, gn, N);
  Tensor gwd = cuda_empty({NH, D});
  cuda::fused_hidden_backward(xd, w1d, coefd, actd, Tensor(), dev(gn), nullptr, &gwd, nullptr);
  mmtest::require_close(gwd.to_vector(), gref.gw1, 1e-4, 2e-4, "gw1 with g_hsum undefined");
  // Columns of the first N-1 classifiers get no gradient at all.
  std::vector<float> gw = gwd.to_vector();
  for (int64_t i = 0; i < (N - 1) * H * D; ++i) REQUIRE(gw[i] == 0.0f);
}

#if MMBOOST_WITH_CUDA
TEST_CASE("cuda fused_hidden: the cuBLASLt-epilogue and Sgemm paths agree", "[cuda][fused_hidden]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t N : {1, 4, 16}) {
    const int64_t B = 129, D = 512, H = 256, NH = N * H;
    Tensor x = dev(randn({B, D}, 220)), w1 = dev(randn({NH, D}, 221, 0.04f));
    Tensor b1 = dev(randn({NH}, 222, 0.1f)), coef = dev(randu({N}, 223, 0.5f, 1.0f));
    Tensor hs[2], hn[2], act[2];
    kernels::HiddenGemm taken[2];
    const kernels::HiddenGemm paths[2] = {kernels::HiddenGemm::LtEpilogue,
                                          kernels::HiddenGemm::SgemmThenBias};
    for (int p = 0; p < 2; ++p) {
      hs[p] = cuda_empty({B, H});
      hn[p] = cuda_empty({B, H});
      act[p] = cuda_empty({B, NH});
      taken[p] = kernels::fused_hidden_forward(x.data_f32(), w1.data_f32(), b1.data_f32(),
                                               coef.data_f32(), act[p].data_f32(),
                                               hs[p].data_f32(), hn[p].data_f32(), B, D, N, H,
                                               paths[p]);
    }
    REQUIRE(taken[1] == kernels::HiddenGemm::SgemmThenBias);
    if (taken[0] != kernels::HiddenGemm::LtEpilogue)
      WARN("cuBLASLt declined the bias+ReLU epilogue for N=" << N << "; Sgemm path used");
    mmtest::require_close(act[0], act[1], 1e-5, 1e-5, "act, N=" + std::to_string(N));
    mmtest::require_close(hs[0], hs[1], 1e-5, 1e-5, "hsum, N=" + std::to_string(N));
    mmtest::require_close(hn[0], hn[1], 1e-5, 1e-5, "hnew, N=" + std::to_string(N));
  }
}
#endif

// ---- boosting loss ---------------------------------------------------------------------------

TEST_CASE("cuda boost_loss eqs (2)-(5) match a double reference and the CPU twin",
          "[cuda][boost_loss]") {
  SKIP_WITHOUT_CUDA();
  const LossWeights ws[] = {{0.2f, 1.0f, 1.0f, 1.0f, 1.0f}, {0.5f, 0.7f, 1.3f, 0.4f, 0.25f}};
  // B = 300 spans two blocks even at 256 rows per block.
  for (int64_t B : {1, 7, 129, 300}) {
    for (int64_t K : kLossRowLengths) {
      if ((B == 300 && K > 64) || (B == 129 && K > 1500)) continue;
      for (int variant = 0; variant < 3; ++variant) {
        const LossInputs in = loss_inputs(B, K, variant);
        for (const LossWeights& w : ws) {
          const std::string what = "B=" + std::to_string(B) + " K=" + std::to_string(K) +
                                   " variant=" + std::to_string(variant) +
                                   " lambda=" + std::to_string(w.lambda);
          LossRef ref = boost_loss_ref(in.sp, in.zn, in.y, w.lambda, w.w_eps, w.w_o, w.w_p, w.scale);
          LossOut got = run_loss(Device::CUDA, in.sp, in.zn, in.y, w.lambda, w.w_eps, w.w_o, w.w_p,
                                 w.scale);
          LossOut cpu = run_loss(Device::CPU, in.sp, in.zn, in.y, w.lambda, w.w_eps, w.w_o, w.w_p,
                                 w.scale);
          require_loss_close(got, ref, what);
          mmtest::require_close(got.terms, cpu.terms, 1e-4, 1e-5, what + " terms vs cpu");
          mmtest::require_close(got.g_new, cpu.g_new, 1e-4, 1e-6, what + " g_new vs cpu");
          mmtest::require_close(got.g_prev, cpu.g_prev, 1e-4, 1e-6, what + " g_prev vs cpu");
          mmtest::require_close(got.p_true, cpu.p_true, 1e-4, 1e-6, what + " p_true vs cpu");
        }
      }
    }
  }
}

#if MMBOOST_WITH_CUDA
TEST_CASE("cuda boost_loss kernel versions 1 and 2 (two passes) match the double reference",
          "[cuda][boost_loss]") {
  SKIP_WITHOUT_CUDA();
  // Version 3 (the default, rows in registers) is what cuda::boost_loss_forward_backward runs in
  // the test above; these are the versions the benchmark times beside it.
  const LossWeights w{0.5f, 0.7f, 1.3f, 0.4f, 0.25f};
  for (kernels::BoostLossVersion version :
       {kernels::BoostLossVersion::WarpRows, kernels::BoostLossVersion::Online}) {
    for (int64_t B : {7, 129}) {
      for (int64_t K : kLossRowLengths) {
        if (B == 129 && K > 309) continue;
        for (int variant : {0, 2}) {
          const std::string what = "version=" + std::to_string(static_cast<int>(version)) +
                                   " B=" + std::to_string(B) + " K=" + std::to_string(K) +
                                   " variant=" + std::to_string(variant);
          const LossInputs in = loss_inputs(B, K, variant);
          LossRef ref = boost_loss_ref(in.sp, in.zn, in.y, w.lambda, w.w_eps, w.w_o, w.w_p, w.scale);
          LossOut o;
          o.terms = cuda_empty({B, 3});
          o.g_prev = cuda_empty({B, K});
          o.g_new = cuda_empty({B, K});
          o.p_true = cuda_empty({B});
          Tensor sp = dev(in.sp), zn = dev(in.zn), y = dev(in.y);
          kernels::boost_loss_forward_backward(
              sp.data_f32(), zn.data_f32(), y.data_i64(), w.lambda, w.w_eps, w.w_o, w.w_p,
              w.scale, o.terms.data_f32(), o.g_prev.data_f32(), o.g_new.data_f32(),
              o.p_true.data_f32(), B, K, cuda::stream(), version);
          require_loss_close(o, ref, what);
        }
      }
    }
  }
}
#endif

TEST_CASE("cuda boost_loss eq (2): hand-computed residual-label example", "[cuda][boost_loss]") {
  SKIP_WITHOUT_CUDA();
  // K = 2, S_{n-1} = (0, 0) so q = (0.5, 0.5); y = 0; lambda = 0.5 -> y_hat = (0.75, 0).
  // z_new = (ln 3, 0): u = (0.75, 0.25). eps = -0.75 ln 0.75; S_n = z_new so eps_o = -ln 0.75;
  // eps_p = ln 2. g_new = 0.75 (u - e_0) + (u - e_0) = 1.75 (-0.25, 0.25);
  // g_prev = (u - e_0) + (q - e_0) = (-0.25 - 0.5, 0.25 + 0.5).
  Tensor sp = Tensor::zeros({1, 2});
  Tensor zn = Tensor::from_vector({std::log(3.0f), 0.0f}, {1, 2});
  Tensor y = Tensor::from_ints({0}, {1});
  LossOut o = run_loss(Device::CUDA, sp, zn, y, 0.5f, 1.0f, 1.0f, 1.0f, 1.0f);
  mmtest::require_close(o.terms.to_vector(),
                        {-0.75 * std::log(0.75), -std::log(0.75), std::log(2.0)}, 1e-6, 1e-6,
                        "terms");
  mmtest::require_close(o.g_new.to_vector(), {-0.4375, 0.4375}, 1e-6, 1e-6, "g_new");
  mmtest::require_close(o.g_prev.to_vector(), {-0.75, 0.75}, 1e-6, 1e-6, "g_prev");
  mmtest::require_close(o.p_true.to_vector(), {0.75}, 1e-6, 1e-6, "p_true");
}

TEST_CASE("cuda boost_loss gradients match finite differences of its own terms",
          "[cuda][boost_loss]") {
  SKIP_WITHOUT_CUDA();
  const int64_t B = 3, K = 6;
  const float lambda = 0.3f, scale = 0.5f;
  Tensor sp = randn({B, K}, 600), zn = randn({B, K}, 601);
  Tensor y = labels_for(B, K, 602);
  // d/dz_new: y_hat does not depend on z_new, so all three terms may vary. d/ds_prev: y_hat is
  // detached (it depends on s_prev through q), so eps is left out of that check (w_eps = 0).
  for (int which = 0; which < 2; ++which) {
    const float w_eps = which == 0 ? 0.8f : 0.0f, w_o = 1.1f, w_p = 0.6f;
    auto loss = [&](const Tensor& a, const Tensor& z) {
      std::vector<float> t = run_loss(Device::CUDA, a, z, y, lambda, w_eps, w_o, w_p, scale)
                                 .terms.to_vector();
      double L = 0;
      for (int64_t i = 0; i < B; ++i) L += w_eps * t[i * 3] + w_o * t[i * 3 + 1] + w_p * t[i * 3 + 2];
      return scale * L;
    };
    LossOut o = run_loss(Device::CUDA, sp, zn, y, lambda, w_eps, w_o, w_p, scale);
    const std::vector<float> analytic = (which == 0 ? o.g_new : o.g_prev).to_vector();
    std::vector<double> numeric(B * K);
    const double h = 1e-2;
    for (int64_t i = 0; i < B * K; ++i) {
      Tensor a = sp.clone(), z = zn.clone();
      float* p = (which == 0 ? z : a).data_f32();
      const float orig = p[i];
      p[i] = static_cast<float>(orig + h);
      const double lp = loss(a, z);
      p[i] = static_cast<float>(orig - h);
      const double lm = loss(a, z);
      numeric[i] = (lp - lm) / (2 * h);
    }
    mmtest::require_close(analytic, numeric, 2e-2, 2e-3,
                          which == 0 ? "g_new vs finite differences" : "g_prev vs finite differences");
  }
}

TEST_CASE("cuda boost_loss marks rows with an out-of-range label as NaN", "[cuda][boost_loss]") {
  SKIP_WITHOUT_CUDA();
  SKIP_ON_EMULATED_CUDA("NaN rows are the kernel's answer; the CPU twin throws");
  Tensor sp = randn({2, 6}, 610), zn = randn({2, 6}, 611);
  Tensor y = Tensor::from_ints({2, 6}, {2});
  LossOut o = run_loss(Device::CUDA, sp, zn, y, 0.2f, 1.0f, 1.0f, 1.0f, 1.0f);
  std::vector<float> t = o.terms.to_vector(), g = o.g_new.to_vector();
  REQUIRE(std::isfinite(t[0]));
  REQUIRE(std::isnan(t[3]));
  REQUIRE(std::isnan(g[6]));
}

// ---- OGM score sum ---------------------------------------------------------------------------

TEST_CASE("cuda ogm_score_sum matches a double sum and the CPU twin, deterministically",
          "[cuda][ogm_score]") {
  SKIP_WITHOUT_CUDA();
  for (int64_t R : {0, 1, 7, 129, 5000, (1 << 20) + 3}) {
    const std::string what = "R=" + std::to_string(R);
    Tensor v = R ? randu({R}, 700, 0.0f, 1.0f) : Tensor::zeros({0});
    double want = 0;
    for (float e : v.to_vector()) want += e;
    Tensor out = cuda_empty({1}), out2 = cuda_empty({1}), cpu_out = cpu_empty({1});
    Tensor vd = dev(v);
    cuda::ogm_score_sum(vd, out);
    cuda::ogm_score_sum(vd, out2);
    cpu::ogm_score_sum(v, cpu_out);
    mmtest::require_close(out.to_vector(), {want}, 1e-6, 1e-6, what);
    mmtest::require_close(out, cpu_out, 1e-6, 1e-6, what + " vs cpu");
    INFO(what);
    REQUIRE(same_bits(out, out2));
  }
}

// ---- determinism -----------------------------------------------------------------------------

TEST_CASE("cuda boosting kernels are bit-identical run to run", "[cuda][determinism]") {
  SKIP_WITHOUT_CUDA();
  const int64_t B = 1024, D = 512, N = 8, H = 256, NH = N * H, K = 309;
  Tensor x = dev(randn({B, D}, 800)), w1 = dev(randn({NH, D}, 801, 0.04f));
  Tensor b1 = dev(randn({NH}, 802, 0.1f)), coef = dev(randu({N}, 803, 0.5f, 1.0f));
  Tensor gs = dev(randn({B, H}, 804)), gn = dev(randn({B, H}, 805));
  Tensor run[2][6];
  for (int r = 0; r < 2; ++r) {
    Tensor hs = cuda_empty({B, H}), hn = cuda_empty({B, H}), act = cuda_empty({B, NH});
    cuda::fused_hidden_forward(x, w1, b1, coef, hs, hn, act);
    Tensor gx = cuda_empty({B, D}), gw = cuda_empty({NH, D}), gb = cuda_empty({NH});
    cuda::fused_hidden_backward(x, w1, coef, act, gs, gn, &gx, &gw, &gb);
    run[r][0] = hs;
    run[r][1] = hn;
    run[r][2] = gx;
    run[r][3] = gw;
    run[r][4] = gb;
  }
  for (int i = 0; i < 5; ++i) {
    INFO("fused_hidden output " << i);
    REQUIRE(same_bits(run[0][i], run[1][i]));
  }
  Tensor sp = randn({B, K}, 810, 3.0f), zn = randn({B, K}, 811, 3.0f);
  Tensor y = labels_for(B, K, 812);
  LossOut l0 = run_loss(Device::CUDA, sp, zn, y, 0.5f, 1.0f, 1.0f, 1.0f, 1.0f / B);
  LossOut l1 = run_loss(Device::CUDA, sp, zn, y, 0.5f, 1.0f, 1.0f, 1.0f, 1.0f / B);
  REQUIRE(same_bits(l0.terms, l1.terms));
  REQUIRE(same_bits(l0.g_prev, l1.g_prev));
  REQUIRE(same_bits(l0.g_new, l1.g_new));
  REQUIRE(same_bits(l0.p_true, l1.p_true));
  Tensor s0 = cuda_empty({1}), s1 = cuda_empty({1});
  cuda::ogm_score_sum(l0.p_true, s0);
  cuda::ogm_score_sum(l1.p_true, s1);
  REQUIRE(same_bits(s0, s1));
}
