// Shared helpers of the CPU benchmarks: the machine description, the thread count
// (--threads N, else MMBOOST_THREADS, else all cores), a warm-up + median timer, and one JSON
// line per measurement on stdout.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/parallel.h"

namespace mmbench {

using Json = nlohmann::ordered_json;

// "model name" of the first processor in /proc/cpuinfo ("unknown" elsewhere).
inline std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) {
        std::string s = line.substr(pos + 1);
        s.erase(0, s.find_first_not_of(" \t"));
        return s;
      }
    }
  }
  return "unknown";
}

// Applies --threads N if given (else MMBOOST_THREADS / all cores) and returns the count used.
inline int setup_threads(int argc, char** argv) {
  int n = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--threads") == 0) n = std::atoi(argv[i + 1]);
  mm::set_num_threads(n);
  return mm::num_threads();
}

inline bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}

struct Timing {
  double median_ms, min_ms, mean_ms;
  double cpu_median_ms;  // process CPU time (all threads) per repeat, median
  int repeats;
};

inline double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

inline double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Runs f `warmup` times untimed, then `repeats` times timed: wall-clock milliseconds, and the
// process CPU time alongside (on a shared machine, single-thread CPU time is the steadier
// number; with several threads it also counts OpenMP's spin-waiting).
inline Timing time_ms(const std::function<void()>& f, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t, c;
  for (int i = 0; i < repeats; ++i) {
    const double c0 = process_cpu_ms();
    auto a = std::chrono::steady_clock::now();
    f();
    auto b = std::chrono::steady_clock::now();
    c.push_back(process_cpu_ms() - c0);
    t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  double mean = 0;
  for (double v : t) mean += v;
  return {median_of(t), *std::min_element(t.begin(), t.end()), mean / repeats, median_of(c),
          repeats};
}

// The fields every line starts with.
inline Json header(const char* bench, int threads) {
  Json j;
  j["bench"] = bench;
  j["impl"] = "mmboost";
  j["cpu"] = cpu_model();
  j["threads"] = threads;
  return j;
}

inline void add_timing(Json& j, const Timing& t) {
  j["median_ms"] = t.median_ms;
  j["min_ms"] = t.min_ms;
  j["mean_ms"] = t.mean_ms;
  j["cpu_median_ms"] = t.cpu_median_ms;
  j["repeats"] = t.repeats;
}

inline void emit(const Json& j) { std::cout << j.dump() << std::endl; }

}  // namespace mmbench
