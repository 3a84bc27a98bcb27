// The trainer with the method plug-ins on a synthetic two-modality set: configuration checks,
// classifiers added during training are trained, epoch records, checkpoints and bit-exact
// resume (also after an interruption), model selection on validation, and the paper's claim
// in miniature: the boosting method lifts the weak modality above naive joint training.
#include <atomic>
#include <cstdio>
#include <filesystem>

#include "testing.h"
#include "test_boosting_synthetic.h"

#include "boosting/boost_method.h"
#include "boosting/trainer.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"

using namespace mm;
using namespace mm::boost;
using nlohmann::json;

namespace {

json small_config(const std::string& method, int epochs = 6) {
  return {{"model",
           {{"encoder", {{"type", "mlp"}, {"feature_dim", 32}, {"mlp_hidden", {32}}}},
            {"classifier_hidden", {32}}}},
          {"method", {{"name", method}, {"assign_every", 2}, {"aca_steps", 20}}},
          {"optim", {{"lr", 0.01}, {"scheduler", "none"}}},
          {"train", {{"epochs", epochs}, {"seed", 0}, {"threads", 1}}}};
}

struct Splits {
  mmtest::VectorStream train, val, test;
  Splits(int64_t n_train = 512, int64_t n_eval = 256)
      : train(mmtest::make_synthetic(n_train, 1), 32, true, 7),
        val(mmtest::make_synthetic(n_eval, 2), 64, false),
        test(mmtest::make_synthetic(n_eval, 3), 64, false) {}
};

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("mmboost_test_trainer_" + name);
  std::filesystem::remove_all(p);
  return p.string();
}

// Every tensor of a checkpoint file, by name, as raw floats (bitwise comparison).
std::map<std::string, std::vector<float>> tensors_of(const std::string& path) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [n, t] : io::load_safetensors(path).tensors)
    if (t.dtype() == DType::F32) out[n] = t.to_vector();
  return out;
}

}  // namespace

TEST_CASE("config: defaults are complete, unknown keys and wrong types are rejected", "[cpu]") {
  json d = default_config();
  CHECK(resolve_config(json::object()) == d);
  for (const char* s : {"model", "method", "optim", "train"}) CHECK(d.contains(s));
  CHECK(d["method"]["lambda"] == 0.2);
  CHECK(d["optim"]["lr"] == 0.01);
  CHECK(d["optim"]["momentum"] == 0.9);
  CHECK(d["optim"]["weight_decay"] == 1e-4);
  CHECK(d["optim"]["step_size"] == 70);
  CHECK(d["train"]["batch_size"] == 64);
  try {
    resolve_config({{"method", {{"lamda", 0.5}}}});
    FAIL("unknown key accepted");
  } catch (const mm::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("method.lamda") && Catch::Contains("lambda"));
  }
  CHECK_THROWS_AS(resolve_config({{"method", {{"lambda", "0.5"}}}}), mm::Error);
  CHECK_THROWS_AS(resolve_config({{"model", {{"classifier_hidden", {"a"}}}}}), mm::Error);
  CHECK_THROWS_AS(resolve_config({{"model", {{"encoders", {{"audio", {{"typo", 1}}}}}}}}), mm::Error);
  json ok = resolve_config({{"model", {{"encoders", {{"audio", {{"type", "cnn"}}}}}}}});
  CHECK(ok["model"]["encoders"]["audio"]["type"] == "cnn");
  CHECK_THROWS_AS(make_method(resolve_config({{"method", {{"name", "nope"}}}})), mm::Error);
}

