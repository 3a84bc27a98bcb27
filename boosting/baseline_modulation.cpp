// Baselines: ogm, ogm_ge and agm, gradient modulation of the encoders (baseline_modulation.h,
// docs/methods.md).
#include "boosting/baseline_modulation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "boosting/baselines.h"
#include "boosting/boost_loss.h"
#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::boost {

using nlohmann::json;

namespace {

void check_window(const char* section, int start, int end) {
  MM_CHECK(start >= 0, "method." << section << ".start_epoch must be >= 0, got " << start);
  MM_CHECK(end < 0 || end > start, "method." << section << ".end_epoch must be > start_epoch (" << start
                                             << ") or negative (no end), got " << end);
}

json per_modality(const std::vector<std::string>& names, const std::vector<double>& sums, int64_t n) {
  json j = json::object();
  for (size_t m = 0; m < names.size(); ++m)
    j[names[m]] = n > 0 ? json(sums[m] / static_cast<double>(n)) : json(nullptr);
  return j;
}

// Each modality's encoder parameters get their gradient scaled by coeff[m] (those without a
// gradient, e.g. unused in this step, are skipped).
void scale_encoder_grads(const std::vector<std::vector<Tensor>>& params, const std::vector<double>& coeff) {
  NoGradGuard ng;
  for (size_t m = 0; m < params.size(); ++m) {
    if (coeff[m] == 1.0) continue;
    for (const auto& p : params[m]) {
      Tensor g = p.grad();
      if (g.defined()) g.mul_(static_cast<float>(coeff[m]));  // a fresh tensor per leaf (autograd.cpp)
    }
  }
}

// Seeds of the methods' own generators: train.seed plus a constant per method, so that the
// noise does not repeat the parameter initialisation's stream.
constexpr uint64_t kOgmGeSeedOffset = 0x6F676D6765ULL;  // "ogmge"

}  // namespace

bool in_modulation_window(int epoch, int start_epoch, int end_epoch) {
  return epoch >= start_epoch && (end_epoch < 0 || epoch < end_epoch);
}

// ---- OGM rules --------------------------------------------------------------------------------

std::vector<double> ogm_scores(const std::vector<Tensor>& modality_logits, const Tensor& labels) {
  // The paper's method's score machinery (boost_loss.h): softmax + gather on the logits' device,
  // summed by the deterministic ogm_score_sum reduction; one scalar per modality leaves it.
  std::vector<double> s;
  for (const auto& z : modality_logits) {
    MM_CHECK(z.dim() == 2 && z.size(0) == labels.numel(),
             "ogm_scores: logits " << z.describe() << " for " << labels.numel() << " labels");
    OgmScore score;
    score.add(true_class_probability(z, labels));
    s.push_back(score.sum());
  }
  return s;
}

std::vector<double> ogm_ratios(const std::vector<double>& scores) {
  MM_CHECK(scores.size() >= 2, "OGM needs at least two modalities, got " << scores.size() << " scores");
  // A zero minimum (every true-class probability underflowed) makes the others infinitely
  // dominant rather than dividing by zero.
  const double lo = std::max(*std::min_element(scores.begin(), scores.end()), std::numeric_limits<double>::min());
  std::vector<double> rho;
  for (double s : scores) rho.push_back(s / lo);
  return rho;
}

std::vector<double> ogm_coefficients(const std::vector<double>& scores, const OgmOptions& o, int epoch) {
  const std::vector<double> rho = ogm_ratios(scores);
  std::vector<double> k(rho.size(), 1.0);
  if (!in_modulation_window(epoch, o.start_epoch, o.end_epoch)) return k;
  for (size_t m = 0; m < rho.size(); ++m)
    if (rho[m] > 1.0) k[m] = 1.0 - std::tanh(o.alpha * (o.continuous ? rho[m] - 1.0 : rho[m]));
  return k;
}

