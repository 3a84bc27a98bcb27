// batch_norm2d with its ReLU and residual add in one op (ResNet's bn-relu and bn-add-relu)
// against the three separate ops it replaces: the same bits in the output, the running buffers
// and every gradient, on either device. Used by test_batch_norm.cpp and test_cuda_ops.cpp.
#pragma once

#include <string>
#include <vector>

#include "engine/ops.h"
#include "tests/testing.h"

namespace mmtest {

inline void require_bn_act_matches_ops(mm::Device device) {
  using mm::Tensor;
  auto bits = [](const Tensor& a, const Tensor& b) {
    return a.defined() == b.defined() && (!a.defined() || same_bits(a, b));
  };
  auto on = [&](const Tensor& t) { return t.to(device); };
  struct Case {
    int64_t B, C, H, W;
  };
  // x's gradient: wanted, or not (only the residual's and the affine parameters' are).
  const Case cases[] = {{2, 3, 5, 7}, {3, 4, 1, 1}, {2, 17, 3, 3}};
  for (const Case& c : cases) {
    for (bool training : {true, false}) {
      for (int variant = 0; variant < 3; ++variant) {  // relu; relu + residual; residual
        for (bool affine : {true, false}) {
          for (bool x_grad : {true, false}) {
            const bool relu = variant < 2, with_res = variant > 0;
            if (!x_grad && !with_res && !affine) continue;  // nothing would need a gradient
            const std::string what =
                "C=" + std::to_string(c.C) + (training ? " train" : " eval") +
                (relu ? " relu" : "") + (with_res ? " residual" : "") +
                (affine ? " affine" : "") + (x_grad ? " x-grad" : " no-x-grad");
            INFO(what);
            const mm::Shape shape = {c.B, c.C, c.H, c.W};
            Tensor x = on(randn(shape, 200)), r = on(randn(shape, 201));
            Tensor w = on(randn(shape, 202));
            Tensor gamma = on(randu({c.C}, 203, 0.5f, 1.5f)), beta = on(randn({c.C}, 204));
            Tensor rm = on(randn({c.C}, 205, 0.1f)), rv = on(randu({c.C}, 206, 0.5f, 2.0f));
            struct Side {
              Tensor x, gamma, beta, r, rm, rv, y;
            } fused, ops;
            for (Side* s : {&fused, &ops}) {
              s->x = x_grad ? param(x) : x.clone();
              s->gamma = affine ? param(gamma) : Tensor();
              s->beta = affine ? param(beta) : Tensor();
              s->r = with_res ? param(r) : Tensor();
              s->rm = rm.clone();
              s->rv = rv.clone();
            }
            fused.y = mm::batch_norm2d(fused.x, fused.gamma, fused.beta, fused.rm, fused.rv,
                                       training, 0.1f, 1e-5f, relu, fused.r);
            ops.y = mm::batch_norm2d(ops.x, ops.gamma, ops.beta, ops.rm, ops.rv, training, 0.1f,
                                     1e-5f);
            if (with_res) ops.y = mm::add(ops.y, ops.r);
            if (relu) ops.y = mm::relu(ops.y);
            for (Side* s : {&fused, &ops}) mm::sum(mm::mul(s->y, w)).backward();
            REQUIRE(bits(fused.y, ops.y));
            REQUIRE(bits(fused.rm, ops.rm));
            REQUIRE(bits(fused.rv, ops.rv));
            if (x_grad) REQUIRE(bits(fused.x.grad(), ops.x.grad()));
            if (affine) {
              REQUIRE(bits(fused.gamma.grad(), ops.gamma.grad()));
              REQUIRE(bits(fused.beta.grad(), ops.beta.grad()));
            }
            if (with_res) REQUIRE(bits(fused.r.grad(), ops.r.grad()));
          }
        }
      }
    }
  }
}

}  // namespace mmtest
