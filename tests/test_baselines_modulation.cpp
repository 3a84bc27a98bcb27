// The gradient-modulation baselines (boosting/baseline_modulation.h): OGM's Eq. (10) and OGM-GE's
// noise, AGM's Shapley responses and coefficients on hand-computed numbers, the gradients after
// one step against an unmodulated run, and short fits through the Trainer with bit-identical
// resume from a mid-run checkpoint.
#include <cmath>
#include <map>

#include "trainer_testing.h"

#include "boosting/baseline_modulation.h"

using namespace mm;
using namespace mm::boost;
using mmtest::first_batch;
using mmtest::small_config;
using mmtest::Splits;
using nlohmann::json;

namespace {

// Gradients of every parameter by name (after a backward).
std::map<std::string, std::vector<float>> grads_of(nn::Module& net) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [n, p] : net.named_parameters()) {
    Tensor g = p.grad();
    REQUIRE(g.defined());
    out[n] = g.to_vector();
  }
  return out;
}

// The unmodulated gradients on `b`: naive joint training (the same network, loss and
// initialisation; only the modulation is missing).
std::map<std::string, std::vector<float>> plain_grads(const data::Batch& b, Splits& s) {
  Trainer plain(small_config("joint_sum"));
  plain.setup(s.train);
  plain.optimizer().zero_grad();
  plain.method().loss(b).loss.backward();
  return grads_of(plain.method().net());
}

// Encoder gradients of modality m equal k_m times the plain ones; every other gradient (the
// classifiers, the head) is untouched.
void check_scaled(const std::map<std::string, std::vector<float>>& got,
                  const std::map<std::string, std::vector<float>>& plain,
                  const std::vector<std::string>& modalities, const std::vector<double>& k) {
  REQUIRE(got.size() == plain.size());
  for (const auto& [name, g] : got) {
    INFO(name);
    double scale = 1.0;
    for (size_t m = 0; m < modalities.size(); ++m)
      if (name.rfind("encoders." + modalities[m] + ".", 0) == 0) scale = k[m];
    std::vector<double> want;
    for (float v : plain.at(name)) want.push_back(v * scale);
    mmtest::require_close(g, want, 1e-6, 1e-9, name);
  }
}

}  // namespace

// ---- OGM -----------------------------------------------------------------------------------------

TEST_CASE("OGM Eq. (10): k = 1 - tanh(alpha * rho) for the dominant modality, hand-computed, 2 and 3 modalities, window", "[cpu]") {
  OgmOptions o;
  o.alpha = 0.8;
  o.start_epoch = 2;
  o.end_epoch = 5;
  // Two modalities: rho = s_0 / s_1 = 1.5 -> k_0 = 1 - tanh(1.2); the weaker keeps 1.
  auto k = ogm_coefficients({30.0, 20.0}, o, 2);
  CHECK(k[0] == Approx(0.16634539298784468).epsilon(1e-12));
  CHECK(k[1] == 1.0);
  k = ogm_coefficients({10.0, 25.0}, o, 4);  // rho_1 = 2.5 -> 1 - tanh(2)
  CHECK(k[0] == 1.0);
  CHECK(k[1] == Approx(0.0359724199241831).epsilon(1e-12));
  // Equal scores: no modality has rho > 1.
  CHECK(ogm_coefficients({5.0, 5.0}, o, 3) == std::vector<double>{1.0, 1.0});
  // Outside [start_epoch, end_epoch): no modulation.
  CHECK(ogm_coefficients({30.0, 20.0}, o, 1) == std::vector<double>{1.0, 1.0});
  CHECK(ogm_coefficients({30.0, 20.0}, o, 5) == std::vector<double>{1.0, 1.0});
  o.end_epoch = -1;  // no end
  CHECK(ogm_coefficients({30.0, 20.0}, o, 1000)[0] < 1.0);
  // The continuous form: 1 - tanh(0.8 * (1.5 - 1)).
  o.continuous = true;
  CHECK(ogm_coefficients({30.0, 20.0}, o, 2)[0] == Approx(0.6200510377447751).epsilon(1e-12));
  // Three modalities: rho_m = s_m / min s = (2, 4/3, 1); both modalities above the minimum are
  // modulated.
  OgmOptions o3;
  o3.alpha = 0.5;
  k = ogm_coefficients({12.0, 8.0, 6.0}, o3, 0);
  CHECK(k[0] == Approx(0.23840584404423515).epsilon(1e-12));  // 1 - tanh(1)
  CHECK(k[1] == Approx(0.4172170546520898).epsilon(1e-12));   // 1 - tanh(2/3)
  CHECK(k[2] == 1.0);
  CHECK(ogm_coefficients({12.0, 8.0, 6.0}, o3, 50) == std::vector<double>{1.0, 1.0, 1.0});  // default end 50
  CHECK(ogm_ratios({12.0, 8.0, 6.0}) == std::vector<double>{2.0, 8.0 / 6.0, 1.0});
  CHECK_THROWS_AS(ogm_coefficients({1.0}, o3, 0), mm::Error);
}