TEST_CASE("a classifier added mid-training is in the optimizer, gets gradients and changes after a step", "[cpu]") {
  Splits s;
  Trainer tr(small_config("boost"));
  tr.setup(s.train);
  auto& m = dynamic_cast<BoostMethod&>(tr.method());
  REQUIRE(m.num_classifiers(1) == 1);
  m.set_omega({1.0, 0.8});
  m.add_classifier(1);
  REQUIRE(m.num_classifiers(1) == 2);
  auto added = m.classifiers(1).back();
  const auto& group = tr.optimizer().groups()[tr.optimizer().group_index("mod.slow")];
  for (const auto& p : added->parameters()) {
    bool found = false;
    for (const auto& q : group.params) found = found || q.same(p);
    CHECK(found);
  }
  std::vector<float> before = added->first().weight.to_vector();
  s.train.start_epoch(0);
  data::Batch b;
  REQUIRE(s.train.next(b));
  tr.method().train_step(b);
  Tensor g = added->first().weight.grad();
  REQUIRE(g.defined());
  double gn = 0;
  for (float v : g.to_vector()) gn += std::fabs(v);
  CHECK(gn > 0.0);
  std::vector<float> after = added->first().weight.to_vector();
  CHECK(before != after);
  // coefficients: the added classifier carries omega, the first one does not (default scope)
  CHECK(m.coefficients(1) == std::vector<float>{1.0f, 0.8f});
}

TEST_CASE("fit: epoch records, adaptive assignment every T epochs, validation metrics per modality", "[cpu]") {
  Splits s;
  std::vector<json> records;
  int64_t progress_calls = 0;
  Trainer tr(small_config("boost", 4));
  tr.on_epoch([&](const json& r) { records.push_back(r); });
  tr.on_progress([&](const BatchProgress& p) {
    ++progress_calls;
    CHECK(p.num_batches == 16);
    CHECK(p.samples_per_s > 0);
  });
  FitResult res = tr.fit(s.train, &s.val);
  CHECK(res.epochs_run == 4);
  CHECK(progress_calls == 4 * 16);
  REQUIRE(records.size() == 4);
  for (const auto& r : records) {
    for (const char* k : {"epoch", "lr", "loss", "val", "ogm_scores", "classifiers", "omega", "seconds"})
      CHECK(r.contains(k));
    CHECK(r["val"]["fused"].contains("acc"));
    CHECK(r["val"]["fast"].contains("macro_f1"));
    CHECK(r["val"]["slow"].contains("map"));
    CHECK(r["loss"].contains("slow.eps_o"));
    CHECK(r["lr"] == Approx(0.01));
  }
  // T = 2: checks after epochs 1 and 3 only
  CHECK_FALSE(records[0]["assignment_check"].get<bool>());
  CHECK(records[1]["assignment_check"].get<bool>());
  CHECK_FALSE(records[2]["assignment_check"].get<bool>());
  auto& m = dynamic_cast<BoostMethod&>(tr.method());
  // At each check the modality trailing on the OGM score gets a classifier (Algorithm 1). The
  // fast modality leads at first; it cannot pass 0.5 (it only knows the class pair), so the
  // slow one, once strengthened, may overtake it.
  CHECK(records[1]["ogm_scores"]["fast"].get<double>() > records[1]["ogm_scores"]["slow"].get<double>());
  CHECK(records[1]["assigned"] == json::array({"slow"}));
  int64_t added[2] = {0, 0};
  for (const auto& r : records) {
    if (!r["assignment_check"].get<bool>()) {
      CHECK(r["assigned"].empty());
      continue;
    }
    const double f = r["ogm_scores"]["fast"], sl = r["ogm_scores"]["slow"];
    const std::string weak = f < sl ? "slow" : "fast";
    json want = std::fabs(f - sl) > 0.01 ? json::array({f > sl ? "slow" : "fast"}) : json::array();
    CHECK(r["assigned"] == want);
    for (const auto& a : r["assigned"]) ++added[a == "fast" ? 0 : 1];
    // the ACA target is one-hot on the weakest modality
    CHECK(r["aca_target"] == (f < sl ? json::array({1.0, 0.0}) : json::array({0.0, 1.0})));
    CHECK(r.contains("aca_loss"));
    (void)weak;
  }
  CHECK(m.num_classifiers(0) == 1 + added[0]);
  CHECK(m.num_classifiers(1) == 1 + added[1]);
  CHECK(records[3]["classifiers"]["slow"] == m.num_classifiers(1));
  CHECK(records[3]["loss"].contains("slow.eps"));  // with n >= 2 the residual term is on
  for (double w : m.omega()) CHECK((w > 0.0 && w < 1.0));
  EvalResult ev = tr.evaluate(s.test);
  CHECK(ev.fused.count == 256);
  CHECK(ev.has_modality == std::vector<bool>{true, true});
  CHECK(ev.to_json()["slow"]["acc"].get<double>() > 0.25);
}

