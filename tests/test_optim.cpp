// Optimizers and learning-rate schedules against values worked out by hand from the published
// update rules (PyTorch's SGD, Adam, AdamW documentation), not from the implementation.
#include <cmath>

#include "engine/optim/optimizer.h"
#include "tests/sgd_reference.h"
#include "tests/testing.h"

using namespace mm;

namespace {

Tensor leaf(const std::vector<float>& v) {
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}

void set_grad(Tensor& p, const std::vector<float>& g) {
  p.set_grad(Tensor::from_vector(g, p.shape()));
}

// Runs `steps` steps of `opt` on p = [1, -2] with the grads g1 = [0.5, -1.5], g2 = [0.25, 0.75].
std::vector<float> two_steps(optim::Optimizer& opt, float lr, float wd) {
  Tensor p = leaf({1.0f, -2.0f});
  opt.add_param_group("p", {p}, lr, wd);
  set_grad(p, {0.5f, -1.5f});
  opt.step();
  set_grad(p, {0.25f, 0.75f});
  opt.step();
  return p.to_vector();
}

}  // namespace

TEST_CASE("SGD momentum 0.9 with weight decay 1e-4: two steps by hand", "[cpu][optim]") {
  // lr 0.1. Step 1: d = g1 + 1e-4 p0 = [0.5001, -1.5002]; buf = d; p1 = p0 - 0.1 buf
  //   = [0.94999, -1.84998].
  // Step 2: d = g2 + 1e-4 p1 = [0.250094999, 0.749815002]; buf = 0.9 buf + d
  //   = [0.700184999, -0.600364998]; p2 = p1 - 0.1 buf = [0.8799715001, -1.7899435002].
  optim::SGD sgd(0.9f);
  mmtest::require_close(two_steps(sgd, 0.1f, 1e-4f), {0.8799715001, -1.7899435002}, 0, 1e-6, "SGD");
}

TEST_CASE("SGD Nesterov and dampening: two steps by hand", "[cpu][optim]") {
  // Nesterov, momentum 0.9, lr 0.1: buf1 = g1; d = g1 + 0.9 buf1 = [0.95, -2.85];
  // p1 = [0.905, -1.715]; buf2 = 0.9 g1 + g2 = [0.7, -0.6]; d = g2 + 0.9 buf2 = [0.88, 0.21];
  // p2 = [0.817, -1.736].
  optim::SGD nesterov(0.9f, /*nesterov=*/true);
  mmtest::require_close(two_steps(nesterov, 0.1f, 0.0f), {0.817, -1.736}, 0, 1e-6, "Nesterov");
  // Dampening 0.5: the first buffer is g1 undamped; buf2 = 0.9 g1 + 0.5 g2 = [0.575, -0.975];
  // p1 = [0.95, -1.85], p2 = [0.8925, -1.7525].
  optim::SGD damped(0.9f, false, 0.5f);
  mmtest::require_close(two_steps(damped, 0.1f, 0.0f), {0.8925, -1.7525}, 0, 1e-6, "dampening");
  // Plain SGD: p2 = p0 - 0.1 (g1 + g2) = [0.925, -1.925].
  optim::SGD plain;
  mmtest::require_close(two_steps(plain, 0.1f, 0.0f), {0.925, -1.925}, 0, 1e-6, "plain");
  REQUIRE_THROWS_WITH(optim::SGD(0.0f, true), Catch::Contains("Nesterov"));
  REQUIRE_THROWS_WITH(optim::SGD(0.9f, true, 0.1f), Catch::Contains("Nesterov"));
}

TEST_CASE("SGD's one multi-tensor step has the bits of per-tensor ops: groups, skips, rules",
          "[cpu][optim]") {
  const std::vector<int64_t> sizes = {1, 7, 129, 0, 4099, 3};
  mmtest::require_sgd_matches_reference(Device::CPU, sizes, {0.9f, 0.0f, false});
  mmtest::require_sgd_matches_reference(Device::CPU, sizes, {0.9f, 0.0f, true});
  mmtest::require_sgd_matches_reference(Device::CPU, sizes, {0.9f, 0.3f, false});
  mmtest::require_sgd_matches_reference(Device::CPU, sizes, {0.0f, 0.0f, false});
}

