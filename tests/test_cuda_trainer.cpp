// The whole trainer on the CUDA device (train.device = "cuda"): every registered method trains
// on "cuda" as it does on the CPU, the paper's method with classifiers added during training
// (fused kernels with N >= 2), checkpoints written from device tensors resume bit-identically,
// and weights saved on the device load into a CPU trainer. Skipped without a CUDA device; the
// emulated device (-DMMBOOST_CUDA=EMULATE, CI's sanitizer build) runs them on the CPU backend,
// which checks the device plumbing above the backend (copies, device of every buffer and
// parameter, checkpoint round trips).
//
// Tolerance between the two devices: the same FP32 arithmetic in another order (cuBLAS,
// warp reductions) drifts over 32 SGD steps; epoch losses must agree to 1e-3 relative and the
// validation accuracy to 3 samples of 256. On the emulated device both runs are the same code,
// so they must agree exactly.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "boosting/boost_method.h"
#include "boosting/method.h"
#include "boosting/trainer.h"
#include "tests/cuda_testing.h"
#include "tests/trainer_testing.h"

using namespace mm;
using mmtest::small_config;
using mmtest::Splits;

namespace {

// The options a method needs beyond its defaults on the synthetic set.
nlohmann::json options_for(const std::string& method) {
  if (method == "unimodal") return {{"modality", "slow"}};
  // Classifiers are added from epoch 0 on; the fused path on both devices ("auto" would take
  // the plain one on the CPU).
  if (method == "boost") return {{"assign_every", 1}, {"fused", "on"}};
  return nlohmann::json::object();
}

struct Run {
  boost::FitResult fit;
  boost::EvalResult test;
};

Run fit_on(const std::string& device, nlohmann::json cfg) {
  cfg["train"]["device"] = device;
  Splits s;
  boost::Trainer tr(cfg);
  Run r;
  r.fit = tr.fit(s.train, &s.val);
  r.test = tr.evaluate(s.test);
  return r;
}

void check_same_training(const Run& cpu, const Run& gpu) {
  const bool exact = cuda::emulated();
  REQUIRE(gpu.fit.history.size() == cpu.fit.history.size());
  for (size_t e = 0; e < cpu.fit.history.size(); ++e) {
    INFO("epoch " << e);
    const double lc = cpu.fit.history[e]["loss"]["total"].get<double>();
    const double lg = gpu.fit.history[e]["loss"]["total"].get<double>();
    REQUIRE(std::isfinite(lg));
    if (exact)
      CHECK(lg == lc);
    else
      CHECK(std::abs(lg - lc) <= 1e-3 * std::max(1.0, std::abs(lc)));
    // What the method decided at the end of the epoch (classifiers added, learned weights)
    // must not depend on the device.
    for (const char* k : {"classifiers", "assigned"}) {
      INFO(k);
      CHECK(gpu.fit.history[e].value(k, nlohmann::json()) == cpu.fit.history[e].value(k, nlohmann::json()));
    }
  }
  const double ac = cpu.test.fused.acc, ag = gpu.test.fused.acc;
  if (exact)
    CHECK(ag == ac);
  else
    CHECK(std::abs(ag - ac) <= 3.0 / 256.0 + 1e-12);
}

}  // namespace

TEST_CASE("every method trains on cuda as on the CPU: epoch losses, decisions, test accuracy",
          "[cuda][trainer]") {
  SKIP_WITHOUT_CUDA();
  for (const std::string& method : boost::method_names()) {
    INFO("method " << method);
    const nlohmann::json cfg = small_config(method, 2, options_for(method));
    const Run cpu = fit_on("cpu", cfg);
    const Run gpu = fit_on("cuda", cfg);
    check_same_training(cpu, gpu);
  }
}

TEST_CASE("boost on cuda: classifiers added during training run through the fused kernels",
          "[cuda][trainer][boost]") {
  SKIP_WITHOUT_CUDA();
  nlohmann::json cfg = small_config("boost", 3, {{"assign_every", 1}, {"fused", "on"}});
  cfg["train"]["device"] = "cuda";
  Splits s;
  boost::Trainer tr(cfg);
  tr.fit(s.train, &s.val);
  auto& m = dynamic_cast<boost::BoostMethod&>(tr.method());
  int64_t most = 0;
  for (int64_t r = 0; r < m.num_modalities(); ++r) most = std::max(most, m.num_classifiers(r));
  REQUIRE(most >= 2);  // the fused path with N >= 2 ran on the device
  for (const auto& [name, p] : m.net().named_parameters()) {
    INFO(name);
    CHECK(p.device() == Device::CUDA);
  }
  // Fused and plain sums agree on the device for the grown model.
  data::Batch b = mmtest::first_batch(s.test);
  NoGradGuard ng;
  for (int64_t r = 0; r < m.num_modalities(); ++r) {
    Tensor x = b.inputs[r].to(Device::CUDA);
    boost::ClassifierSums f = m.classifier_sums(r, x, true), p = m.classifier_sums(r, x, false);
    REQUIRE(f.z_new.device() == Device::CUDA);
    mmtest::require_close(f.s_prev, p.s_prev, 1e-4, 1e-4, "S_{n-1}");
    mmtest::require_close(f.z_new, p.z_new, 1e-4, 1e-4, "z_new");
  }
}

