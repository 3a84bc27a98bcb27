// The sustained boosting method with adaptive classifier assignment (paper Section 4).
#include "boosting/boost_method.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::boost {

using nlohmann::json;

std::unique_ptr<optim::Optimizer> make_optimizer(const json& o) {
  const std::string name = one_of(o.at("name").get<std::string>(), "optim.name", {"sgd", "adam", "adamw"});
  if (name == "sgd")
    return std::make_unique<optim::SGD>(o.at("momentum").get<float>(), o.at("nesterov").get<bool>());
  const auto& b = o.at("betas");
  MM_CHECK(b.size() == 2, "optim.betas must hold two numbers, got " << b.dump());
  if (name == "adam")
    return std::make_unique<optim::Adam>(b[0].get<float>(), b[1].get<float>(), o.at("eps").get<float>());
  if (name == "adamw")
    return std::make_unique<optim::AdamW>(b[0].get<float>(), b[1].get<float>(), o.at("eps").get<float>());
  MM_FAIL("optim.name \"" << name << "\" has no optimizer");
}

namespace {
std::vector<double> doubles(const json& j) {
  std::vector<double> v;
  for (const auto& e : j) v.push_back(e.get<double>());
  return v;
}
}  // namespace

// ---- build -----------------------------------------------------------------------------------

void BoostMethod::check_config(const json& config) {
  read_options(config.at("method"));
  check_fused_layers(classifier_hidden(config).size());
}

void BoostMethod::check_fused_layers(size_t hidden_layers) const {
  MM_CHECK(fused_option_ != "on" || hidden_layers == 1,
           "method.fused = \"on\" needs classifiers of one Linear+ReLU layer (the fused kernels), but "
           "model.classifier_hidden has " << hidden_layers << " layers; use \"auto\" (the fused loss on CUDA, "
           "the classifiers' sums layer by layer) or \"off\"");
}

void BoostMethod::read_options(const json& mc) {
  lambda_ = mc.at("lambda").get<float>();
  MM_CHECK(lambda_ >= 0.0f && lambda_ <= 1.0f, "method.lambda must lie in [0, 1] (eq (2)), got " << lambda_);
  t_eps_ = mc.at("terms").at("eps").get<bool>();
  t_o_ = mc.at("terms").at("eps_o").get<bool>();
  t_p_ = mc.at("terms").at("eps_p").get<bool>();
  MM_CHECK(t_eps_ || t_o_ || t_p_, "method.terms: switch on at least one of eps, eps_o, eps_p");
  assignment_ = one_of(mc.at("assignment").get<std::string>(), "method.assignment", {"adaptive", "fixed", "none"});
  rule_.rule = one_of(mc.at("rule").get<std::string>(), "method.rule", {"difference", "ratio"});
  rule_.sigma = mc.at("sigma").get<double>();
  MM_CHECK(rule_.sigma >= 1.0, "method.sigma must be >= 1 (paper Section 4.2), got " << rule_.sigma);
  rule_.tau = mc.at("tau").get<double>();
  rule_.ratio_lambda = mc.at("ratio_lambda").get<double>();
  rule_.ratio_margin = mc.at("ratio_margin").get<double>();
  rule_.ratio_threshold = mc.at("ratio_threshold").get<double>();
  assign_every_ = mc.at("assign_every").get<int>();
  MM_CHECK(assign_every_ >= 1, "method.assign_every (T) must be >= 1 epoch, got " << assign_every_);
  assign_first_ = mc.at("assign_at_first_epoch").get<bool>();
  max_classifiers_ = mc.at("max_classifiers").get<int64_t>();
  MM_CHECK(max_classifiers_ >= 1, "method.max_classifiers must be >= 1, got " << max_classifiers_);
  omega_mode_ = one_of(mc.at("omega").get<std::string>(), "method.omega", {"learned", "fixed", "off"});
  omega_scope_ = one_of(mc.at("omega_scope").get<std::string>(), "method.omega_scope", {"added", "all"});
  update_ = one_of(mc.at("update").get<std::string>(), "method.update", {"joint", "alternating"});
  fusion_ = one_of(mc.at("fusion").get<std::string>(), "method.fusion", {"omega", "weights", "val_search"});
  fused_option_ = one_of(mc.at("fused").get<std::string>(), "method.fused", {"auto", "on", "off"});
  aca_steps_ = mc.at("aca_steps").get<int>();
  MM_CHECK(aca_steps_ >= 0, "method.aca_steps must be >= 0, got " << aca_steps_);
}

