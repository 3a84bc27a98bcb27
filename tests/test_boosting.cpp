// The paper's equations (2)-(6), the OGM score and Algorithm 1 against hand-computed examples,
// and the finite-difference gradient of the full loss.
//
// The reference numbers below were computed by hand (in double precision, outside this code
// base) for the batch
//   S_{n-1} = [[1, 2, 0], [0.5, -1, 0.25]],  z_new = [[0, 1, -1], [2, 0, 1]],  y = [1, 2],
//   lambda = 0.2, K = 3.
#include "testing.h"

#include "boosting/assignment.h"
#include "boosting/boost_loss.h"
#include "engine/error.h"
#include "engine/optim/optimizer.h"
#include "models/classifier.h"

using namespace mm;
using namespace mm::boost;

namespace {
Tensor s_prev_example() { return Tensor::from_vector({1, 2, 0, 0.5f, -1, 0.25f}, {2, 3}); }
Tensor z_new_example() { return Tensor::from_vector({0, 1, -1, 2, 0, 1}, {2, 3}); }
Tensor labels_example() { return Tensor::from_ints({1, 2}, {2}); }

// Per row of the example: eps (2), eps_o (3), eps_p (4), softmax(S_n)[y].
const double kEps[2] = {0.35337473, 1.29808724};
const double kEpsO[2] = {0.14293163, 1.52513026};
const double kEpsP[2] = {0.40760596, 0.94411219};
const double kPTrue[2] = {0.86681333, 0.21759271};

BoostLossOptions only(float e, float o, float p) {
  BoostLossOptions opt;
  opt.lambda = 0.2f;
  opt.w_eps = e;
  opt.w_o = o;
  opt.w_p = p;
  return opt;
}

using LossFn = BoostLossResult (*)(const Tensor&, const Tensor&, const Tensor&, const BoostLossOptions&);
const std::pair<const char*, LossFn> kPaths[2] = {{"plain", &boost_loss_plain}, {"fused", &boost_loss_fused}};
}  // namespace

TEST_CASE("eq (2) residual labels y_hat = y - lambda * y * softmax(S_{n-1}), detached", "[cpu]") {
  Tensor sp = mmtest::param(s_prev_example());
  Tensor yh = residual_labels(sp, labels_example(), 3, 0.2f);
  // softmax(S_{n-1}) row 0 = [0.24472847, 0.66524096, 0.09003057], row 1 = [0.49951773,
  // 0.11145747, 0.3890248]; only the true entries survive the mask y.
  mmtest::require_close(yh.to_vector(), {0, 1 - 0.2 * 0.66524096, 0, 0, 0, 1 - 0.2 * 0.3890248}, 1e-6, 1e-7);
  CHECK_FALSE(yh.requires_grad());  // a target: no gradient flows into S_{n-1} through it
  // lambda = 0: the hard labels
  mmtest::require_close(residual_labels(sp, labels_example(), 3, 0.0f).to_vector(), {0, 1, 0, 0, 0, 1}, 0, 0);
}

TEST_CASE("eq (2) epsilon = CE(z_new, y_hat) and its gradient softmax(z) * sum(y_hat) - y_hat", "[cpu]") {
  for (const auto& [name, fn] : kPaths) {
    SECTION(name) {
      Tensor sp = mmtest::param(s_prev_example()), zn = mmtest::param(z_new_example());
      BoostLossResult r = fn(sp, zn, labels_example(), only(1, 0, 0));
      CHECK(r.means.to_vector()[0] == Approx((kEps[0] + kEps[1]) / 2).epsilon(1e-6));
      CHECK(r.loss.item() == Approx((kEps[0] + kEps[1]) / 2).epsilon(1e-6));
      r.loss.backward();
      // y_hat sums to 1 - lambda q_y, not 1: the hand gradient (1/B)(u * sum(y_hat) - y_hat).
      // row 0: u = softmax([0,1,-1]) = [0.24472847, 0.66524096, 0.09003057], sum(y_hat) = 0.86695181
      const double u0[3] = {0.24472847, 0.66524096, 0.09003057};
      const double u1[3] = {0.66524096, 0.09003057, 0.24472847};  // softmax([2,0,1])
      const double s0 = 0.86695181, s1 = 0.92219504;
      mmtest::require_close(zn.grad().to_vector(),
                            {0.5 * u0[0] * s0, 0.5 * (u0[1] * s0 - s0), 0.5 * u0[2] * s0,
                             0.5 * u1[0] * s1, 0.5 * u1[1] * s1, 0.5 * (u1[2] * s1 - s1)},
                            1e-5, 1e-7, "d eps / d z_new");
      // y_hat is detached: eps sends no gradient to S_{n-1}.
      if (sp.grad().defined()) mmtest::require_close(sp.grad().to_vector(), std::vector<double>(6, 0.0), 0, 1e-7);
    }
  }
}