double ogm_ge_modulate_(Tensor& grad, double k, Generator& gen) {
  MM_CHECK(grad.defined() && grad.is_contiguous(), "ogm_ge_modulate_: needs a defined, contiguous gradient");
  NoGradGuard ng;
  const int64_t n = grad.numel();
  double sigma = 0.0;
  if (n >= 2) {
    Tensor d = sub(grad, mean(grad));
    sigma = std::sqrt(std::max(0.0, static_cast<double>(sum(mul(d, d)).item())) / static_cast<double>(n - 1));
  }
  if (k != 1.0) grad.mul_(static_cast<float>(k));
  if (sigma > 0.0) {
    Tensor noise = Tensor::empty(grad.shape(), DType::F32, grad.device());
    normal_(noise, 0.0f, static_cast<float>(sigma), gen);
    grad.add_(noise);
  }
  return sigma;
}

// ---- AGM rules --------------------------------------------------------------------------------

std::vector<std::vector<double>> shapley_values(const std::vector<std::vector<double>>& v) {
  const size_t n = v.size();
  MM_CHECK(n >= 2 && (n & (n - 1)) == 0 && n <= (size_t(1) << 16),
           "shapley_values: need 2^M coalition payoffs (1 <= M <= 16), got " << n);
  int M = 0;
  while ((size_t(1) << M) < n) ++M;
  const size_t full = n - 1, R = v[full].size();
  for (size_t s = 1; s < n; ++s)
    MM_CHECK(v[s].size() == R, "shapley_values: coalition " << s << " has " << v[s].size()
                                                            << " payoffs, the full one " << R);
  // w[s] = s! (M-s-1)! / M!, from the ratio w[s+1]/w[s] = (s+1)/(M-s-1).
  std::vector<double> w(M, 0.0);
  w[0] = 1.0 / M;
  for (int s = 0; s + 1 < M; ++s) w[s + 1] = w[s] * (s + 1) / (M - s - 1);
  std::vector<std::vector<double>> phi(M, std::vector<double>(R, 0.0));
  for (int m = 0; m < M; ++m) {
    const size_t bit = size_t(1) << m;
    for (size_t S = 0; S < n; ++S) {
      if (S & bit) continue;
      const double ws = w[__builtin_popcountll(S)];
      const std::vector<double>& with = v[S | bit];
      for (size_t i = 0; i < R; ++i) phi[m][i] += ws * (with[i] - (S == 0 ? 0.0 : v[S][i]));
    }
  }
  return phi;
}

std::vector<std::vector<double>> late_fusion_coalitions(const std::vector<std::vector<double>>& z,
                                                        const std::vector<std::vector<double>>& z0,
                                                        int64_t K) {
  const size_t M = z.size();
  MM_CHECK(M >= 1 && z0.size() == M && K >= 1, "late_fusion_coalitions: " << M << " modalities, "
                                                                          << z0.size() << " zero-input logits");
  const size_t R = z[0].size();
  MM_CHECK(R % static_cast<size_t>(K) == 0, "late_fusion_coalitions: " << R << " logits are not rows of K = " << K);
  for (size_t m = 0; m < M; ++m)
    MM_CHECK(z[m].size() == R && z0[m].size() == static_cast<size_t>(K),
             "late_fusion_coalitions: modality " << m << " has " << z[m].size() << " logits and "
                                                 << z0[m].size() << " zero-input logits; want " << R
                                                 << " and " << K);
  std::vector<std::vector<double>> v(size_t(1) << M, std::vector<double>(R, 0.0));
  for (size_t S = 0; S < v.size(); ++S)
    for (size_t m = 0; m < M; ++m) {
      const bool in = (S >> m) & 1;
      for (size_t i = 0; i < R; ++i) v[S][i] += in ? z[m][i] : z0[m][i % K];
    }
  return v;
}

double agm_score(const std::vector<double>& phi, const std::vector<int64_t>& labels, int64_t K) {
  const int64_t B = static_cast<int64_t>(labels.size());
  MM_CHECK(B > 0 && static_cast<int64_t>(phi.size()) == B * K,
           "agm_score: " << phi.size() << " responses for " << B << " labels and K = " << K);
  double total = 0.0;
  for (int64_t i = 0; i < B; ++i) {
    const double* r = phi.data() + i * K;
    MM_CHECK(labels[i] >= 0 && labels[i] < K, "agm_score: label " << labels[i] << " outside [0, " << K << ")");
    double mx = r[0];
    for (int64_t k = 1; k < K; ++k) mx = std::max(mx, r[k]);
    double s = 0.0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(r[k] - mx);
    const double p = std::exp(r[labels[i]] - mx) / s;
    total += -std::log(std::max(p, 1e-8));
  }
  return total / static_cast<double>(B);
}

