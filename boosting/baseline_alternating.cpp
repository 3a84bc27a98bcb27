// Baselines: mla and reconboost (baseline_alternating.h). See baselines.h and docs/methods.md.
#include "boosting/baseline_alternating.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "boosting/baselines.h"
#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::boost {

using nlohmann::json;

namespace {

// ||x||_F as a double (one device sync).
double frobenius(const Tensor& x) { return std::sqrt(static_cast<double>(sum(mul(x, x)).item())); }

// Puts the learners of the modalities it is given into eval mode for its lifetime and restores
// their previous modes: a frozen learner computes with its BatchNorm running statistics and
// leaves them as they are.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(std::vector<nn::Module*> modules) : modules_(std::move(modules)) {
    for (auto* m : modules_) {
      was_.push_back(m->is_training());
      m->eval();
    }
  }
  ~EvalModeGuard() {
    for (size_t i = 0; i < modules_.size(); ++i) modules_[i]->train(was_[i]);
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  std::vector<nn::Module*> modules_;
  std::vector<bool> was_;
};

// The boosting rate of the ReconBoost ensemble: one scalar, a parameter when it is learned
// (the release's DynamicNet.boost_rate) and a buffer otherwise, so checkpoints hold it either way.
class BoostRate : public nn::Module {
 public:
  BoostRate(float init, bool learned) {
    value = learned ? register_parameter("value", Tensor::full({1}, init))
                    : register_buffer("value", Tensor::full({1}, init));
  }
  Tensor value;  // (1)
};

}  // namespace

// ---- MLA: fusion and the OWM projector --------------------------------------------------------

Tensor entropy_fusion_weights(const std::vector<Tensor>& logits) {
  MM_CHECK(!logits.empty(), "entropy_fusion_weights: no modality logits");
  std::vector<Tensor> neg_entropy;  // M x (B,1): sum_k p log p = -e_m
  for (const auto& z : logits) {
    MM_CHECK(z.defined() && z.dim() == 2 && z.shape() == logits[0].shape(),
             "entropy_fusion_weights: every modality's logits must be (B,K) of the same shape, got "
                 << (z.defined() ? z.describe() : std::string("undefined")) << " and "
                 << logits[0].describe());
    neg_entropy.push_back(sum(mul(softmax(z, 1), log_softmax(z, 1)), {1}, true));
  }
  // softmax_m(-e_m) = exp(max_j e_j - e_m) / sum_r exp(max_j e_j - e_r): the paper's form, with
  // the max subtracted inside softmax for stability.
  return softmax(concat(neg_entropy, 1), 1);  // (B,M)
}

Tensor weighted_logit_sum(const std::vector<Tensor>& logits, const Tensor& weights) {
  MM_CHECK(weights.defined() && weights.dim() == 2 &&
               weights.size(1) == static_cast<int64_t>(logits.size()),
           "weighted_logit_sum: weights must be (B,M) for " << logits.size() << " modalities, got "
                                                            << weights.describe());
  Tensor out;
  for (size_t m = 0; m < logits.size(); ++m) {
    const int64_t mi = static_cast<int64_t>(m);
    Tensor term = mul(weights.slice(1, mi, mi + 1), logits[m]);  // (B,1) * (B,K)
    out = m == 0 ? term : add(out, term);
  }
  return out;
}

void OwmProjector::reset(int64_t dim, Device device) {
  MM_CHECK(dim > 0, "OwmProjector: dimension must be positive, got " << dim);
  std::vector<float> eye(static_cast<size_t>(dim * dim), 0.0f);
  for (int64_t i = 0; i < dim; ++i) eye[static_cast<size_t>(i * dim + i)] = 1.0f;
  p_ = Tensor::from_vector(eye, {dim, dim}).to(device);
  updates_ = 0;
}

Tensor OwmProjector::project(const Tensor& g) const {
  MM_CHECK(p_.defined(), "OwmProjector::project: the projector is not set up");
  return matmul(g, p_);  // (K,H) x (H,H); P symmetric, so G P = G P^T as the release writes it
}