TEST_CASE("OGM score: s_m = sum over the batch of softmax(z_m)[y], hand-computed", "[cpu]") {
  const float l3 = std::log(3.0f);
  // modality 0: rows (0,0,0) -> 1/3 and (ln 3, 0, 0) with y = 0 -> 3/5
  Tensor z0 = Tensor::from_vector({0, 0, 0, l3, 0, 0}, {2, 3});
  // modality 1: rows (0, ln 3, 0) with y = 2 -> 1/5 and (0,0,0) -> 1/3
  Tensor z1 = Tensor::from_vector({0, l3, 0, 0, 0, 0}, {2, 3});
  Tensor y = Tensor::from_ints({2, 0}, {2});
  auto s = ogm_scores({z0, z1}, y);
  REQUIRE(s.size() == 2);
  CHECK(s[0] == Approx(1.0 / 3 + 3.0 / 5).epsilon(1e-6));
  CHECK(s[1] == Approx(1.0 / 5 + 1.0 / 3).epsilon(1e-6));
}

TEST_CASE("OGM: after one step the dominant modality's encoder gradient is k times the unmodulated one", "[cpu]") {
  Splits s;
  const data::Batch b = first_batch(s.train);
  const auto plain = plain_grads(b, s);
  const std::vector<std::string> mods{"fast", "slow"};

  SECTION("in the window: the encoder with rho > 1 is scaled by Eq. (10), nothing else changes") {
    Trainer tr(small_config("ogm"));
    tr.setup(s.train);
    auto& m = dynamic_cast<OgmMethod&>(tr.method());
    m.begin_epoch(0);
    m.train_step(b);
    const auto& sc = m.step_scores();
    const auto& k = m.step_coefficients();
    // The scores are those of the modality logits before the step (same network as `plain`).
    CHECK(k == ogm_coefficients(sc, m.ogm_options(), 0));
    const size_t dom = sc[0] > sc[1] ? 0 : 1;
    CHECK(k[dom] < 0.9);  // alpha 0.8, rho > 1: k < 1 - tanh(0.8) = 0.34
    CHECK(k[1 - dom] == 1.0);
    check_scaled(grads_of(m.net()), plain, mods, k);
  }
  SECTION("outside the window the gradients are the plain ones") {
    json cfg = small_config("ogm");
    cfg["method"]["ogm"] = {{"start_epoch", 1}, {"end_epoch", 3}};
    Trainer tr(cfg);
    tr.setup(s.train);
    auto& m = dynamic_cast<OgmMethod&>(tr.method());
    m.begin_epoch(0);
    m.train_step(b);
    CHECK(m.step_coefficients() == std::vector<double>{1.0, 1.0});
    check_scaled(grads_of(m.net()), plain, mods, {1.0, 1.0});
  }
}