void BoostMethod::build(const MethodContext& ctx) {
  ctx_ = ctx;
  const json& mc = ctx.config.at("method");
  const auto& spec = ctx.spec;
  const int64_t M = spec.num_modalities();
  MM_CHECK(M >= 2, "method boost needs at least two modalities, the data has "
                       << M << "; train one modality with method.name = \"unimodal\"");
  MM_CHECK(ctx.gen != nullptr, "BoostMethod::build: no generator");

  read_options(mc);
  fused_ = fused_option_ == "on" || (fused_option_ == "auto" && ctx.device == Device::CUDA);

  // Networks: encoders, classifiers per modality, the shared head.
  net_ = std::make_shared<Net>();
  enc_dict_ = net_->add("encoders", std::make_shared<models::ModuleDict>());
  encoders_ = build_encoders(ctx, *enc_dict_);
  hidden_ = classifier_hidden(ctx.config);
  check_fused_layers(hidden_.size());
  int64_t H = hidden_.empty() ? encoders_[0]->out_dim() : hidden_.back();
  if (hidden_.empty())
    for (int64_t m = 1; m < M; ++m)
      MM_CHECK(encoders_[m]->out_dim() == H,
               "model.classifier_hidden is empty, so the shared head reads the features directly, "
               "but the encoders' widths differ (" << H << " vs " << encoders_[m]->out_dim()
                                                   << "); give the classifiers a hidden layer");
  cls_dict_ = net_->add("classifiers", std::make_shared<models::ModuleDict>());
  cls_per_mod_.clear();
  classifiers_.assign(M, {});
  for (int64_t m = 0; m < M; ++m)
    cls_per_mod_.push_back(cls_dict_->add(spec.modalities[m], std::make_shared<models::ModuleDict>()));
  head_ = net_->add("head", std::make_shared<nn::Linear>(H, spec.num_classes, true, *ctx.gen));
  net_->to(ctx.device);

  int64_t fixed_m = -1;
  if (assignment_ == "fixed") {
    const std::string fm = mc.at("fixed_modality").get<std::string>();
    MM_CHECK(!fm.empty(), "method.assignment = \"fixed\" needs method.fixed_modality (a modality "
                          "name or index) and method.fixed_classifiers");
    fixed_m = spec.modality_index(fm);
  }
  const int64_t n_fix = mc.at("fixed_classifiers").get<int64_t>();
  if (fixed_m >= 0)
    MM_CHECK(n_fix >= 1 && n_fix <= max_classifiers_,
             "method.fixed_classifiers must lie in [1, max_classifiers = " << max_classifiers_
                                                                           << "], got " << n_fix);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t n = m == fixed_m ? n_fix : 1;  // Algorithm 2 line 1: n^r = 1
    for (int64_t j = 0; j < n; ++j) add_classifier(m);
  }
  added_log_.clear();  // only classifiers added during training are logged

  // Classifier weights omega (Algorithm 2 line 1: omega = 1).
  omega_.assign(M, 1.0);
  if (omega_mode_ == "fixed") {
    omega_ = doubles(mc.at("omega_fixed"));
    MM_CHECK(static_cast<int64_t>(omega_.size()) == M,
             "method.omega = \"fixed\" needs method.omega_fixed with one weight per modality ("
                 << M << "), got " << mc.at("omega_fixed").dump());
  }
  aca_.reset();
  aca_opt_.reset();
  if (omega_mode_ == "learned") {
    std::vector<int64_t> ah;
    for (const auto& v : mc.at("aca_hidden")) ah.push_back(v.get<int64_t>());
    aca_ = std::make_shared<models::AcaNet>(M, ah, *ctx.gen);  // on the CPU: M inputs
    aca_opt_ = make_optimizer(ctx.config.at("optim"));
    aca_opt_->add_param_group("aca", aca_->parameters(), mc.at("aca_lr").get<float>(),
                              ctx.config.at("optim").at("weight_decay").get<float>());
  }

  fusion_w_.assign(M, 1.0);
  if (fusion_ == "weights") {
    fusion_w_ = doubles(mc.at("fusion_weights"));
    MM_CHECK(static_cast<int64_t>(fusion_w_.size()) == M,
             "method.fusion = \"weights\" needs method.fusion_weights with one weight per modality ("
                 << M << "), got " << mc.at("fusion_weights").dump());
  } else if (fusion_ == "val_search") {
    fusion_w_.assign(M, 1.0 / static_cast<double>(M));  // until the first validation pass
  }
  scores_.assign(M, OgmScore());
  last_scores_.clear();
}

