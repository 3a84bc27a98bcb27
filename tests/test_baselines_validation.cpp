// MSLR and G-Blend (boosting/baseline_validation.h): their rules on hand-computed examples,
// their wiring into the optimizer and the loss, that only the validation pass after an epoch
// changes their state (never a test evaluation), a short fit on the synthetic two-modality set
// and bit-identical resume from a checkpoint.
#include <cmath>

#include "trainer_testing.h"

#include "boosting/baseline_validation.h"
#include "engine/autograd.h"

using namespace mm;
using namespace mm::boost;
using mmtest::small_config;
using mmtest::Splits;
using nlohmann::json;

namespace {

// Logits (R,K) = (10,4) of a modality that classifies exactly `correct` of the 10 samples right
// (label i % 4; a wrong row points at the next class).
Tensor logits_with_accuracy(int correct) {
  std::vector<float> v(10 * 4, 0.0f);
  for (int i = 0; i < 10; ++i) v[i * 4 + (i < correct ? i % 4 : (i + 1) % 4)] = 3.0f;
  return Tensor::from_vector(v, {10, 4});
}

Tensor labels10() {
  std::vector<int64_t> y;
  for (int i = 0; i < 10; ++i) y.push_back(i % 4);
  return Tensor::from_ints(y, {10});
}

// One "epoch" of the trainer's protocol without training: end_epoch(e), then the validation
// pass with the given per-modality accuracies (out of 10).
void fake_epoch(Method& m, int e, int fast_correct, int slow_correct) {
  m.end_epoch(e);
  m.fuse_validation({logits_with_accuracy(fast_correct), logits_with_accuracy(slow_correct)}, labels10());
}

float group_base_lr(Trainer& tr, const std::string& name) {
  return tr.optimizer().groups()[tr.optimizer().group_index(name)].base_lr;
}
float group_lr(Trainer& tr, const std::string& name) {
  return tr.optimizer().groups()[tr.optimizer().group_index(name)].lr;
}

// CE of one row of logits in double.
double ce_row(const std::vector<float>& z, int64_t i, int64_t K, int64_t y) {
  double mx = z[i * K];
  for (int64_t k = 1; k < K; ++k) mx = std::max<double>(mx, z[i * K + k]);
  double s = 0.0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(z[i * K + k] - mx);
  return mx + std::log(s) - z[i * K + y];
}

}  // namespace

// ---- MSLR ---------------------------------------------------------------------------------------

TEST_CASE("mslr dynamic: ratio of the current accuracy to the mean of the previous window", "[cpu]") {
  CHECK(mslr_dynamic_ratio({}, 0.5, 2) == 1.0);           // no history yet
  CHECK(mslr_dynamic_ratio({0.4}, 0.5, 2) == 1.0);        // fewer than `window` epochs
  CHECK(mslr_dynamic_ratio({0.4, 0.5}, 0.9, 2) == Approx(2.0));       // 0.9 / 0.45
  CHECK(mslr_dynamic_ratio({0.4, 0.5, 0.9}, 0.3, 2) == Approx(0.3 / 0.7));  // last two only
  CHECK(mslr_dynamic_ratio({0.0, 0.0}, 0.3, 2) == 1.0);   // nothing to compare with
  CHECK(mslr_dynamic_ratio({0.2, 0.4, 0.6, 0.8, 1.0}, 0.9, 5) == Approx(1.5));
  CHECK_THROWS_AS(mslr_dynamic_ratio({0.5}, 0.5, 0), mm::Error);
}