TEST_CASE("OGM-GE noise: deterministic for a seed, zero mean, std equal to std(g) within 4 standard errors", "[cpu]") {
  const int64_t n = 20000;
  const Tensor g = mmtest::randn({200, 100}, 5, 3.0f);  // std ~ 3
  const std::vector<float> gv = g.to_vector();
  double mean_g = 0.0, var_g = 0.0;
  for (float v : gv) mean_g += v;
  mean_g /= n;
  for (float v : gv) var_g += (v - mean_g) * (v - mean_g);
  const double sd_g = std::sqrt(var_g / (n - 1));
  const double k = 0.4;

  Generator g1(42), g2(42), g3(43);
  Tensor r1 = g.clone(), r2 = g.clone(), r3 = g.clone();
  const double sigma = ogm_ge_modulate_(r1, k, g1);
  ogm_ge_modulate_(r2, k, g2);
  ogm_ge_modulate_(r3, k, g3);
  CHECK(sigma == Approx(sd_g).epsilon(1e-5));  // std of g before scaling (divisor n - 1)
  CHECK(r1.to_vector() == r2.to_vector());     // same seed, same noise, bit for bit
  CHECK(r1.to_vector() != r3.to_vector());
  CHECK(g1.counter() == g2.counter());
  CHECK(g1.counter() > 0);

  // noise = result - k g. Its sample std estimates sigma with relative standard error
  // 1/sqrt(2(n-1)) ~ 0.5%, its mean has standard error sigma/sqrt(n) ~ 0.021: allow 4 of each.
  const std::vector<float> rv = r1.to_vector();
  double mean_n = 0.0, var_n = 0.0;
  for (int64_t i = 0; i < n; ++i) mean_n += rv[i] - static_cast<float>(k) * gv[i];
  mean_n /= n;
  for (int64_t i = 0; i < n; ++i) {
    const double d = rv[i] - static_cast<float>(k) * gv[i] - mean_n;
    var_n += d * d;
  }
  const double sd_n = std::sqrt(var_n / (n - 1));
  CHECK(std::fabs(sd_n / sigma - 1.0) < 4.0 / std::sqrt(2.0 * (n - 1)));
  CHECK(std::fabs(mean_n) < 4.0 * sigma / std::sqrt(static_cast<double>(n)));

  // A single entry has no sample std: only the scaling applies, and no noise is drawn.
  Tensor one = Tensor::from_vector({2.0f}, {1});
  Generator g4(1);
  CHECK(ogm_ge_modulate_(one, 0.5, g4) == 0.0);
  CHECK(one.item() == 1.0f);
  CHECK(g4.counter() == 0);
}

// ---- AGM -----------------------------------------------------------------------------------------

TEST_CASE("AGM Shapley values: hand-computed 2- and 3-player games, empty coalition counted as 0", "[cpu]") {
  // Two players, payoffs of length 2 (v[0] must be ignored).
  std::vector<std::vector<double>> v2 = {{100.0, 100.0}, {1.0, 0.0}, {2.0, 1.0}, {6.0, 1.0}};
  auto phi = shapley_values(v2);
  REQUIRE(phi.size() == 2);
  CHECK(phi[0][0] == Approx(0.5 * 1 + 0.5 * (6 - 2)));  // 2.5
  CHECK(phi[1][0] == Approx(0.5 * 2 + 0.5 * (6 - 1)));  // 3.5
  CHECK(phi[0][1] == Approx(0.0));
  CHECK(phi[1][1] == Approx(1.0));
  // Three players: v(1)=1 v(2)=2 v(3)=4 v(12)=4 v(13)=6 v(23)=6 v(123)=10 (bit m = player m+1).
  std::vector<std::vector<double>> v3 = {{0}, {1}, {2}, {4}, {4}, {6}, {6}, {10}};
  phi = shapley_values(v3);
  REQUIRE(phi.size() == 3);
  // phi_1 = 1/3 (1 - 0) + 1/6 (4 - 2) + 1/6 (6 - 4) + 1/3 (10 - 6)
  CHECK(phi[0][0] == Approx(1.0 / 3 + 2.0 / 6 + 2.0 / 6 + 4.0 / 3));
  CHECK(phi[1][0] == Approx(2.0 / 3 + 3.0 / 6 + 2.0 / 6 + 4.0 / 3));
  CHECK(phi[2][0] == Approx(4.0 / 3 + 5.0 / 6 + 4.0 / 6 + 6.0 / 3));
  CHECK(phi[0][0] + phi[1][0] + phi[2][0] == Approx(10.0));  // efficiency
  CHECK_THROWS_AS(shapley_values({{1.0}, {2.0}, {3.0}}), mm::Error);
}

