// The configurable classifier and the ACA weight network.
#include "models/classifier.h"

#include "engine/error.h"

namespace mm::models {

ConfigurableClassifier::ConfigurableClassifier(int64_t in_dim, const std::vector<int64_t>& hidden,
                                               Generator& gen)
    : in_dim_(in_dim), out_dim_(in_dim) {
  MM_CHECK(in_dim > 0, "ConfigurableClassifier: input width must be positive, got " << in_dim);
  int64_t w = in_dim;
  for (size_t i = 0; i < hidden.size(); ++i) {
    MM_CHECK(hidden[i] > 0, "ConfigurableClassifier: hidden widths must be positive, got "
                                << hidden[i] << " at position " << i);
    auto l = std::make_shared<nn::Linear>(w, hidden[i], true, gen);
    nn::init::xavier_normal_(l->weight, 1.0f, gen);
    nn::init::zeros_(l->bias);
    layers_.push_back(register_module(std::to_string(i), l));
    w = hidden[i];
  }
  out_dim_ = w;
}

Tensor ConfigurableClassifier::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& l : layers_) h = relu(l->forward(h));
  return h;
}

nn::Linear& ConfigurableClassifier::first() const {
  MM_CHECK(!layers_.empty(), "ConfigurableClassifier: has no layers (model.classifier_hidden is empty)");
  return *layers_.front();
}

AcaNet::AcaNet(int64_t num_modalities, const std::vector<int64_t>& hidden, Generator& gen)
    : M_(num_modalities) {
  MM_CHECK(hidden.size() == 2, "AcaNet: method.aca_hidden must give the two hidden widths of the "
                               "3-layer network, got " << hidden.size() << " values");
  layers_ = register_module("layers", std::make_shared<nn::Sequential>());
  layers_->add(std::make_shared<nn::Linear>(M_, hidden[0], true, gen));
  layers_->add(std::make_shared<nn::ReLU>());
  layers_->add(std::make_shared<nn::Linear>(hidden[0], hidden[1], true, gen));
  layers_->add(std::make_shared<nn::ReLU>());
  layers_->add(std::make_shared<nn::Linear>(hidden[1], M_, true, gen));
}

Tensor AcaNet::forward(const Tensor& scores) {
  MM_CHECK(scores.size(-1) == M_, "AcaNet: expected " << M_ << " scores, got " << scores.describe());
  Tensor x = scores.dim() == 1 ? scores.reshape({1, M_}) : scores;
  Tensor w = sigmoid(layers_->forward(x));
  return scores.dim() == 1 ? w.reshape({M_}) : w;
}

}  // namespace mm::models
