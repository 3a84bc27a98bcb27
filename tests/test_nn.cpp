// nn modules: parameter/buffer naming, modes, devices, the layers against double-precision
// loops, and the initialisers' fan computations and statistics.
#include <cmath>
#include <memory>

#include "engine/nn/module.h"
#include "tests/testing.h"

using namespace mm;

namespace {

// A module that exposes registration, for the bookkeeping tests.
struct Open : nn::Module {
  Tensor& param(const std::string& n, Tensor t) { return register_parameter(n, std::move(t)); }
  Tensor& buffer(const std::string& n, Tensor t) { return register_buffer(n, std::move(t)); }
  template <class M>
  std::shared_ptr<M> child(const std::string& n, std::shared_ptr<M> m) {
    return register_module(n, std::move(m));
  }
};

// Registers a child before its own parameter, to check that own entries still come first.
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Sequential> seq;
  Tensor scale, steps;
  Net() {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 4));
    scale = register_parameter("scale", Tensor::ones({4}));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(4));
    steps = register_buffer("steps", Tensor::from_ints({0}, {1}));
    auto s = std::make_shared<nn::Sequential>();
    s->add(std::make_shared<nn::Linear>(4, 5))
        .add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::Linear>(5, 2, /*bias=*/false));
    seq = register_module("seq", s);
  }
};

std::vector<std::string> names_of(const nn::NamedTensors& list) {
  std::vector<std::string> out;
  for (const auto& [name, t] : list) out.push_back(name);
  return out;
}

struct Stats {
  double mean, std, min, max;
};
Stats stats_of(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  double s = 0, s2 = 0, lo = v[0], hi = v[0];
  for (float x : v) {
    s += x;
    lo = std::min(lo, static_cast<double>(x));
    hi = std::max(hi, static_cast<double>(x));
  }
  const double mean = s / v.size();
  for (float x : v) s2 += (x - mean) * (x - mean);
  return {mean, std::sqrt(s2 / v.size()), lo, hi};
}

}  // namespace

TEST_CASE("Module names parameters and buffers recursively, own entries first, registration order",
          "[cpu][nn]") {
  Net net;
  REQUIRE(names_of(net.named_parameters()) ==
          std::vector<std::string>{"scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias",
                                   "seq.0.weight", "seq.0.bias", "seq.2.weight"});
  REQUIRE(names_of(net.named_buffers()) ==
          std::vector<std::string>{"steps", "bn.running_mean", "bn.running_var"});
  REQUIRE(net.num_parameters() == 4 + (12 + 4) + (4 + 4) + (20 + 5) + 10);
  // The listed tensors are the modules' own fields, not copies.
  auto params = net.parameters();
  REQUIRE(params[1].same(net.fc->weight));
  REQUIRE(params[7].same(std::dynamic_pointer_cast<nn::Linear>((*net.seq)[2])->weight));
  REQUIRE(net.named_buffers()[1].second.same(net.bn->running_mean));
  for (auto& p : params) REQUIRE(p.requires_grad());
  REQUIRE_FALSE(net.bn->running_var.requires_grad());
  REQUIRE(names_of(net.seq->named_parameters()) ==
          std::vector<std::string>{"0.weight", "0.bias", "2.weight"});
  REQUIRE(net.named_children().size() == 3);
}

TEST_CASE("Module lists a shared submodule's tensors once, under the first name", "[cpu][nn]") {
  Open root;
  auto head = std::make_shared<nn::Linear>(2, 3);
  auto a = root.child("a", std::make_shared<Open>());
  a->child("head", head);
  auto b = root.child("b", std::make_shared<Open>());
  b->child("head", head);
  b->param("own", Tensor::zeros({2}));
  REQUIRE(names_of(root.named_parameters()) ==
          std::vector<std::string>{"a.head.weight", "a.head.bias", "b.own"});
  REQUIRE(root.num_parameters() == 6 + 3 + 2);
}

TEST_CASE("Module registration rejects bad and repeated names", "[cpu][nn]") {
  Open m;
  m.param("w", Tensor::zeros({2}));
  REQUIRE_THROWS_WITH(m.param("w", Tensor::zeros({2})), Catch::Contains("already has"));
  REQUIRE_THROWS_WITH(m.buffer("w", Tensor::zeros({2})), Catch::Contains("already has"));
  REQUIRE_THROWS_WITH(m.child("w", std::make_shared<nn::ReLU>()), Catch::Contains("already has"));
  REQUIRE_THROWS_WITH(m.param("a.b", Tensor::zeros({2})), Catch::Contains("no '.'"));
  REQUIRE_THROWS_WITH(m.param("", Tensor::zeros({2})), Catch::Contains("non-empty"));
  REQUIRE_THROWS_WITH(m.param("u", Tensor()), Catch::Contains("undefined"));
  REQUIRE_THROWS_WITH(m.param("i", Tensor::from_ints({1}, {1})), Catch::Contains("f32"));
  REQUIRE_THROWS_WITH(m.forward(Tensor::zeros({1})), Catch::Contains("no single-input forward"));
}

