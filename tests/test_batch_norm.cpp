// batch_norm2d: hand-computed statistics and running-buffer updates, forward against a double
// reference, eval mode, gradients (finite differences and the double-precision formula), and
// the op with its ReLU and residual add against the separate ops.
#include <cmath>

#include "tests/bn_act_reference.h"
#include "tests/testing.h"

using namespace mm;

namespace {

struct RefBN {
  std::vector<double> y, mean, var_biased, var_unbiased;
};

// Training-mode batch norm in double: statistics over (B,H,W) per channel.
RefBN ref_bn_train(const std::vector<float>& x, const std::vector<float>& gamma,
                   const std::vector<float>& beta, int64_t B, int64_t C, int64_t HW, double eps) {
  RefBN r;
  r.y.resize(x.size());
  const double n = static_cast<double>(B * HW);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) s += x[(b * C + c) * HW + i];
    const double mean = s / n;
    double ss = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = x[(b * C + c) * HW + i] - mean;
        ss += d * d;
      }
    r.mean.push_back(mean);
    r.var_biased.push_back(ss / n);
    r.var_unbiased.push_back(ss / (n - 1));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        r.y[j] = (x[j] - mean) / std::sqrt(ss / n + eps) * gamma[c] + beta[c];
      }
  }
  return r;
}

}  // namespace

TEST_CASE("batch_norm2d training: hand-computed output and running statistics",
          "[cpu][batch_norm]") {
  // One channel, values 1,2,3,4: mean 2.5, biased var 1.25, unbiased var 5/3.
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 1, 1, 2});
  Tensor rm = Tensor::zeros({1}), rv = Tensor::ones({1});
  Tensor y = batch_norm2d(x, Tensor::full({1}, 2.0f), Tensor::full({1}, 0.5f), rm, rv, true, 0.1f,
                          1e-5f);
  const double inv = 1.0 / std::sqrt(1.25 + 1e-5);
  mmtest::require_close(y.to_vector(),
                        {-1.5 * inv * 2 + 0.5, -0.5 * inv * 2 + 0.5, 0.5 * inv * 2 + 0.5,
                         1.5 * inv * 2 + 0.5},
                        1e-6, 1e-6, "y");
  // running = 0.9 * running + 0.1 * batch statistic (unbiased variance)
  mmtest::require_close(rm.to_vector(), {0.25}, 1e-6, 1e-7, "running_mean");
  mmtest::require_close(rv.to_vector(), {0.9 + 0.1 * 5.0 / 3.0}, 1e-6, 1e-7, "running_var");
  // a second step with another momentum compounds on the updated buffers
  batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.5f, 1e-5f);
  mmtest::require_close(rm.to_vector(), {0.5 * 0.25 + 0.5 * 2.5}, 1e-6, 1e-7, "running_mean 2");
  mmtest::require_close(rv.to_vector(), {0.5 * (0.9 + 0.1 * 5.0 / 3.0) + 0.5 * 5.0 / 3.0}, 1e-6,
                        1e-7, "running_var 2");
}

TEST_CASE("batch_norm2d training forward matches a double reference on odd shapes",
          "[cpu][batch_norm]") {
  for (auto [B, C, H, W] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {1, 3, 7, 5}, {7, 1, 1, 1}, {7, 7, 13, 13}, {2, 16, 65, 32}}) {
    INFO("shape " << B << "x" << C << "x" << H << "x" << W);
    Tensor x = mmtest::randn({B, C, H, W}, B * 100 + C, 3.0f);
    Tensor gamma = mmtest::randn({C}, 5), beta = mmtest::randn({C}, 6);
    Tensor rm = mmtest::randn({C}, 7), rv = mmtest::randu({C}, 8, 0.5f, 2.0f);
    std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
    Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f);
    RefBN r = ref_bn_train(x.to_vector(), gamma.to_vector(), beta.to_vector(), B, C, H * W, 1e-5);
    mmtest::require_close(y.to_vector(), r.y, 1e-5, 1e-5, "y");
    std::vector<double> want_rm(C), want_rv(C);
    for (int64_t c = 0; c < C; ++c) {
      want_rm[c] = 0.9 * rm0[c] + 0.1 * r.mean[c];
      want_rv[c] = 0.9 * rv0[c] + 0.1 * r.var_unbiased[c];
    }
    mmtest::require_close(rm.to_vector(), want_rm, 1e-5, 1e-6, "running_mean");
    mmtest::require_close(rv.to_vector(), want_rv, 1e-5, 1e-6, "running_var");
  }
}

