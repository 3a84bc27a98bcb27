// mmboost engine: CPU threading. OpenMP drives the CPU kernels and Eigen's GEMM. Work is split
// over output elements with static schedules and no reduction is split across threads in a
// way that depends on timing, so a fixed thread count gives bit-identical results.
#pragma once

namespace mm {

// Sets the number of CPU threads for all kernels (n <= 0: MMBOOST_THREADS or all cores).
void set_num_threads(int n);
int num_threads();

}  // namespace mm