TEST_CASE("train and eval switch every module in the tree", "[cpu][nn]") {
  Net net;
  REQUIRE(net.is_training());
  net.eval();
  REQUIRE_FALSE(net.is_training());
  REQUIRE_FALSE(net.bn->is_training());
  REQUIRE_FALSE((*net.seq)[0]->is_training());
  net.train();
  REQUIRE(net.bn->is_training());
  REQUIRE((*net.seq)[2]->is_training());
}

TEST_CASE("zero_grad drops every parameter's gradient", "[cpu][nn]") {
  auto seq = std::make_shared<nn::Sequential>();
  seq->add(std::make_shared<nn::Linear>(3, 4)).add(std::make_shared<nn::ReLU>());
  seq->add(std::make_shared<nn::Linear>(4, 1));
  sum((*seq)(mmtest::randn({5, 3}, 1))).backward();
  for (auto& p : seq->parameters()) REQUIRE(p.grad().defined());
  seq->zero_grad();
  for (auto& p : seq->parameters()) REQUIRE_FALSE(p.grad().defined());
}

TEST_CASE("to(cpu) on a CPU module keeps handles, storage and values", "[cpu][nn]") {
  Net net;
  std::vector<void*> before;
  std::vector<std::vector<float>> values;
  for (auto& [n, p] : net.named_parameters()) {
    before.push_back(p.raw_data());
    values.push_back(p.to_vector());
  }
  net.to(Device::CPU);
  auto after = net.named_parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    REQUIRE(after[i].second.device() == Device::CPU);
    REQUIRE(after[i].second.raw_data() == before[i]);
    REQUIRE(after[i].second.to_vector() == values[i]);
  }
}

TEST_CASE("to(cuda) moves every parameter and buffer in place and back", "[cuda][nn]") {
  if (!mm::cuda::available()) {
    WARN("no CUDA device");
    return;
  }
  Net net;
  Tensor w = net.fc->weight;  // an outside handle, as an optimizer would hold
  std::vector<float> wv = w.to_vector(), rv = net.bn->running_var.to_vector();
  net.to(Device::CUDA);
  REQUIRE(w.device() == Device::CUDA);
  REQUIRE(net.bn->running_var.device() == Device::CUDA);
  for (auto& [n, p] : net.named_parameters()) REQUIRE(p.device() == Device::CUDA);
  REQUIRE(w.to_vector() == wv);
  Tensor x = mmtest::randn({2, 3}, 5);
  std::vector<float> y_gpu = (*net.fc)(x.to(Device::CUDA)).to_vector();
  net.to(Device::CPU);
  REQUIRE(w.device() == Device::CPU);
  REQUIRE(net.bn->running_var.to_vector() == rv);
  mmtest::require_close(
      y_gpu,
      [&] {
        std::vector<float> c = (*net.fc)(x).to_vector();
        return std::vector<double>(c.begin(), c.end());
      }(),
      1e-5, 1e-5, "Linear on CUDA vs CPU");
}

TEST_CASE("Linear forward equals x W^T + b from a double loop", "[cpu][nn]") {
  for (bool bias : {true, false}) {
    const int64_t B = 5, Din = 7, Dout = 3;
    nn::Linear fc(Din, Dout, bias);
    REQUIRE(fc.weight.shape() == Shape{Dout, Din});
    REQUIRE(fc.bias.defined() == bias);
    Tensor x = mmtest::randn({B, Din}, 3);
    std::vector<float> xv = x.to_vector(), wv = fc.weight.to_vector();
    std::vector<float> bv = bias ? fc.bias.to_vector() : std::vector<float>(Dout, 0.0f);
    std::vector<double> want(B * Dout);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t o = 0; o < Dout; ++o) {
        double acc = bv[o];
        for (int64_t i = 0; i < Din; ++i)
          acc += static_cast<double>(xv[b * Din + i]) * wv[o * Din + i];
        want[b * Dout + o] = acc;
      }
    Tensor y = fc(x);
    REQUIRE(y.shape() == Shape{B, Dout});
    mmtest::require_close(y.to_vector(), want, 1e-5, 1e-6, "Linear");
  }
}

