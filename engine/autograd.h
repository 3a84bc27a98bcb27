// mmboost engine: reverse-mode automatic differentiation on a dynamic tape.
//
// Every differentiable op that produced a tensor attaches a Node to it: the op's inputs and a
// closure that maps the gradient of the output to the gradients of the inputs. backward()
// orders the nodes topologically from the root and runs the closures in reverse, summing the
// gradients that reach a tensor along several paths. Leaves (parameters) accumulate into
// .grad() across backward calls until zero_grad().
//
// Closures must not capture their own output as a Tensor with history (that would be a
// reference cycle); capture out.detach() instead.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mm {

// grad: gradient w.r.t. the op's output (same shape). needs[i]: whether input i wants a
// gradient. Returns one tensor per input, undefined where not needed.
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad, const std::vector<bool>& needs)>;

struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  std::vector<bool> needs;
  BackwardFn backward;
};

bool grad_enabled();

// Disables recording for its lifetime (evaluation, optimizer steps, backward itself).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when recording is on and at least one input requires a gradient.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `out` when needs_grad(inputs); no-op otherwise.
void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn fn);

// Reduces a broadcast gradient back to `shape` (sums over broadcast dimensions).
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace mm