TEST_CASE("AGM coefficients: kappa = exp(alpha * min(rbar - r, gap)), r = exp(mean of others - s), hand-computed", "[cpu]") {
  AgmOptions o;
  o.alpha = 1.0;
  // M = 2: r = (e^0.7, e^-0.7) from s = (0.5, 1.2); rbar = (e^0.2, e^-0.2) from (0.8, 1.0).
  auto k = agm_coefficients({0.5, 1.2}, {0.8, 1.0}, o, 0);
  CHECK(k[0] == Approx(0.45277953516255803).epsilon(1e-12));
  CHECK(k[1] == Approx(1.3800854938102418).epsilon(1e-12));
  // The cap on rbar - r: rbar_0 = e^5 would give exp(0.5 * 147.4); capped at exp(0.5 * 10).
  o.alpha = 0.5;
  k = agm_coefficients({1.0, 1.0}, {0.0, 5.0}, o, 7);
  CHECK(k[0] == Approx(148.4131591025766).epsilon(1e-12));
  CHECK(k[1] == Approx(0.6085774913566907).epsilon(1e-12));
  // M = 3: r_m = exp(1.5 * (mean s - s_m)), rbar = 1.
  o.alpha = 0.7;
  k = agm_coefficients({0.3, 0.9, 1.5}, {1.0, 1.0, 1.0}, o, 0);
  CHECK(k[0] == Approx(0.35997446600553934).epsilon(1e-12));
  CHECK(k[1] == Approx(1.0).epsilon(1e-12));
  CHECK(k[2] == Approx(1.5149784859714341).epsilon(1e-12));
  // Outside the window.
  o.start_epoch = 3;
  o.end_epoch = 6;
  CHECK(agm_coefficients({0.3, 0.9, 1.5}, {1.0, 1.0, 1.0}, o, 2) == std::vector<double>{1.0, 1.0, 1.0});
  CHECK(agm_coefficients({0.3, 0.9, 1.5}, {1.0, 1.0, 1.0}, o, 6) == std::vector<double>{1.0, 1.0, 1.0});
  CHECK(agm_coefficients({0.3, 0.9, 1.5}, {1.0, 1.0, 1.0}, o, 5)[0] < 1.0);
  // The score: mean CE of the response, with the release's floor p >= 1e-8.
  const double l3 = std::log(3.0);
  CHECK(agm_score({0, 0, l3, 0}, {1, 0}, 2) == Approx(0.4904146265058631).epsilon(1e-12));
  CHECK(agm_score({0, -100}, {1}, 2) == Approx(18.420680743952367).epsilon(1e-12));
}

