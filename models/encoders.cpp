// Modality encoders: MLP, small CNN, ResNet18 (audio and visual variants), and the factory that
// builds them from config.
#include "models/encoders.h"

#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::models {

namespace {
std::vector<int64_t> int_list(const nlohmann::json& j, const char* key) {
  std::vector<int64_t> v;
  for (const auto& e : j.at(key)) {
    MM_CHECK(e.is_number_integer() && e.get<int64_t>() > 0,
             "encoder config: '" << key << "' must list positive integers, got " << j.at(key).dump());
    v.push_back(e.get<int64_t>());
  }
  return v;
}

// He-normal (fan_out) convolution weights, as torchvision's ResNet initialises them.
std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int k, int stride, int pad, Generator& gen) {
  auto c = std::make_shared<nn::Conv2d>(in, out, k, stride, pad, /*bias=*/false, gen);
  nn::init::kaiming_normal_(c->weight, /*mode_fan_out=*/true, gen);
  return c;
}
}  // namespace

// ---- MLP ---------------------------------------------------------------------------------

MlpEncoder::MlpEncoder(int64_t in_dim, const std::vector<int64_t>& hidden, int64_t out_dim,
                       Generator& gen)
    : in_dim_(in_dim), out_dim_(out_dim) {
  MM_CHECK(in_dim > 0 && out_dim > 0, "MlpEncoder: widths must be positive, got in " << in_dim
                                                                                  << " out " << out_dim);
  layers_ = register_module("layers", std::make_shared<nn::Sequential>());
  int64_t w = in_dim;
  for (int64_t h : hidden) {
    layers_->add(std::make_shared<nn::Linear>(w, h, true, gen));
    layers_->add(std::make_shared<nn::ReLU>());
    w = h;
  }
  layers_->add(std::make_shared<nn::Linear>(w, out_dim, true, gen));
  layers_->add(std::make_shared<nn::ReLU>());
}

Tensor MlpEncoder::forward(const Tensor& x) {
  MM_CHECK(x.dim() >= 2, "MlpEncoder: expected (B, features...), got " << x.describe());
  Tensor v = x.dim() == 2 ? x : x.reshape({x.size(0), -1});
  MM_CHECK(v.size(1) == in_dim_, "MlpEncoder: built for " << in_dim_ << " input features, got "
                                                          << x.describe());
  return layers_->forward(v);  // (B,D)
}

// ---- image inputs --------------------------------------------------------------------------

ImageInput ImageInput::from_shape(const Shape& s, const std::string& frames_layout) {
  MM_CHECK(frames_layout == "TCHW" || frames_layout == "CTHW",
           "encoder config: frames_layout must be \"TCHW\" or \"CTHW\", got \"" << frames_layout << "\"");
  ImageInput in;
  in.rank = static_cast<int64_t>(s.size());
  MM_CHECK(in.rank >= 2 && in.rank <= 4,
           "convolutional encoder: per-sample input must be (F,S), (C,H,W) or frames (T,C,H,W), got "
               << shape_str(s));
  if (in.rank == 2) in.channels = 1;
  if (in.rank == 3) in.channels = s[0];
  if (in.rank == 4) {
    in.channels_first = frames_layout == "CTHW";
    in.channels = in.channels_first ? s[0] : s[1];
  }
  return in;
}

Tensor ImageInput::to_images(const Tensor& x, int64_t* frames) const {
  MM_CHECK(x.dim() == rank + 1, "convolutional encoder: expected inputs of rank " << rank + 1
                                                                                  << ", got " << x.describe());
  *frames = 1;
  if (rank == 2) return x.unsqueeze(1);  // (B,F,S) -> (B,1,F,S)
  if (rank == 3) return x;
  Tensor f = channels_first ? x.permute({0, 2, 1, 3, 4}).contiguous() : x.contiguous();  // (B,T,C,H,W)
  *frames = f.size(1);
  return f.reshape({f.size(0) * f.size(1), f.size(2), f.size(3), f.size(4)});  // (B*T,C,H,W)
}

Tensor ImageInput::average_frames(const Tensor& f, int64_t batch, int64_t frames) {
  if (frames == 1) return f;
  return mean(f.reshape({batch, frames, f.size(1)}), {1});  // (B,T,D) -> (B,D)
}

// ---- small CNN -----------------------------------------------------------------------------

SmallCnn::SmallCnn(ImageInput input, const std::vector<int64_t>& channels, Generator& gen)
    : input_(input) {
  MM_CHECK(!channels.empty(), "SmallCnn: cnn_channels must list at least one block");
  blocks_ = register_module("blocks", std::make_shared<nn::Sequential>());
  int64_t c = input.channels;
  for (int64_t o : channels) {
    blocks_->add(conv(c, o, 3, 2, 1, gen));
    blocks_->add(std::make_shared<nn::BatchNorm2d>(o));
    blocks_->add(std::make_shared<nn::ReLU>());
    c = o;
  }
  out_dim_ = c;
}

