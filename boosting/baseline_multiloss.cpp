// Baselines: mmpareto and pmr (baselines.h, baseline_multiloss.h; docs/methods.md).
//
// Both derive from LateFusionMethod: per modality an encoder phi_m and a classifier psi_m, one
// head h shared by all modalities, z_m = h(psi_m(phi_m(x_m))), fused logits sum_m z_m (also at
// inference).
//
//   mmpareto  CE(fused) + sum_m CE(z_m). Each encoder's gradient is the MMPareto combination of
//             its multimodal and unimodal gradients; every other parameter gets the plain sum.
//   pmr       CE(fused) + sum_m alpha f_m PCE_m - mu f_d H_d: prototypical cross-entropy for
//             the modalities trailing on the prototype score, entropy regularisation of the
//             dominant one early on.
#include "boosting/baseline_multiloss.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "boosting/baselines.h"
#include "boosting/late_fusion.h"
#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::boost {

using nlohmann::json;

namespace multiloss {

// ---- MMPareto ----------------------------------------------------------------------------------

double min_norm_weight(double g1g1, double g1g2, double g2g2) {
  // ||a g1 + (1-a) g2||^2 is a parabola in a with minimum at (g2g2 - g1g2) / ||g1 - g2||^2.
  const double denom = g1g1 + g2g2 - 2.0 * g1g2;
  if (!(denom > 0.0)) return 0.5;  // g1 == g2: every convex combination is the same vector
  return std::clamp((g2g2 - g1g2) / denom, 0.0, 1.0);
}

ParetoWeights mmpareto_weights(double mm_mm, double mm_uni, double uni_uni) {
  ParetoWeights w;
  const double nn = std::sqrt(std::max(mm_mm, 0.0) * std::max(uni_uni, 0.0));
  w.cos = nn > 0.0 ? mm_uni / nn : 0.0;
  // Conflict = negative cosine (the paper); a zero gradient is not a conflict, so the step is
  // the plain sum.
  w.conflict = w.cos < 0.0;
  if (w.conflict) {
    w.w_mm = min_norm_weight(mm_mm, mm_uni, uni_uni);
    w.w_uni = 1.0 - w.w_mm;
  }
  // ||d||^2 with d = 2 (w_mm g_mm + w_uni g_uni), and ||g_mm + g_uni||^2, from the Gram entries.
  const double d2 = 4.0 * (w.w_mm * w.w_mm * mm_mm + 2.0 * w.w_mm * w.w_uni * mm_uni + w.w_uni * w.w_uni * uni_uni);
  const double s2 = mm_mm + 2.0 * mm_uni + uni_uni;
  if (!w.conflict)
    w.scale = 1.0;  // d is the sum itself
  else
    w.scale = d2 > 0.0 ? std::sqrt(std::max(s2, 0.0) / d2) : 0.0;
  return w;
}

namespace {
double dot(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return 0.0;
  return static_cast<double>(sum(mul(a, b)).item());
}
}  // namespace

std::vector<Tensor> mmpareto_combine(const std::vector<Tensor>& g_mm, const std::vector<Tensor>& g_uni,
                                     double gamma, const std::string& rescale, ParetoWeights* info) {
  MM_CHECK(g_mm.size() == g_uni.size(), "mmpareto_combine: " << g_mm.size() << " multimodal and "
                                                             << g_uni.size() << " unimodal gradients");
  MM_CHECK(rescale == "encoder" || rescale == "tensor",
           "method.mmpareto.rescale must be \"encoder\" or \"tensor\", got \"" << rescale << "\"");
  NoGradGuard ng;
  const size_t T = g_mm.size();
  // Gram entries per tensor, summed in double over the encoder (the cosine and the weights are
  // those of the whole encoder's gradient, as in the paper and the release).
  std::vector<double> mm(T), mu(T), uu(T);
  double MM = 0.0, MU = 0.0, UU = 0.0;
  for (size_t t = 0; t < T; ++t) {
    mm[t] = dot(g_mm[t], g_mm[t]);
    mu[t] = dot(g_mm[t], g_uni[t]);
    uu[t] = dot(g_uni[t], g_uni[t]);
    MM += mm[t];
    MU += mu[t];
    UU += uu[t];
  }
  const ParetoWeights w = mmpareto_weights(MM, MU, UU);
  if (info) *info = w;
  std::vector<Tensor> out(T);
  for (size_t t = 0; t < T; ++t) {
    const Tensor& a = g_mm[t];
    const Tensor& b = g_uni[t];
    if (!a.defined() && !b.defined()) continue;  // a parameter neither loss reaches keeps no gradient
    double scale = w.scale;
    if (rescale == "tensor") {
      // The release: per parameter tensor, never shrink.
      const double d2 = 4.0 * (w.w_mm * w.w_mm * mm[t] + 2.0 * w.w_mm * w.w_uni * mu[t] + w.w_uni * w.w_uni * uu[t]);
      const double s2 = mm[t] + 2.0 * mu[t] + uu[t];
      scale = d2 > 0.0 ? std::max(1.0, std::sqrt(std::max(s2, 0.0) / d2)) : 1.0;
    }
    const float ca = static_cast<float>(2.0 * w.w_mm * scale * gamma);
    const float cb = static_cast<float>(2.0 * w.w_uni * scale * gamma);
    if (!a.defined())
      out[t] = mul_scalar(b, cb);
    else if (!b.defined())
      out[t] = mul_scalar(a, ca);
    else
      out[t] = add(mul_scalar(a, ca), mul_scalar(b, cb));
  }
  return out;
}

// ---- PMR ---------------------------------------------------------------------------------------

Tensor prototype_logits(const Tensor& u, const Tensor& protos) {
  MM_CHECK(u.defined() && u.dim() == 2, "prototype_logits: features must be (B,D), got "
                                            << (u.defined() ? u.describe() : "undefined"));
  MM_CHECK(protos.defined() && protos.dim() == 2 && protos.size(1) == u.size(1),
           "prototype_logits: prototypes must be (K," << u.size(1) << "), got "
                                                      << (protos.defined() ? protos.describe() : "undefined"));
  const int64_t B = u.size(0), K = protos.size(0), D = u.size(1);
  // (B,1,D) - (1,K,D) -> (B,K,D): exact differences (no |u|^2 - 2uc + |c|^2 cancellation).
  Tensor diff = sub(u.reshape({B, 1, D}), protos.detach().reshape({1, K, D}));
  Tensor d2 = sum(mul(diff, diff), {2});  // (B,K)
  // The tiny offset keeps the gradient of sqrt finite where a feature sits on its prototype
  // (there the gradient is 0 * finite = 0); it moves distances of features O(1) by < 1e-8.
  return neg(sqrt(add_scalar(d2, 1e-12f)));
}

Tensor prototype_ce(const Tensor& u, const Tensor& protos, const Tensor& labels) {
  return cross_entropy(prototype_logits(u, protos), labels);
}

Tensor prototype_entropy(const Tensor& u, const Tensor& protos) {
  Tensor z = prototype_logits(u, protos);
  Tensor lp = log_softmax(z, 1);
  Tensor p = softmax(z, 1);
  return neg(mean(sum(mul(p, lp), {1})));
}

double prototype_score(const Tensor& u, const Tensor& protos, const Tensor& labels) {
  NoGradGuard ng;
  return static_cast<double>(sum(gather_rows(softmax(prototype_logits(u.detach(), protos), 1), labels)).item());
}

PrototypeAccumulator::PrototypeAccumulator(int64_t K, int64_t D, Device device)
    : sums_(Tensor::zeros({K, D}, DType::F32, device)), counts_(K, 0.0) {}

void PrototypeAccumulator::add(const Tensor& u, const Tensor& labels) {
  MM_CHECK(sums_.defined(), "PrototypeAccumulator: not initialised");
  NoGradGuard ng;
  const int64_t K = sums_.size(0);
  Tensor oh = one_hot(labels, K);                                      // (B,K)
  sums_.add_(matmul(oh.transpose(0, 1).contiguous(), u.detach().contiguous()));  // (K,D)
  for (int64_t y : labels.to_int_vector()) counts_[y] += 1.0;
}

Tensor PrototypeAccumulator::prototypes(const Tensor& old, double momentum) const {
  NoGradGuard ng;
  const int64_t K = sums_.size(0), D = sums_.size(1);
  std::vector<float> inv(K), keep(K);
  for (int64_t k = 0; k < K; ++k) {
    const bool seen = counts_[k] > 0.0;
    // new = (1 - momentum) * sum / count + momentum * old; an unseen class keeps old.
    inv[k] = seen ? static_cast<float>((old.defined() ? 1.0 - momentum : 1.0) / counts_[k]) : 0.0f;
    keep[k] = old.defined() ? (seen ? static_cast<float>(momentum) : 1.0f) : 0.0f;
  }
  Tensor a = Tensor::from_vector(inv, {K, 1}, sums_.device());
  Tensor p = mul(sums_, a);
  if (old.defined()) {
    MM_CHECK(old.shape() == Shape({K, D}),
             "PrototypeAccumulator: old prototypes " << old.describe() << ", want (" << K << "," << D << ")");
    // mm::add: the member add() hides the op here
    p = mm::add(p, mul(old.detach(), Tensor::from_vector(keep, {K, 1}, sums_.device())));
  }
  return p.contiguous();
}

void PrototypeAccumulator::reset() {
  if (sums_.defined()) sums_.fill_(0.0f);
  std::fill(counts_.begin(), counts_.end(), 0.0);
}

PmrCoefficients pmr_coefficients(const std::vector<double>& scores, double alpha, double mu,
                                 const std::string& rule) {
  MM_CHECK(rule == "ratio" || rule == "binary",
           "method.pmr.coefficient must be \"ratio\" or \"binary\", got \"" << rule << "\"");
  const size_t M = scores.size();
  PmrCoefficients c;
  c.pce.assign(M, 0.0);
  c.entropy.assign(M, 0.0);
  if (M == 0) return c;
  c.dominant = std::max_element(scores.begin(), scores.end()) - scores.begin();  // ties: first
  const double sd = scores[c.dominant];
  double fmax = 0.0;
  for (size_t m = 0; m < M; ++m) {
    if (static_cast<int64_t>(m) == c.dominant || !(scores[m] < sd)) continue;
    double f = 1.0;
    if (rule == "ratio") f = scores[m] > 0.0 ? std::clamp(sd / scores[m] - 1.0, 0.0, 1.0) : 1.0;
    c.pce[m] = alpha * f;
    fmax = std::max(fmax, f);
  }
  c.entropy[c.dominant] = mu * fmax;
  return c;
}

}  // namespace multiloss

