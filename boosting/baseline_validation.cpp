// Baselines: mslr and gblend (baseline_validation.h). See baselines.h.
#include "boosting/baseline_validation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "boosting/baselines.h"
#include "boosting/metrics.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/json_check.h"
#include "engine/ops.h"

namespace mm::boost {

using nlohmann::json;

// ---- rules --------------------------------------------------------------------------------------

double mslr_dynamic_ratio(const std::vector<double>& history, double acc_now, int window) {
  MM_CHECK(window >= 1, "mslr_dynamic_ratio: window must be >= 1, got " << window);
  if (static_cast<int>(history.size()) < window) return 1.0;
  double mean = 0.0;
  for (size_t i = history.size() - window; i < history.size(); ++i) mean += history[i];
  mean /= window;
  // A modality that scored 0 on every recent epoch has no trend to follow: leave its rate.
  return mean > 0.0 ? acc_now / mean : 1.0;
}

double mslr_smooth_factor(double f0, int epoch, int smooth_epochs) {
  MM_CHECK(smooth_epochs >= 1, "mslr_smooth_factor: smooth_epochs must be >= 1, got " << smooth_epochs);
  const double t = std::min(static_cast<double>(std::max(epoch, 0)) / smooth_epochs, 1.0);
  return std::pow(f0, 1.0 - t);
}

json OgrEstimate::to_json(const std::vector<std::string>& names) const {
  auto named = [&](const std::vector<double>& v) {
    json j = json::object();
    for (size_t k = 0; k < v.size() && k < names.size(); ++k) j[names[k]] = v[k];
    return j;
  };
  return {{"G", named(gain)}, {"O", named(overfit)}, {"raw", named(raw)}, {"valid", valid},
          {"weights", valid ? named(weights) : json(nullptr)}};
}

OgrEstimate gblend_estimate(const BranchLosses& before, const BranchLosses& after,
                            const std::string& gain_mode, double eps) {
  const size_t n = before.val.size();
  MM_CHECK(n > 0 && before.train.size() == n && after.train.size() == n && after.val.size() == n,
           "gblend_estimate: every loss vector needs one entry per branch");
  MM_CHECK(gain_mode == "abs" || gain_mode == "positive",
           "method.gblend.gain must be \"abs\" or \"positive\", got \"" << gain_mode << "\"");
  MM_CHECK(eps > 0.0, "method.gblend.eps must be > 0, got " << eps);
  OgrEstimate e;
  double total = 0.0;
  for (size_t k = 0; k < n; ++k) {
    const double g = before.val[k] - after.val[k];
    const double o = (after.val[k] - after.train[k]) - (before.val[k] - before.train[k]);
    const double num = gain_mode == "abs" ? std::fabs(g) : std::max(g, 0.0);
    // O = 0 (no change of the generalisation gap) would divide by zero: eps bounds O^2 below.
    const double r = num / std::max(o * o, eps);
    e.gain.push_back(g);
    e.overfit.push_back(o);
    e.raw.push_back(r);
    total += r;
  }
  e.valid = std::isfinite(total) && total > 0.0;
  if (e.valid)
    for (double r : e.raw) e.weights.push_back(r / total);
  return e;
}

SplitStats branch_stats(const std::vector<Tensor>& z, const Tensor& labels) {
  MM_CHECK(!z.empty(), "branch_stats: no modality logits");
  NoGradGuard ng;
  const int64_t R = labels.numel(), K = z[0].shape().back();
  std::vector<Tensor> branches;
  for (const auto& t : z) {
    MM_CHECK(t.dim() == 2 && t.shape()[0] == R && t.shape()[1] == K,
             "branch_stats: every modality's logits must be (R,K) = (" << R << "," << K << ")");
    branches.push_back(t);
  }
  // the fused branch: sum of the modality logits, as LateFusionMethod predicts
  Tensor fused = z[0];
  for (size_t m = 1; m < z.size(); ++m) fused = add(fused, z[m]);
  branches.push_back(fused);
  SplitStats s;
  s.ce.assign(branches.size(), 0.0);
  s.acc.assign(branches.size(), 0.0);
  if (R == 0) return s;
  const std::vector<int64_t> y = labels.to_int_vector();
  for (size_t b = 0; b < branches.size(); ++b) {
    s.ce[b] = cross_entropy(branches[b], labels).item();
    const std::vector<float> v = branches[b].to_vector();
    const std::vector<double> scores(v.begin(), v.end());
    const std::vector<int64_t> pred = argmax_rows(scores.data(), R, K);
    for (int64_t i = 0; i < R; ++i) s.acc[b] += pred[i] == y[i] ? 1.0 : 0.0;
    s.acc[b] /= static_cast<double>(R);
  }
  return s;
}

namespace {

std::vector<double> json_doubles(const json& j) { return j.get<std::vector<double>>(); }

}  // namespace

// ---- MSLR ---------------------------------------------------------------------------------------

void MslrMethod::read_options(const json& o) {
  strategy_ = one_of(o.at("strategy").get<std::string>(), "method.mslr.strategy", {"keep", "smooth", "dynamic"});
  window_ = o.at("window").get<int>();
  MM_CHECK(window_ >= 1, "method.mslr.window must be >= 1 epoch, got " << window_);
  update_every_ = o.at("update_every").get<int>();
  MM_CHECK(update_every_ >= 1, "method.mslr.update_every must be >= 1 epoch, got " << update_every_);
  smooth_epochs_ = o.at("smooth_epochs").get<int>();
  MM_CHECK(smooth_epochs_ >= 1, "method.mslr.smooth_epochs must be >= 1 epoch, got " << smooth_epochs_);
  min_factor_ = o.at("min_factor").get<double>();
  max_factor_ = o.at("max_factor").get<double>();
  MM_CHECK(min_factor_ > 0.0, "method.mslr.min_factor must be > 0, got " << min_factor_);
  MM_CHECK(max_factor_ >= min_factor_, "method.mslr.max_factor must be >= method.mslr.min_factor ("
                                           << min_factor_ << "), got " << max_factor_);
}

void MslrMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  const json& o = options("mslr");
  read_options(o);
  const int64_t M = num_modalities();
  initial_.assign(M, 1.0);
  const json& f = o.at("lr_factors");
  for (auto it = f.begin(); it != f.end(); ++it) {
    const auto& mods = spec_.modalities;
    const auto pos = std::find(mods.begin(), mods.end(), it.key());
    std::string known;
    for (const auto& n : mods) known += (known.empty() ? "" : ", ") + n;
    MM_CHECK(pos != mods.end(), "method.mslr.lr_factors." << it.key() << ": no modality of that name (the data has "
                                                          << known << ")");
    MM_CHECK(it.value().is_number() && it.value().get<double>() > 0.0,
             "method.mslr.lr_factors." << it.key() << " must be a number > 0, got " << it.value().dump());
    initial_[pos - mods.begin()] = it.value().get<double>();
  }
  for (int64_t m = 0; m < M; ++m)
    MM_CHECK(initial_[m] >= min_factor_ && initial_[m] <= max_factor_,
             "method.mslr.lr_factors." << spec_.modalities[m] << " = " << initial_[m]
                                       << " lies outside [method.mslr.min_factor, method.mslr.max_factor] = ["
                                       << min_factor_ << ", " << max_factor_ << "]");
  factors_ = initial_;
  acc_hist_.assign(M, {});
  pending_epoch_ = -1;
  last_update_ = nullptr;
}

