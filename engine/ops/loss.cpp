// Losses: soft-target cross-entropy (the residual labels of the boosting method do not sum to
// one, so the gradient keeps the row sum), hard-label cross-entropy, MSE; and the true-class
// gather and one-hot used around them.
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
void check_logits(const Tensor& z, const char* op) {
  MM_CHECK(z.defined() && z.dtype() == DType::F32 && z.dim() == 2,
           op << ": expected logits (B,K) f32, got " << z.describe());
  MM_CHECK(z.size(0) > 0 && z.size(1) > 0, op << ": empty logits " << z.describe());
}
void check_labels(const Tensor& labels, int64_t B, int64_t K, const char* op) {
  MM_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.dim() == 1 &&
               labels.size(0) == B,
           op << ": expected labels (" << B << ") i64, got " << labels.describe());
  if (labels.device() == Device::CPU) {
    const int64_t* p = labels.detach().contiguous().data_i64();
    for (int64_t i = 0; i < B; ++i)
      MM_CHECK(p[i] >= 0 && p[i] < K, op << ": label " << p[i] << " at row " << i
                                         << " is outside [0, " << K << ")");
  }
}
}  // namespace

Tensor cross_entropy_soft(const Tensor& logits, const Tensor& targets) {
  check_logits(logits, "cross_entropy_soft");
  MM_CHECK(targets.defined() && targets.shape() == logits.shape() &&
               targets.dtype() == DType::F32,
           "cross_entropy_soft: targets " << targets.describe() << " must match logits "
                                          << logits.describe());
  MM_CHECK(targets.device() == logits.device(), "cross_entropy_soft: devices differ");
  const int64_t B = logits.size(0);
  Tensor z = logits.detach().contiguous(), t = targets.detach().contiguous();
  Tensor rows = Tensor::empty({B}, DType::F32, z.device());
  Tensor probs = Tensor::empty(z.shape(), DType::F32, z.device());
  MM_DISPATCH(z.device(), cross_entropy_soft_forward, z, t, rows, probs);
  Tensor loss;
  {
    NoGradGuard ng;
    loss = mean(rows);
  }
  record(loss, "cross_entropy_soft", {logits, targets},
         [probs, t, z, B](const Tensor& g, const std::vector<bool>& needs) {
           Tensor gz, gt;
           if (needs[0]) {  // g stays on the device: the kernel divides it by B
             gz = Tensor::empty(probs.shape(), DType::F32, probs.device());
             MM_DISPATCH(probs.device(), cross_entropy_soft_backward, probs, t, g.contiguous(), gz);
           }
           if (needs[1]) {  // d/dt = -log softmax(z) (g / B); targets rarely want a gradient
             gt = mul_scalar(log_softmax(z, -1), -(g.item() / static_cast<float>(B)));
           }
           return std::vector<Tensor>{gz, gt};
         });
  return loss;
}

Tensor one_hot(const Tensor& labels, int64_t num_classes) {
  MM_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.dim() == 1,
           "one_hot: expected labels (B) i64, got " << labels.describe());
  MM_CHECK(num_classes > 0, "one_hot: num_classes must be positive");
  check_labels(labels, labels.size(0), num_classes, "one_hot");
  Tensor out = Tensor::empty({labels.size(0), num_classes}, DType::F32, labels.device());
  Tensor lc = labels.contiguous();
  MM_DISPATCH(labels.device(), one_hot, lc, out);
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  check_logits(logits, "cross_entropy");
  check_labels(labels, logits.size(0), logits.size(1), "cross_entropy");
  return cross_entropy_soft(logits, one_hot(labels, logits.size(1)));
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  MM_CHECK(a.defined() && b.defined() && a.shape() == b.shape(),
           "mse_loss: shapes must match, got " << a.describe() << " and " << b.describe());
  Tensor d = sub(a, b);
  return mean(mul(d, d));
}

Tensor gather_rows(const Tensor& x, const Tensor& labels) {
  check_logits(x, "gather_rows");
  check_labels(labels, x.size(0), x.size(1), "gather_rows");
  Tensor xc = x.detach().contiguous(), lc = labels.contiguous();
  Tensor out = Tensor::empty({x.size(0)}, DType::F32, x.device());
  MM_DISPATCH(x.device(), gather_rows, xc, lc, out);
  Shape xs = x.shape();
  record(out, "gather_rows", {x}, [lc, xs](const Tensor& g, const std::vector<bool>&) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(xs, DType::F32, g.device());
    MM_DISPATCH(g.device(), gather_rows_backward, gc, lc, gx);
    return std::vector<Tensor>{gx};
  });
  return out;
}

}  // namespace mm
