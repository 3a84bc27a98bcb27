// BoostMethod's numbers checked against sums built in the test from the individual classifiers
// (paper Sections 4.1-4.3, Algorithms 1-2): omega in the classifier sums (p_hat = omega p, both
// method.omega_scope values, plain and fused paths), inference (Section 4.3: p-bar^r sums all
// n^r classifiers; fusion omega and weights), the fixed assignment of Section 5.6 / Table 5, the
// check after epoch 0 (method.assign_at_first_epoch), one optimizer step per batch for the joint
// update (Algorithm 2 line 8) against one per modality for the alternating one, and the ACA
// network at its default settings through the method's own end_epoch (Algorithm 1 lines 7-10).
//
// Per-classifier logits z_j = head(psi_j(phi(x))) are computed here from the method's encoder
// (found by name under net()), its classifiers and its shared head, and summed in double.
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "trainer_testing.h"

#include "boosting/boost_method.h"

using namespace mm;
using namespace mm::boost;
using mmtest::Splits;
using nlohmann::json;

namespace {

// The encoder phi^r of modality `name`: net() holds it as "encoders.<name>".
std::shared_ptr<nn::Module> encoder_of(BoostMethod& m, const std::string& name) {
  for (const auto& [n, c] : m.net().named_children())
    if (n == "encoders")
      for (const auto& [mn, e] : c->named_children())
        if (mn == name) return e;
  FAIL("no encoder named " << name);
  return nullptr;
}

// z_j (B,K) of every classifier j of modality `mi` on inputs x, no coefficient applied.
std::vector<std::vector<float>> classifier_logits(BoostMethod& m, int64_t mi, const std::string& name,
                                                  const Tensor& x) {
  NoGradGuard ng;
  Tensor u = encoder_of(m, name)->forward(x);
  std::vector<std::vector<float>> z;
  for (const auto& c : m.classifiers(mi)) z.push_back(m.head().forward(c->forward(u)).to_vector());
  return z;
}

// The coefficients of Section 4.2's p_hat = omega p, written out: scope "all" scales every
// classifier, "added" every classifier but the first.
std::vector<double> expected_coefficients(int64_t n, double omega, const std::string& scope) {
  std::vector<double> c(n, omega);
  if (scope == "added") c[0] = 1.0;
  return c;
}

// sum_{j in [from, to)} c_j z_j, in double.
std::vector<double> weighted_sum(const std::vector<std::vector<float>>& z, const std::vector<double>& c,
                                 size_t from, size_t to) {
  std::vector<double> out(z.at(0).size(), 0.0);
  for (size_t j = from; j < to; ++j)
    for (size_t i = 0; i < out.size(); ++i) out[i] += c[j] * static_cast<double>(z[j][i]);
  return out;
}

const double kOmega[2] = {0.6, 0.35};  // omega^fast, omega^slow: neither 1

json omega_config(const std::string& scope) {
  return mmtest::small_config("boost", 1,
                              {{"omega", "fixed"}, {"omega_fixed", {kOmega[0], kOmega[1]}}, {"omega_scope", scope}});
}

// Every parameter of the method's network, by name, as floats.
std::map<std::string, std::vector<float>> parameter_values(Method& m) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [n, p] : m.net().named_parameters()) out[n] = p.to_vector();
  return out;
}

void set_parameters(Method& m, const std::map<std::string, std::vector<float>>& values) {
  NoGradGuard ng;
  for (auto& [n, p] : m.net().named_parameters()) {
    const auto& v = values.at(n);
    std::copy(v.begin(), v.end(), p.data_f32());
  }
}

// p - lr * grad(p) for every parameter with a gradient (the others unchanged), in double.
std::map<std::string, std::vector<double>> sgd_update(Method& m, double lr) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [n, p] : m.net().named_parameters()) {
    std::vector<float> v = p.to_vector();
    std::vector<double> w(v.begin(), v.end());
    if (p.grad().defined()) {
      std::vector<float> g = p.grad().to_vector();
      for (size_t i = 0; i < w.size(); ++i) w[i] -= lr * static_cast<double>(g[i]);
    }
    out[n] = w;
  }
  return out;
}

int64_t optimizer_steps(Trainer& tr) { return tr.optimizer().state_json().at("steps").get<int64_t>(); }

}  // namespace