void OwmProjector::store(const Tensor& inputs, float alpha, bool normalize) {
  MM_CHECK(p_.defined(), "OwmProjector::store: the projector is not set up");
  MM_CHECK(inputs.dim() == 2 && inputs.size(1) == p_.size(0),
           "OwmProjector::store: inputs must be (B," << p_.size(0) << "), got " << inputs.describe());
  NoGradGuard ng;
  Tensor r = mean(inputs.detach(), {0}, true);        // (1,H)
  Tensor k = matmul(p_, r.transpose(0, 1));           // (H,1) = P r^T
  const double rr = static_cast<double>(sum(mul(r, r)).item());
  const double rk = static_cast<double>(matmul(r, k).item());  // r P r^T >= 0
  const double denom = static_cast<double>(alpha) + rk;
  // Nothing new to store: a zero input, or (alpha = 0) a direction already in the stored span,
  // where r P r^T is rounding noise (P's eigenvalues are <= 1, so r P r^T <= |r|^2).
  if (rr == 0.0 || !(denom > 1e-6 * rr)) return;
  Tensor p = sub(p_, mul_scalar(matmul(k, k.transpose(0, 1)), static_cast<float>(1.0 / denom)));
  if (normalize) {
    const double fro = frobenius(p);
    if (fro > 0.0) p = mul_scalar(p, static_cast<float>(1.0 / fro));
  }
  p_ = p;
  ++updates_;
}

// ---- MLA ---------------------------------------------------------------------------------------

void MlaMethod::read_options(const json& o) {
  project_ = o.at("gradient_modification").get<bool>();
  alpha_ = o.at("owm_alpha").get<float>();
  MM_CHECK(std::isfinite(alpha_) && alpha_ >= 0.0f, "method.mla.owm_alpha must be >= 0, got " << alpha_);
  normalize_ = o.at("normalize_projector").get<bool>();
  fusion_ = one_of(o.at("fusion").get<std::string>(), "method.mla.fusion", {"entropy", "fixed"});
}

void MlaMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  const int64_t M = num_modalities();
  MM_CHECK(M >= 2, "method mla alternates modalities and needs at least two, the data has " << M);
  const json& o = options("mla");
  read_options(o);
  const json& w = o.at("fusion_weights");
  fixed_weights_.assign(M, 1.0f / static_cast<float>(M));
  if (!w.empty()) {
    MM_CHECK(static_cast<int64_t>(w.size()) == M,
             "method.mla.fusion_weights must hold one weight per modality (" << M << "), got " << w.dump());
    double total = 0.0;
    for (int64_t m = 0; m < M; ++m) {
      fixed_weights_[m] = w[m].get<float>();
      MM_CHECK(std::isfinite(fixed_weights_[m]) && fixed_weights_[m] >= 0.0f,
               "method.mla.fusion_weights must be >= 0, got " << w.dump());
      total += fixed_weights_[m];
    }
    MM_CHECK(total > 0.0, "method.mla.fusion_weights must not all be 0, got " << w.dump());
  }
  proj_.reset(head_->weight.size(1), device_);
  last_input_.assign(M, Tensor());
}

void MlaMethod::begin_epoch(int) {
  epoch_steps_ = epoch_residual_count_ = 0;
  epoch_kept_ = epoch_residual_ = epoch_residual_max_ = 0.0;
}

LossOutput MlaMethod::loss(const data::Batch& b) {
  LossOutput o;
  const auto u = features(b);
  for (int64_t m = 0; m < num_modalities(); ++m) {
    Tensor l = cross_entropy(modality_logits(m, u[m]), b.labels);
    o.terms[spec_.modalities[m] + ".ce"] = l.item();
    o.loss = m == 0 ? l : add(o.loss, l);
  }
  return o;
}