void BoostMethod::add_classifier(int64_t m) {
  MM_CHECK(m >= 0 && m < num_modalities(), "add_classifier: modality " << m << " out of range");
  const int64_t n = num_classifiers(m);
  MM_CHECK(n < max_classifiers_, "add_classifier: modality '" << ctx_.spec.modalities[m]
                                                              << "' already has max_classifiers = "
                                                              << max_classifiers_);
  // Xavier-normal weights and zero biases (ConfigurableClassifier), drawn from the trainer's
  // generator so that a resumed run draws the same numbers.
  auto c = std::make_shared<models::ConfigurableClassifier>(encoders_[m]->out_dim(), hidden_, *ctx_.gen);
  c->to(ctx_.device);
  c->train(net_->is_training());
  cls_per_mod_[m]->add(std::to_string(n), c);
  classifiers_[m].push_back(c);
  // The release creates new classifiers after its optimizer and never adds them, so they stay
  // at their initialisation; ours join the modality's group at once and train from the next step.
  if (opt_) opt_->add_params(opt_->group_index("mod." + ctx_.spec.modalities[m]), c->parameters());
  added_log_.push_back(ctx_.spec.modalities[m]);
}

std::vector<std::pair<std::string, std::vector<Tensor>>> BoostMethod::param_groups() {
  std::vector<std::pair<std::string, std::vector<Tensor>>> g;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    std::vector<Tensor> p = encoders_[m]->parameters();
    for (const auto& c : classifiers_[m])
      for (const auto& t : c->parameters()) p.push_back(t);
    g.emplace_back("mod." + ctx_.spec.modalities[m], std::move(p));
  }
  g.emplace_back("shared.head", head_->parameters());
  return g;
}

// ---- forward and loss ------------------------------------------------------------------------

std::vector<float> BoostMethod::coefficients(int64_t m) const {
  const int64_t n = num_classifiers(m);
  const float w = omega_mode_ == "off" ? 1.0f : static_cast<float>(omega_.at(m));
  std::vector<float> c(n, 1.0f);
  for (int64_t j = 0; j < n; ++j)
    if (omega_scope_ == "all" || j >= 1) c[j] = w;
  return c;
}

ClassifierSums BoostMethod::classifier_sums(int64_t m, const Tensor& x, bool use_fused) {
  Tensor u = encoders_[m]->forward(x);  // (B,D)
  const std::vector<float> coef = coefficients(m);
  if (use_fused && hidden_.size() == 1) {
    // The coefficients change only when omega is learned or a classifier is added: kept on the
    // device between steps, so that a step copies nothing to it (a copy waits for the GPU).
    if (coef_dev_.size() != classifiers_.size()) coef_dev_.assign(classifiers_.size(), {});
    auto& [values, on_device] = coef_dev_[m];
    if (values != coef || !on_device.defined() || on_device.device() != u.device()) {
      values = coef;
      on_device = Tensor::from_vector(coef, {static_cast<int64_t>(coef.size())}, u.device());
    }
    return classifier_sums_fused(u, classifiers_[m], *head_, coef, on_device);
  }
  return classifier_sums_plain(u, classifiers_[m], *head_, coef);
}