namespace {

using namespace multiloss;

// Running means of per-step statistics over an epoch, saved in checkpoints.
struct EpochMeans {
  std::vector<double> sums;
  int64_t steps = 0;
  json to_json() const { return {{"sums", sums}, {"steps", steps}}; }
  void from_json(const json& j) {
    sums = j.at("sums").get<std::vector<double>>();
    steps = j.at("steps").get<int64_t>();
  }
  double mean(size_t i) const { return steps > 0 ? sums.at(i) / static_cast<double>(steps) : 0.0; }
  void reset() {
    std::fill(sums.begin(), sums.end(), 0.0);
    steps = 0;
  }
};

// ---- MMPareto ----------------------------------------------------------------------------------

class MMParetoMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "mmpareto"; }

  void check_config(const json& config) override { read_options(config.at("method").at("mmpareto")); }

  void read_options(const json& o) {
    gamma_ = o.at("gamma").get<double>();
    MM_CHECK(gamma_ > 0.0, "method.mmpareto.gamma must be > 0, got " << gamma_);
    rescale_ = one_of(o.at("rescale").get<std::string>(), "method.mmpareto.rescale", {"encoder", "tensor"});
  }

  void build(const MethodContext& ctx) override {
    LateFusionMethod::build(ctx);
    read_options(options("mmpareto"));
    // per modality: conflicts, w_mm, cos
    stats_.sums.assign(3 * num_modalities(), 0.0);
  }

  // L = CE(fused, y) + sum_m CE(z_m, y): the scalar MMPareto reports (its gradient is not the
  // plain gradient of L for the encoders; see train_step).
  LossOutput loss(const data::Batch& b) override { return losses(b).total; }

  StepOutput train_step(const data::Batch& b) override {
    MM_CHECK(opt_ != nullptr, "mmpareto: no optimizer attached");
    const int64_t M = num_modalities();
    opt_->zero_grad();
    Losses l = losses(b);
    // Two backward passes over one forward: the engine keeps the graph until its tensors are
    // released (no retain_graph needed). Pass 1: the multimodal loss alone; the encoders'
    // gradients are taken out so that pass 2 leaves exactly each encoder's unimodal gradient
    // there (CE(z_m) reaches no other encoder), while the classifiers and the head accumulate
    // the plain sum of both passes, as in the release.
    l.multimodal.backward();
    std::vector<std::vector<Tensor>> g_mm(M), g_uni(M), params(M);
    for (int64_t m = 0; m < M; ++m) {
      params[m] = encoder_params(m);
      for (auto& p : params[m]) {
        g_mm[m].push_back(p.grad());
        p.zero_grad();
      }
    }
    l.unimodal.backward();
    for (int64_t m = 0; m < M; ++m) {
      for (auto& p : params[m]) g_uni[m].push_back(p.grad());
      ParetoWeights w;
      std::vector<Tensor> g = mmpareto_combine(g_mm[m], g_uni[m], gamma_, rescale_, &w);
      for (size_t i = 0; i < params[m].size(); ++i) params[m][i].set_grad(g[i]);
      stats_.sums[3 * m + 0] += w.conflict ? 1.0 : 0.0;
      stats_.sums[3 * m + 1] += w.w_mm;
      stats_.sums[3 * m + 2] += w.cos;
    }
    ++stats_.steps;
    opt_->step();
    StepOutput out;
    out.loss = l.total.loss.item();
    out.terms = std::move(l.total.terms);
    return out;
  }

  void begin_epoch(int) override { stats_.reset(); }

  // {"mmpareto": {"<modality>": {"conflict_fraction", "weight_multimodal", "weight_unimodal",
  //  "mean_cos"}, "steps": n}}: per modality, the fraction of this epoch's steps whose
  // gradients conflicted and the mean weights and cosine.
  json end_epoch(int) override {
    json r;
    for (int64_t m = 0; m < num_modalities(); ++m) {
      const double wmm = stats_.mean(3 * m + 1);
      r[spec_.modalities[m]] = {{"conflict_fraction", stats_.mean(3 * m + 0)},
                                {"weight_multimodal", wmm},
                                {"weight_unimodal", stats_.steps > 0 ? 1.0 - wmm : 0.0},
                                {"mean_cos", stats_.mean(3 * m + 2)}};
    }
    r["steps"] = stats_.steps;
    return {{"mmpareto", r}};
  }

  // The per-epoch statistics are the only state besides the networks (checkpoints are taken
  // at epoch ends; they are kept so a record can be rebuilt exactly).
  json state_json() const override { return {{"stats", stats_.to_json()}}; }
  void load_state(const json& s, const nn::NamedTensors&) override { stats_.from_json(s.at("stats")); }

 private:
  struct Losses {
    LossOutput total;
    Tensor multimodal, unimodal;  // CE(fused) and sum_m CE(z_m)
  };
  Losses losses(const data::Batch& b) {
    Predictions p = forward_all(b);
    Losses l;
    l.multimodal = cross_entropy(p.fused_logits, b.labels);
    l.total.terms["fused.ce"] = l.multimodal.item();
    for (int64_t m = 0; m < num_modalities(); ++m) {
      Tensor c = cross_entropy(p.modality_logits[m], b.labels);
      l.total.terms[spec_.modalities[m] + ".ce"] = c.item();
      l.unimodal = m == 0 ? c : add(l.unimodal, c);
    }
    l.total.loss = add(l.multimodal, l.unimodal);
    return l;
  }

  double gamma_ = 1.0;
  std::string rescale_ = "encoder";
  EpochMeans stats_;
};

