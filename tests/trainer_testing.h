// Shared helpers for the tests that train through mm::boost::Trainer on the synthetic
// two-modality set (test_boosting_synthetic.h): a small trainer configuration, the train/val/test
// splits, temporary directories, a checkpoint's tensors, a configuration that setup() must refuse,
// and the "stop mid-run, resume, compare bit-identically" check.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "testing.h"
#include "test_boosting_synthetic.h"

#include "boosting/trainer.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"

namespace mmtest {

// MLP encoders (feature_dim 32, one hidden layer of 32), classifier_hidden {32}, optim.lr 0.01
// without a schedule, seed 0, one thread. `method_options` is merged into the "method" section
// next to its name, e.g. {{"mslr", {{"window", 2}}}}.
inline nlohmann::json small_config(const std::string& method, int epochs = 4,
                                   const nlohmann::json& method_options = nlohmann::json::object()) {
  nlohmann::json m = {{"name", method}};
  m.update(method_options);
  return {{"model",
           {{"encoder", {{"type", "mlp"}, {"feature_dim", 32}, {"mlp_hidden", {32}}}},
            {"classifier_hidden", {32}}}},
          {"method", m},
          {"optim", {{"lr", 0.01}, {"scheduler", "none"}}},
          {"train", {{"epochs", epochs}, {"seed", 0}, {"threads", 1}}}};
}

// The synthetic splits: train shuffled in batches of 32 (16 batches for 512 rows), val and test
// in order in batches of 64; the class means are shared, the samples differ (seeds 1, 2, 3).
struct Splits {
  VectorStream train, val, test;
  explicit Splits(int64_t n_train = 512, int64_t n_eval = 256)
      : train(make_synthetic(n_train, 1), 32, true, 7),
        val(make_synthetic(n_eval, 2), 64, false),
        test(make_synthetic(n_eval, 3), 64, false) {}
};

// The first batch of `epoch`.
inline mm::data::Batch first_batch(VectorStream& s, int epoch = 0) {
  s.start_epoch(epoch);
  mm::data::Batch b;
  REQUIRE(s.next(b));
  return b;
}

// An empty path "mmboost_test_<name>" under the system's temporary directory (removed if it
// was there).
inline std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("mmboost_test_" + name);
  std::filesystem::remove_all(p);
  return p.string();
}

// Every F32 tensor of a checkpoint file, by name, as raw floats (for bitwise comparison).
inline std::map<std::string, std::vector<float>> tensors_of(const std::string& path) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [n, t] : mm::io::load_safetensors(path).tensors)
    if (t.dtype() == mm::DType::F32) out[n] = t.to_vector();
  return out;
}

// Making a trainer for `cfg` and setting it up on `stream` must fail with an mm::Error whose
// message contains `text` (options that need no data fail in the constructor, the others in
// setup).
inline void check_setup_rejects(const nlohmann::json& cfg, mm::data::BatchStream& stream,
                                const std::string& text) {
  try {
    mm::boost::Trainer tr(cfg);  // options that need no data are checked here already
    tr.setup(stream);
    FAIL("accepted: " << cfg["method"].dump());
  } catch (const mm::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(text));
  }
}

// The two runs of check_bitwise_resume, for the method-specific checks.
struct ResumePair {
  mm::boost::Trainer& a;  // uninterrupted
  mm::boost::FitResult& ra;
  mm::boost::Trainer& b;  // stopped, then resumed by a fresh trainer
  mm::boost::FitResult& rb;
};

// Fits `cfg` for all its epochs uninterrupted (A, checkpoints in temp_dir(tag + "_a")), and again
// (B, in temp_dir(tag + "_b")) stopped by the stop flag at batch 5 of epoch `stop_epoch`, then
// resumed by a fresh trainer from the "last" checkpoint (end of epoch stop_epoch - 1). Every
// tensor of the two final checkpoints must be bitwise equal, and so must the epoch records'
// "loss", "val" and `record_keys` and the evaluation of the test split; `more` adds the
// method's own checks (called before the test split is evaluated).
inline void check_bitwise_resume(nlohmann::json cfg, const std::string& tag, int stop_epoch,
                                 const std::vector<std::string>& record_keys = {},
                                 const std::function<void(const ResumePair&)>& more = nullptr) {
  using mm::boost::Trainer;
  const int epochs = cfg["train"]["epochs"].get<int>();
  const std::string da = temp_dir(tag + "_a"), db = temp_dir(tag + "_b");
  Splits sa, sb;
  cfg["train"]["checkpoint_dir"] = da;
  Trainer a(cfg);
  mm::boost::FitResult ra = a.fit(sa.train, &sa.val);
  REQUIRE(ra.epochs_run == epochs);
  cfg["train"]["checkpoint_dir"] = db;
  cfg["train"]["resume"] = true;
  std::atomic<bool> stop{false};
  {
    Trainer b1(cfg);
    b1.set_stop_flag(&stop);
    b1.on_progress([&](const mm::boost::BatchProgress& p) {
      if (p.epoch == stop_epoch && p.batch == 5) stop = true;
    });
    const mm::boost::FitResult r1 = b1.fit(sb.train, &sb.val);
    REQUIRE(r1.stopped);
    REQUIRE(r1.epochs_run == stop_epoch);
    REQUIRE(b1.next_epoch() == stop_epoch);
  }
  Trainer b2(cfg);
  mm::boost::FitResult r2 = b2.fit(sb.train, &sb.val);
  CHECK_FALSE(r2.stopped);
  CHECK(r2.epochs_run == epochs - stop_epoch);
  auto ta = tensors_of(a.last_checkpoint_path()), tb = tensors_of(b2.last_checkpoint_path());
  REQUIRE(ta.size() == tb.size());
  for (const auto& [n, v] : ta) {
    INFO(n);
    REQUIRE(tb.count(n));
    CHECK(tb[n] == v);
  }
  REQUIRE(r2.history.size() == ra.history.size());
  std::vector<std::string> keys = {"loss", "val"};
  keys.insert(keys.end(), record_keys.begin(), record_keys.end());
  for (size_t e = 0; e < ra.history.size(); ++e) {
    INFO("epoch " << e);
    for (const auto& k : keys) {
      INFO(k);
      CHECK(r2.history[e].value(k, nlohmann::json()) == ra.history[e].value(k, nlohmann::json()));
    }
  }
  if (more) more(ResumePair{a, ra, b2, r2});
  CHECK(b2.evaluate(sb.test).to_json() == a.evaluate(sa.test).to_json());
  std::filesystem::remove_all(da);
  std::filesystem::remove_all(db);
}

}  // namespace mmtest
