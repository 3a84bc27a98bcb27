// conv2d for the emulated "cuda" device (-DMMBOOST_CUDA=EMULATE): the CPU backend over device
// memory that is host memory. On a GPU, and in the SIMT build (against the cuDNN stand-in of
// tests/simt/dnn.h), the convolution is conv2d.cu's.
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