TEST_CASE("mslr dynamic: factors of a hand-computed accuracy history, bounds, optimizer base_lr", "[cpu]") {
  Splits s;
  json cfg = small_config("mslr", 1);
  cfg["method"]["mslr"] = {{"strategy", "dynamic"}, {"window", 2}, {"min_factor", 0.25}, {"max_factor", 10.0}};
  Trainer tr(cfg);
  tr.setup(s.train);
  auto& m = dynamic_cast<MslrMethod&>(tr.method());
  // Accuracies (out of 10): fast 4, 5, 9, 3, 1; slow 1, 1, 8, 9, 9.
  //   epochs 0,1: fewer than 2 previous epochs, factors stay 1.
  //   epoch 2: fast 0.9 / mean(0.4,0.5) = 2;            slow 0.8 / mean(0.1,0.1) = 8.
  //   epoch 3: fast 2 * 0.3 / mean(0.5,0.9) = 6/7;      slow 8 * 0.9 / mean(0.1,0.8) = 16 -> 10 (max).
  //   epoch 4: fast 6/7 * 0.1 / mean(0.9,0.3) = 1/7 -> 0.25 (min); slow 10 * 0.9 / 0.85 -> 10.
  const int fast[] = {4, 5, 9, 3, 1}, slow[] = {1, 1, 8, 9, 9};
  const double want_fast[] = {1, 1, 2, 6.0 / 7.0, 0.25}, want_slow[] = {1, 1, 8, 10, 10};
  for (int e = 0; e < 5; ++e) {
    fake_epoch(m, e, fast[e], slow[e]);
    INFO("epoch " << e);
    CHECK(m.factors()[0] == Approx(want_fast[e]));
    CHECK(m.factors()[1] == Approx(want_slow[e]));
    CHECK(group_base_lr(tr, "mod.fast") == 0.01f * static_cast<float>(m.factors()[0]));
    CHECK(group_base_lr(tr, "mod.slow") == 0.01f * static_cast<float>(m.factors()[1]));
    CHECK(group_base_lr(tr, "shared.head") == 0.01f);  // the shared head keeps optim.lr
  }
  CHECK(m.accuracy_history()[0] == std::vector<double>{0.4, 0.5, 0.9, 0.3, 0.1});
  // update_every = 2: updates at the 3rd, 5th, ... validation pass only
  json cfg2 = cfg;
  cfg2["method"]["mslr"]["update_every"] = 2;
  Trainer tr2(cfg2);
  tr2.setup(s.train);
  auto& m2 = dynamic_cast<MslrMethod&>(tr2.method());
  for (int e = 0; e < 4; ++e) fake_epoch(m2, e, fast[e], slow[e]);
  CHECK(m2.factors()[0] == Approx(2.0));  // epoch 2 updated, epoch 3 did not
  CHECK(m2.factors()[1] == Approx(8.0));
}

TEST_CASE("mslr keep and smooth: fixed and geometrically decaying per-modality rates", "[cpu]") {
  Splits s;
  {
    json cfg = small_config("mslr", 1);
    cfg["method"]["mslr"] = {{"strategy", "keep"}, {"lr_factors", {{"fast", 0.5}, {"slow", 2.0}}}};
    Trainer tr(cfg);
    tr.setup(s.train);
    auto& m = dynamic_cast<MslrMethod&>(tr.method());
    CHECK(group_lr(tr, "mod.fast") == 0.01f * 0.5f);  // applied when the optimizer is attached
    CHECK(group_lr(tr, "mod.slow") == 0.01f * 2.0f);
    for (int e = 0; e < 7; ++e) fake_epoch(m, e, 2 + e, 9 - e);  // accuracies move; keep ignores them
    CHECK(m.factors() == std::vector<double>{0.5, 2.0});
    CHECK(group_base_lr(tr, "mod.fast") == 0.005f);
    CHECK(group_base_lr(tr, "mod.slow") == 0.02f);
  }
  {
    // f(e) = 4^(1 - min(e/2, 1)): 4, 2, 1, 1 for the slow modality; the fast one stays at 1.
    CHECK(mslr_smooth_factor(4.0, 0, 2) == Approx(4.0));
    CHECK(mslr_smooth_factor(4.0, 1, 2) == Approx(2.0));
    CHECK(mslr_smooth_factor(4.0, 2, 2) == Approx(1.0));
    CHECK(mslr_smooth_factor(0.25, 1, 2) == Approx(0.5));
    json cfg = small_config("mslr", 1);
    cfg["method"]["mslr"] = {{"strategy", "smooth"}, {"lr_factors", {{"slow", 4.0}}}, {"smooth_epochs", 2}};
    Trainer tr(cfg);
    tr.setup(s.train);
    auto& m = dynamic_cast<MslrMethod&>(tr.method());
    CHECK(m.factors() == std::vector<double>{1.0, 4.0});  // epoch 0 trains at f(0)
    const double want[] = {2.0, 1.0, 1.0};  // in force for epochs 1, 2, 3
    for (int e = 0; e < 3; ++e) {
      fake_epoch(m, e, 5, 5);
      CHECK(m.factors()[1] == Approx(want[e]));
      CHECK(group_base_lr(tr, "mod.slow") == 0.01f * static_cast<float>(m.factors()[1]));
    }
  }
}