TEST_CASE("batch_norm2d keeps precision when the mean is far larger than the spread",
          "[cpu][batch_norm]") {
  Tensor x = add_scalar(mmtest::randn({4, 2, 9, 9}, 3), 1000.0f);
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor gamma = Tensor::ones({2}), beta = Tensor::zeros({2});
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true);
  RefBN r = ref_bn_train(x.to_vector(), gamma.to_vector(), beta.to_vector(), 4, 2, 81, 1e-5);
  mmtest::require_close(y.to_vector(), r.y, 1e-4, 1e-4, "y");
}

TEST_CASE("batch_norm2d eval mode normalises with the running buffers and leaves them alone",
          "[cpu][batch_norm]") {
  Tensor x = mmtest::randn({3, 2, 4, 5}, 1);
  Tensor gamma = Tensor::from_vector({1.5f, -0.5f}, {2}), beta = Tensor::from_vector({0.1f, 2.0f}, {2});
  Tensor rm = Tensor::from_vector({0.3f, -1.0f}, {2}), rv = Tensor::from_vector({4.0f, 0.25f}, {2});
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, false, 0.1f, 1e-5f);
  std::vector<float> xv = x.to_vector();
  std::vector<double> want(xv.size());
  const double m[2] = {0.3, -1.0}, v[2] = {4.0, 0.25}, g[2] = {1.5, -0.5}, b[2] = {0.1, 2.0};
  for (size_t i = 0; i < xv.size(); ++i) {
    const int64_t c = (i / 20) % 2;
    want[i] = (xv[i] - m[c]) / std::sqrt(v[c] + 1e-5) * g[c] + b[c];
  }
  mmtest::require_close(y.to_vector(), want, 1e-6, 1e-6, "y");
  REQUIRE(rm.to_vector() == std::vector<float>{0.3f, -1.0f});
  REQUIRE(rv.to_vector() == std::vector<float>{4.0f, 0.25f});
  // batch of one single value per channel is fine in eval
  REQUIRE_NOTHROW(batch_norm2d(Tensor::ones({1, 2, 1, 1}), gamma, beta, rm, rv, false));
}

TEST_CASE("batch_norm2d gradients match finite differences in training and eval",
          "[cpu][batch_norm]") {
  for (bool training : {true, false}) {
    INFO("training " << training);
    Tensor rm = Tensor::from_vector({0.2f, -0.1f, 0.4f}, {3});
    Tensor rv = Tensor::from_vector({1.5f, 0.7f, 2.0f}, {3});
    auto f = [&](const std::vector<Tensor>& in) {
      return batch_norm2d(in[0], in[1], in[2], rm, rv, training, 0.1f, 1e-5f);
    };
    mmtest::gradcheck(f, {mmtest::randn({2, 3, 3, 2}, 1), mmtest::randn({3}, 2),
                          mmtest::randn({3}, 3)});
    mmtest::gradcheck(f, {mmtest::randn({5, 3, 1, 1}, 4), mmtest::randn({3}, 5),
                          mmtest::randn({3}, 6)});
  }
}