// ---- PMR ---------------------------------------------------------------------------------------

class PmrMethod : public LateFusionMethod {
 public:
  std::string name() const override { return "pmr"; }

  void check_config(const json& config) override { read_options(config.at("method").at("pmr")); }

  void read_options(const json& o) {
    alpha_ = o.at("alpha").get<double>();
    mu_ = o.at("mu").get<double>();
    momentum_ = o.at("momentum").get<double>();
    start_ = o.at("start_epoch").get<int>();
    end_ = o.at("end_epoch").get<int>();
    entropy_epochs_ = o.at("entropy_epochs").get<int>();
    rule_ = o.at("coefficient").get<std::string>();
    MM_CHECK(alpha_ >= 0.0, "method.pmr.alpha must be >= 0, got " << alpha_);
    MM_CHECK(mu_ >= 0.0, "method.pmr.mu must be >= 0, got " << mu_);
    MM_CHECK(momentum_ >= 0.0 && momentum_ < 1.0, "method.pmr.momentum must be in [0, 1), got " << momentum_);
    MM_CHECK(start_ >= 0, "method.pmr.start_epoch must be >= 0, got " << start_);
    MM_CHECK(end_ == -1 || end_ >= start_, "method.pmr.end_epoch must be -1 (no end) or >= method.pmr.start_epoch ("
                                               << start_ << "), got " << end_);
    MM_CHECK(entropy_epochs_ >= 0, "method.pmr.entropy_epochs must be >= 0, got " << entropy_epochs_);
    one_of(rule_, "method.pmr.coefficient", {"ratio", "binary"});
  }

