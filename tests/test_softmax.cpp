// softmax and log_softmax: double references, gradients, any dimension.
#include <cmath>

#include "tests/testing.h"

using namespace mm;

namespace {
std::vector<double> ref_softmax_rows(const std::vector<float>& x, int64_t K, bool log) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / K; ++r) {
    double mx = -1e300, s = 0;
    for (int64_t k = 0; k < K; ++k) mx = std::max(mx, static_cast<double>(x[r * K + k]));
    for (int64_t k = 0; k < K; ++k) s += std::exp(x[r * K + k] - mx);
    for (int64_t k = 0; k < K; ++k)
      y[r * K + k] = log ? x[r * K + k] - mx - std::log(s) : std::exp(x[r * K + k] - mx) / s;
  }
  return y;
}
}  // namespace

TEST_CASE("softmax and log_softmax rows match double references on odd shapes", "[cpu][softmax]") {
  for (int64_t K : {1, 6, 7, 31, 129, 309}) {
    for (int64_t R : {1, 7}) {
      Tensor x = mmtest::randn({R, K}, R * 1000 + K, 4.0f);
      mmtest::require_close(softmax(x).to_vector(), ref_softmax_rows(x.to_vector(), K, false), 1e-5, 1e-7);
      mmtest::require_close(log_softmax(x).to_vector(), ref_softmax_rows(x.to_vector(), K, true), 1e-5, 1e-5);
    }
  }
  // Large logits must not overflow.
  Tensor big = Tensor::from_vector({1000, 0, -1000}, {1, 3});
  std::vector<float> p = softmax(big).to_vector();
  REQUIRE(p[0] == 1.0f);
  REQUIRE(std::isfinite(log_softmax(big).to_vector()[2]));
}

TEST_CASE("softmax over a middle dimension equals softmax of the permuted rows", "[cpu][softmax]") {
  Tensor x = mmtest::randn({3, 5, 2}, 4);
  Tensor a = softmax(x, 1);
  Tensor b = softmax(x.permute({0, 2, 1}), -1).permute({0, 2, 1});
  mmtest::require_close(a, b, 1e-6, 1e-7);
  std::vector<float> v = a.to_vector();
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 2; ++k) {
      double s = 0;
      for (int j = 0; j < 5; ++j) s += v[(i * 5 + j) * 2 + k];
      REQUIRE(std::fabs(s - 1.0) < 1e-6);
    }
}

TEST_CASE("softmax and log_softmax gradients match finite differences", "[cpu][softmax]") {
  for (int64_t K : {1, 7, 31}) {
    mmtest::gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {mmtest::randn({7, K}, K)});
    mmtest::gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {mmtest::randn({7, K}, K + 1)});
  }
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0], 0); }, {mmtest::randn({5, 3}, 9)});
}
