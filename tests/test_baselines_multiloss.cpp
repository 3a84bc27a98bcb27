// MMPareto and PMR (boosting/baseline_multiloss.h): each rule against hand-computed values, the
// gradient the optimizer sees against a hand combination on a tiny network, and both methods
// through the trainer on the synthetic two-modality set (accuracy above chance, epoch records,
// bit-identical resume from a mid-run checkpoint).
#include <cmath>
#include <filesystem>

#include "trainer_testing.h"

#include "boosting/baseline_multiloss.h"

using namespace mm;
using namespace mm::boost;
using namespace mm::boost::multiloss;
using mmtest::small_config;
using mmtest::Splits;
using nlohmann::json;

namespace {

double dotd(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

// ---- MMPareto ----------------------------------------------------------------------------------

TEST_CASE("mmpareto: min-norm weights of conflicting and non-conflicting gradients, hand-computed", "[cpu]") {
  SECTION("conflict: g_mm = (1,0), g_uni = (-1,1)") {
    // cos = -1/sqrt(2) < 0. a* = (<g2,g2> - <g1,g2>) / ||g1 - g2||^2 = (2 + 1) / 5 = 0.6.
    // d = 2 (0.6 g1 + 0.4 g2) = (0.4, 0.8), ||d|| = sqrt(0.8); ||g1 + g2|| = ||(0,1)|| = 1.
    ParetoWeights w = mmpareto_weights(1.0, -1.0, 2.0);
    CHECK(w.conflict);
    CHECK(w.cos == Approx(-1.0 / std::sqrt(2.0)));
    CHECK(w.w_mm == Approx(0.6));
    CHECK(w.w_uni == Approx(0.4));
    CHECK(w.scale == Approx(1.0 / std::sqrt(0.8)));
    std::vector<Tensor> g = mmpareto_combine({Tensor::from_vector({1, 0}, {2})}, {Tensor::from_vector({-1, 1}, {2})},
                                             1.0, "encoder");
    mmtest::require_close(g[0].to_vector(), {0.4 / std::sqrt(0.8), 0.8 / std::sqrt(0.8)}, 1e-6, 1e-7, "combined");
    // gamma multiplies the final gradient
    g = mmpareto_combine({Tensor::from_vector({1, 0}, {2})}, {Tensor::from_vector({-1, 1}, {2})}, 1.5, "encoder");
    mmtest::require_close(g[0].to_vector(), {1.5 * 0.4 / std::sqrt(0.8), 1.5 * 0.8 / std::sqrt(0.8)}, 1e-6, 1e-7);
  }
  SECTION("no conflict: g_mm = (1,0), g_uni = (1,1) -> the published 1/2, 1/2, i.e. the plain sum") {
    ParetoWeights w = mmpareto_weights(1.0, 1.0, 2.0);
    CHECK_FALSE(w.conflict);
    CHECK(w.cos == Approx(1.0 / std::sqrt(2.0)));
    CHECK(w.w_mm == 0.5);
    CHECK(w.w_uni == 0.5);
    CHECK(w.scale == 1.0);
    std::vector<Tensor> g = mmpareto_combine({Tensor::from_vector({1, 0}, {2})}, {Tensor::from_vector({1, 1}, {2})},
                                             1.0, "encoder");
    CHECK(g[0].to_vector() == std::vector<float>{2.0f, 1.0f});
  }
  SECTION("the closed form clamps to [0,1] and splits equal gradients evenly") {
    // g1 = (1,0), g2 = (2,0): the parabola's minimum is at a = (4-2)/(1+4-4) = 2 -> 1 (all g1).
    CHECK(min_norm_weight(1.0, 2.0, 4.0) == 1.0);
    CHECK(min_norm_weight(4.0, 2.0, 1.0) == 0.0);
    CHECK(min_norm_weight(2.0, 2.0, 2.0) == 0.5);
    // orthogonal (3,0), (0,4): a = 16/25 -> 0.64 (3,0) + 0.36 (0,4) = (1.92, 1.44), orthogonal to g1 - g2
    CHECK(min_norm_weight(9.0, 0.0, 16.0) == Approx(0.64));
  }
  SECTION("exactly opposite gradients of equal length combine to zero") {
    std::vector<Tensor> g = mmpareto_combine({Tensor::from_vector({1, 2}, {2})}, {Tensor::from_vector({-1, -2}, {2})},
                                             1.0, "encoder");
    CHECK(g[0].to_vector() == std::vector<float>{0.0f, 0.0f});
  }
  SECTION("rescale \"tensor\" (the release): scale per tensor, never below 1") {
    // tensor 0: g_mm (1,0), g_uni (-1,1); tensor 1: g_mm (0), g_uni (3). Whole encoder:
    // <mm,mm> = 1, <mm,uni> = -1, <uni,uni> = 11 -> conflict, a = (11+1)/(1+11+2) = 6/7.
    const double a = 6.0 / 7.0, b = 1.0 / 7.0;
    std::vector<Tensor> mmv = {Tensor::from_vector({1, 0}, {2}), Tensor::from_vector({0}, {1})};
    std::vector<Tensor> uni = {Tensor::from_vector({-1, 1}, {2}), Tensor::from_vector({3}, {1})};
    ParetoWeights w;
    std::vector<Tensor> g = mmpareto_combine(mmv, uni, 1.0, "tensor", &w);
    CHECK(w.w_mm == Approx(a));
    // tensor 0: d = 2 (a (1,0) + b (-1,1)) = (10/7, 2/7); ||g_mm + g_uni|| = 1 < ||d|| -> scale 1
    mmtest::require_close(g[0].to_vector(), {2 * (a - b), 2 * b}, 1e-6, 1e-7, "tensor 0");
    // tensor 1: d = 2 b 3 = 6/7; ||sum|| = 3 -> scale 3 / (6/7) = 3.5 -> 3
    mmtest::require_close(g[1].to_vector(), {3.0}, 1e-6, 1e-7, "tensor 1");
  }
  SECTION("unknown rescale mode is an error naming the key") {
    CHECK_THROWS_WITH(mmpareto_combine({Tensor::from_vector({1}, {1})}, {Tensor::from_vector({1}, {1})}, 1.0, "both"),
                      Catch::Contains("method.mmpareto.rescale"));
  }
}

TEST_CASE("mmpareto: the combined direction never opposes either gradient, and keeps the summed length", "[cpu]") {
  // Random encoders of two tensors (7 and 129 elements); half the pairs are made to conflict
  // by flipping the unimodal gradient towards -g_mm.
  int conflicts = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    std::vector<Tensor> gm = {mmtest::randn({7}, 3 * seed + 1), mmtest::randn({3, 43}, 3 * seed + 2)};
    std::vector<Tensor> gu = {mmtest::randn({7}, 3 * seed + 3, 2.0f), mmtest::randn({3, 43}, 3 * seed + 4, 2.0f)};
    if (seed % 2 == 1)
      for (size_t t = 0; t < 2; ++t) gu[t] = sub(gu[t], mul_scalar(gm[t], 3.0f));
    ParetoWeights w;
    std::vector<Tensor> g = mmpareto_combine(gm, gu, 1.0, "encoder", &w);
    conflicts += w.conflict;
    double dm = 0, du = 0, nm = 0, nu = 0, ng = 0, ns = 0;
    for (size_t t = 0; t < 2; ++t) {
      auto a = gm[t].to_vector(), b = gu[t].to_vector(), c = g[t].to_vector();
      dm += dotd(c, a);
      du += dotd(c, b);
      nm += dotd(a, a);
      nu += dotd(b, b);
      ng += dotd(c, c);
      std::vector<float> s(a.size());
      for (size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
      ns += dotd(s, s);
    }
    INFO("seed " << seed << " cos " << w.cos);
    // float rounding of the combination only: relative to the product of the norms
    CHECK(dm >= -1e-5 * std::sqrt(ng * nm));
    CHECK(du >= -1e-5 * std::sqrt(ng * nu));
    // the paper's magnitude: ||g|| = ||g_mm + g_uni||
    CHECK(std::sqrt(ng) == Approx(std::sqrt(ns)).epsilon(1e-5));
    if (w.conflict) {
      // the min-norm point is equiangular: <d, g_mm> = <d, g_uni> (both > 0 unless clamped)
      CHECK(dm == Approx(du).epsilon(1e-3));
    }
  }
  CHECK(conflicts >= 25);
}

TEST_CASE("mmpareto: the encoder gradient the optimizer sees equals the hand-combined one on a tiny network", "[cpu]") {
  Splits s;
  json cfg = small_config("mmpareto", 6);
  cfg["method"]["mmpareto"]["gamma"] = 1.5;  // a gamma other than 1, so that it is checked too
  Trainer tr(cfg);
  // At initialisation the two gradients agree; conflicts appear once the fast modality has been
  // fitted (measured: ~1 step in 8 for its encoder by epoch 6), so train first.
  tr.fit(s.train, nullptr);
  Method& m = tr.method();
  m.net().train();
  const std::vector<std::string> mods = {"fast", "slow"};
  std::vector<std::vector<Tensor>> enc(2);
  std::vector<Tensor> rest;  // classifiers and head: the plain sum of both losses' gradients
  for (const auto& [n, p] : m.net().named_parameters()) {
    bool is_enc = false;
    for (size_t r = 0; r < 2; ++r)
      if (n.rfind("encoders." + mods[r] + ".", 0) == 0) {
        enc[r].push_back(p);
        is_enc = true;
      }
    if (!is_enc) rest.push_back(p);
  }
  REQUIRE(!enc[0].empty());
  REQUIRE(!enc[1].empty());
  REQUIRE(!rest.empty());
  auto grads = [](const std::vector<Tensor>& ps) {
    std::vector<std::vector<float>> g;
    for (const auto& p : ps)
      g.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<float>(p.numel(), 0.0f));
    return g;
  };
  int seen_conflict = 0, seen_agree = 0, steps = 0;
  data::Batch b;
  // further epochs of checked steps until a conflicting one has been seen (at most 4)
  for (int epoch = 6; epoch < 10 && (seen_conflict == 0 || steps < 16); ++epoch) {
    s.train.start_epoch(epoch);
    while (s.train.next(b)) {
      ++steps;
      // The reference: two separate forwards and backwards.
      tr.optimizer().zero_grad();
      Predictions p1 = m.predict(b);
      cross_entropy(p1.fused_logits, b.labels).backward();
      std::vector<std::vector<std::vector<float>>> gmm = {grads(enc[0]), grads(enc[1])};
      auto rest_mm = grads(rest);
      tr.optimizer().zero_grad();
      Predictions p2 = m.predict(b);
      add(cross_entropy(p2.modality_logits[0], b.labels), cross_entropy(p2.modality_logits[1], b.labels)).backward();
      std::vector<std::vector<std::vector<float>>> guni = {grads(enc[0]), grads(enc[1])};
      auto rest_uni = grads(rest);
      tr.optimizer().zero_grad();
      // The method's step (the optimizer does not touch .grad, so it can be read afterwards).
      m.train_step(b);
      for (size_t r = 0; r < 2; ++r) {
        double mm = 0, mu = 0, uu = 0;
        for (size_t t = 0; t < gmm[r].size(); ++t) {
          mm += dotd(gmm[r][t], gmm[r][t]);
          mu += dotd(gmm[r][t], guni[r][t]);
          uu += dotd(guni[r][t], guni[r][t]);
        }
        const double cos = mu / std::sqrt(mm * uu);
        double a = 0.5, scale = 1.0;
        if (cos < 0) {
          ++seen_conflict;
          a = std::min(1.0, std::max(0.0, (uu - mu) / (mm + uu - 2 * mu)));
          const double d2 = 4 * (a * a * mm + 2 * a * (1 - a) * mu + (1 - a) * (1 - a) * uu);
          scale = std::sqrt((mm + 2 * mu + uu) / d2);
        } else {
          ++seen_agree;
        }
        for (size_t t = 0; t < enc[r].size(); ++t) {
          std::vector<double> want(gmm[r][t].size());
          for (size_t i = 0; i < want.size(); ++i)
            want[i] = 1.5 * scale * 2.0 * (a * gmm[r][t][i] + (1 - a) * guni[r][t][i]);
          INFO(mods[r] << " tensor " << t << " cos " << cos);
          mmtest::require_close(enc[r][t].grad().to_vector(), want, 1e-4, 1e-7, "encoder gradient");
        }
      }
      for (size_t t = 0; t < rest.size(); ++t) {
        std::vector<double> want(rest_mm[t].size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<double>(rest_mm[t][i]) + rest_uni[t][i];
        mmtest::require_close(rest[t].grad().to_vector(), want, 1e-4, 1e-7, "classifier/head gradient");
      }
    }
  }
  WARN("encoder steps with conflict: " << seen_conflict << ", without: " << seen_agree);
  CHECK(seen_conflict > 0);
  CHECK(seen_agree > 0);
}

TEST_CASE("mmpareto: options are checked with the full key in the message", "[cpu]") {
  Splits s;
  json cfg = small_config("mmpareto", 1);
  cfg["method"]["mmpareto"]["gamma"] = -1;
  mmtest::check_setup_rejects(cfg, s.train, "method.mmpareto.gamma must be > 0, got -1");
  cfg["method"]["mmpareto"] = {{"rescale", "global"}};
  mmtest::check_setup_rejects(cfg, s.train, "method.mmpareto.rescale must be one of encoder, tensor, got \"global\"");
  CHECK_THROWS_AS(Trainer(json{{"method", {{"mmpareto", {{"gama", 1.0}}}}}}), mm::Error);
}

TEST_CASE("mmpareto: fits the synthetic set above chance and records conflicts per epoch", "[cpu]") {
  Splits s;
  std::vector<json> records;
  Trainer tr(small_config("mmpareto", 6));
  tr.on_epoch([&](const json& r) { records.push_back(r); });
  tr.fit(s.train, &s.val);
  REQUIRE(records.size() == 6);
  for (const auto& r : records) {
    REQUIRE(r.contains("mmpareto"));
    CHECK(r["mmpareto"]["steps"] == 16);
    for (const char* mod : {"fast", "slow"}) {
      const json& q = r["mmpareto"][mod];
      const double f = q["conflict_fraction"];
      CHECK((f >= 0.0 && f <= 1.0));
      CHECK(q["weight_multimodal"].get<double>() + q["weight_unimodal"].get<double>() == Approx(1.0));
      // without conflict the weights are 1/2 each; the min-norm weights are anything in [0,1]
      if (f == 0.0) CHECK(q["weight_multimodal"].get<double>() == 0.5);
    }
    for (const char* k : {"fused.ce", "fast.ce", "slow.ce"}) CHECK(r["loss"].contains(k));
  }
  const json& last = records.back()["mmpareto"];
  WARN("mmpareto conflict fractions, last epoch: fast " << last["fast"]["conflict_fraction"] << ", slow "
                                                        << last["slow"]["conflict_fraction"]);
  EvalResult ev = tr.evaluate(s.test);
  WARN("mmpareto test accuracy: fused " << ev.fused.acc << ", fast " << ev.per_modality[0].acc << ", slow "
                                        << ev.per_modality[1].acc);
  // 4 classes: chance is 0.25; the fast modality alone cannot pass ~0.5.
  CHECK(ev.fused.acc > 0.25 + 0.35);
  CHECK(ev.has_modality == std::vector<bool>{true, true});
}

TEST_CASE("mmpareto: resume from a mid-run checkpoint continues bit-identically", "[cpu]") {
  json cfg = small_config("mmpareto", 4);
  cfg["method"]["mmpareto"]["rescale"] = "tensor";  // both rescale paths are deterministic
  mmtest::check_bitwise_resume(cfg, "multiloss_mmpareto", 2, {"mmpareto", "pmr"});
}

// ---- PMR ---------------------------------------------------------------------------------------

TEST_CASE("pmr: prototypes of a hand-built batch, with and without momentum", "[cpu]") {
  PrototypeAccumulator acc(3, 2, Device::CPU);
  acc.add(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}), Tensor::from_ints({0, 0, 1}, {3}));
  acc.add(Tensor::from_vector({7, 8}, {1, 2}), Tensor::from_ints({1}, {1}));
  CHECK(acc.counts() == std::vector<double>{2, 2, 0});
  // class 0: mean of (1,2), (3,4) = (2,3); class 1: mean of (5,6), (7,8) = (6,7); class 2 unseen
  CHECK(acc.prototypes(Tensor(), 0.2).to_vector() == std::vector<float>{2, 3, 6, 7, 0, 0});
  // momentum 0.2: 0.8 * mean + 0.2 * old; the unseen class keeps its old prototype
  Tensor old = Tensor::from_vector({10, 10, 0, 0, 4, 4}, {3, 2});
  mmtest::require_close(acc.prototypes(old, 0.2).to_vector(), {3.6, 4.4, 4.8, 5.6, 4.0, 4.0}, 1e-6, 1e-6);
  acc.reset();
  CHECK(acc.counts() == std::vector<double>{0, 0, 0});
  acc.add(Tensor::from_vector({1, 1}, {1, 2}), Tensor::from_ints({2}, {1}));
  mmtest::require_close(acc.prototypes(old, 0.5).to_vector(), {10, 10, 0, 0, 2.5, 2.5}, 1e-6, 1e-6);
}