  void build(const MethodContext& ctx) override {
    LateFusionMethod::build(ctx);
    read_options(options("pmr"));
    const int64_t M = num_modalities();
    protos_.assign(M, Tensor());
    for (int64_t m = 0; m < M; ++m)
      acc_.emplace_back(spec_.num_classes, encoders_[m]->out_dim(), device_);
    // per modality: pce weight, entropy weight, dominant, prototype accuracy numerator
    stats_.sums.assign(4 * M, 0.0);
  }

  void begin_epoch(int epoch) override {
    epoch_ = epoch;
    for (auto& a : acc_) a.reset();
    stats_.reset();
    samples_ = 0;
  }

  // CE(fused) + sum_m alpha f_m PCE_m - mu f_d H_d inside the epoch window (once prototypes
  // exist), CE(fused) outside it.
  LossOutput loss(const data::Batch& b) override {
    const int64_t M = num_modalities();
    const std::vector<Tensor> u = features(b);
    Tensor fused;
    for (int64_t m = 0; m < M; ++m) {
      Tensor z = modality_logits(m, u[m]);
      fused = m == 0 ? z : add(fused, z);
    }
    LossOutput o;
    o.loss = cross_entropy(fused, b.labels);
    o.terms["fused.ce"] = o.loss.item();
    // This epoch's features feed the next epoch's prototypes.
    for (int64_t m = 0; m < M; ++m) acc_[m].add(u[m], b.labels);
    samples_ += b.size();
    if (!active()) return o;
    std::vector<double> s(M);
    for (int64_t m = 0; m < M; ++m) s[m] = prototype_score(u[m], protos_[m], b.labels);
    const PmrCoefficients c = pmr_coefficients(s, alpha_, entropy_active() ? mu_ : 0.0, rule_);
    for (int64_t m = 0; m < M; ++m) {
      const std::string& n = spec_.modalities[m];
      if (c.pce[m] > 0.0) {
        Tensor pce = prototype_ce(u[m], protos_[m], b.labels);
        o.terms[n + ".pce"] = pce.item();
        o.loss = add(o.loss, mul_scalar(pce, static_cast<float>(c.pce[m])));
      }
      if (c.entropy[m] > 0.0) {
        Tensor h = prototype_entropy(u[m], protos_[m]);
        o.terms[n + ".entropy"] = h.item();
        o.loss = sub(o.loss, mul_scalar(h, static_cast<float>(c.entropy[m])));
      }
      stats_.sums[4 * m + 0] += c.pce[m];
      stats_.sums[4 * m + 1] += c.entropy[m];
      stats_.sums[4 * m + 2] += c.dominant == m ? 1.0 : 0.0;
      stats_.sums[4 * m + 3] += s[m] / static_cast<double>(b.size());
    }
    ++stats_.steps;
    return o;
  }

