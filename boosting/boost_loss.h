// mmboost boosting: the sustained boosting loss of one modality (paper Section 4.1), the OGM
// score (Section 4.2), and the configurable-classifier sums they are computed from.
//
// For a modality with classifiers 1..n, logits z_j = head(psi_j(u)) and coefficients c_j
// (omega, see BoostMethod), the loss needs only two (B,K) tensors:
//   S_{n-1} = sum_{j<n} c_j z_j   (the first n-1 classifiers; zeros when n == 1)   "s_prev"
//   z_new   = c_n z_n             (the newest classifier)                          "z_new"
// and S_n = S_{n-1} + z_new is the ensemble prediction. Two implementations of each step:
//   plain: every classifier and the head run as ordinary ops (classifier_sums_plain,
//          boost_loss_plain), the reference;
//   fused: the classifiers' first layers as one GEMM and the head applied to coefficient
//          sums of hidden vectors (classifier_sums_fused), and one kernel for the three loss
//          terms and their gradients (boost_loss_fused); backend entry points
//          fused_hidden_forward/backward and boost_loss_forward_backward.
// Both record autograd; tests/test_boosting_fused.cpp proves they agree in values and gradients.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "models/classifier.h"

namespace mm::boost {

struct ClassifierSums {
  Tensor s_prev;  // (B,K) S_{n-1}
  Tensor z_new;   // (B,K) c_n z_n
};

// Differentiable fused first layers: u (B,D), w1[j] (H,D), b1[j] (H), coef (N) ->
// {hsum (B,H) = sum_{j<N-1} coef_j relu(u w1_j^T + b1_j), hnew (B,H) = relu(u w1_{N-1}^T + b1_{N-1})}.
// `coef` on u's device; the host-vector form copies it there first (on CUDA a host-to-device copy,
// which waits for the device: a training step passes a tensor kept on the device instead).
std::pair<Tensor, Tensor> fused_hidden(const Tensor& u, const std::vector<Tensor>& w1,
                                       const std::vector<Tensor>& b1, const Tensor& coef);
std::pair<Tensor, Tensor> fused_hidden(const Tensor& u, const std::vector<Tensor>& w1,
                                       const std::vector<Tensor>& b1, const std::vector<float>& coef);

// u (B,D) through N classifiers (each Linear(D->H)+ReLU, see ConfigurableClassifier::
// single_layer) and the shared head (head_w (K,H), head_b (K)), with coefficients coef (N):
// S_{n-1} = hsum W^T + (sum_{j<N-1} coef_j) b and z_new = coef_{N-1} (hnew W^T + b), because
// the head is linear and shared. `coef_on_device`, if defined, holds the same N coefficients on
// u's device (see fused_hidden).
ClassifierSums classifier_sums_fused(const Tensor& u,
                                     const std::vector<std::shared_ptr<models::ConfigurableClassifier>>& cls,
                                     const nn::Linear& head, const std::vector<float>& coef,
                                     const Tensor& coef_on_device = Tensor());
// The same sums with each classifier and the head run separately (any classifier depth).
ClassifierSums classifier_sums_plain(const Tensor& u,
                                     const std::vector<std::shared_ptr<models::ConfigurableClassifier>>& cls,
                                     nn::Linear& head, const std::vector<float>& coef);

// Which terms of eq (5) enter the loss and how (Table 4 ablation switches as weights 0/1).
struct BoostLossOptions {
  float lambda = 0.2f;  // eq (2) softening of the residual labels
  float w_eps = 1.0f;   // eq (2) epsilon: CE(z_new, y_hat)
  float w_o = 1.0f;     // eq (3) epsilon_o: CE(S_n, y)
  float w_p = 1.0f;     // eq (4) epsilon_p: CE(S_{n-1}, y)
  // With one classifier there is no S_{n-1}: the loss is plain CE(z_1, y) (eps_o alone).
  static BoostLossOptions for_classifiers(int64_t n, float lambda, bool eps, bool eps_o, bool eps_p);
};

// Everything stays on the inputs' device: reading a value on the host (item(), to_vector()) is
// a device-to-host copy, which on CUDA waits for the GPU, so a training step reads them once,
// after its optimizer step (BoostMethod::train_step).
struct BoostLossResult {
  Tensor loss;    // scalar, eq (6): mean over the batch of w_eps eps + w_o eps_o + w_p eps_p
  Tensor p_true;  // (B) softmax(S_n)[y], no history: the OGM score's summands
  Tensor means;   // (3) batch means of the three terms, unweighted: eps, eps_o, eps_p; no history
};

// y_hat (B,K) = y - lambda * y * softmax(S_{n-1}) (detached): eq (2)'s residual labels.
Tensor residual_labels(const Tensor& s_prev, const Tensor& labels, int64_t num_classes, float lambda);

// The loss by ordinary ops (softmax, cross_entropy_soft, cross_entropy): the reference.
BoostLossResult boost_loss_plain(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 const BoostLossOptions& opt);
// The loss by the fused backend kernel; the gradients are computed in the forward and handed
// to autograd (scaled by the incoming gradient).
BoostLossResult boost_loss_fused(const Tensor& s_prev, const Tensor& z_new, const Tensor& labels,
                                 const BoostLossOptions& opt);

// The OGM score of one modality (Section 4.2): the mean over the epoch's training samples of
// softmax(S_n)[y], accumulated batch by batch in a fixed order.
class OgmScore {
 public:
  OgmScore() = default;
  // A copy holds the sum so far and a buffer of its own.
  OgmScore(const OgmScore& o) : sum_(o.sum()), count_(o.count_) {}
  OgmScore& operator=(const OgmScore& o) {
    if (this != &o) {
      sum_ = o.sum();
      count_ = o.count_;
      slots_ = Tensor();
      pending_ = 0;
    }
    return *this;
  }

  // Adds softmax(S_n)[y] of a batch. The batch sum is computed on p_true's device by the
  // deterministic ogm_score_sum reduction into a slot of a small buffer there; the buffer is read
  // (one device-to-host copy) when it is full or when sum()/value() is asked for, and its slots
  // are added in batch order in double, so the result does not depend on when that happens.
  void add(const Tensor& p_true);  // (B) on any device
  double value() const {
    const double s = sum();
    return count_ ? s / static_cast<double>(count_) : 0.0;
  }
  double sum() const;
  int64_t count() const { return count_; }
  void reset();
  void set(double sum, int64_t count);

 private:
  static constexpr int64_t kSlots = 256;  // batches between reads of the device buffer
  mutable double sum_ = 0.0;
  int64_t count_ = 0;
  mutable Tensor slots_;        // (kSlots) on the device of the last batch
  mutable int64_t pending_ = 0;  // slots written since the last read
};

// softmax(logits)[y] per row: logits (B,K), labels (B) -> (B), no history.
Tensor true_class_probability(const Tensor& logits, const Tensor& labels);

}  // namespace mm::boost