void BoostMethod::begin_epoch(int) {
  for (auto& s : scores_) s.reset();
}

LossOutput BoostMethod::modality_loss(int64_t m, const data::Batch& batch, bool accumulate) {
  const std::string& name = ctx_.spec.modalities[m];
  ClassifierSums s = classifier_sums(m, batch.inputs.at(m), fused_);
  const int64_t n = num_classifiers(m);
  BoostLossOptions o = BoostLossOptions::for_classifiers(n, lambda_, t_eps_, t_o_, t_p_);
  BoostLossResult r = fused_ ? boost_loss_fused(s.s_prev, s.z_new, batch.labels, o)
                             : boost_loss_plain(s.s_prev, s.z_new, batch.labels, o);
  if (accumulate) scores_[m].add(r.p_true);
  LossOutput out;
  out.loss = r.loss;
  // Left on the device; the caller reads them (read_pending). Detached: a term kept until the end
  // of the step must not keep the modality's autograd graph (its activations) alive.
  out.pending[name + ".loss"] = r.loss.detach();
  out.pending[name + ".eps_o"] = r.means.slice(0, 1, 2);  // with one classifier: its plain CE
  if (n >= 2) {
    out.pending[name + ".eps"] = r.means.slice(0, 0, 1);
    out.pending[name + ".eps_p"] = r.means.slice(0, 2, 3);
  }
  return out;
}

LossOutput BoostMethod::loss(const data::Batch& batch) {
  LossOutput total;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    LossOutput l = modality_loss(m, batch, false);
    total.loss = total.loss.defined() ? add(total.loss, l.loss) : l.loss;
    total.pending.insert(l.pending.begin(), l.pending.end());
  }
  read_pending(total);
  return total;
}

StepOutput BoostMethod::train_step(const data::Batch& batch) {
  MM_CHECK(opt_ != nullptr, "BoostMethod::train_step: no optimizer attached");
  StepOutput out;
  // The loss terms are read once, after the last optimizer step: the only wait for the device
  // in a step on CUDA, as in a PyTorch loop that calls loss.item() once per step.
  LossOutput all;
  if (update_ == "joint") {  // Algorithm 2: the modality losses summed, one step
    opt_->zero_grad();
    Tensor total;
    for (int64_t m = 0; m < num_modalities(); ++m) {
      LossOutput l = modality_loss(m, batch, true);
      total = total.defined() ? add(total, l.loss) : l.loss;
      all.pending.insert(l.pending.begin(), l.pending.end());
    }
    total.backward();
    after_backward();
    opt_->step();
    out.loss = read_pending(all, {total})[0];
    out.terms = std::move(all.terms);
    return out;
  }
  // alternating (the release): per modality loss -> backward -> step; the shared head steps
  // once per modality. Parameters without a gradient (the other modalities') are skipped.
  std::vector<Tensor> losses;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    opt_->zero_grad();
    LossOutput l = modality_loss(m, batch, true);
    l.loss.backward();
    after_backward();
    opt_->step();
    losses.push_back(l.loss.detach());  // not the graph: it goes with `l`, as before
    all.pending.insert(l.pending.begin(), l.pending.end());
  }
  for (double v : read_pending(all, losses)) out.loss += v;  // in modality order, as before
  out.terms = std::move(all.terms);
  return out;
}

// ---- adaptive classifier assignment and omega ------------------------------------------------

void BoostMethod::train_aca(const std::vector<double>& s, json& rec) {
  const int64_t M = num_modalities();
  std::vector<float> sv(s.begin(), s.end());
  Tensor x = Tensor::from_vector(sv, {1, M});
  Tensor g = Tensor::from_vector(aca_target(s), {1, M});  // one-hot on the weakest modality
  double last = 0.0;
  for (int it = 0; it < aca_steps_; ++it) {  // Algorithm 1 lines 7-10
    aca_opt_->zero_grad();
    Tensor d = sub(g, aca_->forward(x));
    Tensor l = sum(mul(d, d));  // L_ACA = ||g_t - omega_t||_2^2
    l.backward();
    aca_opt_->step();
    last = l.item();
  }
  NoGradGuard ng;
  std::vector<float> w = aca_->forward(x).to_vector();
  omega_.assign(w.begin(), w.end());
  rec["aca_loss"] = last;
  rec["aca_target"] = aca_target(s);
}