// S_{n-1} = sum_{j<n} c_j z_j and z_new = c_n z_n with c_j = omega^r for every j (scope all) or
// c = (1, omega^r, ..., omega^r) (scope added), for a modality with 3 classifiers, plain and fused.
TEST_CASE("Section 4.2 p_hat = omega p: classifier_sums scales each classifier's logits by c_j, scopes added and all",
          "[cpu]") {
  for (const std::string scope : {"added", "all"}) {
    SECTION(scope) {
      Splits s;
      Trainer tr(omega_config(scope));
      tr.setup(s.train);
      auto& m = dynamic_cast<BoostMethod&>(tr.method());
      m.add_classifier(0);  // fast: 2 classifiers
      m.add_classifier(1);  // slow: 3 classifiers
      m.add_classifier(1);
      const data::Batch b = mmtest::first_batch(s.train);
      const std::vector<std::string> names = {"fast", "slow"};
      for (int64_t mi = 0; mi < 2; ++mi) {
        INFO(names[mi]);
        const int64_t n = m.num_classifiers(mi);
        REQUIRE(n == 2 + mi);
        const std::vector<double> c = expected_coefficients(n, kOmega[mi], scope);
        const auto z = classifier_logits(m, mi, names[mi], b.inputs[mi]);
        const std::vector<double> want_prev = weighted_sum(z, c, 0, n - 1);
        const std::vector<double> want_new = weighted_sum(z, c, n - 1, n);
        for (bool fused : {false, true}) {
          INFO((fused ? "fused" : "plain"));
          NoGradGuard ng;
          ClassifierSums cs = m.classifier_sums(mi, b.inputs[mi], fused);
          // plain: the same products, summed in float; fused: the head applied to sums of hidden
          // vectors, another order of float sums.
          const double rtol = fused ? 1e-5 : 1e-6, atol = fused ? 1e-5 : 1e-6;
          mmtest::require_close(cs.s_prev.to_vector(), want_prev, rtol, atol, "S_{n-1}");
          mmtest::require_close(cs.z_new.to_vector(), want_new, rtol, atol, "z_new");
        }
      }
    }
  }
}

// p-bar^r = sum_{t=1}^{n^r} c_t z_t (the newest classifier included); fusion omega: sum_r p-bar^r;
// fusion weights: sum_r w_r p-bar^r with method.fusion_weights.
TEST_CASE("Section 4.3 inference: S^r sums all n^r classifiers; fusion omega sums the S^r, weights gives sum_r w_r S^r",
          "[cpu]") {
  const double w[2] = {0.3, 1.7};  // method.fusion_weights, not the default 0.4/0.6
  for (const std::string fusion : {"omega", "weights"}) {
    for (const std::string fused_opt : {"off", "on"}) {
      SECTION(fusion + ", fused " + fused_opt) {
        Splits s;
        json cfg = omega_config("added");
        cfg["method"]["fusion"] = fusion;
        cfg["method"]["fusion_weights"] = {w[0], w[1]};
        cfg["method"]["fused"] = fused_opt;
        Trainer tr(cfg);
        tr.setup(s.train);
        auto& m = dynamic_cast<BoostMethod&>(tr.method());
        m.add_classifier(0);
        m.add_classifier(1);
        m.add_classifier(1);
        const data::Batch b = mmtest::first_batch(s.train);
        const std::vector<std::string> names = {"fast", "slow"};
        m.net().eval();
        NoGradGuard ng;
        Predictions p = m.predict(b);
        REQUIRE(p.modality_logits.size() == 2);
        const double rtol = fused_opt == "on" ? 1e-5 : 1e-6, atol = fused_opt == "on" ? 1e-5 : 1e-6;
        std::vector<std::vector<double>> S;
        for (int64_t mi = 0; mi < 2; ++mi) {
          INFO(names[mi]);
          const int64_t n = m.num_classifiers(mi);
          const auto z = classifier_logits(m, mi, names[mi], b.inputs[mi]);
          S.push_back(weighted_sum(z, expected_coefficients(n, kOmega[mi], "added"), 0, n));  // t = 1..n^r
          mmtest::require_close(p.modality_logits[mi].to_vector(), S.back(), rtol, atol, "S^r");
        }
        std::vector<double> want(S[0].size());
        for (size_t i = 0; i < want.size(); ++i)
          want[i] = fusion == "omega" ? S[0][i] + S[1][i] : w[0] * S[0][i] + w[1] * S[1][i];
        mmtest::require_close(p.fused_logits.to_vector(), want, rtol, atol, "fused");
      }
    }
  }
}

