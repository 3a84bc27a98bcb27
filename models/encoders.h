// mmboost models: modality encoders phi^r (paper Section 4.1: u^r = phi^r(x^r; theta^r)).
//
// Every encoder maps a batch of one modality's inputs to features u (B,D):
//   MlpEncoder     vectors (B,Din) (any trailing shape is flattened)
//   SmallCnn       conv3x3/2 + BN + ReLU blocks, global average pool; D = last channel count
//   ResNet18       the field's audio-visual backbone (D = 8 * width = 512 by default):
//                    audio variant: 1 input channel over a spectrogram (B,1,F,S) or (B,F,S);
//                    visual variant: C channels over T frames (B,T,C,H,W), each frame through
//                    the same network, features averaged over time.
// The two convolutional encoders take (B,C,H,W), (B,F,S) (one channel) or frames (B,T,C,H,W)
// (features averaged over T), so a CNN can also encode frames.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace mm::models {

class Encoder : public nn::Module {
 public:
  virtual int64_t out_dim() const = 0;  // D
};

// Linear + ReLU for each hidden width, then Linear(-> D) + ReLU.
class MlpEncoder : public Encoder {
 public:
  MlpEncoder(int64_t in_dim, const std::vector<int64_t>& hidden, int64_t out_dim, Generator& gen);
  Tensor forward(const Tensor& x) override;  // x (B,...) -> (B,D)
  int64_t out_dim() const override { return out_dim_; }

 private:
  std::shared_ptr<nn::Sequential> layers_;
  int64_t in_dim_, out_dim_;
};

// Shared by SmallCnn and ResNet18: brings (B,F,S), (B,C,H,W), (B,T,C,H,W) or (B,C,T,H,W) to
// images (B*T,C,H,W) and averages per-frame features back to (B,D).
struct ImageInput {
  int64_t rank = 3;            // per-sample rank: 2 (F,S), 3 (C,H,W), 4 (frames)
  int64_t channels = 1;        // C
  bool channels_first = false; // frames laid out (C,T,H,W) instead of (T,C,H,W)
  // From a per-sample shape; frames_layout "TCHW" or "CTHW" for rank-4 shapes.
  static ImageInput from_shape(const Shape& s, const std::string& frames_layout);
  Tensor to_images(const Tensor& x, int64_t* frames) const;  // -> (B*T,C,H,W), T out
  static Tensor average_frames(const Tensor& f, int64_t batch, int64_t frames);  // (B*T,D)->(B,D)
};

class SmallCnn : public Encoder {
 public:
  SmallCnn(ImageInput input, const std::vector<int64_t>& channels, Generator& gen);
  Tensor forward(const Tensor& x) override;
  int64_t out_dim() const override { return out_dim_; }

 private:
  ImageInput input_;
  std::shared_ptr<nn::Sequential> blocks_;
  int64_t out_dim_;
};

// ResNet basic block: conv3x3(stride) BN ReLU conv3x3 BN, plus identity or a 1x1(stride)+BN
// projection, then ReLU.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in_ch, int64_t out_ch, int stride, Generator& gen);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, down_conv_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_, down_bn_;
};

// conv7x7/2 + BN + ReLU + maxpool3/2, four stages of two BasicBlocks (width, 2w, 4w, 8w;
// strides 1, 2, 2, 2), global average pool -> (B, 8w). Convolutions He-normal (fan_out),
// BN weight 1 / bias 0, as torchvision's ResNet and the field's releases initialise them.
class ResNet18 : public Encoder {
 public:
  ResNet18(ImageInput input, int64_t width, Generator& gen);
  Tensor forward(const Tensor& x) override;
  int64_t out_dim() const override { return 8 * width_; }

 private:
  ImageInput input_;
  int64_t width_;
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::shared_ptr<nn::Sequential> layers_;
};

// Builds an encoder from a "model.encoder" config object (see boosting/trainer.h
// default_config) for one modality's per-sample input shape. "auto": rank 1 -> mlp, otherwise
// resnet18.
std::shared_ptr<Encoder> make_encoder(const nlohmann::json& cfg, const Shape& input_shape,
                                      Generator& gen);

// The encoder types make_encoder knows: auto, mlp, cnn, resnet18.
const std::vector<std::string>& encoder_types();

// Throws mm::Error unless `type` is one of encoder_types(), naming `key` (the config path) and
// the nearest known type.
void check_encoder_type(const std::string& type, const std::string& key);

}  // namespace mm::models