TEST_CASE("Adam (L2) and AdamW (decoupled): two steps by hand", "[cpu][optim]") {
  // lr 0.01, betas (0.9, 0.999), eps 1e-8, weight decay 0.1. With m_hat = m / (1 - b1^t),
  // v_hat = v / (1 - b2^t), p -= lr m_hat / (sqrt(v_hat) + eps):
  // Adam, element 0, step 1: d = 0.5 + 0.1 * 1 = 0.6, m_hat = 0.6, v_hat = 0.36,
  //   p1 = 1 - 0.01 * 0.6 / (0.6 + 1e-8) = 0.990000000167.
  // AdamW, element 0, step 1: p *= 1 - 0.01 * 0.1 -> 0.999; m_hat / sqrt(v_hat) = 1,
  //   p1 = 0.999 - 0.01 / (1 + 2e-8) = 0.989000000200.
  // Step 2 carried out the same way in double precision gives the numbers below.
  optim::Adam adam(0.9f, 0.999f, 1e-8f);
  mmtest::require_close(two_steps(adam, 0.01f, 0.1f), {0.980465827519, -1.985921581920}, 0, 1e-6,
                        "Adam");
  optim::AdamW adamw(0.9f, 0.999f, 1e-8f);
  mmtest::require_close(two_steps(adamw, 0.01f, 0.1f), {0.978689204048, -1.983348629692}, 0, 1e-6,
                        "AdamW");
  // One step, checked separately so a wrong bias correction shows at step 1 already.
  optim::Adam one;
  Tensor p = leaf({1.0f, -2.0f});
  one.add_param_group("p", {p}, 0.01f, 0.1f);
  set_grad(p, {0.5f, -1.5f});
  one.step();
  mmtest::require_close(p.to_vector(), {0.990000000167, -1.990000000059}, 0, 1e-6, "Adam step 1");
}

TEST_CASE("a parameter added after 3 steps starts with fresh state", "[cpu][optim]") {
  SECTION("Adam: its first step is bias-corrected as step 1, i.e. lr * g / (|g| + eps)") {
    optim::Adam adam;
    Tensor a = leaf({1.0f, 1.0f});
    size_t g = adam.add_param_group("g", {a}, 0.01f, 0.0f);
    for (int i = 0; i < 3; ++i) {
      set_grad(a, {0.3f, -0.2f});
      adam.step();
    }
    Tensor late = leaf({2.0f, -1.0f});
    adam.add_params(g, {late});
    set_grad(a, {0.3f, -0.2f});
    set_grad(late, {0.4f, -3.0f});
    adam.step();
    // A step count of 4 would give 0.01 * 0.2908 / 0.5004 = 0.00581 instead of 0.01.
    mmtest::require_close(late.to_vector(), {2.0 - 0.01, -1.0 + 0.01}, 0, 1e-6, "late Adam param");
    auto state = adam.state_tensors();
    REQUIRE(state.size() == 4);
    REQUIRE(state[2].first == "g.1.exp_avg");
    // m = (1 - b1) g after one step.
    mmtest::require_close(state[2].second.to_vector(), {0.1 * 0.4, 0.1 * -3.0}, 1e-6, 0);
    REQUIRE(adam.state_json()["step_counts"] == nlohmann::json::array({{4, 1}}));
  }
  SECTION("SGD momentum: its buffer starts as its own gradient") {
    optim::SGD sgd(0.9f);
    Tensor a = leaf({1.0f});
    sgd.add_param_group("g", {a}, 0.1f, 0.0f);
    for (int i = 0; i < 3; ++i) {
      set_grad(a, {1.0f});
      sgd.step();
    }
    Tensor late = leaf({0.0f});
    sgd.add_params(sgd.group_index("g"), {late});
    set_grad(late, {2.0f});
    a.zero_grad();  // undefined grad: a is skipped
    std::vector<float> a_before = a.to_vector();
    sgd.step();
    mmtest::require_close(late.to_vector(), {-0.2}, 0, 1e-6, "late SGD param");
    REQUIRE(a.to_vector() == a_before);
    set_grad(late, {0.0f});
    sgd.step();  // buf = 0.9 * 2 + 0 = 1.8; p = -0.2 - 0.18
    mmtest::require_close(late.to_vector(), {-0.38}, 0, 1e-6, "late SGD param, step 2");
  }
}

TEST_CASE("parameters without a gradient are skipped, state included", "[cpu][optim]") {
  optim::Adam adam;
  Tensor a = leaf({1.0f}), b = leaf({5.0f});
  adam.add_param_group("g", {a, b}, 0.1f, 0.1f);
  for (int i = 0; i < 2; ++i) {
    set_grad(a, {1.0f});
    adam.step();  // b has no grad: not even weight decay touches it
  }
  REQUIRE(b.to_vector() == std::vector<float>{5.0f});
  REQUIRE(adam.state_tensors().size() == 2);  // a's moments only
  set_grad(b, {-2.0f});
  adam.step();  // b's first step: d = -2 + 0.1 * 5 = -1.5, update lr * sign = +0.1
  mmtest::require_close(b.to_vector(), {5.1}, 0, 1e-6, "first step of b");
}