TEST_CASE("eq (3) epsilon_o = CE(S_{n-1} + z_new, y)", "[cpu]") {
  for (const auto& [name, fn] : kPaths) {
    SECTION(name) {
      BoostLossResult r = fn(s_prev_example(), z_new_example(), labels_example(), only(0, 1, 0));
      CHECK(r.means.to_vector()[1] == Approx((kEpsO[0] + kEpsO[1]) / 2).epsilon(1e-6));
      CHECK(r.loss.item() == Approx((kEpsO[0] + kEpsO[1]) / 2).epsilon(1e-6));
    }
  }
}

TEST_CASE("eq (4) epsilon_p = CE(S_{n-1}, y)", "[cpu]") {
  for (const auto& [name, fn] : kPaths) {
    SECTION(name) {
      BoostLossResult r = fn(s_prev_example(), z_new_example(), labels_example(), only(0, 0, 1));
      CHECK(r.means.to_vector()[2] == Approx((kEpsP[0] + kEpsP[1]) / 2).epsilon(1e-6));
      CHECK(r.loss.item() == Approx((kEpsP[0] + kEpsP[1]) / 2).epsilon(1e-6));
    }
  }
}

TEST_CASE("eq (5) and (6): the loss is the batch mean of eps + eps_o + eps_p, with hand gradients", "[cpu]") {
  for (const auto& [name, fn] : kPaths) {
    SECTION(name) {
      Tensor sp = mmtest::param(s_prev_example()), zn = mmtest::param(z_new_example());
      BoostLossResult r = fn(sp, zn, labels_example(), only(1, 1, 1));
      CHECK(r.loss.item() == Approx(2.335621).epsilon(1e-6));  // 0.82573098 + 0.83403095 + 0.67585908
      mmtest::require_close(r.p_true.to_vector(), {kPTrue[0], kPTrue[1]}, 1e-6, 1e-7, "softmax(S_n)[y]");
      r.loss.backward();
      mmtest::require_close(zn.grad().to_vector(),
                            {0.16473911, -0.21170331, 0.0469642, 0.68647755, 0.05297993, -0.73945747},
                            1e-5, 1e-7, "dL/dz_new");
      mmtest::require_close(sp.grad().to_vector(),
                            {0.18101945, -0.23397286, 0.05295341, 0.62949546, 0.06719579, -0.69669124},
                            1e-5, 1e-7, "dL/dS_{n-1}");
    }
  }
}

TEST_CASE("eq (6) with one classifier is plain cross-entropy", "[cpu]") {
  BoostLossOptions o = BoostLossOptions::for_classifiers(1, 0.2f, true, true, true);
  CHECK(o.w_eps == 0.0f);
  CHECK(o.w_o == 1.0f);
  CHECK(o.w_p == 0.0f);
  Tensor zeros = Tensor::zeros({2, 3});
  for (const auto& [name, fn] : kPaths) {
    SECTION(name) {
      BoostLossResult r = fn(zeros, z_new_example(), labels_example(), o);
      // CE([0,1,-1], 1) = 0.40760596, CE([2,0,1], 2) = 1.40760596
      CHECK(r.loss.item() == Approx((0.40760596 + 1.40760596) / 2).epsilon(1e-6));
    }
  }
}