TEST_CASE("a boosting step on cuda waits for the device once, to read its loss after the update",
          "[cuda][trainer][boost]") {
  SKIP_WITHOUT_CUDA();
  SKIP_ON_EMULATED_CUDA("the emulated device never waits: it runs the CPU backend");
  // Eqs (2)-(6) with a grown modality (3 classifiers: all three terms) on the fused and the plain
  // path, for both update rules. A wait in the middle of a step (a loss term read on the host, a
  // coefficient copied to the device) idles the GPU until the host has launched again.
  for (const std::string update : {"joint", "alternating"}) {
    for (const std::string fused : {"on", "off"}) {
      INFO("update " << update << ", fused " << fused);
      nlohmann::json cfg = small_config("boost", 1, {{"update", update}, {"fused", fused}});
      cfg["train"]["device"] = "cuda";
      Splits s;
      boost::Trainer tr(cfg);
      tr.setup(s.train);
      auto& m = dynamic_cast<boost::BoostMethod&>(tr.method());
      m.add_classifier(0);
      m.add_classifier(0);
      REQUIRE(m.num_classifiers(0) == 3);
      data::Batch cpu_batch = mmtest::first_batch(s.train), b;
      for (const Tensor& x : cpu_batch.inputs) b.inputs.push_back(x.to(Device::CUDA));
      b.labels = cpu_batch.labels.to(Device::CUDA);
      m.net().train();
      m.begin_epoch(0);
      m.train_step(b);  // the first step also copies the coefficients to the device
      const int64_t before = cuda::host_waits();
      boost::StepOutput out = m.train_step(b);
      CHECK(cuda::host_waits() - before == 1);
      // The terms were read all the same: the grown modality's four, the other's two.
      CHECK(out.terms.size() == 6);
      double modality_losses = 0.0;
      for (const auto& [name, v] : out.terms) {
        INFO(name);
        CHECK(std::isfinite(v));
        if (name.size() > 5 && name.compare(name.size() - 5, 5, ".loss") == 0) modality_losses += v;
      }
      CHECK(out.loss == Approx(modality_losses).epsilon(1e-6));
    }
  }
}

TEST_CASE("batches in page-locked memory are uploaded while the previous step runs: the same "
          "training, and one wait per step instead of one per tensor more",
          "[cuda][trainer]") {
  SKIP_WITHOUT_CUDA();
  // The same run with batches in ordinary and in page-locked memory (the data loader's
  // pin_memory): every loss, decision and prediction must be bit-identical, since only the
  // copies' timing differs. On the SIMT build a copy from page-locked memory lands only when the
  // compute stream is made to wait for it, and freeing its buffer before it has landed stops the
  // program, so a missing order shows here.
  nlohmann::json cfg = small_config("boost", 3, {{"assign_every", 1}, {"fused", "on"}});
  cfg["train"]["device"] = "cuda";
  Run pageable, pinned;
  {
    Splits s;
    boost::Trainer tr(cfg);
    pageable.fit = tr.fit(s.train, &s.val);
    pageable.test = tr.evaluate(s.test);
  }
  {
    Splits s;
    for (auto* v : {&s.train, &s.val, &s.test}) v->set_pinned(true);
    boost::Trainer tr(cfg);
    pinned.fit = tr.fit(s.train, &s.val);
    pinned.test = tr.evaluate(s.test);
  }
  REQUIRE(pinned.fit.history.size() == pageable.fit.history.size());
  for (size_t e = 0; e < pageable.fit.history.size(); ++e) {
    INFO("epoch " << e);
    CHECK(pinned.fit.history[e]["loss"] == pageable.fit.history[e]["loss"]);
    CHECK(pinned.fit.history[e].value("classifiers", nlohmann::json()) ==
          pageable.fit.history[e].value("classifiers", nlohmann::json()));
  }
  CHECK(pinned.test.fused_logits == pageable.test.fused_logits);
  CHECK(pinned.test.labels == pageable.test.labels);
  CHECK(pinned.test.ids == pageable.test.ids);

  if (cuda::emulated()) return;  // the emulated device never waits
  // Waits over one epoch, fed by DeviceBatches as the trainer feeds it. From page-locked memory
  // each step waits once (to read its loss) and the uploads never; from pageable memory each
  // batch adds a wait per tensor (two inputs and the labels).
  int64_t total[2] = {0, 0};
  for (const bool pin : {false, true}) {
    INFO((pin ? "page-locked" : "pageable") << " batches");
    Splits s;
    s.train.set_pinned(pin);
    boost::Trainer tr(cfg);
    tr.setup(s.train);
    auto& m = tr.method();
    m.net().train();
    m.begin_epoch(0);
    s.train.start_epoch(0);
    boost::DeviceBatches batches(s.train, Device::CUDA);
    data::Batch b;
    int64_t steps = 0, after_first = 0;
    const int64_t start = cuda::host_waits();
    while (batches.next(b)) {
      m.train_step(b);
      // The first step also copies the classifiers' coefficients to the device.
      if (++steps == 1) after_first = cuda::host_waits();
    }
    REQUIRE(steps == s.train.num_batches());
    total[pin] = cuda::host_waits() - start;
    if (pin) CHECK(cuda::host_waits() - after_first == steps - 1);
    if (pin) CHECK(total[0] - total[1] == 3 * steps);
  }
}

