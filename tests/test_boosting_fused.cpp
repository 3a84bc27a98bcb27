// The fused classifier path (one GEMM for all first layers, the head on coefficient sums, one
// kernel for the loss terms) against double-precision references and against the plain
// per-classifier path, in values and gradients; on a GPU, the CUDA kernels against the CPU twins.
#include <cmath>

#include "testing.h"

#include "boosting/boost_loss.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "models/classifier.h"

using namespace mm;
using namespace mm::boost;

namespace {

// Double-precision reference of fused_hidden_forward: x (B,D), w1 (N*H,D), b1 (N*H), coef (N).
void reference_hidden(const std::vector<float>& x, const std::vector<float>& w1, const std::vector<float>& b1,
                      const std::vector<float>& coef, int64_t B, int64_t D, int64_t N, int64_t H,
                      std::vector<double>& hsum, std::vector<double>& hnew) {
  hsum.assign(B * H, 0.0);
  hnew.assign(B * H, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t h = 0; h < H; ++h) {
        double a = b1[j * H + h];
        for (int64_t d = 0; d < D; ++d) a += static_cast<double>(x[b * D + d]) * w1[(j * H + h) * D + d];
        a = a > 0 ? a : 0;
        if (j == N - 1) hnew[b * H + h] = a;
        else hsum[b * H + h] += coef[j] * a;
      }
}

struct Bank {
  std::vector<std::shared_ptr<models::ConfigurableClassifier>> cls;
  std::shared_ptr<nn::Linear> head;
};

Bank make_bank(int64_t N, int64_t D, int64_t H, int64_t K, uint64_t seed) {
  Generator gen(seed);
  Bank b;
  for (int64_t j = 0; j < N; ++j)
    b.cls.push_back(std::make_shared<models::ConfigurableClassifier>(D, std::vector<int64_t>{H}, gen));
  b.head = std::make_shared<nn::Linear>(H, K, true, gen);
  // Non-zero biases so that their gradients and the bias-sum trick are exercised.
  for (auto& c : b.cls) normal_(c->first().bias, 0.0f, 0.3f, gen);
  return b;
}

std::vector<Tensor> params_of(const Bank& b) {
  std::vector<Tensor> p;
  for (const auto& c : b.cls)
    for (const auto& t : c->parameters()) p.push_back(t);
  for (const auto& t : b.head->parameters()) p.push_back(t);
  return p;
}

}  // namespace

TEST_CASE("fused_hidden_forward (CPU) matches a double-precision reference", "[cpu]") {
  for (int64_t N : {1, 2, 5}) {
    const int64_t B = 7, D = 13, H = 5;
    Tensor x = mmtest::randn({B, D}, 11), w1 = mmtest::randn({N * H, D}, 12, 0.4f), b1 = mmtest::randn({N * H}, 13);
    std::vector<float> coef;
    for (int64_t j = 0; j < N; ++j) coef.push_back(0.3f + 0.25f * j);
    Tensor c = Tensor::from_vector(coef, {N});
    Tensor hsum = Tensor::empty({B, H}), hnew = Tensor::empty({B, H}), act = Tensor::empty({B, N * H});
    cpu::fused_hidden_forward(x, w1, b1, c, hsum, hnew, act);
    std::vector<double> rs, rn;
    reference_hidden(x.to_vector(), w1.to_vector(), b1.to_vector(), coef, B, D, N, H, rs, rn);
    mmtest::require_close(hsum.to_vector(), rs, 1e-5, 1e-5, "hsum N=" + std::to_string(N));
    mmtest::require_close(hnew.to_vector(), rn, 1e-5, 1e-5, "hnew N=" + std::to_string(N));
  }
}

