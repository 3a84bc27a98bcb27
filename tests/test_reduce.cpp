// Reductions: sum / mean over any dims, max / argmax, with gradients.
#include "tests/testing.h"

using namespace mm;

TEST_CASE("sum and mean over dims match double references", "[cpu][reduce]") {
  Tensor x = mmtest::randn({7, 129, 3}, 1);
  std::vector<float> v = x.to_vector();
  std::vector<double> s1(7 * 3, 0.0), all(1, 0.0);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 129; ++j)
      for (int k = 0; k < 3; ++k) {
        s1[i * 3 + k] += v[(i * 129 + j) * 3 + k];
        all[0] += v[(i * 129 + j) * 3 + k];
      }
  Tensor s = sum(x, {1});
  REQUIRE(s.shape() == Shape{7, 3});
  mmtest::require_close(s.to_vector(), s1, 1e-5, 1e-5);
  REQUIRE(sum(x, {1}, true).shape() == Shape{7, 1, 3});
  mmtest::require_close(sum(x).to_vector(), all, 1e-5, 1e-4);
  REQUIRE(sum(x).dim() == 0);
  std::vector<double> m1;
  for (double d : s1) m1.push_back(d / 129);
  mmtest::require_close(mean(x, {-2}).to_vector(), m1, 1e-5, 1e-6);
  REQUIRE(sum(x, {0, 2}).shape() == Shape{129});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}); }, {mmtest::randn({7, 1, 3}, 2)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {1}, true); }, {mmtest::randn({3, 7}, 3)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return mean(in[0]); }, {mmtest::randn({1}, 4)});
}

TEST_CASE("max picks the first maximum and routes the gradient to it", "[cpu][reduce]") {
  Tensor x = Tensor::from_vector({1, 5, 5, 2, 0, -1, -3, 4}, {2, 4});
  Tensor m = max(x, 1);
  REQUIRE(m.to_vector() == std::vector<float>{5, 4});
  REQUIRE(argmax(x, 1).to_int_vector() == std::vector<int64_t>{1, 3});
  REQUIRE(argmax(x, 0).to_int_vector() == std::vector<int64_t>{0, 0, 0, 1});
  Tensor p = mmtest::param(x);
  sum(max(p, 1)).backward();
  REQUIRE(p.grad().to_vector() == std::vector<float>{0, 1, 0, 0, 0, 0, 0, 1});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 0, true); }, {mmtest::randn({7, 129}, 5)}, 1e-3);
}