void MslrMethod::attach_optimizer(optim::Optimizer* opt) {
  Method::attach_optimizer(opt);
  group_.clear();
  lr0_.clear();
  for (int64_t m = 0; m < num_modalities(); ++m) {
    const size_t g = opt->group_index("mod." + spec_.modalities[m]);
    group_.push_back(g);
    lr0_.push_back(opt->groups()[g].base_lr);
  }
  apply_factors();
}

void MslrMethod::apply_factors() {
  if (!opt_) return;
  // base_lr only: the trainer applies the LR schedule (lr = base_lr * schedule factor) right
  // after end_epoch and fuse_validation, and after attach_optimizer.
  for (size_t m = 0; m < group_.size(); ++m)
    opt_->groups()[group_[m]].base_lr = lr0_[m] * static_cast<float>(factors_[m]);
}

json MslrMethod::factors_json() const {
  json j = json::object();
  for (int64_t m = 0; m < num_modalities(); ++m) j[spec_.modalities[m]] = factors_[m];
  return j;
}

json MslrMethod::end_epoch(int epoch) {
  // The record shows the factors this epoch trained with, and what the previous validation
  // pass decided (the update that produced them).
  json rec = {{"strategy", strategy_}, {"lr_factors", factors_json()}, {"last_update", last_update_}};
  pending_epoch_ = epoch;
  if (strategy_ == "smooth") {
    for (int64_t m = 0; m < num_modalities(); ++m)
      factors_[m] = mslr_smooth_factor(initial_[m], epoch + 1, smooth_epochs_);
    apply_factors();
  }
  return {{"mslr", rec}};
}

