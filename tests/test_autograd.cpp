// The tape: topological backward, accumulation, no-grad, detach, late parameters.
#include "tests/testing.h"

using namespace mm;

TEST_CASE("backward through a diamond sums both paths", "[cpu][autograd]") {
  Tensor x = mmtest::param(Tensor::from_vector({1, 2, 3}, {3}));
  Tensor y = mul(x, x);          // x^2
  Tensor z = add(y, mul_scalar(x, 3.0f));  // x^2 + 3x
  Tensor L = sum(mul(z, y));     // (x^2+3x) x^2 -> d/dx = 4x^3 + 9x^2
  L.backward();
  mmtest::require_close(x.grad().to_vector(), {4 + 9, 32 + 36, 108 + 81}, 1e-6, 1e-5);
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[cpu][autograd]") {
  Tensor w = mmtest::param(Tensor::from_vector({2}, {1}));
  sum(mul_scalar(w, 3.0f)).backward();
  sum(mul_scalar(w, 3.0f)).backward();
  REQUIRE(w.grad().item() == 6.0f);
  w.zero_grad();
  REQUIRE_FALSE(w.grad().defined());
}

TEST_CASE("no-grad scope and detach record nothing", "[cpu][autograd]") {
  Tensor w = mmtest::param(Tensor::ones({2}));
  {
    NoGradGuard ng;
    Tensor y = mul(w, w);
    REQUIRE_FALSE(y.requires_grad());
  }
  Tensor d = w.detach();
  REQUIRE_FALSE(d.requires_grad());
  Tensor y = add(mul(w, d), d);
  sum(y).backward();  // d is a constant: dy/dw = d = 1
  REQUIRE(w.grad().to_vector() == std::vector<float>{1, 1});
  REQUIRE_THROWS_WITH(sum(d).backward(), Catch::Contains("does not require a gradient"));
}

TEST_CASE("a parameter created after earlier steps joins later graphs", "[cpu][autograd]") {
  Tensor a = mmtest::param(Tensor::full({3}, 1.0f));
  sum(mul(a, a)).backward();
  Tensor b = mmtest::param(Tensor::full({3}, 2.0f));  // grown mid-training
  a.zero_grad();
  sum(mul(a, b)).backward();
  REQUIRE(b.grad().to_vector() == std::vector<float>{1, 1, 1});
  REQUIRE(a.grad().to_vector() == std::vector<float>{2, 2, 2});
}

TEST_CASE("gradients flow through views", "[cpu][autograd]") {
  mmtest::gradcheck([](const std::vector<Tensor>& in) {
    Tensor t = in[0].reshape({2, 3, 2}).permute({2, 0, 1}).slice(2, 1, 3);
    return mul(t, t);
  }, {mmtest::randn({12}, 1)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) {
    return in[0].transpose(0, 1).contiguous().reshape({-1});
  }, {mmtest::randn({3, 5}, 2)});
}