  // New prototypes from this epoch's features (with momentum), and the epoch's record:
  // {"pmr": {"active", "entropy_active", "<modality>": {"pce_weight", "entropy_weight",
  //  "dominant_fraction", "prototype_score"}, "prototypes_from": n samples}}.
  json end_epoch(int) override {
    json r;
    r["active"] = active();
    r["entropy_active"] = active() && entropy_active();
    for (int64_t m = 0; m < num_modalities(); ++m)
      r[spec_.modalities[m]] = {{"pce_weight", stats_.mean(4 * m + 0)},
                                {"entropy_weight", stats_.mean(4 * m + 1)},
                                {"dominant_fraction", stats_.mean(4 * m + 2)},
                                // mean of softmax(-d)[y] per sample, over the active steps
                                {"prototype_score", stats_.mean(4 * m + 3)}};
    r["prototypes_from"] = samples_;
    if (samples_ > 0) {
      for (int64_t m = 0; m < num_modalities(); ++m) protos_[m] = acc_[m].prototypes(protos_[m], momentum_);
      has_protos_ = true;
    }
    for (auto& a : acc_) a.reset();
    samples_ = 0;
    return {{"pmr", r}};
  }

  // Prototypes are state: the next epoch's loss depends on them.
  json state_json() const override {
    return {{"has_prototypes", has_protos_}, {"stats", stats_.to_json()}};
  }
  nn::NamedTensors state_tensors() const override {
    nn::NamedTensors out;
    if (!has_protos_) return out;
    for (int64_t m = 0; m < num_modalities(); ++m) out.emplace_back("prototypes." + spec_.modalities[m], protos_[m]);
    return out;
  }
  void load_state(const json& s, const nn::NamedTensors& tensors) override {
    has_protos_ = s.at("has_prototypes").get<bool>();
    stats_.from_json(s.at("stats"));
    if (!has_protos_) return;
    std::map<std::string, Tensor> by(tensors.begin(), tensors.end());
    for (int64_t m = 0; m < num_modalities(); ++m) {
      const std::string key = "prototypes." + spec_.modalities[m];
      auto it = by.find(key);
      MM_CHECK(it != by.end(), "pmr: the checkpoint lacks the tensor 'method." << key << "'");
      MM_CHECK(it->second.shape() == Shape({spec_.num_classes, encoders_[m]->out_dim()}),
               "pmr: checkpoint prototypes '" << key << "' are " << it->second.describe() << ", want ("
                                              << spec_.num_classes << "," << encoders_[m]->out_dim() << ")");
      protos_[m] = it->second.to(device_).contiguous();
    }
  }