TEST_CASE("learned omega: the ACA network is trained towards g_t at each check", "[cpu]") {
  Splits s;
  json cfg = small_config("boost", 2);
  cfg["method"]["aca_lr"] = 0.05;
  cfg["method"]["aca_steps"] = 100;
  Trainer tr(cfg);
  json last;
  tr.on_epoch([&](const json& r) { last = r; });
  tr.fit(s.train, nullptr);
  REQUIRE(last["assignment_check"].get<bool>());
  const auto& w = dynamic_cast<BoostMethod&>(tr.method()).omega();
  const size_t weak = last["aca_target"][0] == 1.0 ? 0 : 1;
  CHECK(w[weak] > 0.8);
  CHECK(w[1 - weak] < 0.2);
  CHECK(last["omega"][weak == 0 ? "fast" : "slow"].get<double>() == w[weak]);
  CHECK(last["aca_loss"].get<double>() < 0.1);
}

TEST_CASE("resume after adding classifiers, and after an interruption, continues bit-identically", "[cpu]") {
  json cfg = small_config("boost", 5);
  cfg["method"]["assign_every"] = 1;
  cfg["method"]["update"] = "alternating";
  cfg["method"]["fused"] = "on";  // the fused CPU kernels must be deterministic too
  // A: uninterrupted
  const std::string da = temp_dir("a"), db = temp_dir("b");
  Splits sa;
  cfg["train"]["checkpoint_dir"] = da;
  Trainer a(cfg);
  FitResult ra = a.fit(sa.train, &sa.val);
  REQUIRE(ra.epochs_run == 5);
  // B: stopped by the flag in the middle of epoch 2, then resumed by a fresh trainer
  Splits sb;
  cfg["train"]["checkpoint_dir"] = db;
  cfg["train"]["resume"] = true;
  std::atomic<bool> stop{false};
  {
    Trainer b1(cfg);
    b1.set_stop_flag(&stop);
    b1.on_progress([&](const BatchProgress& p) {
      if (p.epoch == 2 && p.batch == 5) stop = true;
    });
    FitResult r1 = b1.fit(sb.train, &sb.val);
    CHECK(r1.stopped);
    CHECK(r1.epochs_run == 2);
    CHECK(b1.next_epoch() == 2);
  }
  Trainer b2(cfg);
  FitResult r2 = b2.fit(sb.train, &sb.val);
  CHECK_FALSE(r2.stopped);
  CHECK(r2.epochs_run == 3);
  auto& ma = dynamic_cast<BoostMethod&>(a.method());
  auto& mb = dynamic_cast<BoostMethod&>(b2.method());
  CHECK(ma.num_classifiers(1) >= 3);
  CHECK(mb.num_classifiers(1) == ma.num_classifiers(1));
  CHECK(mb.num_classifiers(0) == ma.num_classifiers(0));
  CHECK(mb.omega() == ma.omega());
  // Every tensor of the final checkpoint (model, optimizer, ACA network) is bitwise equal.
  auto ta = tensors_of(a.last_checkpoint_path()), tb = tensors_of(b2.last_checkpoint_path());
  REQUIRE(ta.size() == tb.size());
  for (const auto& [n, v] : ta) {
    INFO(n);
    REQUIRE(tb.count(n));
    CHECK(tb[n] == v);
  }
  // and so are the epoch records' losses and validation numbers
  REQUIRE(r2.history.size() == ra.history.size());
  for (size_t e = 0; e < ra.history.size(); ++e) {
    CHECK(r2.history[e]["loss"] == ra.history[e]["loss"]);
    CHECK(r2.history[e]["val"] == ra.history[e]["val"]);
  }
  CHECK(b2.evaluate(sb.test).to_json() == a.evaluate(sa.test).to_json());
  std::filesystem::remove_all(da);
  std::filesystem::remove_all(db);
}