TEST_CASE("Table 4 switches: each term of eq (5) can be left out", "[cpu]") {
  const double e = (kEps[0] + kEps[1]) / 2, o = (kEpsO[0] + kEpsO[1]) / 2, p = (kEpsP[0] + kEpsP[1]) / 2;
  struct Case { bool a, b, c; double want; } cases[] = {
      {true, false, true, e + p}, {false, true, false, o}, {true, true, false, e + o}, {false, true, true, o + p}};
  for (const auto& cs : cases) {
    BoostLossOptions opt = BoostLossOptions::for_classifiers(3, 0.2f, cs.a, cs.b, cs.c);
    for (const auto& [name, fn] : kPaths)
      CHECK(fn(s_prev_example(), z_new_example(), labels_example(), opt).loss.item() == Approx(cs.want).epsilon(1e-6));
  }
  BoostLossOptions none = BoostLossOptions::for_classifiers(3, 0.2f, false, false, false);
  CHECK_THROWS_AS(boost_loss_fused(s_prev_example(), z_new_example(), labels_example(), none), mm::Error);
  CHECK_THROWS_AS(boost_loss_plain(s_prev_example(), z_new_example(), labels_example(), none), mm::Error);
}

TEST_CASE("Section 4.2 OGM score: mean over the epoch's samples of softmax(S_n)[y]", "[cpu]") {
  OgmScore s;
  // batch 1: the example batch; batch 2: one row of equal logits, so 1/3.
  Tensor p1 = true_class_probability(add(s_prev_example(), z_new_example()), labels_example());
  mmtest::require_close(p1.to_vector(), {kPTrue[0], kPTrue[1]}, 1e-6, 1e-7);
  s.add(p1);
  s.add(true_class_probability(Tensor::zeros({1, 3}), Tensor::from_ints({0}, {1})));
  CHECK(s.count() == 3);
  CHECK(s.value() == Approx((0.86681333 + 0.21759271 + 1.0 / 3.0) / 3).epsilon(1e-6));
  s.reset();
  CHECK(s.count() == 0);
  CHECK(s.value() == 0.0);
}

TEST_CASE("Section 4.2 OGM score: batch sums kept on the device and read in blocks add up in batch order",
          "[cpu]") {
  // 600 batches of varying size: more than two full blocks of slots, so the buffer is read
  // mid-epoch and at the end; the result must equal adding each batch's float sum in order.
  OgmScore s;
  double want = 0.0;
  int64_t rows = 0;
  for (int b = 0; b < 600; ++b) {
    const int64_t B = 1 + b % 7;
    Tensor p = mmtest::randu({B}, 100 + b, 0.0f, 1.0f);
    double d = 0.0;
    for (float x : p.to_vector()) d += x;
    const float batch = static_cast<float>(d);  // ogm_score_sum: double accumulation, float out
    want += static_cast<double>(batch);
    rows += B;
    s.add(p);
    if (b == 300) {
      CHECK(s.sum() == want);  // a read mid-way changes nothing
      OgmScore copy = s;       // a copy continues on its own buffer
      copy.add(Tensor::ones({2}));
      CHECK(copy.sum() == want + 2.0);
      CHECK(copy.count() == rows + 2);
    }
  }
  CHECK(s.count() == rows);
  CHECK(s.sum() == want);
  CHECK(s.value() == want / static_cast<double>(rows));
  s.set(1.5, 3);
  CHECK(s.value() == 0.5);
}

TEST_CASE("Algorithm 1, difference rule: audio ahead -> video classifier; video ahead -> audio", "[cpu]") {
  AssignmentRule r;  // sigma 1, tau 0.01
  CHECK(assign_classifiers({0.60, 0.40}, r) == std::vector<bool>{false, true});
  // line 3 with the corrected sign: s_a - sigma s_v = -0.2 < -tau -> audio
  CHECK(assign_classifiers({0.40, 0.60}, r) == std::vector<bool>{true, false});
  // dead zone |s_a - s_v| <= tau: nothing
  CHECK(assign_classifiers({0.505, 0.50}, r) == std::vector<bool>{false, false});
  CHECK(assign_classifiers({0.50, 0.505}, r) == std::vector<bool>{false, false});
  // sigma = 1.5 scales the video score: 0.6 - 1.5 * 0.45 = -0.075 < -0.01 -> audio
  r.sigma = 1.5;
  CHECK(assign_classifiers({0.60, 0.45}, r) == std::vector<bool>{true, false});
  r.sigma = 0.5;
  CHECK_THROWS_AS(assign_classifiers({0.6, 0.4}, r), mm::Error);
}

