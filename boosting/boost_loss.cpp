// The sustained boosting loss (eqs (2)-(6)), the OGM score, and the classifier sums, each in a
// plain (ordinary ops) and a fused (backend kernels) form.
#include "boosting/boost_loss.h"

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::boost {

// ---- classifier sums -------------------------------------------------------------------------

std::pair<Tensor, Tensor> fused_hidden(const Tensor& u, const std::vector<Tensor>& w1,
                                       const std::vector<Tensor>& b1, const std::vector<float>& coef) {
  MM_CHECK(u.defined(), "fused_hidden: undefined input");
  return fused_hidden(u, w1, b1,
                      Tensor::from_vector(coef, {static_cast<int64_t>(coef.size())}, u.device()));
}

std::pair<Tensor, Tensor> fused_hidden(const Tensor& u_in, const std::vector<Tensor>& w1_in,
                                       const std::vector<Tensor>& b1_in, const Tensor& coef_in) {
  const int64_t N = static_cast<int64_t>(w1_in.size());
  MM_CHECK(coef_in.defined() && coef_in.dtype() == DType::F32 && coef_in.dim() == 1,
           "fused_hidden: expected coefficients (N) f32");
  MM_CHECK(N >= 1 && b1_in.size() == w1_in.size() && coef_in.numel() == N,
           "fused_hidden: need N >= 1 weights with as many biases and coefficients, got "
               << w1_in.size() << ", " << b1_in.size() << ", " << coef_in.numel());
  MM_CHECK(u_in.dim() == 2, "fused_hidden: expected u (B,D), got " << u_in.describe());
  const int64_t B = u_in.size(0), D = u_in.size(1), H = w1_in[0].size(0);
  const Device dev = u_in.device();
  for (int64_t j = 0; j < N; ++j) {
    MM_CHECK(w1_in[j].dim() == 2 && w1_in[j].size(0) == H && w1_in[j].size(1) == D,
             "fused_hidden: classifier " << j << " weight " << w1_in[j].describe()
                                         << " is not (" << H << "," << D << ")");
    MM_CHECK(b1_in[j].defined() && b1_in[j].numel() == H,
             "fused_hidden: classifier " << j << " needs a bias of " << H << " entries");
    MM_CHECK(w1_in[j].device() == dev && b1_in[j].device() == dev,
             "fused_hidden: classifier " << j << " is on another device than its input");
  }
  // Stack the N first layers: w1 (N*H,D), b1 (N*H). The copy is O(N*H*D), 1/B of the GEMM.
  Tensor u = u_in.detach().contiguous();
  Tensor w1 = Tensor::empty({N * H, D}, DType::F32, dev);
  Tensor b1 = Tensor::empty({N * H}, DType::F32, dev);
  for (int64_t j = 0; j < N; ++j) {
    Tensor ws = w1.slice(0, j * H, (j + 1) * H);
    ws.copy_(w1_in[j].detach());
    Tensor bs = b1.slice(0, j * H, (j + 1) * H);
    bs.copy_(b1_in[j].detach().reshape({H}));
  }
  MM_CHECK(coef_in.device() == dev, "fused_hidden: the coefficients are on another device than the input");
  Tensor coef = coef_in.detach().contiguous();
  Tensor packed = Tensor::empty({2, B, H}, DType::F32, dev);  // [hsum; hnew]
  Tensor act = Tensor::empty({B, N * H}, DType::F32, dev);
  Tensor hsum = packed.slice(0, 0, 1).reshape({B, H});
  Tensor hnew = packed.slice(0, 1, 2).reshape({B, H});
  MM_DISPATCH(dev, fused_hidden_forward, u, w1, b1, coef, hsum, hnew, act);

  // One node for both outputs: the slices below send their gradients into `packed`, so the
  // fused backward runs once per backward pass.
  std::vector<Tensor> inputs;
  inputs.push_back(u_in);
  for (const auto& w : w1_in) inputs.push_back(w);
  for (const auto& b : b1_in) inputs.push_back(b);
  Shape bshape = b1_in[0].shape();
  record(packed, "fused_hidden", inputs,
         [u, w1, coef, act, N, B, D, H, bshape](const Tensor& g, const std::vector<bool>& needs) {
           Tensor gc = g.contiguous();
           Tensor g_hsum = gc.slice(0, 0, 1).reshape({B, H}).detach();
           Tensor g_hnew = gc.slice(0, 1, 2).reshape({B, H}).detach();
           bool need_w = false, need_b = false;
           for (int64_t j = 0; j < N; ++j) {
             need_w = need_w || needs[1 + j];
             need_b = need_b || needs[1 + N + j];
           }
           Tensor gx, gw, gb;
           if (needs[0]) gx = Tensor::empty({B, D}, DType::F32, g.device());
           if (need_w) gw = Tensor::empty({N * H, D}, DType::F32, g.device());
           if (need_b) gb = Tensor::empty({N * H}, DType::F32, g.device());
           MM_DISPATCH(g.device(), fused_hidden_backward, u, w1, coef, act, g_hsum, g_hnew,
                       needs[0] ? &gx : nullptr, need_w ? &gw : nullptr, need_b ? &gb : nullptr);
           std::vector<Tensor> out(1 + 2 * N);
           out[0] = gx;
           for (int64_t j = 0; j < N; ++j) {
             if (needs[1 + j]) out[1 + j] = gw.slice(0, j * H, (j + 1) * H).detach();
             if (needs[1 + N + j]) out[1 + N + j] = gb.slice(0, j * H, (j + 1) * H).detach().reshape(bshape);
           }
           return out;
         });
  return {packed.slice(0, 0, 1).reshape({B, H}), packed.slice(0, 1, 2).reshape({B, H})};
}

ClassifierSums classifier_sums_fused(
    const Tensor& u, const std::vector<std::shared_ptr<models::ConfigurableClassifier>>& cls,
    const nn::Linear& head, const std::vector<float>& coef, const Tensor& coef_on_device) {
  const size_t N = cls.size();
  MM_CHECK(N >= 1 && coef.size() == N, "classifier_sums_fused: need N >= 1 classifiers and N coefficients");
  std::vector<Tensor> w1, b1;
  for (const auto& c : cls) {
    MM_CHECK(c->single_layer(), "classifier_sums_fused: the fused path needs classifiers of one "
                                "Linear+ReLU layer; use the plain path (method.fused = \"off\")");
    w1.push_back(c->first().weight);
    b1.push_back(c->first().bias);
  }
  auto [hsum, hnew] = coef_on_device.defined() ? fused_hidden(u, w1, b1, coef_on_device)
                                                : fused_hidden(u, w1, b1, coef);
  double csum = 0.0;  // sum of the coefficients of the first N-1 classifiers
  for (size_t j = 0; j + 1 < N; ++j) csum += coef[j];
  ClassifierSums out;
  // S_{n-1} (B,K) = hsum W^T + csum * b;  z_new (B,K) = c_n (hnew W^T + b)
  out.s_prev = add(linear(hsum, head.weight, Tensor()), mul_scalar(head.bias, static_cast<float>(csum)));
  out.z_new = linear(hnew, head.weight, head.bias);
  if (coef[N - 1] != 1.0f) out.z_new = mul_scalar(out.z_new, coef[N - 1]);
  return out;
}

ClassifierSums classifier_sums_plain(
    const Tensor& u, const std::vector<std::shared_ptr<models::ConfigurableClassifier>>& cls,
    nn::Linear& head, const std::vector<float>& coef) {
  const size_t N = cls.size();
  MM_CHECK(N >= 1 && coef.size() == N, "classifier_sums_plain: need N >= 1 classifiers and N coefficients");
  ClassifierSums out;
  for (size_t j = 0; j < N; ++j) {
    Tensor z = head.forward(cls[j]->forward(u));  // (B,K)
    if (coef[j] != 1.0f) z = mul_scalar(z, coef[j]);
    if (j + 1 == N) out.z_new = z;
    else out.s_prev = out.s_prev.defined() ? add(out.s_prev, z) : z;
  }
  if (!out.s_prev.defined())
    out.s_prev = Tensor::zeros(out.z_new.shape(), DType::F32, out.z_new.device());
  return out;
}

// ---- the loss ----------------------------------------------------------------------------------

BoostLossOptions BoostLossOptions::for_classifiers(int64_t n, float lambda, bool eps, bool eps_o,
                                                   bool eps_p) {
  BoostLossOptions o;
  o.lambda = lambda;
  if (n <= 1) {  // no previous classifiers: plain CE of the only one
    o.w_eps = 0.0f;
    o.w_o = 1.0f;
    o.w_p = 0.0f;
    return o;
  }
  o.w_eps = eps ? 1.0f : 0.0f;
  o.w_o = eps_o ? 1.0f : 0.0f;
  o.w_p = eps_p ? 1.0f : 0.0f;
  return o;
}

namespace {
void check_loss_inputs(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels, const char* op) {
  MM_CHECK(s_prev.defined() && z_new.defined() && labels.defined(), op << ": undefined input");
  MM_CHECK(s_prev.dim() == 2 && s_prev.shape() == z_new.shape(),
           op << ": expected S_{n-1} and z_new of the same shape (B,K), got " << s_prev.describe()
              << " and " << z_new.describe());
  MM_CHECK(labels.dtype() == DType::I64 && labels.dim() == 1 && labels.size(0) == s_prev.size(0),
           op << ": expected labels (B) i64 with B = " << s_prev.size(0) << ", got " << labels.describe());
  MM_CHECK(s_prev.size(0) > 0, op << ": empty batch");
  MM_CHECK(s_prev.device() == z_new.device() && labels.device() == s_prev.device(),
           op << ": inputs on different devices");
}

// Eq (5) summed per sample and (6) averaged over the batch, from the terms' batch means
// (scalars): w_eps eps + w_o eps_o + w_p eps_p, the terms with weight 0 left out.
Tensor weighted_total(const Tensor (&terms)[3], const BoostLossOptions& opt) {
  const float w[3] = {opt.w_eps, opt.w_o, opt.w_p};
  Tensor total;
  for (int c = 0; c < 3; ++c) {
    if (w[c] == 0.0f) continue;
    Tensor wt = w[c] == 1.0f ? terms[c] : mul_scalar(terms[c], w[c]);
    total = total.defined() ? add(total, wt) : wt;
  }
  MM_CHECK(total.defined(), "boost loss: every term is switched off (method.terms); enable at least one");
  return total;
}
}  // namespace

Tensor residual_labels(const Tensor& s_prev, const Tensor& labels, int64_t num_classes, float lambda) {
  NoGradGuard ng;  // y_hat is a target: no gradient flows into S_{n-1} through it
  Tensor y = one_hot(labels, num_classes);                  // (B,K)
  Tensor q = softmax(s_prev.detach(), -1);                  // (B,K)
  return sub(y, mul_scalar(mul(y, q), lambda));            // y - lambda * y * q
}

BoostLossResult boost_loss_plain(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 const BoostLossOptions& opt) {
  check_loss_inputs(s_prev, z_new, labels, "boost_loss_plain");
  const int64_t K = s_prev.size(1);
  Tensor s_n = add(s_prev, z_new);
  Tensor eps = cross_entropy_soft(z_new, residual_labels(s_prev, labels, K, opt.lambda));  // (2)
  Tensor eps_o = cross_entropy(s_n, labels);                                             // (3)
  Tensor eps_p = cross_entropy(s_prev, labels);                                          // (4)
  BoostLossResult r;
  r.loss = weighted_total({eps, eps_o, eps_p}, opt);  // each CE above is already a batch mean
  {
    NoGradGuard ng;
    r.means = concat({eps.detach().reshape({1}), eps_o.detach().reshape({1}), eps_p.detach().reshape({1})}, 0);
  }
  r.p_true = true_class_probability(s_n.detach(), labels);
  return r;
}

BoostLossResult boost_loss_fused(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels_in,
                                 const BoostLossOptions& opt) {
  check_loss_inputs(s_prev, z_new, labels_in, "boost_loss_fused");
  MM_CHECK(opt.w_eps != 0.0f || opt.w_o != 0.0f || opt.w_p != 0.0f,
           "boost loss: every term is switched off (method.terms); enable at least one");
  const int64_t B = s_prev.size(0), K = s_prev.size(1);
  const Device dev = s_prev.device();
  Tensor sp = s_prev.detach().contiguous(), zn = z_new.detach().contiguous();
  Tensor labels = labels_in.contiguous();
  Tensor terms = Tensor::empty({B, 3}, DType::F32, dev);
  Tensor g_prev = Tensor::empty({B, K}, DType::F32, dev);
  Tensor g_new = Tensor::empty({B, K}, DType::F32, dev);
  Tensor p_true = Tensor::empty({B}, DType::F32, dev);
  const float scale = 1.0f / static_cast<float>(B);
  MM_DISPATCH(dev, boost_loss_forward_backward, sp, zn, labels, opt.lambda, opt.w_eps, opt.w_o,
              opt.w_p, scale, terms, g_prev, g_new, p_true);
  // The batch means and the loss value by device ops (sums in double, in a fixed order), with
  // no copy to the host: the step goes on to the backward without waiting for the device.
  BoostLossResult r;
  {
    NoGradGuard ng;
    r.means = mean(terms, {0});  // (3)
    const Tensor m[3] = {r.means.slice(0, 0, 1).reshape({}), r.means.slice(0, 1, 2).reshape({}),
                         r.means.slice(0, 2, 3).reshape({})};
    // A fresh tensor for the autograd node below, not a view into `means`.
    r.loss = weighted_total(m, opt).clone();
  }
  r.p_true = p_true;
  record(r.loss, "boost_loss", {s_prev, z_new},
         [g_prev, g_new](const Tensor& g, const std::vector<bool>& needs) {
           // The kernel's gradients are of the loss itself; scale by the incoming dL/dloss.
           Tensor a, b;
           if (needs[0]) a = mul(g_prev, g);
           if (needs[1]) b = mul(g_new, g);
           return std::vector<Tensor>{a, b};
         });
  return r;
}

// ---- the OGM score -----------------------------------------------------------------------------

void OgmScore::add(const Tensor& p_true) {
  MM_CHECK(p_true.dtype() == DType::F32 && p_true.dim() == 1,
           "OgmScore::add: expected p_true (B) f32, got " << p_true.describe());
  if (p_true.numel() == 0) return;
  Tensor v = p_true.detach().contiguous();
  if (slots_.defined() && (slots_.device() != v.device() || pending_ == kSlots)) sum();
  if (!slots_.defined() || slots_.device() != v.device())
    slots_ = Tensor::empty({kSlots}, DType::F32, v.device());
  Tensor out = slots_.slice(0, pending_, pending_ + 1);
  MM_DISPATCH(v.device(), ogm_score_sum, v, out);
  ++pending_;
  count_ += p_true.numel();
}

double OgmScore::sum() const {
  if (pending_ > 0) {
    const std::vector<float> s = slots_.slice(0, 0, pending_).to_vector();
    for (float x : s) sum_ += static_cast<double>(x);
    pending_ = 0;
  }
  return sum_;
}

void OgmScore::reset() {
  sum_ = 0.0;
  count_ = 0;
  pending_ = 0;
}

void OgmScore::set(double sum, int64_t count) {
  sum_ = sum;
  count_ = count;
  pending_ = 0;
}

Tensor true_class_probability(const Tensor& logits, const Tensor& labels) {
  NoGradGuard ng;
  return gather_rows(softmax(logits.detach(), -1), labels);
}

}  // namespace mm::boost