Tensor SmallCnn::forward(const Tensor& x) {
  int64_t T = 1;
  Tensor img = input_.to_images(x, &T);                          // (B*T,C,H,W)
  Tensor f = adaptive_avg_pool2d(blocks_->forward(img), 1, 1);  // (B*T,D,1,1)
  return ImageInput::average_frames(f.reshape({f.size(0), out_dim_}), x.size(0), T);
}

// ---- ResNet18 ------------------------------------------------------------------------------

BasicBlock::BasicBlock(int64_t in_ch, int64_t out_ch, int stride, Generator& gen) {
  conv1_ = register_module("conv1", conv(in_ch, out_ch, 3, stride, 1, gen));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_ch));
  conv2_ = register_module("conv2", conv(out_ch, out_ch, 3, 1, 1, gen));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_ch));
  if (stride != 1 || in_ch != out_ch) {
    down_conv_ = register_module("down_conv", conv(in_ch, out_ch, 1, stride, 0, gen));
    down_bn_ = register_module("down_bn", std::make_shared<nn::BatchNorm2d>(out_ch));
  }
}

// relu(bn1(conv1 x)), then relu(bn2(conv2 .) + skip): each bn with its ReLU (and the residual
// add) in one op, the bits of the separate ops.
Tensor BasicBlock::forward(const Tensor& x) {
  Tensor y = conv2_->forward(bn1_->forward_relu(conv1_->forward(x)));
  Tensor skip = down_conv_ ? down_bn_->forward(down_conv_->forward(x)) : x;
  return bn2_->forward_relu(y, skip);
}

ResNet18::ResNet18(ImageInput input, int64_t width, Generator& gen) : input_(input), width_(width) {
  MM_CHECK(width > 0, "ResNet18: resnet_width must be positive, got " << width);
  conv1_ = register_module("conv1", conv(input.channels, width, 7, 2, 3, gen));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(width));
  layers_ = register_module("layers", std::make_shared<nn::Sequential>());
  int64_t c = width;
  const int64_t widths[4] = {width, 2 * width, 4 * width, 8 * width};
  for (int s = 0; s < 4; ++s) {
    layers_->add(std::make_shared<BasicBlock>(c, widths[s], s == 0 ? 1 : 2, gen));
    layers_->add(std::make_shared<BasicBlock>(widths[s], widths[s], 1, gen));
    c = widths[s];
  }
}

Tensor ResNet18::forward(const Tensor& x) {
  int64_t T = 1;
  Tensor img = input_.to_images(x, &T);  // (B*T,C,H,W)
  Tensor y = max_pool2d(bn1_->forward_relu(conv1_->forward(img)), 3, 2, 1);
  y = adaptive_avg_pool2d(layers_->forward(y), 1, 1);  // (B*T,8w,1,1)
  return ImageInput::average_frames(y.reshape({y.size(0), 8 * width_}), x.size(0), T);
}

// ---- factory -------------------------------------------------------------------------------

std::shared_ptr<Encoder> make_encoder(const nlohmann::json& cfg, const Shape& input_shape,
                                      Generator& gen) {
  std::string type = cfg.at("type").get<std::string>();
  MM_CHECK(!input_shape.empty(), "make_encoder: empty per-sample input shape");
  if (type == "auto") type = input_shape.size() == 1 ? "mlp" : "resnet18";
  const std::string layout = cfg.value("frames_layout", std::string("TCHW"));
  if (type == "mlp") {
    const int64_t in_dim = numel_of(input_shape);
    return std::make_shared<MlpEncoder>(in_dim, int_list(cfg, "mlp_hidden"),
                                        cfg.at("feature_dim").get<int64_t>(), gen);
  }
  if (type == "cnn")
    return std::make_shared<SmallCnn>(ImageInput::from_shape(input_shape, layout),
                                      int_list(cfg, "cnn_channels"), gen);
  if (type == "resnet18")
    return std::make_shared<ResNet18>(ImageInput::from_shape(input_shape, layout),
                                      cfg.at("resnet_width").get<int64_t>(), gen);
  check_encoder_type(type, "model.encoder.type");
  MM_FAIL("encoder config: type \"" << type << "\" has no constructor");
}

const std::vector<std::string>& encoder_types() {
  static const std::vector<std::string> types = {"auto", "mlp", "cnn", "resnet18"};
  return types;
}

void check_encoder_type(const std::string& type, const std::string& key) { one_of(type, key, encoder_types()); }

}  // namespace mm::models
