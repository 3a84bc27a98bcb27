// conv2d forward and backward against a direct double-precision convolution (no im2col), on a
// grid of odd shapes, strides, paddings, kernels and thread counts; gradients also against
// finite differences.
#include <tuple>

#include "engine/parallel.h"
#include "tests/testing.h"

using namespace mm;

namespace {

struct Geom {
  int64_t B, C, H, W, O, k, s, p;
  int64_t Ho() const { return (H + 2 * p - k) / s + 1; }
  int64_t Wo() const { return (W + 2 * p - k) / s + 1; }
};

// Direct convolution in double. Also returns, per output element, the sum of |terms| (a bound
// scale for float rounding: a float dot product of these terms errs by a small multiple of
// eps * sum|terms|).
struct Ref {
  std::vector<double> y, y_abs, gx, gx_abs, gw, gw_abs, gb, gb_abs;
};

Ref direct_conv(const Geom& g, const std::vector<float>& x, const std::vector<float>& w,
                const std::vector<float>* bias, const std::vector<float>& gy) {
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  Ref r;
  r.y.assign(g.B * g.O * Ho * Wo, 0.0);
  r.y_abs = r.y;
  r.gx.assign(x.size(), 0.0);
  r.gx_abs = r.gx;
  r.gw.assign(w.size(), 0.0);
  r.gw_abs = r.gw;
  r.gb.assign(g.O, 0.0);
  r.gb_abs = r.gb;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t yi = ((b * g.O + o) * Ho + oh) * Wo + ow;
          double acc = bias ? (*bias)[o] : 0.0, abs_acc = bias ? std::fabs((*bias)[o]) : 0.0;
          const double go = gy[yi];
          r.gb[o] += go;
          r.gb_abs[o] += std::fabs(go);
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t ki = 0; ki < g.k; ++ki)
              for (int64_t kj = 0; kj < g.k; ++kj) {
                const int64_t ih = oh * g.s - g.p + ki, iw = ow * g.s - g.p + kj;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                const int64_t xi = ((b * g.C + c) * g.H + ih) * g.W + iw;
                const int64_t wi = ((o * g.C + c) * g.k + ki) * g.k + kj;
                acc += static_cast<double>(x[xi]) * w[wi];
                abs_acc += std::fabs(static_cast<double>(x[xi]) * w[wi]);
                r.gx[xi] += go * w[wi];
                r.gx_abs[xi] += std::fabs(go * w[wi]);
                r.gw[wi] += go * x[xi];
                r.gw_abs[wi] += std::fabs(go * x[xi]);
              }
          r.y[yi] = acc;
          r.y_abs[yi] = abs_acc;
        }
  return r;
}

// |got - want| <= 1e-5 * sum|terms| + 1e-6. Float rounding stays far below this, while a
// missing or misplaced term (of size ~ sum|terms| / count) does not, for the sizes tested here.
void require_conv_close(const std::vector<float>& got, const std::vector<double>& want,
                        const std::vector<double>& abs_sum, const std::string& what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    if (err > 1e-5 * abs_sum[i] + 1e-6)
      FAIL(what << " element " << i << ": got " << got[i] << ", want " << want[i]
                << " (sum|terms| " << abs_sum[i] << ")");
  }
}

// Runs conv2d forward + backward (with gy) and checks everything against direct_conv.
void check_against_direct(const Geom& g, bool with_bias, uint64_t seed) {
  Tensor x = mmtest::param(mmtest::randn({g.B, g.C, g.H, g.W}, seed));
  Tensor w = mmtest::param(mmtest::randn({g.O, g.C, g.k, g.k}, seed + 1, 0.5f));
  Tensor bias = with_bias ? mmtest::param(mmtest::randn({g.O}, seed + 2)) : Tensor();
  Tensor y = conv2d(x, w, bias, static_cast<int>(g.s), static_cast<int>(g.p));
  REQUIRE(y.shape() == Shape{g.B, g.O, g.Ho(), g.Wo()});
  Tensor gy = mmtest::randn(y.shape(), seed + 3);
  y.backward(gy);
  std::vector<float> bv = with_bias ? bias.to_vector() : std::vector<float>();
  Ref r = direct_conv(g, x.to_vector(), w.to_vector(), with_bias ? &bv : nullptr, gy.to_vector());
  require_conv_close(y.to_vector(), r.y, r.y_abs, "y");
  require_conv_close(x.grad().to_vector(), r.gx, r.gx_abs, "gx");
  require_conv_close(w.grad().to_vector(), r.gw, r.gw_abs, "gw");
  if (with_bias) require_conv_close(bias.grad().to_vector(), r.gb, r.gb_abs, "gb");
}

// Restores the thread count a test changed.
struct ThreadScope {
  int prev = num_threads();
  explicit ThreadScope(int n) { set_num_threads(n); }
  ~ThreadScope() { set_num_threads(prev); }
};

}  // namespace

