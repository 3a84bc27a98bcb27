// concat and dropout.
#include "tests/testing.h"

using namespace mm;

TEST_CASE("concat joins along any dimension and splits the gradient", "[cpu][concat]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}), b = Tensor::from_vector({5, 6}, {2, 1});
  REQUIRE(concat({a, b}, 1).to_vector() == std::vector<float>{1, 2, 5, 3, 4, 6});
  REQUIRE(concat({a, b.transpose(0, 1)}, 0).to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[2]}, 1); },
                    {mmtest::randn({7, 1}, 1), mmtest::randn({7, 5}, 2), mmtest::randn({7, 3}, 3)});
  REQUIRE_THROWS_WITH(concat({a, Tensor::ones({3, 1})}, 1), Catch::Contains("outside dimension 1"));
}

TEST_CASE("dropout keeps the expectation, is seeded, and is the identity in eval", "[cpu][dropout]") {
  Tensor x = Tensor::ones({20000});
  Generator g1(3), g2(3);
  Tensor y1 = dropout(x, 0.25f, true, g1), y2 = dropout(x, 0.25f, true, g2);
  REQUIRE(y1.to_vector() == y2.to_vector());
  double s = 0, zeros = 0;
  for (float v : y1.to_vector()) {
    s += v;
    zeros += v == 0.0f;
    REQUIRE((v == 0.0f || std::fabs(v - 1.0f / 0.75f) < 1e-6));
  }
  REQUIRE(std::fabs(s / 20000 - 1.0) < 0.02);
  REQUIRE(std::fabs(zeros / 20000 - 0.25) < 0.01);
  Generator g3(3);
  REQUIRE(dropout(x, 0.25f, false, g3).same(x));
  Tensor p = mmtest::param(Tensor::ones({100}));
  Generator g4(9);
  Tensor y = dropout(p, 0.5f, true, g4);
  sum(y).backward();
  REQUIRE(p.grad().to_vector() == y.detach().to_vector());  // grad = mask / (1-p) = y for x = 1
}