double MlaMethod::train_modality(int64_t m, const data::Batch& b) {
  MM_CHECK(opt_ != nullptr, "MlaMethod: no optimizer attached");
  MM_CHECK(m >= 0 && m < num_modalities(), "MlaMethod::train_modality: modality " << m << " out of range");
  opt_->zero_grad();  // drops every gradient: the other modalities' parameters will not move
  Tensor h = hidden(m, encoders_[m]->forward(b.inputs.at(m)));  // (B,H): the head's input
  Tensor l = cross_entropy(head_->forward(h), b.labels);
  l.backward();
  {
    NoGradGuard ng;
    Tensor g = head_->weight.grad();  // (K,H)
    if (g.defined()) {
      Tensor step = g;
      if (project_) {
        step = proj_.project(g);  // G P: orthogonal to the stored directions
        const double gn = frobenius(g);
        if (gn > 0.0) epoch_kept_ += frobenius(step) / gn;
        head_->weight.set_grad(step);
      }
      // How much of this update still acts on the other modalities' latest stored directions:
      // |G' s_j| / (|G'| |s_j|), 0 for an exactly orthogonal update.
      const double sn = frobenius(step);
      for (int64_t j = 0; j < num_modalities(); ++j) {
        if (j == m || !last_input_[j].defined() || sn == 0.0) continue;
        const double res = frobenius(matmul(step, last_input_[j].transpose(0, 1))) /
                           (sn * frobenius(last_input_[j]));
        epoch_residual_ += res;
        epoch_residual_max_ = std::max(epoch_residual_max_, res);
        ++epoch_residual_count_;
      }
    }
  }
  // The bias's gradient is the batch sum of dL/dz whatever the input, so it cannot be made
  // orthogonal to an input direction; the release projects the weight only, and so do we.
  opt_->step();
  {
    NoGradGuard ng;
    Tensor hd = h.detach();
    if (project_) proj_.store(hd, alpha_, normalize_);  // after the step: the next steps keep it
    last_input_[m] = mean(hd, {0}, true);                // (1,H)
  }
  ++steps_;
  ++epoch_steps_;
  return l.item();
}

StepOutput MlaMethod::train_step(const data::Batch& b) {
  StepOutput out;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    const double l = train_modality(m, b);
    out.terms[spec_.modalities[m] + ".ce"] = l;
    out.loss += l;
  }
  return out;
}

json MlaMethod::end_epoch(int) {
  json r;
  r["steps"] = epoch_steps_;
  r["gradient_modification"] = project_;
  const double steps = static_cast<double>(epoch_steps_), checks = static_cast<double>(epoch_residual_count_);
  r["grad_kept"] = project_ && epoch_steps_ ? json(epoch_kept_ / steps) : json(1.0);
  r["residual"] = epoch_residual_count_ ? json(epoch_residual_ / checks) : json();
  r["residual_max"] = epoch_residual_count_ ? json(epoch_residual_max_) : json();
  r["projector_updates"] = proj_.updates();
  r["projector_norm"] = project_ ? frobenius(proj_.matrix()) : 0.0;
  return {{"mla", r}};
}

Tensor MlaMethod::fusion_weights(const std::vector<Tensor>& z) const {
  if (fusion_ == "entropy") return entropy_fusion_weights(z);
  const int64_t B = z.at(0).size(0), M = num_modalities();
  std::vector<float> w(static_cast<size_t>(B * M));
  for (int64_t i = 0; i < B; ++i)
    for (int64_t m = 0; m < M; ++m) w[static_cast<size_t>(i * M + m)] = fixed_weights_[m];
  return Tensor::from_vector(w, {B, M}).to(z[0].device());
}

Predictions MlaMethod::predict(const data::Batch& b) {
  Predictions p = forward_all(b);
  p.fused_logits = weighted_logit_sum(p.modality_logits, fusion_weights(p.modality_logits));
  return p;
}

json MlaMethod::state_json() const {
  json has = json::array();
  for (const auto& s : last_input_) has.push_back(s.defined());
  return {{"steps", steps_}, {"projector_updates", proj_.updates()}, {"has_last_input", has}};
}

nn::NamedTensors MlaMethod::state_tensors() const {
  nn::NamedTensors out;
  out.emplace_back("projector", proj_.matrix());
  for (int64_t m = 0; m < num_modalities(); ++m)
    if (last_input_[m].defined()) out.emplace_back("last_input." + spec_.modalities[m], last_input_[m]);
  return out;
}

void MlaMethod::load_state(const json& s, const nn::NamedTensors& tensors) {
  std::map<std::string, Tensor> by;
  for (const auto& [n, t] : tensors) by[n] = t;
  auto take = [&](const std::string& name, const Shape& shape) {
    auto it = by.find(name);
    MM_CHECK(it != by.end(), "checkpoint lacks the MLA state tensor 'method." << name << "'");
    MM_CHECK(it->second.shape() == shape, "checkpoint's MLA state 'method." << name << "' is "
                                              << it->second.describe() << ", expected " << shape_str(shape));
    Tensor t = Tensor::empty(shape, DType::F32, device_);
    t.copy_(it->second);
    return t;
  };
  const int64_t H = proj_.matrix().size(0);
  proj_.set_matrix(take("projector", {H, H}));
  proj_.set_updates(s.at("projector_updates").get<int64_t>());
  steps_ = s.at("steps").get<int64_t>();
  const auto has = s.at("has_last_input").get<std::vector<bool>>();
  MM_CHECK(static_cast<int64_t>(has.size()) == num_modalities(),
           "checkpoint's MLA state covers " << has.size() << " modalities, the model has "
                                            << num_modalities());
  for (int64_t m = 0; m < num_modalities(); ++m)
    last_input_[m] = has[m] ? take("last_input." + spec_.modalities[m], {1, H}) : Tensor();
}