TEST_CASE("best checkpoint is chosen on validation and reloads for the test split", "[cpu]") {
  const std::string d = temp_dir("best");
  json cfg = small_config("boost", 4);
  cfg["train"]["checkpoint_dir"] = d;
  Splits s;
  Trainer tr(cfg);
  std::vector<double> val_acc;
  tr.on_epoch([&](const json& r) { val_acc.push_back(r["val"]["fused"]["acc"].get<double>()); });
  FitResult res = tr.fit(s.train, &s.val);
  const size_t best = std::max_element(val_acc.begin(), val_acc.end()) - val_acc.begin();
  CHECK(res.best_epoch == static_cast<int>(best));
  CHECK(res.best_metric == val_acc[best]);
  Trainer ev(cfg);
  ev.load_weights(tr.best_checkpoint_path(), s.test);
  EvalResult r = ev.evaluate(s.val);
  CHECK(r.fused.acc == val_acc[best]);  // the best epoch's model, reproduced from the file
  CHECK(ev.evaluate(s.test).fused.count == 256);
  std::filesystem::remove_all(d);
}

TEST_CASE("val_search fusion: weights chosen on validation never score below either modality there", "[cpu]") {
  json cfg = small_config("boost", 3);
  cfg["method"]["fusion"] = "val_search";
  Splits s;
  Trainer tr(cfg);
  json last;
  tr.on_epoch([&](const json& r) { last = r; });
  tr.fit(s.train, &s.val);
  const auto& w = dynamic_cast<BoostMethod&>(tr.method()).fusion_weights();
  CHECK(w[0] + w[1] == Approx(1.0));
  const double fused = last["val"]["fused"]["acc"], fast = last["val"]["fast"]["acc"], slow = last["val"]["slow"]["acc"];
  CHECK(fused >= fast);
  CHECK(fused >= slow);
}

TEST_CASE("baselines run in the same trainer: unimodal, joint_sum, joint_concat", "[cpu]") {
  Splits s;
  for (const char* name : {"unimodal", "joint_sum", "joint_concat"}) {
    json cfg = small_config(name, 2);
    cfg["method"]["modality"] = "slow";
    Trainer tr(cfg);
    tr.fit(s.train, &s.val);
    EvalResult ev = tr.evaluate(s.test);
    INFO(name);
    CHECK(ev.fused.acc > 0.3);
    if (std::string(name) == "unimodal") {
      CHECK(ev.has_modality == std::vector<bool>{false, true});
      CHECK(ev.to_json()["fast"].is_null());
    } else {
      CHECK(ev.has_modality == std::vector<bool>{true, true});
    }
  }
  json bad = small_config("unimodal", 1);
  Trainer tr(bad);
  CHECK_THROWS_AS(tr.setup(s.train), mm::Error);  // which modality?
}

TEST_CASE("sustained boosting lifts the weak modality above naive joint training (fixed seed)", "[cpu]") {
  // Same data, encoders, optimizer and epochs; only the method differs. The slow modality is
  // the weak one under joint training.
  Splits s;
  auto run = [&](const std::string& method) {
    json cfg = small_config(method, 12);
    cfg["method"]["assign_every"] = 3;
    Trainer tr(cfg);
    tr.fit(s.train, &s.val);
    return tr.evaluate(s.test);
  };
  EvalResult boost = run("boost"), joint = run("joint_sum");
  const double b_slow = boost.per_modality[1].acc, j_slow = joint.per_modality[1].acc;
  WARN("slow-modality test accuracy: boost " << b_slow << ", joint_sum " << j_slow << "; fused: boost "
                                             << boost.fused.acc << ", joint_sum " << joint.fused.acc);
  CHECK(b_slow > j_slow + 0.20);  // measured: 0.86 vs 0.45
}