std::vector<double> agm_ratios(const std::vector<double>& scores) {
  const size_t M = scores.size();
  MM_CHECK(M >= 2, "AGM needs at least two modalities, got " << M << " scores");
  double mean_s = 0.0;
  for (double s : scores) mean_s += s;
  mean_s /= static_cast<double>(M);
  const double f = static_cast<double>(M) / static_cast<double>(M - 1);
  std::vector<double> r;
  for (double s : scores) r.push_back(std::exp(f * (mean_s - s)));
  return r;
}

std::vector<double> agm_coefficients(const std::vector<double>& batch_scores,
                                     const std::vector<double>& running_scores, const AgmOptions& o,
                                     int epoch) {
  MM_CHECK(batch_scores.size() == running_scores.size(),
           "agm_coefficients: " << batch_scores.size() << " batch scores, " << running_scores.size() << " running");
  std::vector<double> kappa(batch_scores.size(), 1.0);
  if (!in_modulation_window(epoch, o.start_epoch, o.end_epoch)) return kappa;
  const std::vector<double> r = agm_ratios(batch_scores), rbar = agm_ratios(running_scores);
  for (size_t m = 0; m < kappa.size(); ++m) kappa[m] = std::exp(o.alpha * std::min(rbar[m] - r[m], o.max_ratio_gap));
  return kappa;
}

// ---- OgmMethod --------------------------------------------------------------------------------

void OgmMethod::read_options(const json& o) {
  opt_o_.alpha = o.at("alpha").get<double>();
  MM_CHECK(opt_o_.alpha > 0.0, "method.ogm.alpha must be > 0, got " << opt_o_.alpha);
  opt_o_.start_epoch = o.at("start_epoch").get<int>();
  opt_o_.end_epoch = o.at("end_epoch").get<int>();
  check_window("ogm", opt_o_.start_epoch, opt_o_.end_epoch);
  opt_o_.continuous = o.at("continuous").get<bool>();
}

void OgmMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  MM_CHECK(num_modalities() >= 2, "method " << name() << " needs at least two modalities, the data has "
                                            << num_modalities());
  read_options(options("ogm"));
  gen_.manual_seed(ctx.config.at("train").at("seed").get<uint64_t>() + kOgmGeSeedOffset);
  scores_.assign(num_modalities(), 0.0);
  coeff_.assign(num_modalities(), 1.0);
  begin_epoch(0);
}

void OgmMethod::begin_epoch(int epoch) {
  epoch_ = epoch;
  pending_ = false;
  coeff_sum_.assign(num_modalities(), 0.0);
  ratio_sum_.assign(num_modalities(), 0.0);
  steps_in_epoch_ = 0;
}

LossOutput OgmMethod::loss(const data::Batch& b) {
  Predictions p = forward_all(b);
  LossOutput o;
  o.loss = cross_entropy(p.fused_logits, b.labels);
  o.terms["fused.ce"] = o.loss.item();
  // The scores read each modality's share z_m of the fused logits (its own logits, head bias
  // included: the shares sum to the fused logits).
  scores_ = ogm_scores(p.modality_logits, b.labels);
  coeff_ = ogm_coefficients(scores_, opt_o_, epoch_);
  pending_ = true;
  return o;
}

void OgmMethod::after_backward() {
  if (!pending_) return;
  pending_ = false;
  const int64_t M = num_modalities();
  const bool window = in_modulation_window(epoch_, opt_o_.start_epoch, opt_o_.end_epoch);
  if (window) {
    if (opt_o_.ge) {
      // GE: every encoder gradient in the window gets the noise, the weaker modality's (k = 1)
      // included (the paper's update theta <- theta - eta (k g + h), h ~ N(0, Sigma)).
      for (int64_t m = 0; m < M; ++m)
        for (const auto& p : encoder_params(m)) {
          Tensor g = p.grad();
          if (g.defined()) ogm_ge_modulate_(g, coeff_[m], gen_);
        }
    } else {
      std::vector<std::vector<Tensor>> params;
      for (int64_t m = 0; m < M; ++m) params.push_back(encoder_params(m));
      scale_encoder_grads(params, coeff_);
    }
  }
  const std::vector<double> rho = ogm_ratios(scores_);
  for (int64_t m = 0; m < M; ++m) {
    coeff_sum_[m] += coeff_[m];
    ratio_sum_[m] += rho[m];
  }
  ++steps_in_epoch_;
}