TEST_CASE("evaluation on cuda reads the logits once per split, not once per batch", "[cuda][trainer]") {
  SKIP_WITHOUT_CUDA();
  SKIP_ON_EMULATED_CUDA("the emulated device never waits: it runs the CPU backend");
  nlohmann::json cfg = small_config("boost", 1);
  cfg["train"]["device"] = "cuda";
  Splits s;
  s.test.set_pinned(true);  // as the loader builds a CUDA run's batches: uploads without waits
  boost::Trainer tr(cfg);
  tr.setup(s.train);
  const boost::EvalResult first = tr.evaluate(s.test);  // the first also copies what the model caches
  const int64_t before = cuda::host_waits(), uploads_before = cuda::upload_waits();
  const boost::EvalResult again = tr.evaluate(s.test);
  // 4 batches of 64; the fused logits and each of the two modalities' are read once. Waits for a
  // batch's copy before its buffers are released depend on how far the host ran ahead of the
  // device (none on the SIMT build); there is at most one per batch.
  CHECK(s.test.num_batches() == 4);
  const int64_t upload_waits = cuda::upload_waits() - uploads_before;
  CHECK(cuda::host_waits() - before - upload_waits == 3);
  CHECK(upload_waits <= s.test.num_batches());
  CHECK(again.fused_logits == first.fused_logits);
  CHECK(again.labels == first.labels);
  REQUIRE(again.fused_logits.size() == 256 * 4);
}

TEST_CASE("cuda checkpoints: a run stopped mid-epoch resumes bit-identically", "[cuda][trainer]") {
  SKIP_WITHOUT_CUDA();
  nlohmann::json cfg = small_config("boost", 3, {{"assign_every", 1}});
  cfg["train"]["device"] = "cuda";
  mmtest::check_bitwise_resume(cfg, "cuda_resume", 1, {"classifiers", "omega", "ogm_scores"});
}

TEST_CASE("weights saved from a cuda run load into a CPU trainer and predict the same",
          "[cuda][trainer]") {
  SKIP_WITHOUT_CUDA();
  const std::string dir = mmtest::temp_dir("cuda_to_cpu");
  nlohmann::json cfg = small_config("boost", 2, {{"assign_every", 1}});
  cfg["train"]["device"] = "cuda";
  cfg["train"]["checkpoint_dir"] = dir;
  Splits s;
  boost::Trainer gpu(cfg);
  gpu.fit(s.train, &s.val);
  const boost::EvalResult eg = gpu.evaluate(s.test);

  cfg["train"]["device"] = "cpu";
  boost::Trainer cpu(cfg);
  cpu.load_weights(gpu.last_checkpoint_path(), s.train);
  for (const auto& [name, p] : cpu.method().net().named_parameters()) {
    INFO(name);
    CHECK(p.device() == Device::CPU);
  }
  const boost::EvalResult ec = cpu.evaluate(s.test);
  REQUIRE(ec.fused_logits.size() == eg.fused_logits.size());
  std::vector<double> want(eg.fused_logits.begin(), eg.fused_logits.end());
  mmtest::require_close(ec.fused_logits, want, 1e-4, 1e-4);
  std::filesystem::remove_all(dir);
}
