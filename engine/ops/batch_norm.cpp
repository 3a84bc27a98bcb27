// batch_norm2d: checks and the autograd record; statistics and normalisation are in the
// backends (engine/cpu/batch_norm.cpp).
//
// Training normalises with the batch mean and biased variance and updates the running buffers
// in place with momentum and the unbiased variance (as PyTorch):
//   running = (1 - momentum) * running + momentum * batch_statistic.
// Eval normalises with the running buffers. The backward treats the statistics as functions of
// x in training and as constants in eval.
//
// With relu and/or a residual the op is relu(bn(x) + residual): one pass instead of three in the
// forward (normalise, add, relu) and no separate relu backward; its node keeps x and its output
// y (the ReLU's mask), where the three ops kept x, bn(x) + residual and y.
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
                    float eps, bool relu, const Tensor& residual_in) {
  MM_CHECK(x_in.defined(), "batch_norm2d: undefined input");
  MM_CHECK(x_in.dtype() == DType::F32 && x_in.dim() == 4,
           "batch_norm2d: expected a f32 input (B,C,H,W), got " << x_in.describe());
  const int64_t B = x_in.size(0), C = x_in.size(1), HW = x_in.size(2) * x_in.size(3);
  const Device dev = x_in.device();
  MM_CHECK(eps > 0.0f, "batch_norm2d: eps must be > 0, got " << eps);
  MM_CHECK(momentum >= 0.0f && momentum <= 1.0f,
           "batch_norm2d: momentum must be in [0, 1], got " << momentum);
  if (residual_in.defined()) {
    MM_CHECK(residual_in.dtype() == DType::F32 && residual_in.shape() == x_in.shape(),
             "batch_norm2d: residual " << residual_in.describe() << " does not match the input "
                                       << x_in.describe());
    MM_CHECK(residual_in.device() == dev,
             "batch_norm2d: residual " << residual_in.describe()
                                       << " is on a different device than the input");
  }
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
  Tensor residual = residual_in.defined() ? residual_in.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  Tensor save_mean = Tensor::empty({C}, DType::F32, dev);
  Tensor save_invstd = Tensor::empty({C}, DType::F32, dev);
  // The running buffers are state, not part of the graph: update them without history.
  Tensor rm = running_mean.defined() ? running_mean.detach() : Tensor();
  Tensor rv = running_var.defined() ? running_var.detach() : Tensor();
  MM_DISPATCH(dev, batch_norm2d_forward, x, gamma, beta, rm, rv, training, momentum, eps,
              residual, relu, y, save_mean, save_invstd);

  const char* name = relu ? (residual.defined() ? "batch_norm2d_add_relu" : "batch_norm2d_relu")
                          : (residual.defined() ? "batch_norm2d_add" : "batch_norm2d");
  Tensor relu_y = relu ? y.detach() : Tensor();  // the mask; detached, so no reference cycle
  record(y, name, {x_in, gamma_in, beta_in, residual_in},
         [x, gamma, save_mean, save_invstd, relu_y, training, C](const Tensor& g,
                                                                 const std::vector<bool>& needs) {
           Tensor gy = g.contiguous(), gx, ggamma, gbeta, g_act;
           if (needs[0]) gx = Tensor::empty(x.shape(), DType::F32, x.device());
           if (needs[1]) ggamma = Tensor::empty({C}, DType::F32, x.device());
           if (needs[2]) gbeta = Tensor::empty({C}, DType::F32, x.device());
           const bool act = needs[3] && relu_y.defined();  // the residual's gradient is g_act
           if (act) g_act = Tensor::empty(x.shape(), DType::F32, x.device());
           MM_DISPATCH(x.device(), batch_norm2d_backward, x, gamma, save_mean, save_invstd, gy,
                       relu_y, training, needs[0] ? &gx : nullptr, needs[1] ? &ggamma : nullptr,
                       needs[2] ? &gbeta : nullptr, act ? &g_act : nullptr);
           Tensor gres = needs[3] ? (act ? g_act : gy) : Tensor();
           return std::vector<Tensor>{gx, ggamma, gbeta, gres};
         });
  return y;
}

}  // namespace mm
