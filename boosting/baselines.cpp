// Baselines as method plug-ins: unimodal training and naive joint training (sum-of-logits and
// concatenation fusion, one cross-entropy on the fused logits). The registry of built-in
// methods is at the end; the paper's comparison methods live in baseline_*.cpp (baselines.h).
#include <functional>

#include "boosting/baselines.h"
#include "boosting/boost_method.h"
#include "boosting/late_fusion.h"
#include "boosting/method.h"
#include "boosting/networks.h"
#include "engine/error.h"

namespace mm::boost {

namespace {

// One modality alone: encoder -> configurable classifier -> head, plain CE.
class UnimodalMethod : public Method {
 public:
  std::string name() const override { return "unimodal"; }

  void build(const MethodContext& ctx) override {
    spec_ = ctx.spec;
    const std::string key = ctx.config.at("method").at("modality").get<std::string>();
    MM_CHECK(!key.empty() || spec_.num_modalities() == 1,
             "method unimodal needs method.modality (a modality name or index)");
    m_ = key.empty() ? 0 : spec_.modality_index(key);
    net_ = std::make_shared<Net>();
    auto enc = net_->add("encoders", std::make_shared<models::ModuleDict>());
    std::vector<bool> which(spec_.modalities.size(), false);
    which[m_] = true;
    encoder_ = build_encoders(ctx, *enc, which)[m_];
    auto cls = net_->add("classifiers", std::make_shared<models::ModuleDict>());
    classifier_ = cls->add(spec_.modalities[m_], std::make_shared<models::ConfigurableClassifier>(
                                                     encoder_->out_dim(), classifier_hidden(ctx.config), *ctx.gen));
    head_ = net_->add("head", std::make_shared<nn::Linear>(classifier_->out_dim(), spec_.num_classes,
                                                           true, *ctx.gen));
    net_->to(ctx.device);
  }
  nn::Module& net() override { return *net_; }
  std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() override {
    std::vector<Tensor> p = encoder_->parameters();
    for (const auto& t : classifier_->parameters()) p.push_back(t);
    return {{"mod." + spec_.modalities[m_], p}, {"shared.head", head_->parameters()}};
  }
  Tensor logits(const data::Batch& b) {
    return head_->forward(classifier_->forward(encoder_->forward(b.inputs.at(m_))));
  }
  LossOutput loss(const data::Batch& b) override {
    LossOutput o;
    o.loss = cross_entropy(logits(b), b.labels);
    o.terms[spec_.modalities[m_] + ".ce"] = o.loss.item();
    return o;
  }
  Predictions predict(const data::Batch& b) override {
    Predictions p;
    p.modality_logits.resize(spec_.modalities.size());
    p.modality_logits[m_] = logits(b);
    p.fused_logits = p.modality_logits[m_];
    return p;
  }

 private:
  DataSpec spec_;
  int64_t m_ = 0;
  std::shared_ptr<Net> net_;
  std::shared_ptr<models::Encoder> encoder_;
  std::shared_ptr<models::ConfigurableClassifier> classifier_;
  std::shared_ptr<nn::Linear> head_;
};

// Naive joint training with concatenation fusion: fused = head(psi([u_1, ..., u_M])); a modality
// alone is scored with the other modalities' features set to zero. (Sum fusion is
// LateFusionMethod, late_fusion.h.)
class ConcatJointMethod : public Method {
 public:
  std::string name() const override { return "joint_concat"; }

  void build(const MethodContext& ctx) override {
    spec_ = ctx.spec;
    net_ = std::make_shared<Net>();
    auto enc = net_->add("encoders", std::make_shared<models::ModuleDict>());
    encoders_ = build_encoders(ctx, *enc);
    auto cls = net_->add("classifiers", std::make_shared<models::ModuleDict>());
    int64_t width = 0;
    for (const auto& e : encoders_) width += e->out_dim();
    classifier_ = cls->add("concat", std::make_shared<models::ConfigurableClassifier>(
                                         width, classifier_hidden(ctx.config), *ctx.gen));
    head_ = net_->add("head", std::make_shared<nn::Linear>(classifier_->out_dim(), spec_.num_classes,
                                                           true, *ctx.gen));
    net_->to(ctx.device);
  }
  nn::Module& net() override { return *net_; }
  std::vector<std::pair<std::string, std::vector<Tensor>>> param_groups() override {
    std::vector<std::pair<std::string, std::vector<Tensor>>> g;
    for (size_t m = 0; m < encoders_.size(); ++m) g.emplace_back("mod." + spec_.modalities[m], encoders_[m]->parameters());
    std::vector<Tensor> shared = head_->parameters();
    for (const auto& t : classifier_->parameters()) shared.push_back(t);
    g.emplace_back("shared.head", shared);
    return g;
  }

  Predictions forward_all(const data::Batch& b, bool per_modality) {
    const int64_t M = spec_.num_modalities();
    std::vector<Tensor> u(M);
    for (int64_t m = 0; m < M; ++m) u[m] = encoders_[m]->forward(b.inputs.at(m));  // (B,D_r)
    Predictions p;
    p.modality_logits.resize(M);
    p.fused_logits = head_->forward(classifier_->forward(concat(u, 1)));
    if (per_modality) {
      for (int64_t m = 0; m < M; ++m) {
        std::vector<Tensor> only(M);
        for (int64_t r = 0; r < M; ++r)
          only[r] = r == m ? u[r] : Tensor::zeros(u[r].shape(), DType::F32, u[r].device());
        p.modality_logits[m] = head_->forward(classifier_->forward(concat(only, 1)));
      }
    }
    return p;
  }
  LossOutput loss(const data::Batch& b) override {
    LossOutput o;
    o.loss = cross_entropy(forward_all(b, false).fused_logits, b.labels);
    o.terms["fused.ce"] = o.loss.item();
    return o;
  }
  Predictions predict(const data::Batch& b) override { return forward_all(b, true); }

 private:
  DataSpec spec_;
  std::shared_ptr<Net> net_;
  std::vector<std::shared_ptr<models::Encoder>> encoders_;
  std::shared_ptr<models::ConfigurableClassifier> classifier_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace

void register_builtin_methods(const std::function<void(const std::string&, MethodFactory)>& add) {
  add("boost", [] { return std::make_unique<BoostMethod>(); });
  add("unimodal", [] { return std::make_unique<UnimodalMethod>(); });
  add("joint_sum", [] { return std::make_unique<LateFusionMethod>(); });
  add("joint_concat", [] { return std::make_unique<ConcatJointMethod>(); });
  register_baseline_methods(add);
}

}  // namespace mm::boost

namespace mm::boost {

void register_baseline_methods(const AddMethodFn& add) {
  register_modulation_methods(add);
  register_validation_methods(add);
  register_alternating_methods(add);
  register_multiloss_methods(add);
}

nlohmann::json baseline_method_defaults() {
  nlohmann::json all = nlohmann::json::object();
  for (const auto& part : {modulation_method_defaults(), validation_method_defaults(),
                           alternating_method_defaults(), multiloss_method_defaults()})
    for (auto it = part.begin(); it != part.end(); ++it) {
      MM_CHECK(!all.contains(it.key()), "two baseline files define method." << it.key());
      all[it.key()] = it.value();
    }
  return all;
}

}  // namespace mm::boost
