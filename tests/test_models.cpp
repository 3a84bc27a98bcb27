// Encoders (MLP, small CNN, ResNet18 audio/visual), the configurable classifier and the ACA
// weight network: shapes, parameter counts, initialisation, and the frame averaging of the
// visual variant.
#include <cmath>

#include "testing.h"

#include "engine/error.h"
#include "models/classifier.h"
#include "models/encoders.h"

using namespace mm;
using namespace mm::models;

namespace {
nlohmann::json encoder_cfg(const std::string& type) {
  return {{"type", type},          {"feature_dim", 16},        {"mlp_hidden", {8}},
          {"cnn_channels", {4, 6}}, {"resnet_width", 4},        {"frames_layout", "TCHW"}};
}
}  // namespace

TEST_CASE("MLP encoder maps (B,Din) to non-negative (B,D) and checks the width", "[cpu]") {
  Generator gen(1);
  MlpEncoder enc(10, {8, 8}, 16, gen);
  Tensor y = enc.forward(mmtest::randn({3, 10}, 2));
  CHECK(y.shape() == Shape{3, 16});
  for (float v : y.to_vector()) CHECK(v >= 0.0f);
  CHECK(enc.out_dim() == 16);
  // 10*8+8 + 8*8+8 + 8*16+16
  CHECK(enc.num_parameters() == 88 + 72 + 144);
  CHECK_THROWS_AS(enc.forward(mmtest::randn({3, 9}, 2)), mm::Error);
}

TEST_CASE("ResNet18 has torchvision's parameter count (audio: 1 channel, visual: 3)", "[cpu]") {
  // torchvision resnet18 without its fc layer has 11,176,512 parameters; the 1-channel stem
  // has 64*1*7*7 = 3,136 weights instead of 64*3*7*7 = 9,408.
  Generator gen(0);
  ResNet18 visual(ImageInput::from_shape({3, 3, 32, 32}, "TCHW"), 64, gen);
  CHECK(visual.num_parameters() == 11176512);
  ResNet18 audio(ImageInput::from_shape({1, 257, 188}, "TCHW"), 64, gen);
  CHECK(audio.num_parameters() == 11176512 - 9408 + 3136);
  CHECK(audio.out_dim() == 512);
}

TEST_CASE("ResNet18 audio variant: (B,1,F,S) and (B,F,S) give (B, 8*width)", "[cpu]") {
  Generator gen(4);
  ResNet18 enc(ImageInput::from_shape({1, 20, 18}, "TCHW"), 4, gen);
  Tensor y = enc.forward(mmtest::randn({2, 1, 20, 18}, 5));
  CHECK(y.shape() == Shape{2, 32});
  ResNet18 enc2(ImageInput::from_shape({20, 18}, "TCHW"), 4, gen);
  CHECK(enc2.forward(mmtest::randn({2, 20, 18}, 5)).shape() == Shape{2, 32});
}

TEST_CASE("visual variant averages per-frame features over T (TCHW and CTHW layouts)", "[cpu]") {
  const int64_t B = 2, T = 3, C = 3, H = 16, W = 16;
  Tensor frames = mmtest::randn({B, T, C, H, W}, 6);
  for (const std::string type : {"resnet18", "cnn"}) {
    Generator gen(7);
    auto enc = make_encoder(encoder_cfg(type), {T, C, H, W}, gen);
    enc->eval();  // running statistics: per-frame and batched outputs must agree exactly
    NoGradGuard ng;
    Tensor y = enc->forward(frames);  // (B,D)
    const int64_t D = enc->out_dim();
    REQUIRE(y.shape() == Shape{B, D});
    std::vector<double> want(B * D, 0.0);
    for (int64_t t = 0; t < T; ++t) {
      Tensor one = frames.slice(1, t, t + 1).contiguous().reshape({B, C, H, W});
      // a single image (B,C,H,W) through an encoder built for images
      Generator g2(7);
      auto img_enc = make_encoder(encoder_cfg(type), {C, H, W}, g2);
      img_enc->eval();
      std::vector<float> f = img_enc->forward(one).to_vector();
      for (int64_t i = 0; i < B * D; ++i) want[i] += f[i] / static_cast<double>(T);
    }
    mmtest::require_close(y.to_vector(), want, 1e-4, 1e-5, type + " frame average");
    // CTHW: the same frames laid out (B,C,T,H,W)
    auto cfg = encoder_cfg(type);
    cfg["frames_layout"] = "CTHW";
    Generator g3(7);
    auto enc_c = make_encoder(cfg, {C, T, H, W}, g3);
    enc_c->eval();
    mmtest::require_close(enc_c->forward(frames.permute({0, 2, 1, 3, 4}).contiguous()), y, 1e-5, 1e-6, "CTHW");
  }
}

