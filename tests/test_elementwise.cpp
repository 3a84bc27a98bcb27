// Elementwise ops: forward against double references, backward against finite differences,
// odd shapes (1, 7, 129) and broadcasting.
#include <functional>

#include "tests/testing.h"

using namespace mm;

namespace {
std::vector<double> ref_map(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> r;
  for (float v : x.to_vector()) r.push_back(f(v));
  return r;
}
}  // namespace

TEST_CASE("unary ops match double references and finite differences", "[cpu][elementwise]") {
  for (int64_t n : {1, 7, 129}) {
    Tensor x = mmtest::randn({n}, 10 + n);
    Tensor xp = mmtest::randu({n}, 20 + n, 0.5f, 2.0f);  // positive, for log/sqrt/pow
    mmtest::require_close(relu(x).to_vector(), ref_map(x, [](double v) { return v > 0 ? v : 0; }), 0, 0);
    mmtest::require_close(sigmoid(x).to_vector(), ref_map(x, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-6, 1e-7);
    mmtest::require_close(tanh(x).to_vector(), ref_map(x, [](double v) { return std::tanh(v); }), 1e-6, 1e-7);
    mmtest::require_close(exp(x).to_vector(), ref_map(x, [](double v) { return std::exp(v); }), 1e-6, 1e-7);
    mmtest::require_close(log(xp).to_vector(), ref_map(xp, [](double v) { return std::log(v); }), 1e-6, 1e-7);
    mmtest::require_close(sqrt(xp).to_vector(), ref_map(xp, [](double v) { return std::sqrt(v); }), 1e-6, 1e-7);
    mmtest::require_close(abs(x).to_vector(), ref_map(x, [](double v) { return std::fabs(v); }), 0, 0);
    mmtest::require_close(pow_scalar(xp, 1.5f).to_vector(), ref_map(xp, [](double v) { return std::pow(v, 1.5); }), 1e-6, 1e-7);
    mmtest::require_close((x * 3.0f + 1.0f).to_vector(), ref_map(x, [](double v) { return 3 * v + 1; }), 1e-6, 1e-7);

    for (auto f : std::vector<Tensor (*)(const Tensor&)>{sigmoid, tanh, exp, neg})
      mmtest::gradcheck([f](const std::vector<Tensor>& in) { return f(in[0]); }, {x});
    for (auto f : std::vector<Tensor (*)(const Tensor&)>{log, sqrt})
      mmtest::gradcheck([f](const std::vector<Tensor>& in) { return f(in[0]); }, {xp});
    mmtest::gradcheck([](const std::vector<Tensor>& in) { return pow_scalar(in[0], 2.5f); }, {xp});
    // relu and abs: keep away from the kink at 0 so finite differences are valid.
    Tensor away = add(x, mul_scalar(sigmoid(mul_scalar(x, 100.0f)), 0.2f)).detach();
    mmtest::gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {add_scalar(away, -0.1f).detach()}, 1e-3);
  }
}

TEST_CASE("binary ops broadcast like NumPy, forward and backward", "[cpu][elementwise]") {
  Tensor a = mmtest::randn({7, 1, 5}, 1);
  Tensor b = mmtest::randu({3, 1}, 2, 0.5f, 1.5f);
  Tensor c = div(add(mul(a, b), sub(a, b)), b);  // (7,3,5)
  REQUIRE(c.shape() == Shape{7, 3, 5});
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  std::vector<double> want;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 5; ++k) {
        double x = av[i * 5 + k], y = bv[j];
        want.push_back((x * y + (x - y)) / y);
      }
  mmtest::require_close(c.to_vector(), want, 1e-5, 1e-6);
  mmtest::gradcheck([](const std::vector<Tensor>& in) {
    return div(add(mul(in[0], in[1]), sub(in[0], in[1])), in[1]);
  }, {a, b});
  // Bias-style broadcast over rows, and scalars.
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1]); },
                    {mmtest::randn({129, 7}, 3), mmtest::randn({7}, 4)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); },
                    {mmtest::randn({1}, 5), mmtest::randn({7}, 6)});
  REQUIRE_THROWS_WITH(add(Tensor::ones({2, 3}), Tensor::ones({4})),
                      Catch::Contains("cannot be broadcast"));
}