json OgmMethod::end_epoch(int epoch) {
  json rec = json::object();
  rec["ogm_coeff"] = per_modality(spec_.modalities, coeff_sum_, steps_in_epoch_);
  rec["ogm_ratio"] = per_modality(spec_.modalities, ratio_sum_, steps_in_epoch_);
  rec["ogm_window"] = in_modulation_window(epoch, opt_o_.start_epoch, opt_o_.end_epoch);
  return rec;
}

json OgmMethod::state_json() const {
  return {{"ge_generator", {{"seed", gen_.seed()}, {"counter", gen_.counter()}}}};
}

void OgmMethod::load_state(const json& s, const nn::NamedTensors&) {
  const json& g = s.at("ge_generator");
  gen_.set_state(g.at("seed").get<uint64_t>(), g.at("counter").get<uint64_t>());
}

// ---- AgmMethod --------------------------------------------------------------------------------

void AgmMethod::read_options(const json& o) {
  opt_a_.alpha = o.at("alpha").get<double>();
  MM_CHECK(opt_a_.alpha > 0.0, "method.agm.alpha must be > 0, got " << opt_a_.alpha);
  opt_a_.start_epoch = o.at("start_epoch").get<int>();
  opt_a_.end_epoch = o.at("end_epoch").get<int>();
  check_window("agm", opt_a_.start_epoch, opt_a_.end_epoch);
  opt_a_.max_ratio_gap = o.at("max_ratio_gap").get<double>();
  MM_CHECK(opt_a_.max_ratio_gap > 0.0, "method.agm.max_ratio_gap must be > 0, got " << opt_a_.max_ratio_gap);
  opt_a_.running = one_of(o.at("running").get<std::string>(), "method.agm.running", {"mean", "ema"});
  opt_a_.momentum = o.at("momentum").get<double>();
  MM_CHECK(opt_a_.momentum >= 0.0 && opt_a_.momentum < 1.0,
           "method.agm.momentum must lie in [0, 1), got " << opt_a_.momentum);
}

void AgmMethod::build(const MethodContext& ctx) {
  LateFusionMethod::build(ctx);
  const int64_t M = num_modalities();
  MM_CHECK(M >= 2, "method agm needs at least two modalities, the data has " << M);
  MM_CHECK(M <= 10, "method agm computes exact Shapley values over 2^M coalitions; " << M
                                                                                 << " modalities is too many (at most 10)");
  read_options(options("agm"));
  running_.assign(M, 0.0);
  steps_ = 0;
  scores_.assign(M, 0.0);
  coeff_.assign(M, 1.0);
  begin_epoch(0);
}

void AgmMethod::begin_epoch(int epoch) {
  epoch_ = epoch;
  pending_ = false;
  coeff_sum_.assign(num_modalities(), 0.0);
  score_sum_.assign(num_modalities(), 0.0);
  steps_in_epoch_ = 0;
}

std::vector<std::vector<double>> AgmMethod::responses(const std::vector<Tensor>& logits) {
  NoGradGuard ng;
  const int64_t M = num_modalities(), K = spec_.num_classes;
  std::vector<std::vector<double>> z(M), z0(M);
  for (int64_t m = 0; m < M; ++m) {
    const std::vector<float> v = logits.at(m).to_vector();
    z[m].assign(v.begin(), v.end());
    // The zeroed input is the same for every row, so one row suffices. The encoder runs it in
    // eval mode (as the release does): an all-zero batch must not enter BatchNorm's running
    // statistics.
    Shape s{1};
    s.insert(s.end(), spec_.input_shapes.at(m).begin(), spec_.input_shapes.at(m).end());
    const bool was_training = encoders_[m]->is_training();
    encoders_[m]->eval();
    Tensor zero_logits = modality_logits(m, encoders_[m]->forward(Tensor::zeros(s, DType::F32, device_)));  // (1,K)
    encoders_[m]->train(was_training);
    const std::vector<float> v0 = zero_logits.to_vector();
    z0[m].assign(v0.begin(), v0.end());
  }
  return shapley_values(late_fusion_coalitions(z, z0, K));
}