TEST_CASE("parameter groups keep their own lr and weight decay", "[cpu][optim]") {
  optim::SGD sgd;
  Tensor a = leaf({1.0f}), b = leaf({1.0f});
  sgd.add_param_group("encoder", {a}, 0.1f, 0.0f);
  sgd.add_param_group("head", {b}, 0.01f, 0.5f);
  set_grad(a, {1.0f});
  set_grad(b, {1.0f});
  sgd.step();
  // a: 1 - 0.1 * 1; b: 1 - 0.01 * (1 + 0.5 * 1)
  mmtest::require_close(a.to_vector(), {0.9}, 0, 1e-6);
  mmtest::require_close(b.to_vector(), {0.985}, 0, 1e-6);
  sgd.set_lr_factor(0.5f);
  REQUIRE(sgd.groups()[0].lr == 0.05f);
  REQUIRE(sgd.groups()[1].lr == 0.005f);
  REQUIRE(sgd.groups()[1].base_lr == 0.01f);
  sgd.step();  // a: 0.9 - 0.05; b: 0.985 - 0.005 * (1 + 0.5 * 0.985)
  mmtest::require_close(a.to_vector(), {0.85}, 0, 1e-6);
  mmtest::require_close(b.to_vector(), {0.985 - 0.005 * 1.4925}, 0, 1e-6);
  REQUIRE(sgd.group_index("head") == 1);
  REQUIRE_THROWS_WITH(sgd.group_index("audio"), Catch::Contains("no parameter group 'audio'"));
  REQUIRE_THROWS_WITH(sgd.add_param_group("head", {}, 0.1f, 0.0f),
                      Catch::Contains("already exists"));
  REQUIRE_THROWS_WITH(sgd.add_params(0, {b}), Catch::Contains("already optimized"));
  REQUIRE_THROWS_WITH(sgd.add_params(5, {}), Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(sgd.add_param_group("neg", {}, -1.0f, 0.0f), Catch::Contains("non-negative"));
  sgd.zero_grad();
  REQUIRE_FALSE(a.grad().defined());
}

TEST_CASE("state export and import resume SGD and Adam bit for bit", "[cpu][optim]") {
  auto run = [](auto make) {
    auto opt1 = make();
    Tensor p1 = leaf({0.3f, -0.7f, 1.1f}), q1 = leaf({2.0f});
    opt1.add_param_group("a", {p1}, 0.05f, 1e-3f);
    opt1.add_param_group("b", {q1}, 0.02f, 0.0f);
    for (int i = 0; i < 3; ++i) {
      set_grad(p1, {0.1f * i, -0.2f, 0.3f});
      set_grad(q1, {0.5f - i});
      opt1.step();
    }
    auto tensors = opt1.state_tensors();
    nlohmann::json meta = nlohmann::json::parse(opt1.state_json().dump());  // through text
    // A fresh optimizer over copies of the parameters.
    auto opt2 = make();
    Tensor p2 = leaf(p1.to_vector()), q2 = leaf(q1.to_vector());
    opt2.add_param_group("a", {p2}, 0.05f, 1e-3f);
    opt2.add_param_group("b", {q2}, 0.02f, 0.0f);
    nn::NamedTensors copies;
    for (auto& [n, t] : tensors) copies.emplace_back(n, t.clone());
    opt2.load_state(copies, meta);
    for (auto* pq : {&p1, &p2}) set_grad(*pq, {1.0f, 2.0f, -3.0f});
    for (auto* pq : {&q1, &q2}) set_grad(*pq, {0.25f});
    opt1.step();
    opt2.step();
    REQUIRE(p1.to_vector() == p2.to_vector());
    REQUIRE(q1.to_vector() == q2.to_vector());
    // The restored run must differ from one without the state (the check above can fail).
    auto opt3 = make();
    Tensor p3 = leaf(p2.to_vector());
    opt3.add_param_group("a", {p3}, 0.05f, 1e-3f);
    set_grad(p3, {1.0f, 2.0f, -3.0f});
    opt3.step();
    REQUIRE(p3.to_vector() != p1.to_vector());
    // Mismatched layouts are refused with a message saying what differs.
    auto opt4 = make();
    Tensor r = leaf({1.0f, 2.0f, 3.0f});
    opt4.add_param_group("a", {r}, 0.05f, 0.0f);
    REQUIRE_THROWS_WITH(opt4.load_state(copies, meta), Catch::Contains("2 parameter groups"));
    opt4.add_param_group("b", {leaf({1.0f}), leaf({1.0f})}, 0.02f, 0.0f);
    REQUIRE_THROWS_WITH(opt4.load_state(copies, meta), Catch::Contains("has 1 parameters"));
  };
  SECTION("SGD") {
    run([] { return optim::SGD(0.9f, true); });
  }
  SECTION("Adam") {
    run([] { return optim::Adam(); });
  }
  SECTION("AdamW") {
    run([] { return optim::AdamW(); });
  }
}

TEST_CASE("StepLR, MultiStepLR and CosineLR factors at given epochs", "[cpu][optim][schedule]") {
  auto factors = [](optim::LRScheduler& s, std::vector<int> epochs) {
    std::vector<float> out;
    for (int e : epochs) {
      s.step(e);
      out.push_back(s.factor());
    }
    return out;
  };
  optim::StepLR step(3, 0.1f);
  mmtest::require_close(factors(step, {0, 2, 3, 5, 6, 9}), {1, 1, 0.1, 0.1, 0.01, 0.001}, 1e-6, 0,
                        "StepLR");
  optim::MultiStepLR multi({2, 5}, 0.5f);
  mmtest::require_close(factors(multi, {0, 1, 2, 4, 5, 70}), {1, 1, 0.5, 0.5, 0.25, 0.25}, 1e-6, 0,
                        "MultiStepLR");
  // min + (1 - min)(1 + cos(pi e / 10)) / 2 with min 0.1: e=3 -> 0.1 + 0.9 * 0.7938926 = 0.8145034;
  // held at the minimum past t_max.
  optim::CosineLR cosine(10, 0.1f);
  mmtest::require_close(factors(cosine, {0, 3, 5, 10, 12}), {1, 0.8145034, 0.55, 0.1, 0.1}, 1e-6, 0,
                        "CosineLR");
  // apply() sets every group's lr to base_lr * factor.
  optim::SGD sgd;
  Tensor p = leaf({1.0f});
  sgd.add_param_group("g", {p}, 0.2f, 0.0f);
  step.step(4);
  step.apply(sgd);
  REQUIRE(sgd.groups()[0].lr == Approx(0.02f));
  // The schedule's state survives a JSON round trip.
  optim::StepLR restored(3, 0.1f);
  restored.load_state(step.state_json());
  REQUIRE(restored.factor() == step.factor());
}

TEST_CASE("ReduceLROnPlateau reduces after patience epochs without improvement",
          "[cpu][optim][schedule]") {
  // Maximise accuracy, patience 2, decay 0.5, floor 0.2: the third bad epoch in a row reduces.
  optim::ReduceLROnPlateau plateau(true, 0.5f, 2, 1e-4, 0.2f);
  std::vector<double> metric = {0.50, 0.60, 0.60, 0.59, 0.60005, 0.70, 0.1, 0.1,
                                0.1,  0.1,  0.1,  0.1,  0.1,     0.1,  0.1};
  std::vector<float> want = {1,     1,     1,     1,    0.5f, 0.5f, 0.5f, 0.5f,
                             0.25f, 0.25f, 0.25f, 0.2f, 0.2f, 0.2f, 0.2f};
  // (0.60005 is within the 1e-4 relative threshold of 0.6, so it is no improvement.)
  for (size_t e = 0; e < metric.size(); ++e) {
    plateau.step(static_cast<int>(e), metric[e]);
    INFO("epoch " << e);
    REQUIRE(plateau.factor() == Approx(want[e]));
  }
  // Minimising: lower is better.
  optim::ReduceLROnPlateau loss(false, 0.1f, 0);
  loss.step(0, 2.0);
  loss.step(1, 1.0);
  REQUIRE(loss.factor() == 1.0f);
  loss.step(2, 1.5);
  REQUIRE(loss.factor() == Approx(0.1f));
  // State round trip: the restored scheduler continues the same count of bad epochs.
  optim::ReduceLROnPlateau a(true, 0.5f, 1), b(true, 0.5f, 1);
  a.step(0, 1.0);
  a.step(1, 0.5);  // one bad epoch
  b.load_state(nlohmann::json::parse(a.state_json().dump()));
  a.step(2, 0.5);
  b.step(2, 0.5);
  REQUIRE(a.factor() == 0.5f);
  REQUIRE(b.factor() == 0.5f);
}
