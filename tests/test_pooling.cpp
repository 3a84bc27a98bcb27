// max_pool2d and adaptive_avg_pool2d: forward against direct references, ties, -inf padding,
// NaN, hand-computed gradients and finite differences.
#include <cmath>
#include <limits>
#include <tuple>

#include "tests/testing.h"

using namespace mm;

namespace {

// Direct max pooling of one (H,W) plane: the first maximum in row-major window order;
// out-of-bounds positions are skipped (equivalent to -inf padding).
void ref_max_pool(const float* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t p,
                  std::vector<double>& y, std::vector<int64_t>& idx) {
  const int64_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
  for (int64_t oh = 0; oh < Ho; ++oh)
    for (int64_t ow = 0; ow < Wo; ++ow) {
      double best = -INFINITY;
      int64_t bi = -1;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t h = oh * s - p + i, w = ow * s - p + j;
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          if (bi < 0 || x[h * W + w] > best) {
            best = x[h * W + w];
            bi = h * W + w;
          }
        }
      y.push_back(best);
      idx.push_back(bi);
    }
}

// Values that are all distinct and at least 0.1 apart, so finite differences of size 1e-2
// never move an argmax.
Tensor distinct_values(const Shape& shape, int64_t mult) {
  const int64_t n = numel_of(shape);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.1f * static_cast<float>((i * mult) % n) - 0.05f * n;
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST_CASE("max_pool2d forward and indices match a direct reference on odd shapes",
          "[cpu][pooling]") {
  int cases = 0;
  for (auto [B, C, H, W] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {1, 1, 1, 1}, {7, 3, 7, 5}, {2, 7, 13, 13}})
    for (int64_t k : {1, 2, 3, 7})
      for (int64_t s : {1, 2, 3})
        for (int64_t p : {0, 1, 3}) {
          if (2 * p > k || H + 2 * p < k || W + 2 * p < k) continue;
          INFO("B=" << B << " C=" << C << " H=" << H << " W=" << W << " k=" << k << " s=" << s
                    << " p=" << p);
          // Rounded values create ties inside windows.
          Tensor x = mul_scalar(mmtest::randn({B, C, H, W}, 10 + cases), 2.0f);
          std::vector<float> xv = x.to_vector();
          for (float& v : xv) v = std::round(v);
          x = Tensor::from_vector(xv, x.shape());
          Tensor y = max_pool2d(x, k, s, p);
          std::vector<double> want;
          std::vector<int64_t> want_idx;
          for (int64_t pl = 0; pl < B * C; ++pl)
            ref_max_pool(xv.data() + pl * H * W, H, W, k, s, p, want, want_idx);
          mmtest::require_close(y.to_vector(), want, 0, 0, "y");
          // the gradient lands on the reference argmax of each window
          Tensor xp = mmtest::param(x);
          Tensor gy = mmtest::randn(y.shape(), 5);
          max_pool2d(xp, k, s, p).backward(gy);
          std::vector<double> gx(xv.size(), 0.0);
          std::vector<float> gv = gy.to_vector();
          const int64_t per_plane = y.size(2) * y.size(3);
          for (size_t j = 0; j < want_idx.size(); ++j)
            gx[(j / per_plane) * H * W + want_idx[j]] += gv[j];
          mmtest::require_close(xp.grad().to_vector(), gx, 1e-6, 1e-6, "gx");
          ++cases;
        }
  REQUIRE(cases > 40);
}

TEST_CASE("max_pool2d ties go to the first element and overlapping windows add up",
          "[cpu][pooling]") {
  // Constant 4x4 plane, 2x2 windows, stride 2: each window's first element (row-major) wins.
  Tensor x = mmtest::param(Tensor::ones({1, 1, 4, 4}));
  Tensor y = max_pool2d(x, 2, 2);
  y.backward(Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}));
  REQUIRE(x.grad().to_vector() ==
          std::vector<float>{1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0});

  // 3x3 windows at stride 1 over a 4x4 plane whose maximum (9) is at (1,1): it wins all four
  // windows, so its gradient is the sum of the four output gradients.
  Tensor x2 = mmtest::param(Tensor::from_vector({0, 1, 2, 3, 4, 9, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6},
                                                {1, 1, 4, 4}));
  Tensor y2 = max_pool2d(x2, 3, 1);
  REQUIRE(y2.to_vector() == std::vector<float>{9, 9, 9, 9});
  y2.backward(Tensor::from_vector({1, 10, 100, 1000}, {1, 1, 2, 2}));
  std::vector<float> g = x2.grad().to_vector();
  REQUIRE(g[5] == 1111.0f);
  float rest = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (i != 5) rest += std::fabs(g[i]);
  REQUIRE(rest == 0.0f);
}

TEST_CASE("max_pool2d pads with -inf, not zero", "[cpu][pooling]") {
  // All-negative 3x3 input, 3x3 windows, padding 1: every output is a real (negative) input.
  Tensor x = Tensor::from_vector({-9, -8, -7, -6, -5, -4, -3, -2, -1}, {1, 1, 3, 3});
  Tensor y = max_pool2d(x, 3, 1, 1);
  REQUIRE(y.to_vector() == std::vector<float>{-5, -4, -4, -2, -1, -1, -2, -1, -1});
  // a window whose only real values are -inf still picks a real position (its first one)
  const float ninf = -std::numeric_limits<float>::infinity();
  Tensor x2 = mmtest::param(Tensor::full({1, 1, 2, 2}, ninf));
  Tensor y2 = max_pool2d(x2, 2, 2, 1);
  REQUIRE(y2.shape() == Shape{1, 1, 2, 2});
  for (float v : y2.to_vector()) REQUIRE(v == ninf);
  y2.backward(Tensor::ones({1, 1, 2, 2}));
  REQUIRE(x2.grad().to_vector() == std::vector<float>{1, 1, 1, 1});
}

