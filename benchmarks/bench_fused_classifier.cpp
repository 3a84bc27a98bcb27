// The configurable-classifier bank of one modality, forward + backward of the sustained
// boosting loss, by the plain path (each classifier and the shared head as separate ops, the
// loss from ordinary ops) and by the fused path (one GEMM for all first layers, the head on
// coefficient sums of hidden vectors, one loss kernel), for n = 1..16 classifiers. One JSON
// line per n: median milliseconds of each path and the speed-up.
//   bench_fused_classifier [--threads N] [--device cpu|cuda] [--batch B]
// Shapes default to the paper's CREMA-D setting: B 64, D 512, H 256, K 6.
#include <cstring>
#include <memory>
#include <vector>

#include "benchmarks/bench_common.h"
#include "boosting/boost_loss.h"
#include "engine/backend.h"
#include "models/classifier.h"

namespace {

std::string arg_value(int argc, char** argv, const char* flag, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], flag) == 0) return argv[i + 1];
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mm;
  const int threads = mmbench::setup_threads(argc, argv);
  const std::string dev_name = arg_value(argc, argv, "--device", "cpu");
  const Device dev = dev_name == "cuda" ? Device::CUDA : Device::CPU;
  if (dev == Device::CUDA && !cuda::available()) {
    std::cerr << "bench_fused_classifier: --device cuda but no CUDA device is available\n";
    return 1;
  }
  const int64_t B = std::atoll(arg_value(argc, argv, "--batch", "64").c_str());
  const int64_t D = 512, H = 256, K = 6;
  Generator gen(0);
  Tensor u = Tensor::empty({B, D});
  normal_(u, 0.0f, 1.0f, gen);
  u = u.to(dev);
  u.set_requires_grad(true);
  std::vector<int64_t> yv(B);
  for (int64_t i = 0; i < B; ++i) yv[i] = i % K;
  Tensor labels = Tensor::from_ints(yv, {B}).to(dev);
  auto head = std::make_shared<nn::Linear>(H, K, true, gen);
  head->to(dev);
  std::vector<std::shared_ptr<models::ConfigurableClassifier>> cls;

  for (int64_t n = 1; n <= 16; ++n) {
    cls.push_back(std::make_shared<models::ConfigurableClassifier>(D, std::vector<int64_t>{H}, gen));
    cls.back()->to(dev);
    std::vector<float> coef(n, 0.8f);  // omega on the added classifiers
    coef[0] = 1.0f;
    const auto opt = boost::BoostLossOptions::for_classifiers(n, 0.2f, true, true, true);
    auto step = [&](bool fused) {
      u.zero_grad();
      head->zero_grad();
      for (auto& c : cls) c->zero_grad();
      boost::ClassifierSums s = fused ? boost::classifier_sums_fused(u, cls, *head, coef)
                                      : boost::classifier_sums_plain(u, cls, *head, coef);
      boost::BoostLossResult r = fused ? boost::boost_loss_fused(s.s_prev, s.z_new, labels, opt)
                                       : boost::boost_loss_plain(s.s_prev, s.z_new, labels, opt);
      r.loss.backward();
      if (dev == Device::CUDA) cuda::synchronize();
    };
    const int repeats = n <= 4 ? 30 : 15;
    mmbench::Timing plain = mmbench::time_ms([&] { step(false); }, 3, repeats);
    mmbench::Timing fused = mmbench::time_ms([&] { step(true); }, 3, repeats);
    mmbench::Json j = mmbench::header("fused_classifier", threads);
    j["device"] = dev_name;
    j["n"] = n;
    j["B"] = B;
    j["D"] = D;
    j["H"] = H;
    j["K"] = K;
    j["plain_median_ms"] = plain.median_ms;
    j["fused_median_ms"] = fused.median_ms;
    j["plain_cpu_median_ms"] = plain.cpu_median_ms;
    j["fused_cpu_median_ms"] = fused.cpu_median_ms;
    j["speedup"] = plain.median_ms / fused.median_ms;
    j["repeats"] = repeats;
    mmbench::emit(j);
  }
  return 0;
}
