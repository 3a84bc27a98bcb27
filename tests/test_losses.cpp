// Cross-entropy with soft targets whose rows need not sum to 1, hard-label CE, MSE, gather, one-hot.
#include <cmath>

#include "tests/testing.h"

using namespace mm;

TEST_CASE("soft-target cross-entropy matches a hand-computed value", "[cpu][loss]") {
  // logits (1,2) = [0, ln 3] -> softmax = [1/4, 3/4]; targets [0.5, 0.2] (row sum 0.7)
  Tensor z = mmtest::param(Tensor::from_vector({0.0f, std::log(3.0f)}, {1, 2}));
  Tensor t = Tensor::from_vector({0.5f, 0.2f}, {1, 2});
  Tensor L = cross_entropy_soft(z, t);
  double want = -(0.5 * std::log(0.25) + 0.2 * std::log(0.75));
  REQUIRE(std::fabs(L.item() - want) < 1e-6);
  L.backward();
  // dL/dz = softmax * rowsum(t) - t = [0.25*0.7 - 0.5, 0.75*0.7 - 0.2]
  mmtest::require_close(z.grad().to_vector(), {0.25 * 0.7 - 0.5, 0.75 * 0.7 - 0.2}, 1e-6, 1e-7);
}

TEST_CASE("soft-target cross-entropy: double reference and finite differences on odd shapes",
          "[cpu][loss]") {
  for (int64_t K : {1, 6, 31, 309}) {
    for (int64_t B : {1, 7, 129}) {
      Tensor z = mmtest::randn({B, K}, B * 7 + K, 3.0f);
      Tensor t = mmtest::randu({B, K}, B + K, 0.0f, 0.4f);  // rows do not sum to 1
      std::vector<float> zv = z.to_vector(), tv = t.to_vector();
      double want = 0;
      for (int64_t i = 0; i < B; ++i) {
        double mx = -1e300, s = 0;
        for (int64_t k = 0; k < K; ++k) mx = std::max(mx, static_cast<double>(zv[i * K + k]));
        for (int64_t k = 0; k < K; ++k) s += std::exp(zv[i * K + k] - mx);
        for (int64_t k = 0; k < K; ++k) want -= tv[i * K + k] * (zv[i * K + k] - mx - std::log(s));
      }
      want /= B;
      REQUIRE(std::fabs(cross_entropy_soft(z, t).item() - want) <= 1e-5 * std::fabs(want) + 1e-6);
    }
  }
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return cross_entropy_soft(in[0], in[1]); },
                    {mmtest::randn({7, 6}, 1), mmtest::randu({7, 6}, 2, 0.0f, 0.3f)});
}

TEST_CASE("hard-label cross-entropy equals soft CE on one-hot targets and rejects bad labels",
          "[cpu][loss]") {
  Tensor z = mmtest::randn({7, 5}, 3);
  Tensor y = Tensor::from_ints({0, 4, 2, 2, 1, 3, 0}, {7});
  Tensor oh = one_hot(y, 5);
  std::vector<float> ohv = oh.to_vector();
  for (int i = 0; i < 7; ++i)
    for (int k = 0; k < 5; ++k) REQUIRE(ohv[i * 5 + k] == (k == y.to_int_vector()[i] ? 1.0f : 0.0f));
  REQUIRE(cross_entropy(z, y).item() == cross_entropy_soft(z, oh).item());
  mmtest::gradcheck([y](const std::vector<Tensor>& in) { return cross_entropy(in[0], y); }, {z});
  REQUIRE_THROWS_WITH(cross_entropy(z, Tensor::from_ints({0, 5, 0, 0, 0, 0, 0}, {7})),
                      Catch::Contains("label 5 at row 1 is outside [0, 5)"));
  REQUIRE_THROWS_WITH(cross_entropy(z, Tensor::from_ints({0, 1}, {2})), Catch::Contains("expected labels (7)"));
}

TEST_CASE("gather_rows takes the true-class entry and scatters its gradient back", "[cpu][loss]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = Tensor::from_ints({2, 0}, {2});
  REQUIRE(gather_rows(x, y).to_vector() == std::vector<float>{3, 4});
  Tensor p = mmtest::param(x);
  sum(mul_scalar(gather_rows(p, y), 2.0f)).backward();
  REQUIRE(p.grad().to_vector() == std::vector<float>{0, 0, 2, 2, 0, 0});
}

TEST_CASE("mse_loss matches its definition and gradient", "[cpu][loss]") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}), b = Tensor::from_vector({0, 4, 3}, {3});
  REQUIRE(std::fabs(mse_loss(a, b).item() - 5.0 / 3.0) < 1e-6);
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); },
                    {mmtest::randn({7, 3}, 4), mmtest::randn({7, 3}, 5)});
}
