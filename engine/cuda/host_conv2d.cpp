// conv2d for the "cuda" device of the builds without a GPU (-DMMBOOST_CUDA=EMULATE and SIMT):
// the CPU backend over device memory that is host memory. On a GPU the convolution is cuDNN's
// (conv2d.cu); in the SIMT build no stand-in of cuDNN would test the project's code, so both
// builds run the CPU twin.
#include "engine/backend.h"

namespace mm::cuda {

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                    Tensor& y) {
  cpu::conv2d_forward(x, w, bias, stride, padding, y);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, int stride, int padding,
                     Tensor* gx, Tensor* gw, Tensor* gb) {
  cpu::conv2d_backward(x, w, gy, stride, padding, gx, gw, gb);
}

}  // namespace mm::cuda