TEST_CASE("mslr options are checked with the full key in the message", "[cpu]") {
  Splits s;
  auto expect = [&](const json& mslr, const std::string& text) {
    mmtest::check_setup_rejects(small_config("mslr", 1, {{"mslr", mslr}}), s.train, text);
  };
  expect({{"strategy", "fast"}}, "method.mslr.strategy");
  expect({{"window", 0}}, "method.mslr.window");
  expect({{"min_factor", -1.0}}, "method.mslr.min_factor must be > 0");
  expect({{"min_factor", 2.0}, {"max_factor", 1.0}}, "method.mslr.max_factor");
  expect({{"lr_factors", {{"audio", 2.0}}}}, "method.mslr.lr_factors.audio: no modality");
  expect({{"lr_factors", {{"slow", 50.0}}}}, "method.mslr.lr_factors.slow = 50");
  expect({{"lr_factors", {{"slow", -1.0}}}}, "method.mslr.lr_factors.slow must be a number > 0");
  CHECK_THROWS_AS(resolve_config({{"method", {{"mslr", {{"windw", 3}}}}}}), mm::Error);
}

TEST_CASE("mslr: the groups' lr follow the factors after each epoch of fit; test evaluation changes nothing", "[cpu]") {
  Splits s;
  json cfg = small_config("mslr", 5);
  cfg["method"]["mslr"] = {{"strategy", "dynamic"}, {"window", 2}};
  Trainer tr(cfg);
  std::vector<json> recs;
  tr.on_epoch([&](const json& r) { recs.push_back(r); });
  tr.fit(s.train, &s.val);
  REQUIRE(recs.size() == 5);
  auto& m = dynamic_cast<MslrMethod&>(tr.method());
  // Each record shows the factors it trained with, which the previous validation decided; the
  // record's "lr" is group 0 (mod.fast).
  for (int e = 0; e < 5; ++e) {
    INFO("epoch " << e);
    const json& last = recs[e]["mslr"]["last_update"];
    const double f_fast = recs[e]["mslr"]["lr_factors"]["fast"];
    CHECK(recs[e]["lr"].get<double>() == Approx(0.01 * f_fast));
    if (e < 3) CHECK(f_fast == 1.0);
    if (e >= 1) {
      CHECK(last["epoch"] == e - 1);
      CHECK(last["lr_factors"] == recs[e]["mslr"]["lr_factors"]);
      // the validation accuracies it used are the epoch's per-modality accuracies
      CHECK(last["val_acc"]["fast"].get<double>() == Approx(recs[e - 1]["val"]["fast"]["acc"].get<double>()));
      CHECK(last["val_acc"]["slow"].get<double>() == Approx(recs[e - 1]["val"]["slow"]["acc"].get<double>()));
      CHECK(last["updated"].get<bool>() == (e - 1 >= 2));
    }
  }
  // After the last epoch: lr = optim.lr * f (no schedule), from the last validation pass.
  const auto& acc = m.accuracy_history();
  REQUIRE(acc[1].size() == 5);
  const double ratio_slow = acc[1][4] / ((acc[1][2] + acc[1][3]) / 2);
  CHECK(recs[4]["mslr"]["lr_factors"]["slow"].get<double>() * ratio_slow == Approx(m.factors()[1]));
  CHECK(group_lr(tr, "mod.fast") == 0.01f * static_cast<float>(m.factors()[0]));
  CHECK(group_lr(tr, "mod.slow") == 0.01f * static_cast<float>(m.factors()[1]));
  CHECK(group_lr(tr, "shared.head") == 0.01f);
  CHECK(m.factors()[1] != 1.0);  // the slow modality's accuracy moved, so did its rate

  // Evaluating the test split (or a stray validation call outside an epoch) changes nothing.
  const json before = m.state_json();
  const std::vector<float> lrs = {group_lr(tr, "mod.fast"), group_lr(tr, "mod.slow")};
  tr.evaluate(s.test);
  tr.evaluate(s.val);
  CHECK_FALSE(m.fuse_validation({logits_with_accuracy(0), logits_with_accuracy(0)}, labels10()).defined());
  CHECK(m.state_json() == before);
  CHECK(std::vector<float>{group_lr(tr, "mod.fast"), group_lr(tr, "mod.slow")} == lrs);
}

// ---- G-Blend ------------------------------------------------------------------------------------

