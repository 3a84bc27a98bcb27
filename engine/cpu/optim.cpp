// CPU twin of the multi-tensor SGD step: per slot, the same axpy and scale passes, in the same
// order, that SGD::step made through tensor ops before the step became one backend call, so a
// CPU run's numbers do not depend on which of the two forms ran.
#include "engine/backend.h"

namespace mm::cpu {

void sgd_step(const std::vector<SgdSlot>& slots, float momentum, float dampening,
              bool nesterov) {
  for (const SgdSlot& s : slots) {
    Tensor p = s.param;
    // d = g + wd * p; `owned` says whether d may be written.
    Tensor d = s.grad;
    bool owned = false;
    if (s.weight_decay != 0.0f) {
      d = s.grad.clone();
      axpy(s.weight_decay, p, d);
      owned = true;
    }
    if (momentum != 0.0f) {
      Tensor buf = s.buf;
      if (s.first) {  // the first step copies d, undamped, as PyTorch
        copy_strided(d, buf);
      } else {
        unary(UnaryOp::MulScalar, buf, buf, momentum);
        axpy(1.0f - dampening, d, buf);
      }
      if (nesterov) {  // d = d + momentum * buf
        if (!owned) d = d.clone();
        axpy(momentum, buf, d);
      } else {
        d = buf;
      }
    }
    axpy(-s.lr, d, p);
  }
}

}  // namespace mm::cpu