TEST_CASE("AGM mono-modal responses from zeroed forwards on a tiny network, by hand", "[cpu]") {
  // Two 1-dimensional modalities, 2 rows; encoder u = relu(w x + b) (no hidden layer, D = 1),
  // no classifier layer, head z = W u + c (K = 4).
  mmtest::SyntheticSet set;
  set.dims = {1, 1};
  set.x = {{2.0f, -1.0f}, {1.0f, 3.0f}};
  set.y = {0, 2};
  mmtest::VectorStream stream(set, 2, false);
  json cfg = small_config("agm");
  cfg["model"] = {{"encoder", {{"type", "mlp"}, {"feature_dim", 1}, {"mlp_hidden", json::array()}}},
                  {"classifier_hidden", json::array()}};
  Trainer tr(cfg);
  tr.setup(stream);
  auto& m = dynamic_cast<AgmMethod&>(tr.method());
  const std::map<std::string, std::vector<float>> values = {
      {"encoders.fast.layers.0.weight", {1.5f}}, {"encoders.fast.layers.0.bias", {0.5f}},
      {"encoders.slow.layers.0.weight", {-1.0f}}, {"encoders.slow.layers.0.bias", {2.0f}},
      {"head.weight", {1.0f, -1.0f, 0.5f, 2.0f}}, {"head.bias", {0.1f, 0.2f, -0.3f, 0.0f}}};
  auto params = m.net().named_parameters();
  REQUIRE(params.size() == values.size());
  for (auto& [n, p] : params) {
    INFO(n);
    REQUIRE(values.count(n));
    p.copy_(Tensor::from_vector(values.at(n), p.shape()));
  }
  const data::Batch b = first_batch(stream);
  const auto phi = m.mono_modal_responses(b);
  // u_fast = (3.5, 0), u_fast(0) = 0.5; u_slow = (1, 0), u_slow(0) = 2. For the late-fusion sum,
  // phi_m = z_m - z0_m + (z0_fast + z0_slow)/2 = W (u_m - u0_m + (u0_fast + u0_slow)/2) + c:
  // fast rows: 3.5 - 0.5 + 1.25 = 4.25 and 0.75; slow rows: 1 - 2 + 1.25 = 0.25 and -0.75.
  const std::vector<double> W = {1.0, -1.0, 0.5, 2.0}, c = {0.1, 0.2, -0.3, 0.0};
  auto expect = [&](double a0, double a1) {
    std::vector<double> v;
    for (double a : {a0, a1})
      for (int k = 0; k < 4; ++k) v.push_back(a * W[k] + c[k]);
    return v;
  };
  const std::vector<double> want_fast = expect(4.25, 0.75), want_slow = expect(0.25, -0.75);
  REQUIRE(phi.size() == 2);
  for (int i = 0; i < 8; ++i) {
    CHECK(phi[0][i] == Approx(want_fast[i]).margin(1e-6));
    CHECK(phi[1][i] == Approx(want_slow[i]).margin(1e-6));
  }
  // The same responses from the Shapley values of the network's own fused predictions with the
  // inputs outside each coalition zeroed (independent of late_fusion_coalitions).
  std::vector<std::vector<double>> v(4);
  for (int S = 1; S < 4; ++S) {
    data::Batch z = b;
    for (int r = 0; r < 2; ++r)
      if (!((S >> r) & 1)) z.inputs[r] = Tensor::zeros(b.inputs[r].shape());
    NoGradGuard ng;
    const std::vector<float> f = m.predict(z).fused_logits.to_vector();
    v[S].assign(f.begin(), f.end());
  }
  v[0].assign(8, 0.0);
  const auto direct = shapley_values(v);
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 8; ++i) CHECK(phi[r][i] == Approx(direct[r][i]).margin(1e-6));
}

TEST_CASE("AGM: after one step each encoder gradient is kappa_m times the unmodulated one", "[cpu]") {
  Splits s;
  const data::Batch b = first_batch(s.train);
  const auto plain = plain_grads(b, s);
  Trainer tr(small_config("agm"));
  tr.setup(s.train);
  auto& m = dynamic_cast<AgmMethod&>(tr.method());
  m.begin_epoch(0);
  // The scores the step will use, from the responses before the step.
  const auto phi = m.mono_modal_responses(b);
  const std::vector<int64_t> y = b.labels.to_int_vector();
  const std::vector<double> s_hand = {agm_score(phi[0], y, 4), agm_score(phi[1], y, 4)};
  m.train_step(b);
  CHECK(m.step_scores()[0] == Approx(s_hand[0]).epsilon(1e-12));
  CHECK(m.step_scores()[1] == Approx(s_hand[1]).epsilon(1e-12));
  // First step: the running scores were 0, so rbar = 1 and kappa_m = exp(alpha (1 - r_m)).
  const auto r = agm_ratios(s_hand);
  const auto& k = m.step_coefficients();
  CHECK(k[0] == Approx(std::exp(1.0 - r[0])).epsilon(1e-9));
  CHECK(k[1] == Approx(std::exp(1.0 - r[1])).epsilon(1e-9));
  CHECK(std::fabs(k[0] - 1.0) > 1e-3);  // the test means something only if kappa != 1
  check_scaled(grads_of(m.net()), plain, {"fast", "slow"}, k);
  // ... and the running scores then took this batch in.
  CHECK(m.running_steps() == 1);
  CHECK(m.running_scores() == m.step_scores());
}

// ---- through the Trainer --------------------------------------------------------------------------