json BoostMethod::end_epoch(int epoch) {
  const int64_t M = num_modalities();
  const auto& names = ctx_.spec.modalities;
  json rec = json::object();
  std::vector<double> s(M);
  bool have = true;
  for (int64_t m = 0; m < M; ++m) {
    s[m] = scores_[m].value();
    have = have && scores_[m].count() > 0;
    rec["ogm_scores"][names[m]] = s[m];
  }
  if (have) last_scores_ = s;
  const bool check = have && ((epoch + 1) % assign_every_ == 0 || (epoch == 0 && assign_first_));
  rec["assignment_check"] = check;
  json assigned = json::array();
  if (check) {
    if (assignment_ == "adaptive") {
      std::vector<bool> add = assign_classifiers(s, rule_);
      for (int64_t m = 0; m < M; ++m)
        if (add[m] && num_classifiers(m) < max_classifiers_) {
          add_classifier(m);
          assigned.push_back(names[m]);
        }
    }
    if (omega_mode_ == "learned") train_aca(s, rec);
  }
  rec["assigned"] = assigned;
  for (int64_t m = 0; m < M; ++m) {
    rec["classifiers"][names[m]] = num_classifiers(m);
    rec["omega"][names[m]] = omega_mode_ == "off" ? 1.0 : omega_[m];
  }
  for (auto& sc : scores_) sc.reset();
  return rec;
}

// ---- inference ---------------------------------------------------------------------------------

Tensor BoostMethod::fuse(const std::vector<Tensor>& logits) const {
  Tensor f;
  for (size_t m = 0; m < logits.size(); ++m) {
    Tensor t = fusion_ == "omega" ? logits[m] : mul_scalar(logits[m], static_cast<float>(fusion_w_[m]));
    f = f.defined() ? add(f, t) : t;
  }
  return f;
}

Predictions BoostMethod::predict(const data::Batch& batch) {
  Predictions p;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    ClassifierSums s = classifier_sums(m, batch.inputs.at(m), fused_);
    p.modality_logits.push_back(add(s.s_prev, s.z_new));  // S^r, the modality's ensemble
  }
  p.fused_logits = fuse(p.modality_logits);
  return p;
}

namespace {
// Candidate weight vectors on the simplex with the given step (M <= 4), uniform first.
std::vector<std::vector<double>> simplex_grid(int64_t M, int steps) {
  std::vector<std::vector<double>> out;
  out.push_back(std::vector<double>(M, 1.0 / static_cast<double>(M)));
  if (M > 4) return out;
  std::vector<int> k(M, 0);
  std::function<void(int64_t, int)> rec = [&](int64_t i, int left) {
    if (i == M - 1) {
      k[i] = left;
      std::vector<double> w(M);
      for (int64_t j = 0; j < M; ++j) w[j] = static_cast<double>(k[j]) / steps;
      out.push_back(w);
      return;
    }
    for (int v = 0; v <= left; ++v) {
      k[i] = v;
      rec(i + 1, left - v);
    }
  };
  rec(0, steps);
  return out;
}
}  // namespace

