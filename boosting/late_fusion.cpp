// Late fusion by summed logits (late_fusion.h).
#include "boosting/late_fusion.h"

#include "engine/error.h"

namespace mm::boost {

void LateFusionMethod::build(const MethodContext& ctx) {
  spec_ = ctx.spec;
  config_ = ctx.config;
  device_ = ctx.device;
  const int64_t M = spec_.num_modalities();
  net_ = std::make_shared<Net>();
  auto enc = net_->add("encoders", std::make_shared<models::ModuleDict>());
  encoders_ = build_encoders(ctx, *enc);
  auto cls = net_->add("classifiers", std::make_shared<models::ModuleDict>());
  const auto widths = classifier_hidden(ctx.config);
  for (int64_t m = 0; m < M; ++m)
    classifiers_.push_back(cls->add(spec_.modalities[m], std::make_shared<models::ConfigurableClassifier>(
                                                             encoders_[m]->out_dim(), widths, *ctx.gen)));
  for (int64_t m = 1; m < M; ++m)
    MM_CHECK(classifiers_[m]->out_dim() == classifiers_[0]->out_dim(),
             "method " << name() << " shares one head, but the classifiers' output widths differ; "
                       << "give the classifiers a hidden layer (model.classifier_hidden)");
  head_ = net_->add("head", std::make_shared<nn::Linear>(classifiers_[0]->out_dim(), spec_.num_classes,
                                                         true, *ctx.gen));
  net_->to(ctx.device);
}

std::vector<std::pair<std::string, std::vector<Tensor>>> LateFusionMethod::param_groups() {
  std::vector<std::pair<std::string, std::vector<Tensor>>> g;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    std::vector<Tensor> p = encoder_params(m);
    for (const auto& t : classifier_params(m)) p.push_back(t);
    g.emplace_back("mod." + spec_.modalities[m], p);
  }
  g.emplace_back("shared.head", head_params());
  return g;
}

std::vector<Tensor> LateFusionMethod::features(const data::Batch& b) {
  std::vector<Tensor> u(num_modalities());
  for (int64_t m = 0; m < num_modalities(); ++m) u[m] = encoders_[m]->forward(b.inputs.at(m));
  return u;
}

Tensor LateFusionMethod::hidden(int64_t m, const Tensor& u) { return classifiers_.at(m)->forward(u); }

Tensor LateFusionMethod::modality_logits(int64_t m, const Tensor& u) { return head_->forward(hidden(m, u)); }

Predictions LateFusionMethod::forward_all(const data::Batch& b) {
  const auto u = features(b);
  Predictions p;
  p.modality_logits.resize(num_modalities());
  for (int64_t m = 0; m < num_modalities(); ++m) {
    p.modality_logits[m] = modality_logits(m, u[m]);
    p.fused_logits = m == 0 ? p.modality_logits[m] : add(p.fused_logits, p.modality_logits[m]);
  }
  return p;
}

LossOutput LateFusionMethod::loss(const data::Batch& b) {
  LossOutput o;
  o.loss = cross_entropy(forward_all(b).fused_logits, b.labels);
  o.terms["fused.ce"] = o.loss.item();
  return o;
}

Predictions LateFusionMethod::predict(const data::Batch& b) { return forward_all(b); }

std::vector<Tensor> LateFusionMethod::encoder_params(int64_t m) const { return encoders_.at(m)->parameters(); }
std::vector<Tensor> LateFusionMethod::classifier_params(int64_t m) const {
  return classifiers_.at(m)->parameters();
}
std::vector<Tensor> LateFusionMethod::head_params() const { return head_->parameters(); }

const nlohmann::json& LateFusionMethod::options(const std::string& section) const {
  const auto& method = config_.at("method");
  MM_CHECK(method.contains(section) && method.at(section).is_object(),
           "method " << name() << ": the config has no method." << section << " section");
  return method.at(section);
}

}  // namespace mm::boost
