// batch_norm2d: checks and the autograd record; statistics and normalisation are in the
// backends (engine/cpu/batch_norm.cpp).
//
// Training normalises with the batch mean and biased variance and updates the running buffers
// in place with momentum and the unbiased variance (as PyTorch):
//   running = (1 - momentum) * running + momentum * batch_statistic.
// Eval normalises with the running buffers. The backward treats the statistics as functions of
// x in training and as constants in eval.
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
void check_channel_vector(const Tensor& t, int64_t C, Device dev, const char* what) {
  MM_CHECK(t.dtype() == DType::F32 && t.dim() == 1 && t.size(0) == C,
           "batch_norm2d: " << what << " " << t.describe() << " does not match the input's " << C
                            << " channels (expected f32[" << C << "])");
  MM_CHECK(t.device() == dev, "batch_norm2d: " << what << " " << t.describe()
                                               << " is on a different device than the input");
}
}  // namespace

Tensor batch_norm2d(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in,
                    Tensor& running_mean, Tensor& running_var, bool training, float momentum,
                    float eps) {
  MM_CHECK(x_in.defined(), "batch_norm2d: undefined input");
  MM_CHECK(x_in.dtype() == DType::F32 && x_in.dim() == 4,
           "batch_norm2d: expected a f32 input (B,C,H,W), got " << x_in.describe());
  const int64_t B = x_in.size(0), C = x_in.size(1), HW = x_in.size(2) * x_in.size(3);
  const Device dev = x_in.device();
  MM_CHECK(eps > 0.0f, "batch_norm2d: eps must be > 0, got " << eps);
  MM_CHECK(momentum >= 0.0f && momentum <= 1.0f,
           "batch_norm2d: momentum must be in [0, 1], got " << momentum);
  if (gamma_in.defined()) check_channel_vector(gamma_in, C, dev, "gamma");
  if (beta_in.defined()) check_channel_vector(beta_in, C, dev, "beta");
  MM_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm2d: give both running_mean and running_var, or neither");
  if (running_mean.defined()) {
    check_channel_vector(running_mean, C, dev, "running_mean");
    check_channel_vector(running_var, C, dev, "running_var");
    MM_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
             "batch_norm2d: running buffers must be contiguous (they are updated in place)");
  }
  if (training) {
    MM_CHECK(B * HW > 1, "batch_norm2d: training needs more than one value per channel, got "
                             << x_in.describe()
                             << "; use a larger batch or evaluate with training=false");
  } else {
    MM_CHECK(running_mean.defined(),
             "batch_norm2d: eval mode needs running_mean and running_var");
  }

  Tensor x = x_in.detach().contiguous();
  Tensor gamma = gamma_in.defined() ? gamma_in.detach().contiguous() : Tensor();
  Tensor beta = beta_in.defined() ? beta_in.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  Tensor save_mean = Tensor::empty({C}, DType::F32, dev);
  Tensor save_invstd = Tensor::empty({C}, DType::F32, dev);
  // The running buffers are state, not part of the graph: update them without history.
  Tensor rm = running_mean.defined() ? running_mean.detach() : Tensor();
  Tensor rv = running_var.defined() ? running_var.detach() : Tensor();
  MM_DISPATCH(dev, batch_norm2d_forward, x, gamma, beta, rm, rv, training, momentum, eps, y,
              save_mean, save_invstd);

  record(y, "batch_norm2d", {x_in, gamma_in, beta_in},
         [x, gamma, save_mean, save_invstd, training, C](const Tensor& g,
                                                         const std::vector<bool>& needs) {
           Tensor gy = g.contiguous(), gx, ggamma, gbeta;
           if (needs[0]) gx = Tensor::empty(x.shape(), DType::F32, x.device());
           if (needs[1]) ggamma = Tensor::empty({C}, DType::F32, x.device());
           if (needs[2]) gbeta = Tensor::empty({C}, DType::F32, x.device());
           MM_DISPATCH(x.device(), batch_norm2d_backward, x, gamma, save_mean, save_invstd, gy,
                       training, needs[0] ? &gx : nullptr, needs[1] ? &ggamma : nullptr,
                       needs[2] ? &gbeta : nullptr);
           return std::vector<Tensor>{gx, ggamma, gbeta};
         });
  return y;
}

}  // namespace mm
