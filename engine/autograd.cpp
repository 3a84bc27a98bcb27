#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/error.h"
#include "engine/ops.h"

namespace mm {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->needs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    node->needs[i] = inputs[i].defined() && inputs[i].requires_grad();
  node->inputs = std::move(inputs);
  node->backward = std::move(fn);
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t gd = grad.dim(), sd = static_cast<int64_t>(shape.size());
  MM_CHECK(gd >= sd, "sum_to_shape: gradient " << grad.describe() << " cannot reduce to "
                                               << shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < gd; ++i) {
    int64_t si = i - (gd - sd);
    if (si < 0 || (shape[si] == 1 && grad.shape()[i] != 1)) dims.push_back(i);
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

void run_backward(const Tensor& root, const Tensor& grad_in) {
  MM_CHECK(root.defined(), "backward on an undefined tensor");
  MM_CHECK(root.requires_grad(),
           "backward: this tensor does not require a gradient (no parameter contributed to it, "
           "or it was computed under NoGradGuard)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    MM_CHECK(root.numel() == 1, "backward: a gradient must be given for non-scalar output "
                                    << root.describe());
    grad = Tensor::full(root.shape(), 1.0f, root.device());
  }
  MM_CHECK(grad.shape() == root.shape(), "backward: gradient " << grad.describe()
                                                               << " does not match "
                                                               << root.describe());
  NoGradGuard no_grad;

  // Topological order by iterative DFS (post-order), deterministic in input order.
  std::vector<TensorImpl*> order;
  std::unordered_set<TensorImpl*> visited;
  std::unordered_map<TensorImpl*, std::shared_ptr<TensorImpl>> keep;  // impl* -> owner
  struct Frame {
    TensorImpl* t;
    size_t next;
  };
  std::vector<Frame> stack{{root.impl(), 0}};
  keep[root.impl()] = root.impl_ptr();
  visited.insert(root.impl());
  while (!stack.empty()) {
    Frame& f = stack.back();
    Node* node = f.t->grad_fn.get();
    if (node && f.next < node->inputs.size()) {
      const Tensor& in = node->inputs[f.next++];
      if (!in.defined() || !in.requires_grad()) continue;
      if (visited.insert(in.impl()).second) {
        keep[in.impl()] = in.impl_ptr();
        stack.push_back({in.impl(), 0});
      }
    } else {
      order.push_back(f.t);
      stack.pop_back();
    }
  }

  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl()] = grad;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = *it;
    auto gi = grads.find(t);
    if (gi == grads.end()) continue;
    Tensor g = gi->second;
    grads.erase(gi);
    if (!t->grad_fn) {
      // A leaf: accumulate into .grad (a fresh tensor, so no gradient aliases another).
      if (!t->requires_grad) continue;
      t->grad = (t->grad ? add(Tensor(t->grad), g) : g.clone()).impl_ptr();
      continue;
    }
    Node* node = t->grad_fn.get();
    std::vector<Tensor> in_grads = node->backward(g, node->needs);
    MM_CHECK(in_grads.size() == node->inputs.size(),
             "internal: backward of " << node->name << " returned " << in_grads.size()
                                      << " gradients for " << node->inputs.size() << " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      if (!node->needs[i] || !in_grads[i].defined()) continue;
      const Tensor& in = node->inputs[i];
      MM_CHECK(in_grads[i].shape() == in.shape(),
               "internal: backward of " << node->name << " gave gradient "
                                        << in_grads[i].describe() << " for input "
                                        << in.describe());
      auto ex = grads.find(in.impl());
      if (ex == grads.end()) {
        grads.emplace(in.impl(), in_grads[i]);
      } else {
        ex->second = add(ex->second, in_grads[i]);
      }
    }
  }
}

}  // namespace mm