TEST_CASE("Sequential chains its layers and names them 0, 1, ...", "[cpu][nn]") {
  auto l0 = std::make_shared<nn::Linear>(4, 6), l2 = std::make_shared<nn::Linear>(6, 2);
  nn::Sequential seq;
  seq.add(l0).add(std::make_shared<nn::ReLU>()).add(l2);
  REQUIRE(seq.size() == 3);
  REQUIRE(seq[0] == l0);
  Tensor x = mmtest::randn({3, 4}, 9);
  REQUIRE(seq(x).to_vector() == (*l2)(relu((*l0)(x))).to_vector());
  nn::Sequential empty;
  REQUIRE(empty(x).same(x));
}

TEST_CASE("fan_in and fan_out follow PyTorch for linear and conv weights", "[cpu][nn][init]") {
  using nn::init::fan_in_and_fan_out;
  REQUIRE(fan_in_and_fan_out(Tensor::empty({10, 20})) == std::pair<int64_t, int64_t>{20, 10});
  REQUIRE(fan_in_and_fan_out(Tensor::empty({64, 3, 7, 7})) ==
          std::pair<int64_t, int64_t>{147, 3136});
  REQUIRE(fan_in_and_fan_out(Tensor::empty({256, 128, 3, 3})) ==
          std::pair<int64_t, int64_t>{1152, 2304});
  REQUIRE(fan_in_and_fan_out(Tensor::empty({8, 2, 5})) == std::pair<int64_t, int64_t>{10, 40});
  REQUIRE_THROWS_WITH(fan_in_and_fan_out(Tensor::empty({8})), Catch::Contains("at least 2"));
}

TEST_CASE("Xavier and Kaiming initialisers have the published spread", "[cpu][nn][init]") {
  // w (256,128,3,3): fan_in 1152, fan_out 2304; 294,912 draws, so the sample std is within
  // ~0.15% of the true one and 1% is a safe but still sharp bound.
  const double fan_in = 1152, fan_out = 2304;
  Generator gen(42);
  Tensor w = Tensor::empty({256, 128, 3, 3});
  auto check = [&](double want_std, double bound, const char* what) {
    INFO(what);
    Stats s = stats_of(w);
    REQUIRE(std::fabs(s.std / want_std - 1.0) < 0.01);
    REQUIRE(std::fabs(s.mean) < 0.01 * want_std);
    if (bound > 0) {  // uniform: inside the bound and reaching close to it
      REQUIRE(s.max <= bound);
      REQUIRE(s.min >= -bound);
      REQUIRE(s.max > 0.999 * bound);
      REQUIRE(s.min < -0.999 * bound);
    }
  };
  nn::init::xavier_uniform_(w, 1.0f, gen);
  check(std::sqrt(2.0 / (fan_in + fan_out)), std::sqrt(6.0 / (fan_in + fan_out)), "xavier_uniform");
  nn::init::xavier_normal_(w, 2.0f, gen);
  check(2.0 * std::sqrt(2.0 / (fan_in + fan_out)), 0, "xavier_normal gain 2");
  nn::init::kaiming_normal_(w, false, gen);
  check(std::sqrt(2.0 / fan_in), 0, "kaiming_normal fan_in");
  nn::init::kaiming_normal_(w, true, gen);
  check(std::sqrt(2.0 / fan_out), 0, "kaiming_normal fan_out");
  nn::init::kaiming_uniform_(w, 0.0f, gen);
  check(std::sqrt(2.0 / fan_in), std::sqrt(6.0 / fan_in), "kaiming_uniform a=0");
  nn::init::kaiming_uniform_(w, 0.0f, true, gen);
  check(std::sqrt(2.0 / fan_out), std::sqrt(6.0 / fan_out), "kaiming_uniform fan_out");
  nn::init::kaiming_uniform_(w, std::sqrt(5.0f), gen);  // gain sqrt(2/6): bound 1/sqrt(fan_in)
  check(1.0 / std::sqrt(3.0 * fan_in), 1.0 / std::sqrt(fan_in), "kaiming_uniform a=sqrt(5)");
  nn::init::constant_(w, 0.5f);
  REQUIRE(stats_of(w).min == 0.5);
  REQUIRE(stats_of(w).max == 0.5);
  nn::init::zeros_(w);
  REQUIRE(stats_of(w).max == 0.0);
}