TEST_CASE("fused classifier path equals the per-classifier path in values and gradients", "[cpu]") {
  // Odd sizes; N = 1 (no previous classifiers) up to 6; omega coefficients on added classifiers.
  const int64_t B = 9, D = 11, H = 7, K = 5;
  Tensor labels = Tensor::from_ints({0, 4, 2, 1, 3, 3, 0, 2, 4}, {B});
  for (int64_t N = 1; N <= 6; ++N) {
    for (float omega : {1.0f, 0.35f}) {
      std::vector<float> coef(N, omega);
      coef[0] = 1.0f;
      Tensor u0 = mmtest::randn({B, D}, 100 + N);
      Bank a = make_bank(N, D, H, K, 7 + N), b = make_bank(N, D, H, K, 7 + N);
      Tensor ua = mmtest::param(u0), ub = mmtest::param(u0);
      BoostLossOptions o = BoostLossOptions::for_classifiers(N, 0.2f, true, true, true);

      ClassifierSums sa = classifier_sums_plain(ua, a.cls, *a.head, coef);
      ClassifierSums sb = classifier_sums_fused(ub, b.cls, *b.head, coef);
      mmtest::require_close(sb.s_prev, sa.s_prev, 1e-5, 1e-5, "S_{n-1}");
      mmtest::require_close(sb.z_new, sa.z_new, 1e-5, 1e-5, "z_new");
      BoostLossResult la = boost_loss_plain(sa.s_prev, sa.z_new, labels, o);
      BoostLossResult lb = boost_loss_fused(sb.s_prev, sb.z_new, labels, o);
      CHECK(lb.loss.item() == Approx(la.loss.item()).epsilon(1e-5));
      CHECK(lb.means.to_vector()[1] == Approx(la.means.to_vector()[1]).epsilon(1e-5));
      if (N > 1) {
        CHECK(lb.means.to_vector()[0] == Approx(la.means.to_vector()[0]).epsilon(1e-5));
        CHECK(lb.means.to_vector()[2] == Approx(la.means.to_vector()[2]).epsilon(1e-5));
      }
      mmtest::require_close(lb.p_true, la.p_true, 1e-5, 1e-6, "p_true");
      la.loss.backward();
      lb.loss.backward();
      mmtest::require_close(ub.grad(), ua.grad(), 1e-4, 1e-6, "du");
      std::vector<Tensor> pa = params_of(a), pb = params_of(b);
      REQUIRE(pa.size() == pb.size());
      for (size_t i = 0; i < pa.size(); ++i) {
        REQUIRE(pa[i].grad().defined());
        REQUIRE(pb[i].grad().defined());
        mmtest::require_close(pb[i].grad(), pa[i].grad(), 1e-4, 1e-6,
                              "N=" + std::to_string(N) + " parameter " + std::to_string(i));
      }
    }
  }
}

TEST_CASE("fused path refuses classifiers with more than one layer", "[cpu]") {
  Generator gen(1);
  std::vector<std::shared_ptr<models::ConfigurableClassifier>> cls = {
      std::make_shared<models::ConfigurableClassifier>(4, std::vector<int64_t>{6, 3}, gen)};
  nn::Linear head(3, 2, true, gen);
  CHECK_THROWS_AS(classifier_sums_fused(mmtest::randn({2, 4}, 1), cls, head, {1.0f}), mm::Error);
  // the plain path handles any depth
  CHECK(classifier_sums_plain(mmtest::randn({2, 4}, 1), cls, head, {1.0f}).z_new.shape() == Shape{2, 2});
}

TEST_CASE("boost_loss_forward_backward (CPU) rejects a label outside [0,K) before reading rows",
          "[cpu]") {
  const int64_t B = 3, K = 6;
  Tensor sp = mmtest::randn({B, K}, 21), zn = mmtest::randn({B, K}, 22);
  Tensor terms = Tensor::empty({B, 3}), gp = Tensor::empty({B, K}), gn = Tensor::empty({B, K}),
         pt = Tensor::empty({B});
  for (int64_t bad : {int64_t{-1}, K, int64_t{1} << 40}) {
    Tensor y = Tensor::from_ints({0, bad, 2}, {B});
    CHECK_THROWS_WITH(cpu::boost_loss_forward_backward(sp, zn, y, 0.2f, 1, 1, 1, 1, terms, gp, gn, pt),
                      Catch::Matchers::Contains("outside [0, 6)") && Catch::Matchers::Contains("row 1"));
  }
}

TEST_CASE("ogm_score_sum (CPU) sums in a fixed order", "[cpu]") {
  Tensor v = mmtest::randu({1001}, 5, 0.0f, 1.0f);
  Tensor out = Tensor::empty({1});
  cpu::ogm_score_sum(v, out);
  double want = 0.0;
  for (float x : v.to_vector()) want += x;
  CHECK(out.item() == Approx(want).epsilon(1e-6));
}