TEST_CASE("gblend OGR weights for hand-computed losses at two estimate points", "[cpu]") {
  // Branches (a, v, fused). Before: train (1.0, 1.2, 0.9), val (1.1, 1.3, 1.0);
  // after: train (0.6, 1.0, 0.4), val (0.9, 1.2, 0.8).
  // G = val before - val after = (0.2, 0.1, 0.2); O = (0.3, 0.2, 0.4) - (0.1, 0.1, 0.1) = (0.2, 0.1, 0.3)
  // G/O^2 = (5, 10, 20/9), sum 155/9 -> w = (9/31, 18/31, 4/31).
  BranchLosses before{{1.0, 1.2, 0.9}, {1.1, 1.3, 1.0}}, after{{0.6, 1.0, 0.4}, {0.9, 1.2, 0.8}};
  OgrEstimate e = gblend_estimate(before, after, "abs", 1e-12);
  REQUIRE(e.valid);
  CHECK(e.gain[0] == Approx(0.2));
  CHECK(e.gain[1] == Approx(0.1));
  CHECK(e.overfit[2] == Approx(0.3));
  CHECK(e.raw[0] == Approx(5.0));
  CHECK(e.raw[1] == Approx(10.0));
  CHECK(e.raw[2] == Approx(20.0 / 9.0));
  CHECK(e.weights[0] == Approx(9.0 / 31.0));
  CHECK(e.weights[1] == Approx(18.0 / 31.0));
  CHECK(e.weights[2] == Approx(4.0 / 31.0));
  // A branch whose validation loss rose: |G| counts under "abs", nothing under "positive".
  // v: val 1.3 -> 1.4, train 1.2 -> 1.0: G = -0.1, O = 0.4 - 0.1 = 0.3, |G|/O^2 = 10/9.
  BranchLosses worse = after;
  worse.val[1] = 1.4;
  OgrEstimate a = gblend_estimate(before, worse, "abs", 1e-12), p = gblend_estimate(before, worse, "positive", 1e-12);
  CHECK(a.raw[1] == Approx(10.0 / 9.0));
  CHECK(a.weights[1] == Approx((10.0 / 9.0) / (5.0 + 10.0 / 9.0 + 20.0 / 9.0)));
  CHECK(p.raw[1] == 0.0);
  CHECK(p.weights[0] == Approx(5.0 / (5.0 + 20.0 / 9.0)));
  // O = 0 is bounded by eps; no change at all gives no usable estimate.
  BranchLosses flat = before;
  flat.val[0] = 1.0;   // G = 0.1
  flat.train[0] = 0.9; // O = 0.1 - 0.1 = 0
  OgrEstimate z = gblend_estimate(before, flat, "abs", 1e-4);
  CHECK(z.raw[0] == Approx(0.1 / 1e-4));
  CHECK_FALSE(gblend_estimate(before, before, "abs", 1e-12).valid);
  CHECK_THROWS_AS(gblend_estimate(before, after, "signed", 1e-12), mm::Error);
}

TEST_CASE("gblend loss of a batch is the weighted sum of the branches' CE computed by hand", "[cpu]") {
  Splits s;
  json cfg = small_config("gblend", 1);
  cfg["method"]["gblend"] = {{"initial_weights", {1.0, 2.0, 5.0}}};  // normalised: 1/8, 2/8, 5/8
  Trainer tr(cfg);
  tr.setup(s.train);
  auto& m = dynamic_cast<GBlendMethod&>(tr.method());
  REQUIRE(m.weights() == std::vector<double>{0.125, 0.25, 0.625});
  const data::Batch b = mmtest::first_batch(s.train);
  m.begin_epoch(0);
  LossOutput out = m.loss(b);
  Predictions p;
  {
    NoGradGuard ng;
    p = m.predict(b);  // the same forward (MLP encoders: no dropout, no batch norm)
  }
  const int64_t B = b.size(), K = 4;
  const std::vector<int64_t> y = b.labels.to_int_vector();
  const std::vector<float> za = p.modality_logits[0].to_vector(), zb = p.modality_logits[1].to_vector();
  std::vector<float> zf(za.size());
  for (size_t i = 0; i < za.size(); ++i) zf[i] = za[i] + zb[i];
  double ce[3] = {0, 0, 0};
  for (int64_t i = 0; i < B; ++i) {
    ce[0] += ce_row(za, i, K, y[i]) / B;
    ce[1] += ce_row(zb, i, K, y[i]) / B;
    ce[2] += ce_row(zf, i, K, y[i]) / B;
  }
  const double want = 0.125 * ce[0] + 0.25 * ce[1] + 0.625 * ce[2];
  // float32 forward and CE against a double reference: relative 1e-5
  CHECK(out.loss.item() == Approx(want).epsilon(1e-5));
  CHECK(out.terms["fast.ce"] == Approx(ce[0]).epsilon(1e-5));
  CHECK(out.terms["slow.ce"] == Approx(ce[1]).epsilon(1e-5));
  CHECK(out.terms["fused.ce"] == Approx(ce[2]).epsilon(1e-5));
  // the gradient flows to both modalities' parameters
  out.loss.backward();
  for (const auto& [name, params] : m.param_groups()) {
    double g = 0.0;
    for (const auto& t : params)
      if (t.grad().defined())
        for (float v : t.grad().to_vector()) g += std::fabs(v);
    INFO(name);
    CHECK(g > 0.0);
  }
}