Tensor MslrMethod::fuse_validation(const std::vector<Tensor>& z, const Tensor& labels) {
  // Only the validation pass that follows end_epoch counts (never a test split, never twice).
  if (pending_epoch_ < 0) return Tensor();
  const int epoch = pending_epoch_;
  pending_epoch_ = -1;
  const SplitStats s = branch_stats(z, labels);
  const int64_t M = num_modalities();
  const int n_prev = static_cast<int>(acc_hist_[0].size());
  const bool update = strategy_ == "dynamic" && n_prev >= window_ && (n_prev - window_) % update_every_ == 0;
  json acc = json::object(), ratio = json::object();
  for (int64_t m = 0; m < M; ++m) {
    acc[spec_.modalities[m]] = s.acc[m];
    if (update) {
      const double r = mslr_dynamic_ratio(acc_hist_[m], s.acc[m], window_);
      factors_[m] = std::clamp(factors_[m] * r, min_factor_, max_factor_);
      ratio[spec_.modalities[m]] = r;
    }
    acc_hist_[m].push_back(s.acc[m]);
  }
  if (update) apply_factors();
  last_update_ = {{"epoch", epoch}, {"val_acc", acc}, {"updated", update},
                  {"ratio", update ? ratio : json(nullptr)}, {"lr_factors", factors_json()}};
  return Tensor();
}

json MslrMethod::state_json() const {
  return {{"strategy", strategy_}, {"factors", factors_}, {"acc_history", acc_hist_},
          {"pending_epoch", pending_epoch_}, {"last_update", last_update_}};
}

void MslrMethod::load_state(const json& st, const nn::NamedTensors&) {
  MM_CHECK(st.value("strategy", "") == strategy_,
           "mslr checkpoint was trained with strategy \"" << st.value("strategy", "") << "\" but method.mslr.strategy is \""
                                                         << strategy_ << "\"");
  const auto f = json_doubles(st.at("factors"));
  const auto h = st.at("acc_history").get<std::vector<std::vector<double>>>();
  MM_CHECK(static_cast<int64_t>(f.size()) == num_modalities() && static_cast<int64_t>(h.size()) == num_modalities(),
           "mslr checkpoint holds " << f.size() << " modalities, the model " << num_modalities());
  factors_ = f;
  acc_hist_ = h;
  pending_epoch_ = st.at("pending_epoch").get<int>();
  last_update_ = st.at("last_update");
  apply_factors();
}

// ---- G-Blend ------------------------------------------------------------------------------------

