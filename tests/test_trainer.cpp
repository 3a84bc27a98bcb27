// The trainer with the method plug-ins on a synthetic two-modality set: configuration checks,
// classifiers added during training are trained, epoch records, checkpoints and bit-exact
// resume (also after an interruption), model selection on validation, and the paper's claim
// in miniature: the boosting method lifts the weak modality above naive joint training.
#include <filesystem>
#include <functional>
#include <limits>

#include "trainer_testing.h"

#include "boosting/boost_method.h"
#include "engine/io/safetensors.h"
#include "tests/safetensors_testing.h"

using namespace mm;
using namespace mm::boost;
using mmtest::Splits;
using mmtest::temp_dir;
using nlohmann::json;

namespace {

// The shared small configuration, with an assignment check every 2 epochs and a short ACA fit
// (the baselines ignore both).
json small_config(const std::string& method, int epochs = 6) {
  return mmtest::small_config(method, epochs, {{"assign_every", 2}, {"aca_steps", 20}});
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

TEST_CASE("method.fused = on with classifiers deeper than one layer is refused with the reason; auto "
          "and off train them",
          "[cpu]") {
  Splits s;
  json cfg = mmtest::small_config("boost", 1, {{"fused", "on"}});
  cfg["model"]["classifier_hidden"] = {16, 8};
  mmtest::check_setup_rejects(cfg, s.train, "model.classifier_hidden has 2 layers");
  for (const char* ok : {"auto", "off"}) {
    INFO(ok);
    cfg["method"]["fused"] = ok;
    Trainer tr(cfg);
    CHECK_NOTHROW(tr.setup(s.train));
  }
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
  const data::Batch b = mmtest::first_batch(s.train);
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
  // Stopped in the middle of epoch 2, then resumed by a fresh trainer. Every tensor of the final
  // checkpoint (model, optimizer, ACA network) is bitwise equal to the uninterrupted run's, and so
  // are the epoch records' losses and validation numbers.
  mmtest::check_bitwise_resume(cfg, "trainer", 2, {}, [](const mmtest::ResumePair& r) {
    auto& ma = dynamic_cast<BoostMethod&>(r.a.method());
    auto& mb = dynamic_cast<BoostMethod&>(r.b.method());
    CHECK(ma.num_classifiers(1) >= 3);
    CHECK(mb.num_classifiers(1) == ma.num_classifiers(1));
    CHECK(mb.num_classifiers(0) == ma.num_classifiers(0));
    CHECK(mb.omega() == ma.omega());
  });
}

TEST_CASE("best checkpoint is chosen on validation and reloads for the test split", "[cpu]") {
  const std::string d = temp_dir("trainer_best");
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

TEST_CASE("a truncated, foreign, bit-flipped or unchecked checkpoint is CheckpointDamaged naming the file; a missing "
          "one is not",
          "[cpu]") {
  const std::string d = temp_dir("trainer_damaged");
  json cfg = small_config("boost", 1);
  cfg["train"]["checkpoint_dir"] = d;
  Splits s;
  Trainer tr(cfg);
  tr.fit(s.train, &s.val);
  const std::string last = tr.last_checkpoint_path();
  const auto size = std::filesystem::file_size(last);
  std::string message;
  auto damaged_path = [&](const std::string& path) -> std::string {
    Trainer fresh(cfg);
    try {
      fresh.load_weights(path, s.train);
    } catch (const CheckpointDamaged& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      message = e.what();
      return e.path;
    } catch (const mm::Error& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      return "";
    }
    FAIL("no error from " << path);
    return "";
  };
  const std::string truncated = d + "/truncated.safetensors";
  std::filesystem::copy_file(last, truncated);
  std::filesystem::resize_file(truncated, size - 100);
  CHECK(damaged_path(truncated) == truncated);
  const std::string foreign = d + "/foreign.safetensors";
  io::save_safetensors(foreign, {{"w", Tensor::zeros({2})}});
  CHECK(damaged_path(foreign) == foreign);
  CHECK(damaged_path(d + "/missing.safetensors").empty());  // missing: the reader's error, not damage

  // One bit of the weights (the data section's last byte): the checksum catches it.
  const std::string flipped = d + "/flipped.safetensors";
  std::filesystem::copy_file(last, flipped);
  mmtest::flip_bit_from_end(flipped, 1);
  CHECK(damaged_path(flipped) == flipped);
  CHECK(message.find("tensor data do not match the checksum") != std::string::npos);
  // The checksums removed from a version-2 file: refused, as they are written with every one.
  const auto strip = [&](const std::string& path, int version, const std::function<void(json&)>& edit) {
    std::filesystem::copy_file(last, path);
    mmtest::rewrite_safetensors_header(path, [&](json& h) {
      json meta = json::parse(h["__metadata__"]["mmboost"].get<std::string>());
      CHECK(meta["version"] == 2);
      meta["version"] = version;
      edit(meta);
      h["__metadata__"] = {{"mmboost", meta.dump()}};
    });
  };
  const std::string unchecked = d + "/unchecked.safetensors";
  strip(unchecked, 2, [](json&) {});
  CHECK(damaged_path(unchecked) == unchecked);
  CHECK(message.find("without the checksums mmboost writes with it") != std::string::npos);
  // A version-1 file (written before the checksums) still loads; with its metadata changed the
  // restore names what is wrong.
  const std::string v1 = d + "/v1.safetensors";
  strip(v1, 1, [](json&) {});
  Trainer old(cfg);
  old.load_weights(v1, s.train);
  CHECK(old.evaluate(s.val).fused.acc == tr.evaluate(s.val).fused.acc);
  const std::string v1_bad = d + "/v1_bad.safetensors";
  strip(v1_bad, 1, [](json& meta) { meta.erase("spec"); });
  CHECK(damaged_path(v1_bad) == v1_bad);
  CHECK(message.find("cannot be restored, its metadata is not what mmboost writes") != std::string::npos);
  std::filesystem::remove_all(d);
}

TEST_CASE("the stop flag abandons an evaluation between batches with EvaluationStopped; cleared, it evaluates",
          "[cpu]") {
  json cfg = small_config("boost", 1);
  Splits s;
  Trainer tr(cfg);
  tr.fit(s.train, &s.val);
  std::atomic<bool> stop{true};
  tr.set_stop_flag(&stop);
  REQUIRE_THROWS_AS(tr.evaluate(s.test), EvaluationStopped);
  stop.store(false);
  CHECK(tr.evaluate(s.test).fused.count == 256);
  tr.set_stop_flag(nullptr);
}

TEST_CASE("the best checkpoint loads into a trainer whose model has grown more classifiers since", "[cpu]") {
  const std::string d = temp_dir("trainer_grown");
  json cfg = small_config("boost", 2);
  cfg["train"]["checkpoint_dir"] = d;
  Splits s;
  Trainer tr(cfg);
  tr.fit(s.train, &s.val);
  auto& method = dynamic_cast<BoostMethod&>(tr.method());
  std::vector<int64_t> saved;
  for (int64_t m = 0; m < 2; ++m) saved.push_back(method.num_classifiers(m));
  const double saved_acc = tr.evaluate(s.val).fused.acc;
  tr.save_checkpoint(d + "/early.safetensors");
  method.add_classifier(1);  // the model grows after the checkpoint (as after a later check)
  method.add_classifier(1);
  tr.load_weights(d + "/early.safetensors", s.train);
  auto& reloaded = dynamic_cast<BoostMethod&>(tr.method());
  for (int64_t m = 0; m < 2; ++m) CHECK(reloaded.num_classifiers(m) == saved[m]);
  CHECK(tr.evaluate(s.val).fused.acc == saved_acc);
  std::filesystem::remove_all(d);
}

// Section 4.3 late fusion, method.fusion = val_search: the weights chosen on validation are recomputed
// here over the grid (k/20, 1 - k/20) from the modality logits, and the test split must be scored
// with the weights stored in the best checkpoint.
TEST_CASE("val_search fusion: the chosen weights maximise validation accuracy; test uses the checkpoint's weights",
          "[cpu]") {
  const std::string d = temp_dir("trainer_val_search");
  json cfg = small_config("boost", 3);
  cfg["method"]["fusion"] = "val_search";
  cfg["train"]["checkpoint_dir"] = d;
  Splits s;
  Trainer tr(cfg);
  std::vector<json> records;
  std::vector<std::vector<double>> chosen;  // the weights each epoch's validation pass chose
  tr.on_epoch([&](const json& r) {
    records.push_back(r);
    chosen.push_back(dynamic_cast<BoostMethod&>(tr.method()).fusion_weights());
  });
  const FitResult res = tr.fit(s.train, &s.val);
  REQUIRE(res.best_epoch >= 0);
  const json& best = records.at(static_cast<size_t>(res.best_epoch));

  // The best epoch's model and fusion weights, as stored in its checkpoint.
  Trainer ev(cfg);
  ev.load_weights(tr.best_checkpoint_path(), s.test);
  auto& m = dynamic_cast<BoostMethod&>(ev.method());
  const std::vector<double> w = m.fusion_weights();
  REQUIRE(w.size() == 2);
  CHECK(w == chosen.at(static_cast<size_t>(res.best_epoch)));
  CHECK(json(w) == io::read_safetensors_metadata(tr.best_checkpoint_path()).at("method").at("fusion_weights"));
  CHECK(w[0] + w[1] == Approx(1.0));
  // The premise of the checks above: the chosen weights are not those a freshly built method
  // holds before any validation pass (1/M each), which a load that restored none would keep
  // (measured: 0.55 / 0.45).
  CHECK(w != std::vector<double>{0.5, 0.5});

  // Each modality's logits S^r (R,K) of a split, and its labels, from predict.
  struct Split {
    std::vector<std::vector<float>> S{2};
    std::vector<int64_t> y;
  };
  auto predict_split = [&](mmtest::VectorStream& st) {
    Split out;
    m.net().eval();
    NoGradGuard ng;
    st.start_epoch(0);
    data::Batch b;
    while (st.next(b)) {
      Predictions p = m.predict(b);
      for (int64_t r = 0; r < 2; ++r) {
        std::vector<float> v = p.modality_logits[r].to_vector();
        out.S[r].insert(out.S[r].end(), v.begin(), v.end());
      }
      std::vector<int64_t> y = b.labels.to_int_vector();
      out.y.insert(out.y.end(), y.begin(), y.end());
    }
    return out;
  };
  const int64_t K = 4;
  // Accuracy of argmax_k (w_0 S^0 + w_1 S^1) (first maximum on ties), in double.
  auto accuracy = [&](const Split& sp, const std::vector<double>& wt) {
    int64_t correct = 0;
    const int64_t R = static_cast<int64_t>(sp.y.size());
    for (int64_t i = 0; i < R; ++i) {
      int64_t arg = 0;
      double top = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double v = wt[0] * sp.S[0][i * K + k] + wt[1] * sp.S[1][i * K + k];
        if (k == 0 || v > top) {
          top = v;
          arg = k;
        }
      }
      correct += arg == sp.y[i];
    }
    return static_cast<double>(correct) / static_cast<double>(R);
  };

  // Validation: w is a maximiser over the grid w = (k/20, 1 - k/20), k = 0..20, and among the
  // maximisers the one closest to uniform.
  const Split val = predict_split(s.val);
  REQUIRE(val.y.size() == 256);
  double best_acc = -1.0;
  std::vector<std::vector<double>> grid;
  for (int k = 0; k <= 20; ++k) grid.push_back({k / 20.0, (20 - k) / 20.0});
  for (const auto& g : grid) best_acc = std::max(best_acc, accuracy(val, g));
  const double acc_w = accuracy(val, w);
  INFO("chosen weights " << w[0] << ", " << w[1] << "; validation accuracy " << acc_w << ", grid best " << best_acc);
  CHECK(acc_w == best_acc);
  for (const auto& g : grid)
    if (accuracy(val, g) == best_acc) CHECK(std::fabs(w[0] - 0.5) <= std::fabs(g[0] - 0.5));
  // what the best epoch's record reported on validation
  CHECK(best["val"]["fused"]["acc"].get<double>() == acc_w);
  CHECK(acc_w >= best["val"]["fast"]["acc"].get<double>());
  CHECK(acc_w >= best["val"]["slow"]["acc"].get<double>());

  // Test: the fused logits are w_0 S^0 + w_1 S^1 with the checkpoint's weights.
  const Split test = predict_split(s.test);
  const EvalResult te = ev.evaluate(s.test);
  std::vector<double> want(te.fused_logits.size());
  REQUIRE(want.size() == test.S[0].size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = w[0] * test.S[0][i] + w[1] * test.S[1][i];
  mmtest::require_close(te.fused_logits, want, 1e-6, 1e-6, "test fused logits");
  std::filesystem::remove_all(d);
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

TEST_CASE("a model whose weights became NaN is an evaluation error naming the sample, not a metric of NaN scores",
          "[cpu]") {
  Splits s;
  Trainer tr(small_config("joint_concat", 1));
  tr.setup(s.train);
  for (mm::Tensor& p : tr.method().net().parameters()) p.fill_(std::numeric_limits<float>::quiet_NaN());
  try {
    (void)tr.evaluate(s.test);
    FAIL("evaluate accepted NaN logits");
  } catch (const mm::Error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("logits are NaN (first at sample \"") != std::string::npos);
    CHECK(what.find("lower optim.lr") != std::string::npos);
  }
}

TEST_CASE("a resume trains on with the config's learning rate and weight decay, the file's momenta and steps",
          "[cpu]") {
  const std::string d = temp_dir("trainer_resume_lr");
  Splits s;
  json cfg = small_config("mslr", 1);  // mslr scales each modality's step by a restored factor
  cfg["train"]["checkpoint_dir"] = d;
  cfg["optim"]["weight_decay"] = 1e-4;
  {
    Trainer tr(cfg);
    tr.fit(s.train, &s.val);
  }
  auto groups_after_resume = [&](const json& c) {
    Trainer tr(c);
    REQUIRE(tr.resume(s.train));
    std::vector<std::pair<float, float>> out;
    for (const auto& g : tr.optimizer().groups()) out.emplace_back(g.base_lr, g.weight_decay);
    return out;
  };
  json same = cfg, changed = cfg;
  same["train"]["resume"] = changed["train"]["resume"] = true;
  changed["optim"]["lr"] = 0.001;
  changed["optim"]["weight_decay"] = 0.0;
  const auto a = groups_after_resume(same), b = groups_after_resume(changed);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() >= 2);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("group " << i);
    CHECK(b[i].first == Approx(a[i].first * 0.1f).epsilon(1e-6));  // 0.01 -> 0.001, same mslr factor
    CHECK(a[i].second == 1e-4f);
    CHECK(b[i].second == 0.0f);
  }
  std::filesystem::remove_all(d);
}