TEST_CASE("CUDA fused classifier and boosting loss kernels match the CPU twins", "[cuda]") {
  if (!mmtest::cuda_available()) {
    WARN("no CUDA device");
    return;
  }
  for (int64_t N : {1, 3, 8}) {
    for (int64_t B : {1, 7, 64}) {
      const int64_t D = 37, H = 19, K = 6;
      Tensor x = mmtest::randn({B, D}, 21), w1 = mmtest::randn({N * H, D}, 22, 0.3f), b1 = mmtest::randn({N * H}, 23);
      std::vector<float> cv(N, 0.6f);
      cv[0] = 1.0f;
      Tensor coef = Tensor::from_vector(cv, {N});
      Tensor hs = Tensor::empty({B, H}), hn = Tensor::empty({B, H}), act = Tensor::empty({B, N * H});
      cpu::fused_hidden_forward(x, w1, b1, coef, hs, hn, act);
      Tensor xd = x.to(Device::CUDA), wd = w1.to(Device::CUDA), bd = b1.to(Device::CUDA), cd = coef.to(Device::CUDA);
      Tensor hsd = Tensor::empty({B, H}, DType::F32, Device::CUDA), hnd = Tensor::empty({B, H}, DType::F32, Device::CUDA);
      Tensor actd = Tensor::empty({B, N * H}, DType::F32, Device::CUDA);
      cuda::fused_hidden_forward(xd, wd, bd, cd, hsd, hnd, actd);
      mmtest::require_close(hsd.to(Device::CPU), hs, 1e-4, 1e-4, "hsum");
      mmtest::require_close(hnd.to(Device::CPU), hn, 1e-4, 1e-4, "hnew");

      Tensor gs = mmtest::randn({B, H}, 24), gn = mmtest::randn({B, H}, 25);
      Tensor gx = Tensor::empty({B, D}), gw = Tensor::empty({N * H, D}), gb = Tensor::empty({N * H});
      cpu::fused_hidden_backward(x, w1, coef, act, gs, gn, &gx, &gw, &gb);
      Tensor gxd = Tensor::empty({B, D}, DType::F32, Device::CUDA), gwd = Tensor::empty({N * H, D}, DType::F32, Device::CUDA);
      Tensor gbd = Tensor::empty({N * H}, DType::F32, Device::CUDA);
      cuda::fused_hidden_backward(xd, wd, cd, actd, gs.to(Device::CUDA), gn.to(Device::CUDA), &gxd, &gwd, &gbd);
      mmtest::require_close(gxd.to(Device::CPU), gx, 1e-4, 1e-4, "gx");
      mmtest::require_close(gwd.to(Device::CPU), gw, 1e-4, 1e-4, "gw1");
      mmtest::require_close(gbd.to(Device::CPU), gb, 1e-4, 1e-4, "gb1");

      Tensor sp = mmtest::randn({B, K}, 26, 2.0f), zn = mmtest::randn({B, K}, 27, 2.0f);
      std::vector<int64_t> yv;
      for (int64_t i = 0; i < B; ++i) yv.push_back((i * 5 + 1) % K);
      Tensor y = Tensor::from_ints(yv, {B});
      Tensor t = Tensor::empty({B, 3}), gp = Tensor::empty({B, K}), gnw = Tensor::empty({B, K}), pt = Tensor::empty({B});
      cpu::boost_loss_forward_backward(sp, zn, y, 0.2f, 1.0f, 1.0f, 1.0f, 1.0f / B, t, gp, gnw, pt);
      Tensor td = Tensor::empty({B, 3}, DType::F32, Device::CUDA), gpd = Tensor::empty({B, K}, DType::F32, Device::CUDA);
      Tensor gnd = Tensor::empty({B, K}, DType::F32, Device::CUDA), ptd = Tensor::empty({B}, DType::F32, Device::CUDA);
      cuda::boost_loss_forward_backward(sp.to(Device::CUDA), zn.to(Device::CUDA), y.to(Device::CUDA), 0.2f, 1.0f,
                                        1.0f, 1.0f, 1.0f / B, td, gpd, gnd, ptd);
      mmtest::require_close(td.to(Device::CPU), t, 1e-4, 1e-5, "terms");
      mmtest::require_close(gpd.to(Device::CPU), gp, 1e-4, 1e-6, "g_prev");
      mmtest::require_close(gnd.to(Device::CPU), gnw, 1e-4, 1e-6, "g_new");
      mmtest::require_close(ptd.to(Device::CPU), pt, 1e-4, 1e-6, "p_true");

      Tensor out = Tensor::empty({1}), outd = Tensor::empty({1}, DType::F32, Device::CUDA);
      cpu::ogm_score_sum(pt, out);
      cuda::ogm_score_sum(ptd, outd);
      CHECK(outd.item() == Approx(out.item()).epsilon(1e-5));
    }
  }
}