void GBlendMethod::read_options(const json& o) {
  super_epoch_ = o.at("super_epoch").get<int>();
  MM_CHECK(super_epoch_ >= 1, "method.gblend.super_epoch must be >= 1 epoch, got " << super_epoch_);
  gain_mode_ = one_of(o.at("gain").get<std::string>(), "method.gblend.gain", {"abs", "positive"});
  eps_ = o.at("eps").get<double>();
  MM_CHECK(eps_ > 0.0, "method.gblend.eps must be > 0, got " << eps_);
  for (const auto& v : o.at("initial_weights"))
    MM_CHECK(v.is_number(), "method.gblend.initial_weights must hold numbers, got " << v.dump());
}

void GBlendMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  const json& o = options("gblend");
  read_options(o);
  const int64_t B = num_branches();
  const auto w0 = json_doubles(o.at("initial_weights"));
  if (w0.empty()) {
    weights_.assign(B, 1.0 / static_cast<double>(B));
  } else {
    MM_CHECK(static_cast<int64_t>(w0.size()) == B,
             "method.gblend.initial_weights needs " << B << " numbers (one per modality in the data's order, then "
                                                    << "the fused branch), got " << w0.size());
    set_weights(w0);
  }
  train_sum_.assign(B, 0.0);
  train_count_ = 0;
  pending_train_.clear();
  pending_epoch_ = -1;
  has_ref_ = false;
  ref_epoch_ = -1;
  ref_ = BranchLosses();
  last_estimate_ = nullptr;
}

void GBlendMethod::set_weights(const std::vector<double>& w) {
  MM_CHECK(static_cast<int64_t>(w.size()) == num_branches(),
           "method.gblend: " << num_branches() << " weights needed, got " << w.size());
  double total = 0.0;
  for (double v : w) {
    MM_CHECK(std::isfinite(v) && v >= 0.0, "method.gblend.initial_weights must be finite and >= 0, got " << v);
    total += v;
  }
  MM_CHECK(total > 0.0, "method.gblend.initial_weights must not all be 0");
  weights_.clear();
  for (double v : w) weights_.push_back(v / total);  // the same scale as every estimate
}

std::vector<std::string> GBlendMethod::branch_names() const {
  std::vector<std::string> n = spec_.modalities;
  n.push_back("fused");
  return n;
}

json GBlendMethod::named(const std::vector<double>& v) const {
  const auto names = branch_names();
  json j = json::object();
  for (size_t k = 0; k < v.size() && k < names.size(); ++k) j[names[k]] = v[k];
  return j;
}

void GBlendMethod::begin_epoch(int) {
  train_sum_.assign(num_branches(), 0.0);
  train_count_ = 0;
}

LossOutput GBlendMethod::loss(const data::Batch& b) {
  const Predictions p = forward_all(b);
  const int64_t M = num_modalities();
  const double n = static_cast<double>(b.size());
  LossOutput o;
  for (int64_t k = 0; k <= M; ++k) {
    const Tensor& z = k < M ? p.modality_logits[k] : p.fused_logits;  // (B,K)
    const Tensor ce = cross_entropy(z, b.labels);                      // batch mean
    const double v = ce.item();
    train_sum_[k] += v * n;  // per-sample sums, so a short last batch counts by its size
    o.terms[(k < M ? spec_.modalities[k] : std::string("fused")) + ".ce"] = v;
    const Tensor term = mul_scalar(ce, static_cast<float>(weights_[k]));
    o.loss = k == 0 ? term : add(o.loss, term);
  }
  train_count_ += b.size();
  return o;
}

std::vector<double> GBlendMethod::train_ce() const {
  std::vector<double> m(train_sum_.size(), 0.0);
  if (train_count_ > 0)
    for (size_t k = 0; k < m.size(); ++k) m[k] = train_sum_[k] / static_cast<double>(train_count_);
  return m;
}

json GBlendMethod::end_epoch(int epoch) {
  // The weights this epoch trained with; the newest estimate (made on an earlier validation).
  pending_train_ = train_ce();
  pending_epoch_ = train_count_ > 0 ? epoch : -1;
  return {{"gblend", {{"weights", named(weights_)},
                      {"train_ce", named(pending_train_)},
                      {"last_estimate", last_estimate_}}}};
}