TEST_CASE("gblend estimates from the epochs' training CE and the validation CE every super-epoch", "[cpu]") {
  Splits s;
  json cfg = small_config("gblend", 1);
  cfg["method"]["gblend"] = {{"super_epoch", 2}};
  Trainer tr(cfg);
  tr.setup(s.train);
  auto& m = dynamic_cast<GBlendMethod&>(tr.method());
  CHECK(m.weights() == std::vector<double>(3, 1.0 / 3.0));  // uniform before the first estimate
  // Training CE of each epoch: the mean over its batches, accumulated in loss(); no steps here,
  // so a different subset of batches per epoch gives different means.
  auto run_epoch = [&](int e, int batches) {
    m.begin_epoch(e);
    s.train.start_epoch(e);
    data::Batch b;
    double sums[3] = {0, 0, 0};
    int64_t n = 0;
    for (int i = 0; i < batches && s.train.next(b); ++i) {
      LossOutput o = m.loss(b);
      sums[0] += o.terms["fast.ce"] * b.size();
      sums[1] += o.terms["slow.ce"] * b.size();
      sums[2] += o.terms["fused.ce"] * b.size();
      n += b.size();
    }
    json rec = m.end_epoch(e);
    CHECK(rec["gblend"]["train_ce"]["fast"].get<double>() == Approx(sums[0] / n));
    CHECK(rec["gblend"]["train_ce"]["fused"].get<double>() == Approx(sums[2] / n));
    return std::vector<double>{sums[0] / n, sums[1] / n, sums[2] / n};
  };
  // Validation logits chosen by hand: epoch 0 and epoch 2 (the estimate points).
  auto val_logits = [](float scale) {
    std::vector<float> a(10 * 4, 0.0f), v(10 * 4, 0.0f);
    for (int i = 0; i < 10; ++i) {
      a[i * 4 + i % 4] = scale;
      v[i * 4 + (i % 4)] = 0.5f * scale;
      v[i * 4 + (i + 1) % 4] = 0.25f * scale;
    }
    return std::vector<Tensor>{Tensor::from_vector(a, {10, 4}), Tensor::from_vector(v, {10, 4})};
  };
  const auto t0 = run_epoch(0, 2);
  const auto z0 = val_logits(0.5f);
  m.fuse_validation(z0, labels10());
  CHECK(m.weights() == std::vector<double>(3, 1.0 / 3.0));  // first point: a reference only
  run_epoch(1, 3);
  m.fuse_validation(val_logits(9.0f), labels10());  // epoch 1 is no estimate point
  CHECK(m.weights() == std::vector<double>(3, 1.0 / 3.0));
  const auto t2 = run_epoch(2, 4);
  const auto z2 = val_logits(2.0f);
  m.fuse_validation(z2, labels10());
  const SplitStats v0 = branch_stats(z0, labels10()), v2 = branch_stats(z2, labels10());
  // the validation CE by hand for the first branch: each row has logits (s, 0, 0, 0), true class first
  CHECK(v0.ce[0] == Approx(std::log(std::exp(0.5) + 3.0) - 0.5));
  const OgrEstimate want = gblend_estimate({t0, v0.ce}, {t2, v2.ce}, "abs", 1e-12);
  REQUIRE(want.valid);
  for (int k = 0; k < 3; ++k) CHECK(m.weights()[k] == Approx(want.weights[k]));
  json rec = m.end_epoch(3);
  CHECK(rec["gblend"]["weights"]["slow"].get<double>() == m.weights()[1]);
  CHECK(rec["gblend"]["last_estimate"]["epoch"] == 2);
  CHECK(rec["gblend"]["last_estimate"]["since_epoch"] == 0);
}

