// GEMM throughput of the CPU backend (mm::cpu::gemm, Eigen): square sizes and the shapes of the
// configurable classifiers' first layer, x (B,D) W^T (D,H) with B 64 / 4096, D 512, H 256.
// One JSON line per shape: median time and GFLOP/s (2*M*N*K / time).
//   bench_gemm [--threads N]
#include <vector>

#include "benchmarks/bench_common.h"
#include "engine/backend.h"
#include "engine/rng.h"

namespace {

struct Case {
  const char* name;
  int64_t M, N, K;
  bool trans_b;  // B stored (N,K) as a Linear weight
};

void run(const Case& c, int threads) {
  std::vector<float> a(c.M * c.K), b(c.K * c.N), out(c.M * c.N);
  mm::Generator g(1);
  for (auto& v : a) v = g.uniform(-1, 1);
  for (auto& v : b) v = g.uniform(-1, 1);
  auto f = [&] {
    mm::cpu::gemm(false, c.trans_b, c.M, c.N, c.K, 1.0f, a.data(), c.K, b.data(),
                  c.trans_b ? c.K : c.N, 0.0f, out.data(), c.N, 1, 0, 0, 0);
  };
  // Enough repeats for about half a second of timing, at least 5.
  mmbench::Timing probe = mmbench::time_ms(f, 1, 1);
  const int repeats = std::clamp(static_cast<int>(500.0 / std::max(probe.median_ms, 1e-3)), 5, 200);
  mmbench::Timing t = mmbench::time_ms(f, 2, repeats);
  const double flops = 2.0 * c.M * c.N * c.K;
  mmbench::Json j = mmbench::header("gemm", threads);
  j["case"] = c.name;
  j["M"] = c.M;
  j["N"] = c.N;
  j["K"] = c.K;
  j["trans_b"] = c.trans_b;
  mmbench::add_timing(j, t);
  j["gflops"] = flops / (t.median_ms * 1e6);
  mmbench::emit(j);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = mmbench::setup_threads(argc, argv);
  const std::vector<Case> cases = {
      {"square256", 256, 256, 256, false},
      {"square512", 512, 512, 512, false},
      {"square1024", 1024, 1024, 1024, false},
      {"classifier_b64", 64, 256, 512, true},      // x (64,512) W^T, W (256,512)
      {"classifier_b4096", 4096, 256, 512, true},  // x (4096,512) W^T
  };
  for (const Case& c : cases) run(c, threads);
  return 0;
}