std::vector<std::vector<double>> AgmMethod::mono_modal_responses(const data::Batch& b) {
  NoGradGuard ng;
  return responses(forward_all(b).modality_logits);
}

LossOutput AgmMethod::loss(const data::Batch& b) {
  Predictions p = forward_all(b);
  LossOutput o;
  o.loss = cross_entropy(p.fused_logits, b.labels);
  o.terms["fused.ce"] = o.loss.item();
  const std::vector<int64_t> y = b.labels.to_int_vector();
  const auto phi = responses(p.modality_logits);
  for (int64_t m = 0; m < num_modalities(); ++m) scores_[m] = agm_score(phi[m], y, spec_.num_classes);
  pending_ = true;
  return o;
}

void AgmMethod::after_backward() {
  if (!pending_) return;
  pending_ = false;
  const int64_t M = num_modalities();
  // The coefficients compare this batch with the running scores BEFORE it is taken in.
  coeff_ = agm_coefficients(scores_, running_, opt_a_, epoch_);
  std::vector<std::vector<Tensor>> params;
  for (int64_t m = 0; m < M; ++m) params.push_back(encoder_params(m));
  scale_encoder_grads(params, coeff_);
  ++steps_;
  const double t = static_cast<double>(steps_);
  for (int64_t m = 0; m < M; ++m) {
    if (opt_a_.running == "mean" || steps_ == 1)
      running_[m] = running_[m] * (t - 1.0) / t + scores_[m] / t;  // the cumulative mean
    else
      running_[m] = opt_a_.momentum * running_[m] + (1.0 - opt_a_.momentum) * scores_[m];
    coeff_sum_[m] += coeff_[m];
    score_sum_[m] += scores_[m];
  }
  ++steps_in_epoch_;
}

json AgmMethod::end_epoch(int epoch) {
  json rec = json::object();
  rec["agm_coeff"] = per_modality(spec_.modalities, coeff_sum_, steps_in_epoch_);
  rec["agm_score"] = per_modality(spec_.modalities, score_sum_, steps_in_epoch_);
  rec["agm_running_score"] = per_modality(spec_.modalities, running_, 1);
  rec["agm_window"] = in_modulation_window(epoch, opt_a_.start_epoch, opt_a_.end_epoch);
  return rec;
}

json AgmMethod::state_json() const { return {{"running_scores", running_}, {"running_steps", steps_}}; }

void AgmMethod::load_state(const json& s, const nn::NamedTensors&) {
  std::vector<double> r = s.at("running_scores").get<std::vector<double>>();
  MM_CHECK(static_cast<int64_t>(r.size()) == num_modalities(),
           "checkpoint has AGM running scores for " << r.size() << " modalities, the model has " << num_modalities());
  running_ = std::move(r);
  steps_ = s.at("running_steps").get<int64_t>();
}

// ---- registration -----------------------------------------------------------------------------

void register_modulation_methods(const AddMethodFn& add) {
  add("ogm", [] { return std::make_unique<OgmMethod>(false); });
  add("ogm_ge", [] { return std::make_unique<OgmMethod>(true); });
  add("agm", [] { return std::make_unique<AgmMethod>(); });
}

nlohmann::json modulation_method_defaults() {
  return {
      // OGM (Peng et al., CVPR 2022), shared by ogm and ogm_ge; alpha 0.8 is the CREMA-D value.
      {"ogm",
       {{"alpha", 0.8},
        {"start_epoch", 0},      // modulation in epochs [start_epoch, end_epoch)
        {"end_epoch", 50},       // < 0: until the end of training
        {"continuous", false}}},  // true: k = 1 - tanh(alpha * (rho - 1)), continuous at rho = 1
      // AGM (Li et al., ICCV 2023).
      {"agm",
       {{"alpha", 1.0},
        {"start_epoch", 0},
        {"end_epoch", -1},         // < 0: until the end of training
        {"max_ratio_gap", 10.0},   // kappa = exp(alpha * min(rbar - r, max_ratio_gap))
        {"running", "mean"},       // running score: cumulative "mean" (paper) or "ema"
        {"momentum", 0.9}}},       // EMA momentum when running = "ema"
  };
}

}  // namespace mm::boost
