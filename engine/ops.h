// mmboost engine: the differentiable ops.
//
// Each op checks its preconditions (with a message naming the op and the shapes), computes on
// the inputs' device through the CPU or CUDA backend (backend.h), and records its backward
// (autograd.h). Dimension letters: B batch, C channels, H/W spatial, D features, K classes.
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace mm {

// ---- elementwise, with NumPy broadcasting ----------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& x, float s);
Tensor mul_scalar(const Tensor& x, float s);
Tensor pow_scalar(const Tensor& x, float p);  // x^p elementwise
Tensor neg(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add_scalar(a, -s); }
inline Tensor operator*(const Tensor& a, float s) { return mul_scalar(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul_scalar(a, 1.0f / s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// A strided view of x broadcast to `shape` (stride 0 on broadcast dims); not differentiable
// on its own: ops use it internally and reduce gradients with sum_to_shape.
Tensor expand(const Tensor& x, const Shape& shape);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- reductions ------------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> scalar (shape {})
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Max over one dim; the gradient goes to the first maximal entry.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim);  // I64, not differentiable

// ---- linear algebra --------------------------------------------------------------------------
// a (M,K) x b (K,N) -> (M,N), or batched a (B,M,K) x b (B,K,N) -> (B,M,N).
Tensor matmul(const Tensor& a, const Tensor& b);
// x (B,Din), weight (Dout,Din), bias (Dout) or undefined -> (B,Dout) = x W^T + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- softmax family and losses ---------------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
// logits (B,K), targets (B,K) soft; rows of targets need not sum to 1 -> scalar mean over B of
// -sum_k t_k log softmax(z)_k. Backward: dlogits = (softmax(z) * rowsum(t) - t) * dloss / B.
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& targets);
// logits (B,K), labels (B) I64 in [0,K) -> scalar mean CE.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// mean over all elements of (a-b)^2.
Tensor mse_loss(const Tensor& a, const Tensor& b);
// x (B,K), labels (B) I64 -> (B): x[i, labels[i]] (the true-class entry of each row).
Tensor gather_rows(const Tensor& x, const Tensor& labels);
// labels (B) I64 -> (B,K) F32, not differentiable.
Tensor one_hot(const Tensor& labels, int64_t num_classes);

// ---- shape ops -------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// ---- convolutional network ops ---------------------------------------------------------------
// x (B,C,H,W), weight (O,C,kh,kw), bias (O) or undefined -> (B,O,Ho,Wo).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1,
              int padding = 0);
// x (B,C,H,W); gamma, beta (C). In training, normalises with batch statistics and updates the
// running buffers in place (unbiased variance, as PyTorch); in eval, uses the running buffers.
// relu and residual (x's shape, or undefined) make it relu(batch_norm2d(x) + residual) in the
// same pass, with the bits of the separate add and relu (ResNet's bn-relu and bn-add-relu).
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    Tensor& running_mean, Tensor& running_var, bool training,
                    float momentum = 0.1f, float eps = 1e-5f, bool relu = false,
                    const Tensor& residual = Tensor());
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);
Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w);
// Inverted dropout: zeroes with probability p and scales survivors by 1/(1-p) in training.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

}  // namespace mm