TEST_CASE("Algorithm 1 for M > 2: every modality trailing the best by more than tau", "[cpu]") {
  AssignmentRule r;
  CHECK(assign_classifiers({0.7, 0.5, 0.695}, r) == std::vector<bool>{false, true, false});
  CHECK(assign_classifiers({0.3, 0.5, 0.8, 0.1}, r) == std::vector<bool>{true, true, false, true});
  CHECK(assign_classifiers({0.5, 0.5, 0.5}, r) == std::vector<bool>{false, false, false});
}

TEST_CASE("Algorithm 1, the release's ratio rule", "[cpu]") {
  AssignmentRule r;
  r.rule = "ratio";  // lambda 1, margin 0.01
  CHECK(assign_classifiers({0.6, 0.4}, r) == std::vector<bool>{false, true});  // 1.5 > 1.01
  CHECK(assign_classifiers({0.4, 0.6}, r) == std::vector<bool>{true, false});  // 0.667 < 0.99
  CHECK(assign_classifiers({0.5, 0.499}, r) == std::vector<bool>{false, false});  // 1.002
  // three modalities: s_m / sum of the others < 0.4
  CHECK(assign_classifiers({0.2, 0.5, 0.6}, r) == std::vector<bool>{true, false, false});  // 0.18
  CHECK(assign_classifiers({0.3, 0.4, 0.35}, r) == std::vector<bool>{false, false, false});  // 0.46, 0.62, 0.5
  r.rule = "bogus";
  CHECK_THROWS_AS(assign_classifiers({0.6, 0.4}, r), mm::Error);
}

TEST_CASE("Section 4.2 ACA target g_t is one-hot on the weakest modality", "[cpu]") {
  CHECK(aca_target({0.7, 0.4}) == std::vector<float>{0, 1});
  CHECK(aca_target({0.3, 0.4}) == std::vector<float>{1, 0});
  CHECK(aca_target({0.5, 0.2, 0.2}) == std::vector<float>{0, 1, 0});  // ties: the first
}

TEST_CASE("ACA network maps scores to weights in [0,1] and learns g_t", "[cpu]") {
  Generator gen(3);
  models::AcaNet net(2, {16, 8}, gen);
  Tensor x = Tensor::from_vector({0.7f, 0.4f}, {1, 2});
  Tensor g = Tensor::from_vector({0, 1}, {1, 2});
  auto loss = [&] {
    Tensor d = sub(g, net.forward(x));
    return sum(mul(d, d));
  };
  const float before = loss().item();
  optim::SGD sgd(0.9f);
  sgd.add_param_group("aca", net.parameters(), 0.05f, 0.0f);
  for (int i = 0; i < 200; ++i) {
    sgd.zero_grad();
    Tensor l = loss();
    l.backward();
    sgd.step();
  }
  std::vector<float> w = net.forward(x).to_vector();
  for (float v : w) CHECK((v >= 0.0f && v <= 1.0f));
  CHECK(loss().item() < 0.1f * before);
  CHECK(w[1] > 0.8f);
  CHECK(w[0] < 0.2f);
}