TEST_CASE("max_pool2d propagates NaN", "[cpu][pooling]") {
  Tensor x = Tensor::from_vector({1, NAN, 3, 4}, {1, 1, 2, 2});
  std::vector<float> y = max_pool2d(x, 2, 2).to_vector();
  REQUIRE(y.size() == 1);
  REQUIRE(std::isnan(y[0]));
}

TEST_CASE("max_pool2d gradients match finite differences", "[cpu][pooling]") {
  auto f = [](int k, int s, int p) {
    return [k, s, p](const std::vector<Tensor>& in) { return max_pool2d(in[0], k, s, p); };
  };
  mmtest::gradcheck(f(3, 2, 1), {distinct_values({2, 2, 7, 5}, 37)});
  mmtest::gradcheck(f(2, 1, 0), {distinct_values({1, 3, 4, 6}, 29)});
}

TEST_CASE("max_pool2d rejects bad arguments", "[cpu][pooling]") {
  Tensor x = Tensor::ones({1, 1, 5, 5});
  REQUIRE_THROWS_WITH(max_pool2d(x, 2, 1, 2), Catch::Contains("padding must be in [0, kernel/2]"));
  REQUIRE_THROWS_WITH(max_pool2d(x, 0, 1, 0), Catch::Contains("kernel must be >= 1"));
  REQUIRE_THROWS_WITH(max_pool2d(x, 7, 1, 0), Catch::Contains("larger than the padded input"));
  REQUIRE_THROWS_WITH(max_pool2d(Tensor::ones({5, 5}), 2, 2, 0), Catch::Contains("(B,C,H,W)"));
}

TEST_CASE("adaptive_avg_pool2d uses floor/ceil bins (hand-computed)", "[cpu][pooling]") {
  // Length 5 into 3 bins: [0,2), [1,4), [3,5) -- neighbouring bins overlap.
  Tensor x = mmtest::param(Tensor::from_vector({1, 2, 3, 4, 5}, {1, 1, 1, 5}));
  Tensor y = adaptive_avg_pool2d(x, 1, 3);
  mmtest::require_close(y.to_vector(), {1.5, 3.0, 4.5}, 1e-7, 1e-7, "y");
  y.backward(Tensor::ones({1, 1, 1, 3}));
  mmtest::require_close(x.grad().to_vector(),
                        {1.0 / 2, 1.0 / 2 + 1.0 / 3, 1.0 / 3, 1.0 / 3 + 1.0 / 2, 1.0 / 2}, 1e-6,
                        1e-7, "gx");
}

TEST_CASE("adaptive_avg_pool2d matches a direct reference, including upsampling and 1x1",
          "[cpu][pooling]") {
  for (auto [H, W, oh, ow] : std::vector<std::tuple<int64_t, int64_t, int, int>>{
           {7, 5, 3, 2}, {13, 13, 4, 3}, {1, 1, 1, 1}, {5, 3, 7, 4}, {9, 4, 1, 1}, {6, 6, 6, 6}}) {
    INFO(H << "x" << W << " -> " << oh << "x" << ow);
    const int64_t B = 2, C = 3;
    Tensor x = mmtest::param(mmtest::randn({B, C, H, W}, H * 10 + W));
    Tensor y = adaptive_avg_pool2d(x, oh, ow);
    REQUIRE(y.shape() == Shape{B, C, oh, ow});
    Tensor gy = mmtest::randn(y.shape(), 3);
    y.backward(gy);
    std::vector<float> xv = x.to_vector(), gv = gy.to_vector();
    std::vector<double> want, gx(xv.size(), 0.0);
    for (int64_t pl = 0; pl < B * C; ++pl)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          // bins written with floating-point floor/ceil, independently of the kernel's integer form
          const int64_t hs = static_cast<int64_t>(std::floor(double(i) * H / oh));
          const int64_t he = static_cast<int64_t>(std::ceil(double(i + 1) * H / oh));
          const int64_t ws = static_cast<int64_t>(std::floor(double(j) * W / ow));
          const int64_t we = static_cast<int64_t>(std::ceil(double(j + 1) * W / ow));
          const double area = double((he - hs) * (we - ws));
          double s = 0;
          for (int64_t h = hs; h < he; ++h)
            for (int64_t w = ws; w < we; ++w) s += xv[pl * H * W + h * W + w];
          want.push_back(s / area);
          const double g = gv[(pl * oh + i) * ow + j];
          for (int64_t h = hs; h < he; ++h)
            for (int64_t w = ws; w < we; ++w) gx[pl * H * W + h * W + w] += g / area;
        }
    mmtest::require_close(y.to_vector(), want, 1e-6, 1e-6, "y");
    mmtest::require_close(x.grad().to_vector(), gx, 1e-5, 1e-6, "gx");
  }
}

TEST_CASE("adaptive_avg_pool2d gradients match finite differences", "[cpu][pooling]") {
  mmtest::gradcheck([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 3, 2); },
                    {mmtest::randn({2, 2, 7, 5}, 1)});
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(Tensor::ones({1, 1, 3, 3}), 0, 1),
                      Catch::Contains("output size must be >= 1"));
}