TEST_CASE("pmr: prototype logits, prototypical CE, entropy and score for hand-given features", "[cpu]") {
  // u_0 = (0,0), u_1 = (2.5, 0.5); prototypes c_0 = (3,4), c_1 = (0,1), c_2 = (3,0).
  Tensor u = Tensor::from_vector({0, 0, 2.5f, 0.5f}, {2, 2});
  Tensor c = Tensor::from_vector({3, 4, 0, 1, 3, 0}, {3, 2});
  Tensor y = Tensor::from_ints({1, 2}, {2});
  const double d[2][3] = {{5.0, 1.0, 3.0},
                          {std::sqrt(0.25 + 12.25), std::sqrt(6.25 + 0.25), std::sqrt(0.25 + 0.25)}};
  std::vector<double> want_logits;
  double ce = 0.0, ent = 0.0, score = 0.0;
  for (int i = 0; i < 2; ++i) {
    double z = 0.0;
    for (int k = 0; k < 3; ++k) {
      want_logits.push_back(-d[i][k]);
      z += std::exp(-d[i][k]);
    }
    const int yi = i == 0 ? 1 : 2;
    ce += (d[i][yi] + std::log(z)) / 2.0;
    score += std::exp(-d[i][yi]) / z;
    for (int k = 0; k < 3; ++k) {
      const double p = std::exp(-d[i][k]) / z;
      ent -= p * std::log(p) / 2.0;
    }
  }
  mmtest::require_close(prototype_logits(u, c).to_vector(), want_logits, 1e-6, 1e-6, "logits");
  CHECK(prototype_ce(u, c, y).item() == Approx(ce).epsilon(1e-6));
  CHECK(prototype_entropy(u, c).item() == Approx(ent).epsilon(1e-6));
  CHECK(prototype_score(u, c, y) == Approx(score).epsilon(1e-6));
  // a feature on its prototype: distance 0 there, and a finite (zero) gradient
  Tensor on = mmtest::param(Tensor::from_vector({3, 0}, {1, 2}));
  Tensor l = prototype_ce(on, c, Tensor::from_ints({2}, {1}));
  l.backward();
  for (float g : on.grad().to_vector()) CHECK(std::isfinite(g));
  // gradients with respect to the features against finite differences
  mmtest::gradcheck([&](const std::vector<Tensor>& in) { return prototype_ce(in[0], c, y); }, {u}, 1e-2, 2e-2, 2e-3);
  mmtest::gradcheck([&](const std::vector<Tensor>& in) { return prototype_entropy(in[0], c); }, {u}, 1e-2, 2e-2, 2e-3);
}