Tensor GBlendMethod::fuse_validation(const std::vector<Tensor>& z, const Tensor& labels) {
  // Only the validation pass that follows end_epoch counts (never a test split, never twice).
  if (pending_epoch_ < 0) return Tensor();
  const int epoch = pending_epoch_;
  pending_epoch_ = -1;
  if (epoch % super_epoch_ != 0) return Tensor();  // estimate points: epochs 0, n, 2n, ...
  BranchLosses now;
  now.train = pending_train_;
  now.val = branch_stats(z, labels).ce;
  if (has_ref_) {
    const OgrEstimate e = gblend_estimate(ref_, now, gain_mode_, eps_);
    // No usable estimate (no branch changed at all): keep the weights in force.
    if (e.valid) weights_ = e.weights;
    last_estimate_ = e.to_json(branch_names());
    last_estimate_["epoch"] = epoch;
    last_estimate_["since_epoch"] = ref_epoch_;
    last_estimate_["train_before"] = named(ref_.train);
    last_estimate_["train_after"] = named(now.train);
    last_estimate_["val_before"] = named(ref_.val);
    last_estimate_["val_after"] = named(now.val);
  }
  ref_ = now;
  ref_epoch_ = epoch;
  has_ref_ = true;
  return Tensor();
}

json GBlendMethod::state_json() const {
  return {{"weights", weights_},
          {"train_sum", train_sum_},
          {"train_count", train_count_},
          {"pending_train", pending_train_},
          {"pending_epoch", pending_epoch_},
          {"has_ref", has_ref_},
          {"ref_epoch", ref_epoch_},
          {"ref_train", ref_.train},
          {"ref_val", ref_.val},
          {"last_estimate", last_estimate_}};
}

void GBlendMethod::load_state(const json& st, const nn::NamedTensors&) {
  const auto w = json_doubles(st.at("weights"));
  MM_CHECK(static_cast<int64_t>(w.size()) == num_branches(),
           "gblend checkpoint holds " << w.size() << " branch weights, the model has " << num_branches() << " branches");
  weights_ = w;
  train_sum_ = json_doubles(st.at("train_sum"));
  train_count_ = st.at("train_count").get<int64_t>();
  pending_train_ = json_doubles(st.at("pending_train"));
  pending_epoch_ = st.at("pending_epoch").get<int>();
  has_ref_ = st.at("has_ref").get<bool>();
  ref_epoch_ = st.at("ref_epoch").get<int>();
  ref_.train = json_doubles(st.at("ref_train"));
  ref_.val = json_doubles(st.at("ref_val"));
  last_estimate_ = st.at("last_estimate");
}

// ---- registry -----------------------------------------------------------------------------------

void register_validation_methods(const AddMethodFn& add) {
  add("mslr", [] { return std::make_unique<MslrMethod>(); });
  add("gblend", [] { return std::make_unique<GBlendMethod>(); });
}

json validation_method_defaults() {
  return {
      {"mslr",
       {
           {"strategy", "dynamic"},      // keep | smooth | dynamic
           {"lr_factors", json::object()},  // {"<modality>": f0}: lr of mod.<modality> = optim.lr * f0 (default 1)
           {"window", 5},                // dynamic: epochs in the accuracy mean
           {"update_every", 1},          // dynamic: epochs between updates (after the first `window`)
           {"min_factor", 0.1},          // dynamic: bounds of f_m
           {"max_factor", 10.0},
           {"smooth_epochs", 10},        // smooth: epochs from f0 to 1
       }},
      {"gblend",
       {
           {"super_epoch", 10},                   // epochs between weight estimates
           {"initial_weights", json::array()},    // [] = uniform; else M + 1 numbers (modalities, fused)
           {"gain", "abs"},                       // abs: |G| | positive: max(G, 0)
           {"eps", 1e-12},                        // lower bound of O^2
       }},
  };
}

}  // namespace mm::boost
