#include "engine/parallel.h"

#include <omp.h>

#include <Eigen/Core>
#include <cstdlib>
#include <thread>

namespace mm {

namespace {
int g_threads = 0;

int default_threads() {
  if (const char* env = std::getenv("MMBOOST_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}
}  // namespace

void set_num_threads(int n) {
  g_threads = n > 0 ? n : default_threads();
  omp_set_num_threads(g_threads);
  Eigen::setNbThreads(g_threads);
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

}  // namespace mm