namespace {
// The full loss of one modality from u (B,D) through N = 3 classifiers Linear(D->H)+ReLU and the
// shared head (K,H), with an omega of 0.7 on the added classifiers. in: u, w1 x3, b1 x3, head_w,
// head_b. frozen_yhat: when defined, eq (2) uses these residual labels (what the analytic
// gradient assumes: y_hat is detached) and the loss is built from ordinary ops.
Tensor full_loss(const std::vector<Tensor>& in, const Tensor& labels, bool fused, float lambda,
                 const Tensor& frozen_yhat = Tensor(), Tensor* s_prev_out = nullptr) {
  const std::vector<float> coef = {1.0f, 0.7f, 0.7f};
  Tensor s_prev, z_new;
  if (fused) {
    auto [hs, hn] = fused_hidden(in[0], {in[1], in[2], in[3]}, {in[4], in[5], in[6]}, coef);
    s_prev = add(linear(hs, in[7], Tensor()), mul_scalar(in[8], 1.7f));
    z_new = mul_scalar(linear(hn, in[7], in[8]), 0.7f);
  } else {
    for (int j = 0; j < 3; ++j) {
      Tensor z = mul_scalar(linear(relu(linear(in[0], in[1 + j], in[4 + j])), in[7], in[8]), coef[j]);
      if (j == 2) z_new = z;
      else s_prev = s_prev.defined() ? add(s_prev, z) : z;
    }
  }
  if (s_prev_out) *s_prev_out = s_prev.detach();
  if (frozen_yhat.defined())
    return add(add(cross_entropy_soft(z_new, frozen_yhat), cross_entropy(add(s_prev, z_new), labels)),
               cross_entropy(s_prev, labels));
  BoostLossOptions o = BoostLossOptions::for_classifiers(3, lambda, true, true, true);
  return (fused ? boost_loss_fused : boost_loss_plain)(s_prev, z_new, labels, o).loss;
}

std::vector<Tensor> full_loss_inputs(int64_t B, int64_t D, int64_t H, int64_t K) {
  return {mmtest::randn({B, D}, 1), mmtest::randn({H, D}, 2), mmtest::randn({H, D}, 3),
          mmtest::randn({H, D}, 4), mmtest::randn({H}, 5),    mmtest::randn({H}, 6),
          mmtest::randn({H}, 7),    mmtest::randn({K, H}, 8), mmtest::randn({K}, 9)};
}
}  // namespace

TEST_CASE("eq (6) full loss, lambda = 0: finite-difference gradient through classifiers and head", "[cpu]") {
  const int64_t B = 5, D = 4, H = 3, K = 4;
  Tensor labels = Tensor::from_ints({0, 3, 1, 2, 3}, {B});
  for (bool fused : {false, true}) {
    SECTION(fused ? "fused" : "plain") {
      auto f = [&](const std::vector<Tensor>& in) { return full_loss(in, labels, fused, 0.0f); };
      mmtest::gradcheck(f, full_loss_inputs(B, D, H, K), 2e-3, 2e-2, 2e-3);  // small steps: few ReLU kinks
    }
  }
}

TEST_CASE("eq (6) full loss, lambda = 0.2: gradient equals finite differences with y_hat held fixed", "[cpu]") {
  // y_hat is a detached target (the residual of the previous classifiers), so the analytic
  // gradient is that of the loss with y_hat frozen at its current value.
  const int64_t B = 5, D = 4, H = 3, K = 4;
  Tensor labels = Tensor::from_ints({0, 3, 1, 2, 3}, {B});
  for (bool fused : {false, true}) {
    SECTION(fused ? "fused" : "plain") {
      std::vector<Tensor> in = full_loss_inputs(B, D, H, K);
      for (auto& t : in) t = mmtest::param(t);
      Tensor s_prev0;
      Tensor loss = full_loss(in, labels, fused, 0.2f, Tensor(), &s_prev0);
      loss.backward();
      Tensor yhat = residual_labels(s_prev0, labels, K, 0.2f);
      NoGradGuard ng;
      CHECK(loss.item() == Approx(full_loss(in, labels, false, 0.2f, yhat).item()).epsilon(1e-5));
      const double eps = 2e-3;
      for (size_t k = 0; k < in.size(); ++k) {
        std::vector<float> ga = in[k].grad().to_vector();
        std::vector<double> gn(ga.size());
        float* p = in[k].data_f32();
        for (size_t i = 0; i < ga.size(); ++i) {
          const float orig = p[i];
          p[i] = static_cast<float>(orig + eps);
          const double lp = full_loss(in, labels, false, 0.2f, yhat).item();
          p[i] = static_cast<float>(orig - eps);
          const double lm = full_loss(in, labels, false, 0.2f, yhat).item();
          p[i] = orig;
          gn[i] = (lp - lm) / (2 * eps);
        }
        mmtest::require_close(ga, gn, 2e-2, 2e-3, "gradient of input " + std::to_string(k));
      }
    }
  }
}