TEST_CASE("gblend options are checked with the full key in the message", "[cpu]") {
  Splits s;
  auto expect = [&](const json& g, const std::string& text) {
    mmtest::check_setup_rejects(small_config("gblend", 1, {{"gblend", g}}), s.train, text);
  };
  expect({{"super_epoch", 0}}, "method.gblend.super_epoch");
  expect({{"initial_weights", {1.0, 1.0}}}, "method.gblend.initial_weights needs 3");
  expect({{"initial_weights", {1.0, -1.0, 1.0}}}, "method.gblend.initial_weights must be finite and >= 0");
  expect({{"initial_weights", {0.0, 0.0, 0.0}}}, "method.gblend.initial_weights must not all be 0");
  expect({{"gain", "signed"}}, "method.gblend.gain");
  expect({{"eps", 0.0}}, "method.gblend.eps");
}

// ---- end to end ---------------------------------------------------------------------------------

TEST_CASE("mslr and gblend fit the synthetic set well above chance and leave test evaluation stateless", "[cpu]") {
  Splits s;
  for (const char* name : {"mslr", "gblend"}) {
    json cfg = small_config(name, 6);
    cfg["method"]["mslr"] = {{"window", 2}};
    cfg["method"]["gblend"] = {{"super_epoch", 2}};
    Trainer tr(cfg);
    std::vector<json> recs;
    tr.on_epoch([&](const json& r) { recs.push_back(r); });
    FitResult r = tr.fit(s.train, &s.val);
    REQUIRE(r.epochs_run == 6);
    const double val_acc = recs.back()["val"]["fused"]["acc"];
    const json state = tr.method().state_json();
    EvalResult ev = tr.evaluate(s.test);
    CHECK(tr.method().state_json() == state);
    WARN(name << ": fused validation accuracy after 6 epochs " << val_acc << ", test " << ev.fused.acc);
    INFO(name);
    CHECK(val_acc > 0.25 + 0.35);  // chance is 0.25 (K = 4)
    CHECK(ev.fused.acc > 0.25 + 0.35);
    if (std::string(name) == "gblend") {
      // estimates after epochs 2 and 4 (super_epoch 2) were applied in epochs 3 and 5
      CHECK(recs[3]["gblend"]["last_estimate"]["epoch"] == 2);
      CHECK(recs[5]["gblend"]["last_estimate"]["epoch"] == 4);
      double total = 0.0;
      for (const auto& [k, w] : recs[5]["gblend"]["weights"].items()) total += w.get<double>();
      CHECK(total == Approx(1.0));
      CHECK(recs[5]["gblend"]["weights"] != recs[0]["gblend"]["weights"]);
    }
  }
}

TEST_CASE("mslr and gblend resume from a checkpoint after an interruption bit-identically", "[cpu]") {
  for (const char* name : {"mslr", "gblend"}) {
    INFO(name);
    json cfg = small_config(name, 6);
    cfg["method"]["mslr"] = {{"window", 1}};        // updates from epoch 1 on
    cfg["method"]["gblend"] = {{"super_epoch", 1}};  // an estimate after every epoch
    // B: stopped in the middle of epoch 3, resumed by a fresh trainer from "last"
    mmtest::check_bitwise_resume(cfg, std::string("validation_") + name, 3, {"lr", "mslr", "gblend"},
                                 [&](const mmtest::ResumePair& r) {
      CHECK(r.b.method().state_json() == r.a.method().state_json());
      for (size_t g = 0; g < r.a.optimizer().groups().size(); ++g) {
        CHECK(r.b.optimizer().groups()[g].lr == r.a.optimizer().groups()[g].lr);
        CHECK(r.b.optimizer().groups()[g].base_lr == r.a.optimizer().groups()[g].base_lr);
      }
      // the state did move during the run, so the comparison above is not trivially true
      if (std::string(name) == "mslr") {
        CHECK(dynamic_cast<MslrMethod&>(r.a.method()).factors() != std::vector<double>{1.0, 1.0});
      } else {
        CHECK(dynamic_cast<GBlendMethod&>(r.a.method()).weights() != std::vector<double>(3, 1.0 / 3.0));
      }
    });
  }
}