// ---- ReconBoost --------------------------------------------------------------------------------

ReconBoostLoss reconboost_stage_loss(const Tensor& z, const Tensor& others, const Tensor& historical,
                                     const Tensor& labels, float lambda, float memory_weight) {
  MM_CHECK(z.defined() && z.dim() == 2, "reconboost_stage_loss: logits must be (B,K), got "
                                            << (z.defined() ? z.describe() : std::string("undefined")));
  const int64_t B = z.size(0), K = z.size(1);
  ReconBoostLoss r;
  Tensor ce = cross_entropy(z, labels);  // CE(z, y)
  // q = softmax(F_-m) of the frozen ensemble of the other modalities; the empty ensemble is
  // the zero function (gradient boosting's F_0), whose softmax is uniform.
  Tensor q;
  if (others.defined()) {
    MM_CHECK(others.shape() == z.shape(), "reconboost_stage_loss: ensemble logits "
                                              << others.describe() << " do not match " << z.describe());
    q = softmax(others.detach(), 1);
  } else {
    q = Tensor::full({B, K}, 1.0f / static_cast<float>(K), z.device());
  }
  Tensor target = mul(one_hot(labels, K), q);  // t = y (.) q: q_y at the true class, 0 elsewhere
  // t does not sum to 1, so the divergence is the generalised KL (I-divergence)
  //   KL(t || p) = sum_k t_k log(t_k / p_k) - sum_k t_k + sum_k p_k = q_y log q_y - q_y log p_y - q_y + 1
  // (>= 0, the ordinary KL when t is a distribution). Only -q_y log p_y depends on z: it is the
  // soft-target cross-entropy, whose gradient q_y (softmax(z) - y) is the release's weight2 term.
  Tensor qy = gather_rows(q, labels);  // (B)
  Tensor kl = add(cross_entropy_soft(z, target), mean(add_scalar(sub(mul(qy, log(qy)), qy), 1.0f)));
  Tensor total = sub(ce, mul_scalar(kl, lambda));
  r.ce = ce.item();
  r.kl = kl.item();
  if (historical.defined() && memory_weight != 0.0f) {
    MM_CHECK(historical.shape() == z.shape(), "reconboost_stage_loss: historical logits "
                                                  << historical.describe() << " do not match "
                                                  << z.describe());
    // Memory consolidation: the active learner's prediction is kept near the previous stage's
    // learner's (which is frozen, so only z receives the gradient).
    Tensor mem = mse_loss(softmax(z, 1), softmax(historical.detach(), 1));
    r.memory = mem.item();
    total = add(total, mul_scalar(mem, memory_weight));
  }
  r.total = total;
  return r;
}

void ReconBoostMethod::read_options(const json& o) {
  by_steps_ = one_of(o.at("stage_unit").get<std::string>(), "method.reconboost.stage_unit",
                     {"epochs", "steps"}) == "steps";
  stage_length_ = o.at("stage_length").get<int64_t>();
  MM_CHECK(stage_length_ >= 1, "method.reconboost.stage_length must be >= 1, got " << stage_length_);
  correction_length_ = o.at("correction_length").get<int64_t>();
  MM_CHECK(correction_length_ >= 0,
           "method.reconboost.correction_length must be >= 0, got " << correction_length_);
  lambda_ = o.at("lambda").get<float>();
  MM_CHECK(std::isfinite(lambda_) && lambda_ >= 0.0f && lambda_ <= 1.0f,
           "method.reconboost.lambda must lie in [0, 1] (a larger value turns the weight "
           "1 - lambda q_y of well-fitted samples negative), got " << lambda_);
  memory_weight_ = o.at("memory_weight").get<float>();
  MM_CHECK(std::isfinite(memory_weight_) && memory_weight_ >= 0.0f,
           "method.reconboost.memory_weight must be >= 0, got " << memory_weight_);
  initial_rate_ = o.at("boost_rate").get<float>();
  MM_CHECK(std::isfinite(initial_rate_) && initial_rate_ > 0.0f,
           "method.reconboost.boost_rate must be > 0, got " << initial_rate_);
  learn_rate_ = o.at("learn_boost_rate").get<bool>();
}

void ReconBoostMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  const int64_t M = num_modalities();
  MM_CHECK(M >= 2, "method reconboost alternates modalities and needs at least two, the data has " << M);
  read_options(options("reconboost"));
  auto br = net_->add("boost_rate", std::make_shared<BoostRate>(initial_rate_, learn_rate_));
  br->to(device_);
  rate_module_ = br;
  rate_ = br->value;
  members_.assign(M, false);
  epoch_stage_steps_.assign(M, 0);
}

std::vector<std::pair<std::string, std::vector<Tensor>>> ReconBoostMethod::param_groups() {
  auto g = LateFusionMethod::param_groups();
  if (learn_rate_)
    for (auto& [name, params] : g)
      if (name == "shared.head") params.push_back(rate_);
  return g;
}

float ReconBoostMethod::boost_rate() const { return rate_.item(); }

ReconBoostMethod::Phase ReconBoostMethod::phase_at(int64_t position) const {
  const int64_t cycle = stage_length_ + correction_length_;
  Phase p;
  p.stage = position / cycle;
  p.modality = position % cycle < stage_length_ ? p.stage % num_modalities() : -1;
  return p;
}

ReconBoostMethod::Phase ReconBoostMethod::current_phase() const {
  return phase_at(by_steps_ ? steps_ : static_cast<int64_t>(epoch_));
}

void ReconBoostMethod::begin_epoch(int epoch) {
  epoch_ = epoch;
  std::fill(epoch_stage_steps_.begin(), epoch_stage_steps_.end(), 0);
  epoch_correction_steps_ = 0;
}

Tensor ReconBoostMethod::frozen_logits(int64_t m, const data::Batch& b) {
  NoGradGuard ng;
  EvalModeGuard frozen({encoders_[m].get(), classifiers_[m].get()});
  return modality_logits(m, encoders_[m]->forward(b.inputs.at(m))).detach();
}

LossOutput ReconBoostMethod::phase_loss(const data::Batch& b, const Phase& ph) {
  const int64_t M = num_modalities();
  LossOutput o;
  if (ph.modality >= 0) {
    const int64_t m = ph.modality;
    const std::string& name = spec_.modalities[m];
    // F_-m = rate * sum of the other members' learners, frozen; the previous stage's learner
    // is the historical model of the memory term.
    const int64_t hist_m = ph.stage >= 1 ? (ph.stage - 1) % M : -1;
    Tensor others, hist;
    for (int64_t j = 0; j < M; ++j) {
      if (j == m || !members_[j]) continue;
      Tensor zj = frozen_logits(j, b);
      if (j == hist_m) hist = zj;
      others = others.defined() ? add(others, zj) : zj;
    }
    if (others.defined()) others = mul(others, rate_.detach());
    Tensor z = modality_logits(m, encoders_[m]->forward(b.inputs.at(m)));
    ReconBoostLoss r = reconboost_stage_loss(z, others, hist, b.labels, lambda_, memory_weight_);
    o.loss = r.total;
    o.terms[name + ".ce"] = r.ce;
    o.terms[name + ".kl"] = r.kl;
    if (hist.defined() && memory_weight_ != 0.0f) o.terms[name + ".memory"] = r.memory;
    return o;
  }
  // Correction (global rectification): CE of the whole ensemble, every member trainable.
  bool any = false;
  for (bool x : members_) any = any || x;
  Tensor fused;
  for (int64_t j = 0; j < M; ++j) {
    if (any && !members_[j]) continue;
    Tensor zj = modality_logits(j, encoders_[j]->forward(b.inputs.at(j)));
    fused = fused.defined() ? add(fused, zj) : zj;
  }
  o.loss = cross_entropy(mul(fused, rate_), b.labels);
  o.terms["correction.ce"] = o.loss.item();
  return o;
}