TEST_CASE("batch_norm2d training backward matches the double-precision formula on a large shape",
          "[cpu][batch_norm]") {
  const int64_t B = 6, C = 5, HW = 11 * 7;
  Tensor x = mmtest::param(mmtest::randn({B, C, 11, 7}, 1, 2.0f));
  Tensor gamma = mmtest::param(mmtest::randn({C}, 2)), beta = mmtest::param(mmtest::randn({C}, 3));
  Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true);
  Tensor gy = mmtest::randn(y.shape(), 4);
  y.backward(gy);
  std::vector<float> xv = x.to_vector(), gv = gy.to_vector(), ga = gamma.to_vector();
  std::vector<double> gx(xv.size()), gg(C), gb(C);
  const double n = static_cast<double>(B * HW);
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) mean += xv[(b * C + c) * HW + i];
    mean /= n;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) var += std::pow(xv[(b * C + c) * HW + i] - mean, 2);
    var /= n;
    const double inv = 1.0 / std::sqrt(var + 1e-5);
    double sg = 0, sgxh = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        sg += gv[j];
        sgxh += gv[j] * (xv[j] - mean) * inv;
      }
    gg[c] = sgxh;
    gb[c] = sg;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        const double xh = (xv[j] - mean) * inv;
        gx[j] = ga[c] * inv * (gv[j] - sg / n - xh * sgxh / n);
      }
  }
  mmtest::require_close(x.grad().to_vector(), gx, 1e-4, 1e-5, "gx");
  mmtest::require_close(gamma.grad().to_vector(), gg, 1e-4, 1e-4, "ggamma");
  mmtest::require_close(beta.grad().to_vector(), gb, 1e-4, 1e-4, "gbeta");
  // sum over (B,H,W) of gx is 0 for every channel: the mean is subtracted
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    std::vector<float> g = x.grad().to_vector();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < HW; ++i) s += g[(b * C + c) * HW + i];
    REQUIRE(std::fabs(s) < 1e-3);
  }
}

TEST_CASE("batch_norm2d rejects bad arguments with actionable messages", "[cpu][batch_norm]") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3}), none_m, none_v;
  REQUIRE_THROWS_WITH(batch_norm2d(Tensor::ones({2, 3, 4, 4}), Tensor::ones({2}), Tensor(), rm, rv, true),
                      Catch::Contains("gamma"));
  REQUIRE_THROWS_WITH(batch_norm2d(Tensor::ones({1, 3, 1, 1}), Tensor(), Tensor(), rm, rv, true),
                      Catch::Contains("more than one value per channel"));
  REQUIRE_THROWS_WITH(batch_norm2d(Tensor::ones({2, 3, 4, 4}), Tensor(), Tensor(), none_m, none_v, false),
                      Catch::Contains("eval mode needs running_mean"));
  REQUIRE_THROWS_WITH(batch_norm2d(Tensor::ones({2, 3, 4}), Tensor(), Tensor(), rm, rv, true),
                      Catch::Contains("(B,C,H,W)"));
  REQUIRE_THROWS_WITH(batch_norm2d(Tensor::ones({2, 3, 4, 4}), Tensor(), Tensor(), rm, rv, true,
                                   0.1f, 1e-5f, true, Tensor::ones({2, 3, 4, 5})),
                      Catch::Contains("residual f32[2, 3, 4, 5] cpu does not match"));
  // training without running buffers is allowed (statistics are not tracked)
  Tensor y = batch_norm2d(Tensor::from_vector({1, 3}, {2, 1, 1, 1}), Tensor(), Tensor(), none_m,
                          none_v, true);
  mmtest::require_close(y.to_vector(), {-1.0 / std::sqrt(1 + 1e-5), 1.0 / std::sqrt(1 + 1e-5)},
                        1e-6, 1e-6);
}

TEST_CASE("batch_norm2d with ReLU and residual has the bits of bn, add and relu, gradients too",
          "[cpu][batch_norm]") {
  mmtest::require_bn_act_matches_ops(Device::CPU);
}