TEST_CASE("Linear and Conv2d default init is U(+-1/sqrt(fan_in)) for weight and bias",
          "[cpu][nn][init]") {
  Generator gen(3);
  nn::Linear fc(1024, 512, true, gen);
  const double bound = 1.0 / 32.0;
  Stats w = stats_of(fc.weight), b = stats_of(fc.bias);
  REQUIRE(std::fabs(w.std / (bound / std::sqrt(3.0)) - 1.0) < 0.01);
  REQUIRE(w.max <= bound);
  REQUIRE(w.min >= -bound);
  REQUIRE(w.max > 0.999 * bound);
  REQUIRE(b.max <= bound);
  REQUIRE(b.min >= -bound);
  REQUIRE(b.max - b.min > 1.8 * bound);  // 512 draws spread over most of the range

  nn::Conv2d conv(16, 64, 3, 1, 1, true, gen);  // fan_in 144
  REQUIRE(conv.weight.shape() == Shape{64, 16, 3, 3});
  const double cb = 1.0 / 12.0;
  Stats cw = stats_of(conv.weight), cbias = stats_of(conv.bias);
  REQUIRE(cw.max <= cb);
  REQUIRE(cw.min >= -cb);
  REQUIRE(cw.max > 0.99 * cb);
  REQUIRE(std::fabs(cw.std / (cb / std::sqrt(3.0)) - 1.0) < 0.03);  // 9,216 draws
  REQUIRE(cbias.max <= cb);
  REQUIRE(cbias.min >= -cb);

  // The same seed gives the same layer.
  Generator g1(11), g2(11);
  REQUIRE(nn::Linear(5, 4, true, g1).weight.to_vector() ==
          nn::Linear(5, 4, true, g2).weight.to_vector());
}

TEST_CASE("Conv2d forward passes stride and padding (double-loop reference)", "[cpu][nn]") {
  const int64_t B = 2, C = 2, H = 5, W = 6, O = 3, k = 3;
  const int stride = 2, pad = 1;
  nn::Conv2d conv(C, O, k, stride, pad);
  Tensor x = mmtest::randn({B, C, H, W}, 21);
  Tensor y = conv(x);
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  REQUIRE(y.shape() == Shape{B, O, Ho, Wo});
  std::vector<float> xv = x.to_vector(), wv = conv.weight.to_vector(), bv = conv.bias.to_vector();
  std::vector<double> want(B * O * Ho * Wo);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double acc = bv[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < k; ++u)
              for (int64_t v = 0; v < k; ++v) {
                int64_t h = i * stride - pad + u, w = j * stride - pad + v;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                acc += static_cast<double>(xv[((b * C + c) * H + h) * W + w]) *
                       wv[((o * C + c) * k + u) * k + v];
              }
          want[((b * O + o) * Ho + i) * Wo + j] = acc;
        }
  mmtest::require_close(y.to_vector(), want, 1e-5, 1e-5, "Conv2d");
}

TEST_CASE("BatchNorm2d starts at weight 1, bias 0, mean 0, var 1 and follows train/eval",
          "[cpu][nn]") {
  const int64_t B = 3, C = 2, H = 2, W = 2, P = H * W;
  nn::BatchNorm2d bn(C, 0.1f, 1e-5f);
  REQUIRE(bn.weight.to_vector() == std::vector<float>{1, 1});
  REQUIRE(bn.bias.to_vector() == std::vector<float>{0, 0});
  REQUIRE(bn.running_mean.to_vector() == std::vector<float>{0, 0});
  REQUIRE(bn.running_var.to_vector() == std::vector<float>{1, 1});
  Tensor x = mmtest::randn({B, C, H, W}, 4, 2.0f);
  std::vector<float> xv = x.to_vector();
  std::vector<double> mean(C, 0), var(C, 0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < P; ++p) mean[c] += xv[(b * C + c) * P + p];
    mean[c] /= B * P;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < P; ++p) var[c] += std::pow(xv[(b * C + c) * P + p] - mean[c], 2);
  }
  // Training: running stats move 10% towards the batch's (unbiased variance).
  bn(x);
  std::vector<double> rm(C), rv(C);
  for (int64_t c = 0; c < C; ++c) {
    rm[c] = 0.1 * mean[c];
    rv[c] = 0.9 + 0.1 * var[c] / (B * P - 1);
  }
  mmtest::require_close(bn.running_mean.to_vector(), rm, 1e-5, 1e-6, "running_mean");
  mmtest::require_close(bn.running_var.to_vector(), rv, 1e-5, 1e-6, "running_var");
  // Eval: normalises with the running stats and leaves them alone.
  bn.eval();
  Tensor y = bn(x);
  std::vector<double> want(xv.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) {
        int64_t i = (b * C + c) * P + p;
        want[i] = (xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5);
      }
  mmtest::require_close(y.to_vector(), want, 1e-5, 1e-5, "eval output");
  mmtest::require_close(bn.running_mean.to_vector(), rm, 1e-5, 1e-6, "running_mean after eval");
}