TEST_CASE("ogm, ogm_ge, agm: a short fit beats chance and resume from a mid-run checkpoint is bit-identical", "[cpu]") {
  for (const char* name : {"ogm", "ogm_ge", "agm"}) {
    INFO(name);
    const std::string tag = name;
    const std::string key = tag == "agm" ? "agm_coeff" : "ogm_coeff";
    // B is stopped in the middle of epoch 2 and resumed by a fresh trainer from "last" (end of
    // epoch 1); the coefficients of every epoch record are compared too.
    mmtest::check_bitwise_resume(small_config(name, 4), "modulation_" + tag, 2, {key}, [&](const mmtest::ResumePair& r) {
      const FitResult& ra = r.ra;  // A: uninterrupted
      // Chance is 0.25 (K = 4); measured fused validation accuracy: 0.82 for each of the three.
      const double acc = ra.history.back()["val"]["fused"]["acc"].get<double>();
      WARN(name << ": fused validation accuracy after 4 epochs " << acc << " (fast alone "
                << ra.history.back()["val"]["fast"]["acc"].get<double>() << ", slow alone "
                << ra.history.back()["val"]["slow"]["acc"].get<double>() << "), mean coefficients per epoch "
                << [&] { json c = json::array(); for (const auto& rec : ra.history) c.push_back(rec[key]); return c.dump(); }());
      CHECK(acc > 0.25 + 0.45);
      for (const auto& rec : ra.history) {
        REQUIRE(rec.contains(key));
        for (const char* mod : {"fast", "slow"}) CHECK(rec[key][mod].get<double>() > 0.0);
      }
      if (tag != "agm") {  // some modality was slowed down in every epoch (window 0..50)
        for (const auto& rec : ra.history)
          CHECK(std::min(rec[key]["fast"].get<double>(), rec[key]["slow"].get<double>()) < 1.0);
      }
      CHECK(r.b.method().state_json() == r.a.method().state_json());  // GE generator / running scores
    });
  }
}

TEST_CASE("OGM window [start_epoch, end_epoch) in the epoch records", "[cpu]") {
  Splits s;
  json cfg = small_config("ogm", 3);
  cfg["method"]["ogm"] = {{"start_epoch", 1}, {"end_epoch", 2}};
  Trainer tr(cfg);
  std::vector<json> recs;
  tr.on_epoch([&](const json& r) { recs.push_back(r); });
  tr.fit(s.train, nullptr);
  REQUIRE(recs.size() == 3);
  for (int e : {0, 2}) {
    CHECK_FALSE(recs[e]["ogm_window"].get<bool>());
    CHECK(recs[e]["ogm_coeff"] == json({{"fast", 1.0}, {"slow", 1.0}}));
  }
  CHECK(recs[1]["ogm_window"].get<bool>());
  CHECK(std::min(recs[1]["ogm_coeff"]["fast"].get<double>(), recs[1]["ogm_coeff"]["slow"].get<double>()) < 1.0);
}

TEST_CASE("modulation options: defaults, and out-of-range values rejected naming the full key", "[cpu]") {
  const json d = resolve_config(json::object());
  CHECK(d["method"]["ogm"]["alpha"] == 0.8);
  CHECK(d["method"]["ogm"]["end_epoch"] == 50);
  CHECK(d["method"]["agm"]["alpha"] == 1.0);
  CHECK_THROWS_AS(resolve_config({{"method", {{"ogm", {{"alpah", 1.0}}}}}}), mm::Error);
  Splits s;
  mmtest::check_setup_rejects(small_config("ogm_ge", 4, {{"ogm", {{"alpha", -1}}}}), s.train,
                              "method.ogm.alpha must be > 0, got -1");
  mmtest::check_setup_rejects(small_config("ogm", 4, {{"ogm", {{"start_epoch", 5}, {"end_epoch", 5}}}}), s.train,
                              "method.ogm.end_epoch must be > start_epoch");
  mmtest::check_setup_rejects(small_config("agm", 4, {{"agm", {{"running", "median"}}}}), s.train,
                              "method.agm.running must be one of mean, ema, got \"median\"");
  mmtest::check_setup_rejects(small_config("agm", 4, {{"agm", {{"momentum", 1.0}}}}), s.train,
                              "method.agm.momentum must lie in [0, 1)");
}
