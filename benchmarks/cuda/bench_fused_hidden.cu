// Benchmark: the configurable classifiers' fused hidden layer (kernels/fused_hidden.cu).
//
// x (B,D), w1 (N*H,D), b1 (N*H), coef (N) -> act (B,N*H), hsum (B,H), hnew (B,H), and the
// backward to gx (B,D), gw1 (N*H,D), gb1 (N*H). Versions:
//   fused_v1_sgemm  cublasSgemm, then one kernel adding b1, applying ReLU, reducing hsum/hnew
//   fused_v2_lt     cuBLASLt with the bias+ReLU epilogue, then the reduction kernel (default)
//   unfused_ops     the engine's ordinary ops: N x (linear + relu), scaled sums (autograd for
//                   the backward)
//   cublas_gemm     plain cublasSgemm of x w1^T (forward) or the two backward GEMMs: the floor
//                   any version pays for the GEMM part
// Sizes: B in {64, 256, 1024, 4096}, D = 512, H = 256, N in {1, 2, 4, 8, 16} (quick mode,
// common.cuh: B in {64, 1024}, N in {1, 2, 4}).
// Validation: every version's outputs against the CPU twin (engine/cpu/fused_classifier.cpp)
// for B <= 256, and against fused_v1_sgemm above that.
// Output: one JSON line per (version, pass, B, N).
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "benchmarks/cuda/common.cuh"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/fused_hidden.cuh"

using namespace mm;

namespace {

Tensor randn_dev(const Shape& s, uint64_t seed, float scale) {
  Generator g(seed);
  Tensor t = Tensor::empty(s);
  normal_(t, 0.0f, scale, g);
  return t.to(Device::CUDA);
}

// randn_dev rounded to multiples of `step` (a power of two). With x on a 2^-4 grid, w1 on
// 2^-10 and b1 on 2^-14, every product and every partial sum of x w1^T + b1 is a multiple of
// 2^-14, which FP32 holds exactly below 2^10 in magnitude (512 products of |x| < 6 and
// |w| < 0.3 stay below 922), and x, w1 fit TF32's mantissa too. So the pre-activations are
// exact in any summation order, and bit-identical in the CPU twin, cublasSgemm, the cuBLASLt
// epilogue and the per-classifier linear ops. Otherwise a value within rounding of 0 may pass
// the ReLU in one version and not in the reference, and that one unit moves a whole row of gw1
// and of gx far past the validation tolerance.
Tensor randn_dev_on_grid(const Shape& s, uint64_t seed, float scale, float step) {
  Generator g(seed);
  Tensor t = Tensor::empty(s);
  normal_(t, 0.0f, scale, g);
  float* p = t.data_f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::nearbyint(p[i] / step) * step;
  return t.to(Device::CUDA);
}

mmbench::JsonLine line(const std::string& version, const char* pass, int64_t B, int64_t D, int64_t N,
                       int64_t H) {
  mmbench::JsonLine j("fused_hidden");
  j.add("version", version).add("pass", pass).add("B", B).add("D", D).add("H", H).add("N", N);
  return j;
}

}  // namespace