 private:
  bool in_window() const { return epoch_ >= start_ && (end_ < 0 || epoch_ <= end_); }
  // Prototypes exist from the end of the first epoch on (see docs/methods.md).
  bool active() const { return has_protos_ && in_window(); }
  bool entropy_active() const { return epoch_ < start_ + entropy_epochs_; }

  double alpha_ = 1.0, mu_ = 0.0, momentum_ = 0.2;
  int start_ = 0, end_ = -1, entropy_epochs_ = 0;
  std::string rule_ = "ratio";
  int epoch_ = 0;
  bool has_protos_ = false;
  std::vector<Tensor> protos_;              // M x (K, D_m)
  std::vector<PrototypeAccumulator> acc_;   // M
  int64_t samples_ = 0;
  EpochMeans stats_;
};

}  // namespace

void register_multiloss_methods(const AddMethodFn& add) {
  add("mmpareto", [] { return std::make_unique<MMParetoMethod>(); });
  add("pmr", [] { return std::make_unique<PmrMethod>(); });
}

nlohmann::json multiloss_method_defaults() {
  return {
      // MMPareto: the paper's rule; the release's CREMA-D run is gamma 1.5, rescale "tensor".
      {"mmpareto", {{"gamma", 1.0}, {"rescale", "encoder"}}},
      // PMR: alpha, momentum and the window follow the release's defaults.
      {"pmr",
       {{"alpha", 1.0},
        {"mu", 0.1},
        {"momentum", 0.2},
        {"start_epoch", 0},
        {"end_epoch", 100},
        {"entropy_epochs", 10},
        {"coefficient", "ratio"}}},
  };
}

}  // namespace mm::boost
