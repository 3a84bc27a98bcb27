// matmul and linear against double-precision references and finite differences.
#include "tests/testing.h"

using namespace mm;

namespace {
std::vector<double> ref_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t M,
                               int64_t K, int64_t N) {
  std::vector<double> c(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) c[i * N + j] += static_cast<double>(a[i * K + k]) * b[k * N + j];
  return c;
}
}  // namespace

TEST_CASE("matmul matches a double reference on odd shapes", "[cpu][matmul]") {
  for (auto [M, K, N] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {7, 129, 1}, {129, 7, 129}, {1, 300, 7}}) {
    Tensor a = mmtest::randn({M, K}, M * 7 + K), b = mmtest::randn({K, N}, N * 3 + 1);
    mmtest::require_close(matmul(a, b).to_vector(), ref_matmul(a.to_vector(), b.to_vector(), M, K, N),
                          1e-4, 1e-4);
  }
  Tensor a = mmtest::randn({3, 7, 5}, 1), b = mmtest::randn({3, 5, 2}, 2);
  Tensor c = matmul(a, b);
  REQUIRE(c.shape() == Shape{3, 7, 2});
  for (int64_t i = 0; i < 3; ++i)
    mmtest::require_close(c.slice(0, i, i + 1).to_vector(),
                          ref_matmul(a.slice(0, i, i + 1).to_vector(), b.slice(0, i, i + 1).to_vector(), 7, 5, 2),
                          1e-5, 1e-5);
  REQUIRE_THROWS_WITH(matmul(Tensor::ones({2, 3}), Tensor::ones({2, 3})),
                      Catch::Contains("inner dimensions differ"));
}

TEST_CASE("matmul and linear gradients match finite differences", "[cpu][matmul]") {
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                    {mmtest::randn({7, 5}, 1), mmtest::randn({5, 3}, 2)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                    {mmtest::randn({2, 3, 4}, 3), mmtest::randn({2, 4, 1}, 4)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                    {mmtest::randn({7, 5}, 5), mmtest::randn({3, 5}, 6), mmtest::randn({3}, 7)});
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                    {mmtest::randn({1, 129}, 8), mmtest::randn({6, 129}, 9)});
  // linear == x W^T + b
  Tensor x = mmtest::randn({4, 3}, 10), w = mmtest::randn({2, 3}, 11), bias = mmtest::randn({2}, 12);
  mmtest::require_close(linear(x, w, bias), add(matmul(x, w.transpose(0, 1)), bias), 1e-5, 1e-6);
}