Tensor BoostMethod::fuse_validation(const std::vector<Tensor>& logits, const Tensor& labels) {
  if (fusion_ != "val_search") return Tensor();
  const int64_t M = num_modalities(), R = labels.numel(), K = ctx_.spec.num_classes;
  std::vector<std::vector<float>> lv;
  for (const auto& t : logits) lv.push_back(t.to_vector());
  std::vector<int64_t> y = labels.to_int_vector();
  const auto grid = simplex_grid(M, M == 2 ? 20 : 10);
  double best_acc = -1.0, best_dist = 0.0;
  std::vector<double> best = fusion_w_;
  std::vector<double> row(K);
  for (const auto& w : grid) {
    int64_t correct = 0;
    for (int64_t i = 0; i < R; ++i) {
      for (int64_t k = 0; k < K; ++k) {
        double v = 0.0;
        for (int64_t m = 0; m < M; ++m) v += w[m] * lv[m][i * K + k];
        row[k] = v;
      }
      const int64_t pred = std::max_element(row.begin(), row.end()) - row.begin();
      correct += pred == y[i];
    }
    const double acc = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(R, 1));
    double dist = 0.0;  // ties go to the weights closest to uniform
    for (int64_t m = 0; m < M; ++m) dist += std::pow(w[m] - 1.0 / M, 2);
    if (acc > best_acc || (acc == best_acc && dist < best_dist)) {
      best_acc = acc;
      best_dist = dist;
      best = w;
    }
  }
  fusion_w_ = best;
  return fuse(logits);
}

json BoostMethod::validation_record() const {
  json r = json::object();
  if (fusion_ == "omega") return r;
  for (int64_t m = 0; m < num_modalities(); ++m) r["fusion_weights"][ctx_.spec.modalities[m]] = fusion_w_[m];
  return r;
}

// ---- checkpoint state ------------------------------------------------------------------------

json BoostMethod::state_json() const {
  json s;
  json counts = json::array();
  for (int64_t m = 0; m < num_modalities(); ++m) {
    counts.push_back(num_classifiers(m));
    s["classifiers"][ctx_.spec.modalities[m]] = num_classifiers(m);
  }
  s["classifier_counts"] = counts;
  s["added"] = added_log_;
  s["omega"] = omega_;
  s["fusion_weights"] = fusion_w_;
  s["last_scores"] = last_scores_;
  if (aca_opt_) s["aca_optim"] = aca_opt_->state_json();
  return s;
}

void BoostMethod::load_structure(const json& s) {
  const auto& counts = s.at("classifier_counts");
  MM_CHECK(static_cast<int64_t>(counts.size()) == num_modalities(),
           "checkpoint has classifier counts for " << counts.size() << " modalities, the model has "
                                                   << num_modalities());
  for (int64_t m = 0; m < num_modalities(); ++m) {
    const int64_t want = counts[m].get<int64_t>();
    MM_CHECK(want >= num_classifiers(m),
             "checkpoint has " << want << " classifiers for '" << ctx_.spec.modalities[m]
                               << "' but the model was built with " << num_classifiers(m)
                               << " (was method.fixed_classifiers changed?)");
    while (num_classifiers(m) < want) add_classifier(m);
  }
}

nn::NamedTensors BoostMethod::state_tensors() const {
  nn::NamedTensors out;
  if (!aca_) return out;
  for (const auto& [n, t] : aca_->named_parameters()) out.emplace_back("aca." + n, t);
  for (const auto& [n, t] : aca_opt_->state_tensors()) out.emplace_back("aca_optim." + n, t);
  return out;
}

void BoostMethod::load_state(const json& s, const nn::NamedTensors& tensors) {
  added_log_ = s.at("added").get<std::vector<std::string>>();
  omega_ = s.at("omega").get<std::vector<double>>();
  fusion_w_ = s.at("fusion_weights").get<std::vector<double>>();
  last_scores_ = s.at("last_scores").get<std::vector<double>>();
  if (!aca_) return;
  std::map<std::string, Tensor> by;
  for (const auto& [n, t] : tensors) by[n] = t;
  NoGradGuard ng;
  for (auto& [n, p] : aca_->named_parameters()) {
    auto it = by.find("aca." + n);
    MM_CHECK(it != by.end(), "checkpoint lacks the ACA network tensor 'aca." << n << "'");
    p.copy_(it->second);
  }
  nn::NamedTensors opt_state;
  const std::string pre = "aca_optim.";
  for (const auto& [n, t] : tensors)
    if (n.compare(0, pre.size(), pre) == 0) opt_state.emplace_back(n.substr(pre.size()), t);
  aca_opt_->load_state(opt_state, s.at("aca_optim"));
}

}  // namespace mm::boost