// method.fixed_modality / method.fixed_classifiers (n_fix); assign_every 1, so a check follows every epoch.
TEST_CASE("Section 5.6 fixed assignment: the named modality starts with n_fix classifiers and no check adds one",
          "[cpu]") {
  Splits s;
  Trainer tr(mmtest::small_config(
      "boost", 2, {{"assignment", "fixed"}, {"fixed_modality", "slow"}, {"fixed_classifiers", 4}, {"assign_every", 1},
                   {"aca_steps", 5}}));
  tr.setup(s.train);
  auto& m = dynamic_cast<BoostMethod&>(tr.method());
  CHECK(m.num_classifiers(0) == 1);
  CHECK(m.num_classifiers(1) == 4);
  std::vector<json> records;
  tr.on_epoch([&](const json& r) { records.push_back(r); });
  tr.fit(s.train, nullptr);
  REQUIRE(records.size() == 2);
  for (const auto& r : records) {
    CHECK(r["assignment_check"].get<bool>());  // T = 1: a check after every epoch ...
    CHECK(r["assigned"].empty());              // ... that adds nothing
    CHECK(r["classifiers"] == json({{"fast", 1}, {"slow", 4}}));
  }
  CHECK(m.num_classifiers(0) == 1);
  CHECK(m.num_classifiers(1) == 4);
}

// method.assign_at_first_epoch (BoostMethod::end_epoch): with T = 3 the first regular check is after
// epoch 2; with the option on, epoch 0 is checked too and the modality behind on the OGM score gets a
// classifier (Algorithm 1 lines 2-5).
TEST_CASE("Algorithm 2 lines 10-20, T = 3: assign_at_first_epoch adds a classifier after epoch 0; without it none",
          "[cpu]") {
  for (bool first : {true, false}) {
    SECTION(first ? "on" : "off") {
      Splits s;
      json cfg = mmtest::small_config("boost", 2, {{"assign_every", 3}, {"assign_at_first_epoch", first},
                                                  {"aca_steps", 5}});
      // lr 0.1: after one epoch at 0.01 the two OGM scores are still within tau = 0.01 of each
      // other (0.253 / 0.248); at 0.1 they are 0.347 / 0.296.
      cfg["optim"]["lr"] = 0.1;
      Trainer tr(cfg);
      std::vector<json> records;
      tr.on_epoch([&](const json& r) { records.push_back(r); });
      tr.fit(s.train, nullptr);
      REQUIRE(records.size() == 2);
      auto& m = dynamic_cast<BoostMethod&>(tr.method());
      CHECK_FALSE(records[1]["assignment_check"].get<bool>());  // (1 + 1) % 3 != 0
      CHECK(records[1]["assigned"].empty());
      CHECK(records[0]["assignment_check"].get<bool>() == first);
      if (first) {
        // the difference rule (sigma 1, tau 0.01) on epoch 0's scores
        const double f = records[0]["ogm_scores"]["fast"], sl = records[0]["ogm_scores"]["slow"];
        INFO("OGM scores after epoch 0: fast " << f << ", slow " << sl);
        REQUIRE(std::fabs(f - sl) > 0.01);  // else nothing would be added and the test would say nothing
        const std::string weak = f < sl ? "fast" : "slow";
        CHECK(records[0]["assigned"] == json::array({weak}));
        CHECK(m.num_classifiers(weak == "fast" ? 0 : 1) == 2);
        CHECK(m.num_classifiers(weak == "fast" ? 1 : 0) == 1);
      } else {
        CHECK(records[0]["assigned"].empty());
        CHECK(m.num_classifiers(0) == 1);
        CHECK(m.num_classifiers(1) == 1);
      }
    }
  }
}