LossOutput ReconBoostMethod::loss(const data::Batch& b) { return phase_loss(b, current_phase()); }

StepOutput ReconBoostMethod::train_step(const data::Batch& b) {
  MM_CHECK(opt_ != nullptr, "ReconBoostMethod: no optimizer attached");
  const Phase ph = current_phase();
  opt_->zero_grad();  // drops every gradient: parameters outside this phase's learner(s) stay put
  LossOutput l = phase_loss(b, ph);
  l.loss.backward();
  opt_->step();
  if (ph.modality >= 0) {
    members_[ph.modality] = true;  // the release adds a learner to the ensemble after its stage
    ++epoch_stage_steps_[ph.modality];
  } else {
    ++epoch_correction_steps_;
  }
  ++steps_;
  last_phase_ = ph;
  StepOutput out;
  out.loss = l.loss.item();
  out.terms = std::move(l.terms);
  return out;
}

json ReconBoostMethod::end_epoch(int) {
  json r;
  r["stage"] = last_phase_.stage;
  r["active"] = last_phase_.modality >= 0 ? json(spec_.modalities[last_phase_.modality]) : json("correction");
  json steps = json::object();
  for (int64_t m = 0; m < num_modalities(); ++m) steps[spec_.modalities[m]] = epoch_stage_steps_[m];
  steps["correction"] = epoch_correction_steps_;
  r["steps"] = steps;
  json members = json::array();
  for (int64_t m = 0; m < num_modalities(); ++m)
    if (members_[m]) members.push_back(spec_.modalities[m]);
  r["members"] = members;
  r["boost_rate"] = boost_rate();
  return {{"reconboost", r}};
}

Predictions ReconBoostMethod::predict(const data::Batch& b) {
  Predictions p = forward_all(b);
  bool any = false;
  for (bool x : members_) any = any || x;
  Tensor fused;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    if (any && !members_[m]) continue;
    fused = fused.defined() ? add(fused, p.modality_logits[m]) : p.modality_logits[m];
  }
  p.fused_logits = mul(fused, rate_);
  return p;
}

json ReconBoostMethod::state_json() const {
  return {{"steps", steps_},
          {"members", members_},
          {"last_phase", {{"stage", last_phase_.stage}, {"modality", last_phase_.modality}}}};
}

void ReconBoostMethod::load_state(const json& s, const nn::NamedTensors&) {
  steps_ = s.at("steps").get<int64_t>();
  const auto members = s.at("members").get<std::vector<bool>>();
  MM_CHECK(static_cast<int64_t>(members.size()) == num_modalities(),
           "checkpoint's ReconBoost state covers " << members.size() << " modalities, the model has "
                                                   << num_modalities());
  members_ = members;
  last_phase_.stage = s.at("last_phase").at("stage").get<int64_t>();
  last_phase_.modality = s.at("last_phase").at("modality").get<int64_t>();
}

// ---- registry ----------------------------------------------------------------------------------

void register_alternating_methods(const AddMethodFn& add) {
  add("mla", [] { return std::make_unique<MlaMethod>(); });
  add("reconboost", [] { return std::make_unique<ReconBoostMethod>(); });
}

json alternating_method_defaults() {
  return {
      {"mla",
       {
           {"gradient_modification", true},  // project the head's weight gradient (OWM)
           {"owm_alpha", 0.01},              // projector update's alpha (release: 0.1 -> 0.01 per epoch)
           {"normalize_projector", true},    // P <- P / ||P||_F after each update (release)
           {"fusion", "entropy"},            // entropy (per-sample, lower entropy -> more weight) | fixed
           {"fusion_weights", json::array()},  // fusion = fixed: one weight per modality ([] = equal)
       }},
      {"reconboost",
       {
           {"stage_unit", "epochs"},      // epochs | steps: unit of the two lengths below
           {"stage_length", 4},           // one modality's stage (release: 4 epochs)
           {"correction_length", 4},      // the correction phase after each stage (release: 4 epochs)
           {"lambda", 0.2},               // weight of the reconcilement term (release: weight2/weight1 = 1/5)
           {"memory_weight", 0.5},        // weight of the memory consolidation term (release alpha)
           {"boost_rate", 1.0},           // initial scale of the ensemble's summed logits
           {"learn_boost_rate", true},    // trained in the correction phase (release)
       }},
  };
}

}  // namespace mm::boost