int main() {
  if (!mmbench::device_present("bench_fused_hidden")) return 0;
  const int reps = mmbench::reps_from_env();
  const int64_t D = 512, H = 256;
  for (int64_t B : mmbench::sizes({64, 256, 1024, 4096}, {64, 1024})) {
    for (int64_t N : mmbench::sizes({1, 2, 4, 8, 16}, {1, 2, 4})) {
      const int64_t NH = N * H;
      Tensor x = randn_dev_on_grid({B, D}, 1, 1.0f, 0x1p-4f);
      Tensor w1 = randn_dev_on_grid({NH, D}, 2, 0.044f, 0x1p-10f);
      Tensor b1 = randn_dev_on_grid({NH}, 3, 0.1f, 0x1p-14f), coef = randn_dev({N}, 4, 0.3f);
      Tensor g_hsum = randn_dev({B, H}, 5, 1.0f), g_hnew = randn_dev({B, H}, 6, 1.0f);
      std::vector<float> coef_host = coef.to_vector();
      Tensor act = Tensor::empty({B, NH}, DType::F32, Device::CUDA);
      Tensor hsum = Tensor::empty({B, H}, DType::F32, Device::CUDA);
      Tensor hnew = Tensor::empty({B, H}, DType::F32, Device::CUDA);
      Tensor gx = Tensor::empty({B, D}, DType::F32, Device::CUDA);
      Tensor gw1 = Tensor::empty({NH, D}, DType::F32, Device::CUDA);
      Tensor gb1 = Tensor::empty({NH}, DType::F32, Device::CUDA);
      const double fwd_flops = 2.0 * B * D * NH, bwd_flops = 4.0 * B * D * NH;

      // Reference outputs: the CPU twin for small B, else version 1 on the GPU.
      std::vector<float> ref_hsum, ref_hnew, ref_gx, ref_gw1, ref_gb1;
      auto run_v1 = [&] {
        kernels::fused_hidden_forward(x.data_f32(), w1.data_f32(), b1.data_f32(),
                                      coef.data_f32(), act.data_f32(), hsum.data_f32(),
                                      hnew.data_f32(), B, D, N, H,
                                      kernels::HiddenGemm::SgemmThenBias);
      };
      auto run_bwd = [&] {
        kernels::fused_hidden_backward(x.data_f32(), w1.data_f32(), coef.data_f32(),
                                       act.data_f32(), g_hsum.data_f32(), g_hnew.data_f32(),
                                       gx.data_f32(), gw1.data_f32(), gb1.data_f32(), B, D, N, H);
      };
      if (B <= 256) {
        Tensor xc = x.to(Device::CPU), wc = w1.to(Device::CPU), bc = b1.to(Device::CPU);
        Tensor cc = coef.to(Device::CPU);
        Tensor hs = Tensor::empty({B, H}), hn = Tensor::empty({B, H}), ac = Tensor::empty({B, NH});
        cpu::fused_hidden_forward(xc, wc, bc, cc, hs, hn, ac);
        Tensor gxc = Tensor::empty({B, D}), gwc = Tensor::empty({NH, D}), gbc = Tensor::empty({NH});
        cpu::fused_hidden_backward(xc, wc, cc, ac, g_hsum.to(Device::CPU), g_hnew.to(Device::CPU),
                                   &gxc, &gwc, &gbc);
        ref_hsum = hs.to_vector();
        ref_hnew = hn.to_vector();
        ref_gx = gxc.to_vector();
        ref_gw1 = gwc.to_vector();
        ref_gb1 = gbc.to_vector();
      } else {
        run_v1();
        run_bwd();
        ref_hsum = hsum.to_vector();
        ref_hnew = hnew.to_vector();
        ref_gx = gx.to_vector();
        ref_gw1 = gw1.to_vector();
        ref_gb1 = gb1.to_vector();
      }
      auto check_fwd = [&](const Tensor& hs, const Tensor& hn) {
        return mmbench::all_of({mmbench::validate_result(hs.to_vector(), ref_hsum, 1e-3, 1e-3),
                                mmbench::validate_result(hn.to_vector(), ref_hnew, 1e-3, 1e-3)});
      };
      auto check_bwd = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
        return mmbench::all_of({mmbench::validate_result(a.to_vector(), ref_gx, 1e-3, 1e-3),
                                mmbench::validate_result(b.to_vector(), ref_gw1, 1e-3, 1e-3),
                                mmbench::validate_result(c.to_vector(), ref_gb1, 1e-3, 1e-3)});
      };
      auto guarded = [&](const std::string& version, const char* pass, double flops,
                         const std::function<mmbench::Check()>& body,
                         const std::function<void()>& timed) {
        mmbench::measure(line(version, pass, B, D, N, H), mmbench::tflops(flops), body, timed, reps);
      };

      // ---- forward ----
      guarded("fused_v1_sgemm", "forward", fwd_flops, [&] {
                mmbench::fill_nan(hsum, hnew);
                run_v1();
                return check_fwd(hsum, hnew);
              },
              run_v1);
      std::string v2_name = "fused_v2_lt";
      auto run_v2 = [&] {
        kernels::HiddenGemm taken = kernels::fused_hidden_forward(
            x.data_f32(), w1.data_f32(), b1.data_f32(), coef.data_f32(), act.data_f32(),
            hsum.data_f32(), hnew.data_f32(), B, D, N, H, kernels::HiddenGemm::LtEpilogue);
        if (taken != kernels::HiddenGemm::LtEpilogue) v2_name = "fused_v2_lt(declined->sgemm)";
      };
      run_v2();
      guarded(v2_name, "forward", fwd_flops, [&] {
                mmbench::fill_nan(hsum, hnew);
                run_v2();
                return check_fwd(hsum, hnew);
              },
              run_v2);
      std::vector<Tensor> w1_j, b1_j;
      for (int64_t j = 0; j < N; ++j) {
        w1_j.push_back(w1.slice(0, j * H, (j + 1) * H));
        b1_j.push_back(b1.slice(0, j * H, (j + 1) * H));
      }
      Tensor u_hsum, u_hnew;
      auto run_unfused = [&] {
        NoGradGuard ng;
        Tensor s;
        for (int64_t j = 0; j + 1 < N; ++j) {
          Tensor h = mul_scalar(relu(linear(x, w1_j[j], b1_j[j])), coef_host[j]);
          s = s.defined() ? add(s, h) : h;
        }
        u_hsum = s.defined() ? s : Tensor::zeros({B, H}, DType::F32, Device::CUDA);
        u_hnew = relu(linear(x, w1_j[N - 1], b1_j[N - 1]));
      };
      guarded("unfused_ops", "forward", fwd_flops,
              [&] { run_unfused(); return check_fwd(u_hsum, u_hnew); }, run_unfused);
      auto run_gemm = [&] {
        cuda::gemm(false, true, B, NH, D, 1.0f, x.data_f32(), D, w1.data_f32(), D, 0.0f,
                   act.data_f32(), NH, 1, 0, 0, 0);
      };
      guarded("cublas_gemm", "forward", fwd_flops, [&] { return mmbench::Check{true, 0.0}; },
              run_gemm);

      // ---- backward (act from version 1) ----
      run_v1();
      guarded("fused", "backward", bwd_flops,
              [&] {
                mmbench::fill_nan(gx, gw1, gb1);
                run_bwd();
                return check_bwd(gx, gw1, gb1);
              }, run_bwd);
      auto run_bwd_gemms = [&] {
        cuda::gemm(false, false, B, D, NH, 1.0f, act.data_f32(), NH, w1.data_f32(), D, 0.0f,
                   gx.data_f32(), D, 1, 0, 0, 0);
        cuda::gemm(true, false, NH, D, B, 1.0f, act.data_f32(), NH, x.data_f32(), D, 0.0f,
                   gw1.data_f32(), D, 1, 0, 0, 0);
      };
      guarded("cublas_gemm", "backward", bwd_flops, [&] { return mmbench::Check{true, 0.0}; },
              run_bwd_gemms);

      // ---- forward + backward through the engine's autograd ----
      std::vector<Tensor> pw, pb;
      Tensor px;
      auto setup_params = [&] {
        px = x.detach().clone();
        px.set_requires_grad(true);
        pw.clear();
        pb.clear();
        for (int64_t j = 0; j < N; ++j) {
          pw.push_back(w1_j[j].detach().clone());
          pw.back().set_requires_grad(true);
          pb.push_back(b1_j[j].detach().clone());
          pb.back().set_requires_grad(true);
        }
      };
      auto run_unfused_fb = [&] {
        Tensor s;
        for (int64_t j = 0; j + 1 < N; ++j) {
          Tensor h = mul_scalar(relu(linear(px, pw[j], pb[j])), coef_host[j]);
          s = s.defined() ? add(s, h) : h;
        }
        Tensor hn = relu(linear(px, pw[N - 1], pb[N - 1]));
        Tensor loss = sum(mul(hn, g_hnew));
        if (s.defined()) loss = add(loss, sum(mul(s, g_hsum)));
        px.zero_grad();
        for (auto& t : pw) t.zero_grad();
        for (auto& t : pb) t.zero_grad();
        loss.backward();
      };
      guarded("unfused_ops", "forward_backward", fwd_flops + bwd_flops,
              [&] {
                setup_params();
                run_unfused_fb();
                // gw1 of the newest classifier (rows (N-1)H..NH) against the reference.
                std::vector<float> got = pw[N - 1].grad().to_vector();
                std::vector<float> want(ref_gw1.begin() + (N - 1) * H * D, ref_gw1.end());
                return mmbench::all_of({mmbench::validate_result(got, want, 1e-3, 1e-3),
                                        mmbench::validate_result(px.grad().to_vector(), ref_gx, 1e-3, 1e-3)});
              },
              run_unfused_fb);
      auto run_fused_fb = [&] {
        kernels::fused_hidden_forward(x.data_f32(), w1.data_f32(), b1.data_f32(), coef.data_f32(),
                                      act.data_f32(), hsum.data_f32(), hnew.data_f32(), B, D, N, H,
                                      kernels::HiddenGemm::Auto);
        run_bwd();
      };
      guarded("fused", "forward_backward", fwd_flops + bwd_flops,
              [&] {
                mmbench::fill_nan(act, hsum, hnew, gx, gw1, gb1);
                run_fused_fb();
                return check_bwd(gx, gw1, gb1);
              }, run_fused_fb);
    }
  }
  return mmbench::exit_code();
}