TEST_CASE("conv2d forward and backward match a direct double convolution on odd shapes",
          "[cpu][conv2d]") {
  int cases = 0;
  for (int64_t B : {1, 7})
    for (int64_t C : {1, 3, 7})
      for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 5}, {13, 13}})
        for (int64_t s : {1, 2})
          for (int64_t p : {0, 1, 3})
            for (int64_t k : {1, 3, 7}) {
              if (H + 2 * p < k || W + 2 * p < k) continue;
              Geom g{B, C, H, W, /*O=*/5, k, s, p};
              INFO("B=" << B << " C=" << C << " H=" << H << " W=" << W << " s=" << s
                        << " p=" << p << " k=" << k);
              check_against_direct(g, (cases % 2) == 0, 100 + cases);
              ++cases;
            }
  REQUIRE(cases > 200);  // the grid is not accidentally empty
}

TEST_CASE("conv2d matches the direct convolution with 1, 2 and 3 threads", "[cpu][conv2d]") {
  // B = 2 and 3 put the batch-parallel path and the serial path (B < threads) on both sides.
  for (int threads : {1, 2, 3}) {
    ThreadScope ts(threads);
    INFO("threads " << threads);
    check_against_direct(Geom{2, 3, 9, 6, 4, 3, 1, 1}, true, 11);
    check_against_direct(Geom{3, 2, 8, 8, 3, 3, 2, 1}, false, 12);
    check_against_direct(Geom{3, 4, 5, 7, 6, 1, 1, 0}, true, 13);  // 1x1 without im2col
  }
}

TEST_CASE("conv2d with many samples per thread (several multi-sample GEMM chunks) is exact",
          "[cpu][conv2d]") {
  // P = 36 output pixels per sample: dozens of samples share one GEMM, in several chunks.
  check_against_direct(Geom{64, 4, 6, 6, 6, 3, 1, 1}, true, 21);
  check_against_direct(Geom{50, 3, 9, 4, 5, 3, 2, 1}, false, 22);
  check_against_direct(Geom{33, 5, 3, 3, 2, 1, 1, 0}, true, 23);
}

TEST_CASE("conv2d with stride 2 on wide rows (the vectorised row kernels) is exact",
          "[cpu][conv2d]") {
  // Rows of >= 8 outputs; k 1 without padding reads up to the very last input element.
  check_against_direct(Geom{3, 2, 7, 37, 4, 1, 2, 0}, true, 31);
  check_against_direct(Geom{2, 3, 11, 40, 5, 3, 2, 1}, false, 32);
  check_against_direct(Geom{2, 2, 9, 33, 3, 2, 2, 0}, true, 33);
  check_against_direct(Geom{3, 2, 6, 20, 3, 7, 2, 3}, false, 34);
  check_against_direct(Geom{1, 1, 5, 16, 2, 1, 2, 0}, true, 35);
}

TEST_CASE("conv2d gradients match finite differences", "[cpu][conv2d]") {
  auto f = [](int s, int p) {
    return [s, p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], s, p); };
  };
  mmtest::gradcheck(f(1, 1), {mmtest::randn({2, 2, 5, 4}, 1), mmtest::randn({3, 2, 3, 3}, 2),
                              mmtest::randn({3}, 3)});
  mmtest::gradcheck(f(2, 0), {mmtest::randn({1, 3, 6, 7}, 4), mmtest::randn({2, 3, 3, 3}, 5),
                              mmtest::randn({2}, 6)});
  mmtest::gradcheck(f(1, 0), {mmtest::randn({3, 2, 3, 2}, 7), mmtest::randn({4, 2, 1, 1}, 8),
                              mmtest::randn({4}, 9)});
}

TEST_CASE("conv2d is bit-identical run to run with a fixed thread count", "[cpu][conv2d]") {
  ThreadScope ts(2);
  auto run = [] {
    Tensor x = mmtest::param(mmtest::randn({16, 8, 12, 10}, 5));
    Tensor w = mmtest::param(mmtest::randn({12, 8, 3, 3}, 6));
    Tensor y = conv2d(x, w, Tensor(), 1, 1);
    y.backward(mmtest::randn(y.shape(), 7));
    return std::make_tuple(y.to_vector(), x.grad().to_vector(), w.grad().to_vector());
  };
  auto a = run(), b = run();
  REQUIRE(std::get<0>(a) == std::get<0>(b));
  REQUIRE(std::get<1>(a) == std::get<1>(b));
  REQUIRE(std::get<2>(a) == std::get<2>(b));
}

TEST_CASE("conv2d rejects bad shapes with actionable messages", "[cpu][conv2d]") {
  Tensor x = Tensor::ones({2, 3, 5, 5});
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::ones({4, 2, 3, 3}), Tensor(), 1, 0),
                      Catch::Contains("input has 3 channels"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::ones({4, 3, 3, 2}), Tensor(), 1, 0),
                      Catch::Contains("only square kernels"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::ones({4, 3, 7, 7}), Tensor(), 1, 0),
                      Catch::Contains("larger than the padded input"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::ones({4, 3, 3, 3}), Tensor::ones({5}), 1, 0),
                      Catch::Contains("does not match 4 output channels"));
  REQUIRE_THROWS_WITH(conv2d(x, Tensor::ones({4, 3, 3, 3}), Tensor(), 0, 0),
                      Catch::Contains("stride must be >= 1"));
  REQUIRE_THROWS_WITH(conv2d(Tensor::ones({3, 5, 5}), Tensor::ones({4, 3, 3, 3}), Tensor(), 1, 0),
                      Catch::Contains("expected input (B,C,H,W)"));
}