TEST_CASE("pmr: the imbalance coefficients for given scores", "[cpu]") {
  // rho = s_a / s_v = 1.5 > 1: audio dominant; video's PCE weight alpha * clamp(rho - 1, 0, 1)
  // = 0.5 alpha; audio's entropy weight mu * 0.5.
  PmrCoefficients c = pmr_coefficients({30, 20}, 2.0, 0.1, "ratio");
  CHECK(c.dominant == 0);
  CHECK(c.pce[0] == 0.0);
  CHECK(c.pce[1] == Approx(1.0));
  CHECK(c.entropy[0] == Approx(0.05));
  CHECK(c.entropy[1] == 0.0);
  // rho = 0.25 < 1: video dominant; audio's weight alpha * clamp(1/rho - 1, 0, 1) = alpha
  c = pmr_coefficients({10, 40}, 2.0, 0.1, "ratio");
  CHECK(c.dominant == 1);
  CHECK(c.pce == std::vector<double>{2.0, 0.0});
  CHECK(c.entropy == std::vector<double>{0.0, 0.1});
  // rho = 1.2: weight 0.2 alpha
  c = pmr_coefficients({12, 10}, 1.0, 0.5, "ratio");
  CHECK(c.pce[1] == Approx(0.2));
  CHECK(c.entropy[0] == Approx(0.1));
  // balanced: nothing
  c = pmr_coefficients({20, 20}, 1.0, 0.1, "ratio");
  CHECK(c.pce == std::vector<double>{0.0, 0.0});
  CHECK(c.entropy == std::vector<double>{0.0, 0.0});
  // the release's rule: alpha for the weaker modality whatever the ratio
  c = pmr_coefficients({12, 10}, 1.0, 0.1, "binary");
  CHECK(c.pce == std::vector<double>{0.0, 1.0});
  CHECK(c.entropy == std::vector<double>{0.1, 0.0});
  // three modalities: every modality below the best is weighted by its own ratio
  c = pmr_coefficients({20, 30, 25}, 1.0, 1.0, "ratio");
  CHECK(c.dominant == 1);
  CHECK(c.pce[0] == Approx(0.5));
  CHECK(c.pce[1] == 0.0);
  CHECK(c.pce[2] == Approx(0.2));
  CHECK(c.entropy[1] == Approx(0.5));
  CHECK_THROWS_WITH(pmr_coefficients({1, 2}, 1.0, 0.1, "linear"), Catch::Contains("method.pmr.coefficient"));
}