// joint: one optimizer step per batch on the gradient of the summed per-modality losses (eq (6));
// alternating (the release): one step per modality, the shared head stepping each time.
TEST_CASE("Algorithm 2 line 8: joint takes one SGD step on the summed modality losses, alternating one per modality",
          "[cpu]") {
  // Plain SGD (no momentum, no weight decay) so that a step is p - lr * grad; a large lr makes the
  // two updates differ well beyond float rounding.
  const double lr = 0.5;
  for (const std::string update : {"joint", "alternating"}) {
    SECTION(update) {
      Splits s;
      json cfg = mmtest::small_config("boost", 1, {{"update", update}});
      cfg["optim"]["lr"] = lr;
      cfg["optim"]["momentum"] = 0.0;
      cfg["optim"]["weight_decay"] = 0.0;
      Trainer tr(cfg);
      tr.setup(s.train);
      auto& m = dynamic_cast<BoostMethod&>(tr.method());
      m.add_classifier(1);  // slow: 2 classifiers, so all three terms of eq (5)
      const data::Batch b = mmtest::first_batch(s.train);
      const auto start = parameter_values(m);

      // The expected parameters after the step, from gradients computed here.
      std::map<std::string, std::vector<double>> want;
      if (update == "joint") {
        tr.optimizer().zero_grad();
        m.loss(b).loss.backward();  // the modality losses summed
        want = sgd_update(m, lr);
      } else {
        for (int64_t mi = 0; mi < 2; ++mi) {  // modality by modality, each step seen by the next
          tr.optimizer().zero_grad();
          ClassifierSums cs = m.classifier_sums(mi, b.inputs[mi], false);
          BoostLossOptions o = BoostLossOptions::for_classifiers(m.num_classifiers(mi), 0.2f, true, true, true);
          boost_loss_plain(cs.s_prev, cs.z_new, b.labels, o).loss.backward();
          want = sgd_update(m, lr);
          std::map<std::string, std::vector<float>> next;
          for (const auto& [n, v] : want) next[n] = std::vector<float>(v.begin(), v.end());
          set_parameters(m, next);
        }
      }
      set_parameters(m, start);
      tr.optimizer().zero_grad();

      const int64_t steps_before = optimizer_steps(tr);
      m.train_step(b);
      CHECK(optimizer_steps(tr) - steps_before == (update == "joint" ? 1 : 2));
      const auto got = parameter_values(m);
      REQUIRE(got.size() == want.size());
      for (const auto& [n, v] : want) {
        INFO(n);
        // The same gradients; the step's float arithmetic against the double one here.
        mmtest::require_close(got.at(n), v, 1e-6, 1e-7, n);
      }
      // The shared head moved (both updates step it).
      CHECK(got.at("head.weight") != start.at("head.weight"));
    }
  }
}

// Defaults aca_lr 1e-3, aca_steps 100, aca_hidden {512, 64}, through end_epoch (BoostMethod::train_aca):
// omega rises for the modality behind on the OGM score (g_t = 1) and falls for the other.
TEST_CASE("Algorithm 1 lines 7-10 at the default ACA settings: one check moves omega towards g_t", "[cpu]") {
  // T = 1: the check after epoch 0. The reference run differs only in aca_steps = 0, so its omega
  // is the untrained ACA network's output at the same scores (same seed, same data, same draws).
  auto run = [](int aca_steps) {
    Splits s;
    json opts = {{"assign_every", 1}};
    if (aca_steps >= 0) opts["aca_steps"] = aca_steps;
    Trainer tr(mmtest::small_config("boost", 1, opts));
    json rec;
    tr.on_epoch([&](const json& r) { rec = r; });
    tr.fit(s.train, nullptr);
    const auto& mc = tr.config()["method"];
    return std::make_tuple(rec, dynamic_cast<BoostMethod&>(tr.method()).omega(), mc);
  };
  const auto [rec0, omega0, mc0] = run(0);
  const auto [rec, omega, mc] = run(-1);  // the defaults
  CHECK(mc["aca_lr"].get<double>() == 1e-3);
  CHECK(mc["aca_steps"].get<int>() == 100);
  CHECK(mc["aca_hidden"] == json({512, 64}));
  CHECK(mc["omega"] == "learned");
  REQUIRE(rec["assignment_check"].get<bool>());
  REQUIRE(rec["ogm_scores"] == rec0["ogm_scores"]);
  const double f = rec["ogm_scores"]["fast"], sl = rec["ogm_scores"]["slow"];
  const size_t weak = f < sl ? 0 : 1, strong = 1 - weak;
  CHECK(rec["aca_target"] == (weak == 0 ? json::array({1.0, 0.0}) : json::array({0.0, 1.0})));
  INFO("untrained omega " << omega0[0] << ", " << omega0[1] << "; trained " << omega[0] << ", " << omega[1]);
  CHECK(omega[weak] > omega0[weak]);
  CHECK(omega[strong] < omega0[strong]);
  CHECK(omega[weak] > 0.8);  // measured: 0.882 / 0.138, from 0.533 / 0.526 untrained
  CHECK(omega[strong] < 0.2);
  const double l0 = std::pow(1.0 - omega0[weak], 2) + std::pow(omega0[strong], 2);  // L_ACA before training
  CHECK(rec["aca_loss"].get<double>() < l0);
  CHECK(rec["omega"][weak == 0 ? "fast" : "slow"].get<double>() == omega[weak]);
}