TEST_CASE("small CNN: conv3x3/2 + BN + ReLU blocks then global average pool", "[cpu]") {
  Generator gen(8);
  auto enc = make_encoder(encoder_cfg("cnn"), {1, 12, 10}, gen);
  Tensor y = enc->forward(mmtest::randn({4, 1, 12, 10}, 9));
  CHECK(y.shape() == Shape{4, 6});
  // conv 1->4 (36) + BN (8) + conv 4->6 (216) + BN (12), no conv biases
  CHECK(enc->num_parameters() == 36 + 8 + 216 + 12);
}

TEST_CASE("make_encoder: auto picks mlp for vectors and resnet18 otherwise; bad types throw", "[cpu]") {
  Generator gen(10);
  CHECK(dynamic_cast<MlpEncoder*>(make_encoder(encoder_cfg("auto"), {12}, gen).get()) != nullptr);
  CHECK(dynamic_cast<ResNet18*>(make_encoder(encoder_cfg("auto"), {1, 16, 16}, gen).get()) != nullptr);
  CHECK_THROWS_AS(make_encoder(encoder_cfg("transformer"), {12}, gen), mm::Error);
  CHECK_THROWS_AS(make_encoder(encoder_cfg("resnet18"), {2, 3, 4, 5, 6}, gen), mm::Error);
}

TEST_CASE("configurable classifier: Linear(D->256)+ReLU, Xavier-normal weights, zero biases", "[cpu]") {
  Generator gen(11);
  ConfigurableClassifier c(512, {256}, gen);
  CHECK(c.out_dim() == 256);
  CHECK(c.single_layer());
  std::vector<float> w = c.first().weight.to_vector();
  double s2 = 0.0, m = 0.0;
  for (float v : w) m += v;
  m /= w.size();
  for (float v : w) s2 += (v - m) * (v - m);
  const double sd = std::sqrt(s2 / w.size());
  CHECK(sd == Approx(std::sqrt(2.0 / (512 + 256))).epsilon(0.02));  // Xavier normal, gain 1
  CHECK(std::fabs(m) < 1e-3);
  for (float v : c.first().bias.to_vector()) CHECK(v == 0.0f);
  Tensor h = c.forward(mmtest::randn({3, 512}, 12));
  CHECK(h.shape() == Shape{3, 256});
  for (float v : h.to_vector()) CHECK(v >= 0.0f);
  // deeper and empty configurations
  ConfigurableClassifier deep(8, {6, 4}, gen);
  CHECK(deep.out_dim() == 4);
  CHECK_FALSE(deep.single_layer());
  ConfigurableClassifier none(8, {}, gen);
  Tensor x = mmtest::randn({2, 8}, 13);
  mmtest::require_close(none.forward(x), x, 0, 0, "identity");
  CHECK_THROWS_AS(none.first(), mm::Error);
}

TEST_CASE("ACA network: 3 layers, M scores -> M weights in [0,1]", "[cpu]") {
  Generator gen(14);
  AcaNet net(3, {512, 64}, gen);
  CHECK(net.num_parameters() == (3 * 512 + 512) + (512 * 64 + 64) + (64 * 3 + 3));
  Tensor w = net.forward(Tensor::from_vector({0.2f, 0.9f, 0.5f}, {3}));
  CHECK(w.shape() == Shape{3});
  for (float v : w.to_vector()) CHECK((v > 0.0f && v < 1.0f));
  CHECK(net.forward(mmtest::randu({4, 3}, 15, 0, 1)).shape() == Shape{4, 3});
  CHECK_THROWS_AS(net.forward(Tensor::from_vector({0.2f, 0.9f}, {2})), mm::Error);
  CHECK_THROWS_AS(AcaNet(2, {8}, gen), mm::Error);
}
