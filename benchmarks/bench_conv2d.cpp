// conv2d forward and backward on the CPU backend for ResNet18-like layers (at a reduced input
// resolution: a 112x112 stem) and for the four layers of the small spectrogram CNN, at batch
// 16 and 64. Times the backend kernels directly (no autograd bookkeeping); the backward
// computes gx (except for first layers, whose input needs no gradient) and gw.
// One JSON line per (layer, batch): median times and GFLOP/s (2 flops per multiply-add).
//   bench_conv2d [--threads N] [--quick (batch 16 only)] [--only SUBSTRING (of layer names)]
#include <vector>

#include "benchmarks/bench_common.h"
#include "engine/backend.h"
#include "engine/rng.h"

namespace {

struct Layer {
  const char* name;
  int64_t C, O, H, W, k, s, p;
  bool input_grad;  // false for a network's first layer
};

void run(const Layer& l, int64_t B, int threads) {
  using mm::Tensor;
  const int64_t Ho = (l.H + 2 * l.p - l.k) / l.s + 1, Wo = (l.W + 2 * l.p - l.k) / l.s + 1;
  mm::Generator g(7);
  Tensor x = Tensor::empty({B, l.C, l.H, l.W}), w = Tensor::empty({l.O, l.C, l.k, l.k});
  Tensor gy = Tensor::empty({B, l.O, Ho, Wo});
  mm::normal_(x, 0, 1, g);
  mm::normal_(w, 0, 0.05f, g);
  mm::normal_(gy, 0, 1, g);
  Tensor y = Tensor::empty({B, l.O, Ho, Wo}), gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape());
  const int s = static_cast<int>(l.s), p = static_cast<int>(l.p);
  auto fwd = [&] { mm::cpu::conv2d_forward(x, w, Tensor(), s, p, y); };
  auto bwd = [&] { mm::cpu::conv2d_backward(x, w, gy, s, p, l.input_grad ? &gx : nullptr, &gw, nullptr); };
  const double fwd_flops = 2.0 * B * l.O * Ho * Wo * l.C * l.k * l.k;
  const double bwd_flops = fwd_flops * (l.input_grad ? 2.0 : 1.0);
  // About two seconds of timing per measurement, at least 3 repeats.
  const double probe = mmbench::time_ms(fwd, 0, 1).median_ms;
  const int repeats = std::clamp(static_cast<int>(2000.0 / (3.0 * std::max(probe, 1e-3))), 3, 50);
  mmbench::Timing tf = mmbench::time_ms(fwd, 1, repeats);
  mmbench::Timing tb = mmbench::time_ms(bwd, 1, repeats);
  mmbench::Json j = mmbench::header("conv2d", threads);
  j["layer"] = l.name;
  j["x"] = {B, l.C, l.H, l.W};
  j["w"] = {l.O, l.C, l.k, l.k};
  j["stride"] = l.s;
  j["padding"] = l.p;
  j["input_grad"] = l.input_grad;
  j["fwd_median_ms"] = tf.median_ms;
  j["bwd_median_ms"] = tb.median_ms;
  j["fwd_bwd_ms"] = tf.median_ms + tb.median_ms;
  j["fwd_gflops"] = fwd_flops / (tf.median_ms * 1e6);
  j["bwd_gflops"] = bwd_flops / (tb.median_ms * 1e6);
  j["fwd_min_ms"] = tf.min_ms;
  j["bwd_min_ms"] = tb.min_ms;
  j["fwd_cpu_ms"] = tf.cpu_median_ms;
  j["bwd_cpu_ms"] = tb.cpu_median_ms;
  j["repeats"] = repeats;
  mmbench::emit(j);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = mmbench::setup_threads(argc, argv);
  const std::vector<Layer> layers = {
      {"resnet18.stem", 3, 64, 112, 112, 7, 2, 3, false},
      {"resnet18.layer1", 64, 64, 56, 56, 3, 1, 1, true},
      {"resnet18.layer2.down", 64, 128, 56, 56, 3, 2, 1, true},
      {"resnet18.layer2.shortcut", 64, 128, 56, 56, 1, 2, 0, true},
      {"resnet18.layer3", 256, 256, 14, 14, 3, 1, 1, true},
      {"resnet18.layer4", 512, 512, 7, 7, 3, 1, 1, true},
      {"resnet18.pointwise", 256, 512, 7, 7, 1, 1, 0, true},
      {"cnn.block1", 1, 16, 129, 63, 3, 2, 1, false},
      {"cnn.block2", 16, 32, 65, 32, 3, 2, 1, true},
      {"cnn.block3", 32, 64, 33, 16, 3, 2, 1, true},
      {"cnn.block4", 64, 128, 17, 8, 3, 2, 1, true},
  };
  const bool quick = mmbench::has_flag(argc, argv, "--quick");
  std::string only;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
  for (int64_t B : {16, 64}) {
    if (quick && B != 16) continue;
    for (const Layer& l : layers)
      if (std::string(l.name).find(only) != std::string::npos) run(l, B, threads);
  }
  return 0;
}
