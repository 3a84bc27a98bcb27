// Benchmark: the OGM score's deterministic sum (kernels/ogm_score_sum.cu).
//
// v (R) -> out (1). Versions:
//   fused_two_pass  block partials in double, then one block adds them in a fixed order
//   unfused_ops     the engine's sum() op (reduce_dim on CUDA, also deterministic)
// Sizes: R in {64, 256, 1024, 4096} (one batch), 6698 (CREMA-D's training set), 2^20.
// Quick mode (common.cuh): R in {64, 6698}.
// Validation: against a double-precision sum on the host.
// Output: one JSON line per (version, R) with ms and GB/s.
#include <cstdint>
#include <vector>

#include "benchmarks/cuda/common.cuh"
#include "engine/ops.h"
#include "kernels/ogm_score_sum.cuh"

using namespace mm;

namespace {

mmbench::JsonLine line(const char* version, int64_t R) {
  mmbench::JsonLine j("ogm_score_sum");
  j.add("version", version).add("R", R);
  return j;
}

}  // namespace

int main() {
  if (!mmbench::device_present("bench_ogm_score_sum")) return 0;
  const int reps = mmbench::reps_from_env();
  for (int64_t R : mmbench::sizes({64, 256, 1024, 4096, 6698, int64_t(1) << 20}, {64, 6698})) {
    Generator g(R);
    Tensor v_h = Tensor::empty({R});
    uniform_(v_h, 0.0f, 1.0f, g);
    double want = 0.0;
    for (float e : v_h.to_vector()) want += e;
    const std::vector<float> ref = {static_cast<float>(want)};
    Tensor v = v_h.to(Device::CUDA);
    Tensor out = Tensor::empty({1}, DType::F32, Device::CUDA);
    cuda::Scratch partial(sizeof(double) * kernels::ogm_score_partials(R));
    auto run_fused = [&] {
      kernels::ogm_score_sum(v.data_f32(), R, partial.as<double>(), out.data_f32(),
                             cuda::stream());
    };
    const mmbench::Rate rate = mmbench::gbps(4.0 * R);
    mmbench::measure(line("fused_two_pass", R), rate,
                     [&] {
                       mmbench::fill_nan(out);
                       run_fused();
                       return mmbench::validate_result(out.to_vector(), ref, 1e-6, 1e-6);
                     },
                     run_fused, reps);
    Tensor s;
    auto run_unfused = [&] { s = sum(v); };
    mmbench::measure(line("unfused_ops", R), rate,
                     [&] {
                       run_unfused();
                       return mmbench::validate_result(s.to_vector(), ref, 1e-6, 1e-6);
                     },
                     run_unfused, reps);
  }
  return mmbench::exit_code();
}
