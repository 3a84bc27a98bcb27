// One training step of the small spectrogram CNN on the CPU, the model that
// benchmarks/pytorch/cnn_step.py runs in PyTorch:
//   4 x [conv 3x3 stride 2 pad 1 (no bias) -> BatchNorm2d (training) -> ReLU],
//   channels 1 -> 16 -> 32 -> 64 -> 128, input (64,1,129,63)
//   -> adaptive avg pool 1x1 -> flatten -> Linear(128 -> 10) -> cross-entropy
//   -> backward -> SGD update p -= lr * grad (plain, no momentum).
// Prints one JSON line: the median over 20 steps after 3 warm-up steps.
//   bench_cnn_step [--threads N] [--steps S]
#include <cmath>
#include <cstring>
#include <vector>

#include "benchmarks/bench_common.h"
#include "engine/ops.h"

namespace {

using mm::Tensor;

struct Block {
  Tensor w, gamma, beta, running_mean, running_var;
};

struct SmallCnn {
  std::vector<Block> blocks;
  Tensor fc_w, fc_b;

  explicit SmallCnn(mm::Generator& g) {
    const int64_t ch[5] = {1, 16, 32, 64, 128};
    for (int i = 0; i < 4; ++i) {
      Block b;
      b.w = Tensor::empty({ch[i + 1], ch[i], 3, 3});
      const float bound = 1.0f / std::sqrt(static_cast<float>(ch[i] * 9));
      mm::uniform_(b.w, -bound, bound, g);
      b.gamma = Tensor::ones({ch[i + 1]});
      b.beta = Tensor::zeros({ch[i + 1]});
      b.running_mean = Tensor::zeros({ch[i + 1]});
      b.running_var = Tensor::ones({ch[i + 1]});
      blocks.push_back(b);
    }
    fc_w = Tensor::empty({10, 128});
    fc_b = Tensor::empty({10});
    mm::uniform_(fc_w, -1.0f / std::sqrt(128.0f), 1.0f / std::sqrt(128.0f), g);
    mm::uniform_(fc_b, -1.0f / std::sqrt(128.0f), 1.0f / std::sqrt(128.0f), g);
    for (Tensor* p : params()) p->set_requires_grad(true);
  }

  std::vector<Tensor*> params() {
    std::vector<Tensor*> ps;
    for (Block& b : blocks) {
      ps.push_back(&b.w);
      ps.push_back(&b.gamma);
      ps.push_back(&b.beta);
    }
    ps.push_back(&fc_w);
    ps.push_back(&fc_b);
    return ps;
  }

  // x (B,1,129,63) -> logits (B,10)
  Tensor forward(const Tensor& x) {
    Tensor h = x;
    for (Block& b : blocks)
      h = mm::relu(mm::batch_norm2d(mm::conv2d(h, b.w, Tensor(), 2, 1), b.gamma, b.beta,
                                    b.running_mean, b.running_var, /*training=*/true));
    h = mm::adaptive_avg_pool2d(h, 1, 1).flatten(1);  // (B,128)
    return mm::linear(h, fc_w, fc_b);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = mmbench::setup_threads(argc, argv);
  int steps = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--steps") == 0) steps = std::atoi(argv[i + 1]);
  const int64_t B = 64, H = 129, W = 63, K = 10;
  const float lr = 0.01f;
  mm::Generator g(0);
  SmallCnn model(g);
  Tensor x = Tensor::empty({B, 1, H, W});
  mm::normal_(x, 0, 1, g);
  std::vector<int64_t> labels(B);
  for (auto& l : labels) l = g.randint(K);
  Tensor y = Tensor::from_ints(labels, {B});

  float last_loss = 0;
  auto step = [&] {
    for (Tensor* p : model.params()) p->zero_grad();
    Tensor loss = mm::cross_entropy(model.forward(x), y);
    loss.backward();
    mm::NoGradGuard ng;
    for (Tensor* p : model.params()) p->add_(p->grad(), -lr);
    last_loss = loss.item();
  };
  mmbench::Timing t = mmbench::time_ms(step, 3, steps);
  mmbench::Json j = mmbench::header("cnn_step", threads);
  j["input"] = {B, 1, H, W};
  j["channels"] = {1, 16, 32, 64, 128};
  j["classes"] = K;
  mmbench::add_timing(j, t);
  j["ms_per_step"] = t.median_ms;
  j["final_loss"] = last_loss;
  mmbench::emit(j);
  return 0;
}