TEST_CASE("pmr: options are checked with the full key in the message", "[cpu]") {
  Splits s;
  const std::vector<std::pair<json, std::string>> bad = {
      {{{"momentum", 1.0}}, "method.pmr.momentum must be in [0, 1), got 1"},
      {{{"alpha", -0.5}}, "method.pmr.alpha must be >= 0"},
      {{{"mu", -1}}, "method.pmr.mu must be >= 0"},
      {{{"start_epoch", 5}, {"end_epoch", 2}}, "method.pmr.end_epoch"},
      {{{"entropy_epochs", -1}}, "method.pmr.entropy_epochs"},
      {{{"coefficient", "soft"}}, "method.pmr.coefficient"},
  };
  for (const auto& [opts, msg] : bad) {
    json cfg = small_config("pmr", 1);
    cfg["method"]["pmr"] = opts;
    INFO(opts.dump());
    mmtest::check_setup_rejects(cfg, s.train, msg);
  }
}

TEST_CASE("pmr: fits the synthetic set above chance; prototypes from epoch 1, entropy only early", "[cpu]") {
  Splits s;
  json cfg = small_config("pmr", 6);
  cfg["method"]["pmr"] = {{"alpha", 1.0}, {"mu", 0.1}, {"start_epoch", 0}, {"end_epoch", -1}, {"entropy_epochs", 3}};
  std::vector<json> records;
  Trainer tr(cfg);
  tr.on_epoch([&](const json& r) { records.push_back(r); });
  tr.fit(s.train, &s.val);
  REQUIRE(records.size() == 6);
  // epoch 0 collects the first prototypes and trains with CE(fused) alone
  CHECK_FALSE(records[0]["pmr"]["active"].get<bool>());
  CHECK(records[0]["pmr"]["prototypes_from"] == 512);
  for (int e = 1; e < 6; ++e) {
    const json& p = records[e]["pmr"];
    INFO("epoch " << e);
    CHECK(p["active"].get<bool>());
    CHECK(p["entropy_active"].get<bool>() == (e < 3));
    CHECK(p["fast"]["dominant_fraction"].get<double>() + p["slow"]["dominant_fraction"].get<double>() == Approx(1.0));
    double pce = 0.0, ent = 0.0;
    for (const char* mod : {"fast", "slow"}) {
      pce += p[mod]["pce_weight"].get<double>();
      ent += p[mod]["entropy_weight"].get<double>();
      const double sc = p[mod]["prototype_score"];
      CHECK((sc > 0.0 && sc < 1.0));
    }
    CHECK(pce > 0.0);  // some modality trails on some steps
    if (e >= 3) CHECK(ent == 0.0);
  }
  // the slow modality (4 classes at low SNR) trails the fast one on the prototype score early
  CHECK(records[1]["pmr"]["slow"]["pce_weight"].get<double>() > records[1]["pmr"]["fast"]["pce_weight"].get<double>());
  CHECK(records[1]["loss"].contains("slow.pce"));
  EvalResult ev = tr.evaluate(s.test);
  WARN("pmr test accuracy: fused " << ev.fused.acc << ", fast " << ev.per_modality[0].acc << ", slow "
                                   << ev.per_modality[1].acc);
  CHECK(ev.fused.acc > 0.25 + 0.35);
}

TEST_CASE("pmr: prototypes are checkpointed, and resume from a mid-run checkpoint is bit-identical", "[cpu]") {
  const std::string d = mmtest::temp_dir("multiloss_pmr_ckpt");
  json cfg = small_config("pmr", 2);
  cfg["train"]["checkpoint_dir"] = d;
  Splits s;
  Trainer tr(cfg);
  tr.fit(s.train, nullptr);
  auto t = mmtest::tensors_of(tr.last_checkpoint_path());
  REQUIRE(t.count("method.prototypes.fast"));
  REQUIRE(t.count("method.prototypes.slow"));
  CHECK(t["method.prototypes.fast"].size() == 4 * 32);
  std::filesystem::remove_all(d);

  json r = small_config("pmr", 5);
  r["method"]["pmr"] = {{"start_epoch", 1}, {"end_epoch", -1}, {"entropy_epochs", 2}};  // entropy in epochs 1-2
  mmtest::check_bitwise_resume(r, "multiloss_pmr", 2, {"mmpareto", "pmr"});
}
