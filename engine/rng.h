// mmboost engine: seeded, counter-based random numbers.
//
// Value i of a generator is a pure function of (seed, i), so a fill over n elements gives the
// same numbers whatever the thread count or device, and the whole state is two integers
// (saved in checkpoints to resume exactly).
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace mm {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed), counter_(0) {}

  void manual_seed(uint64_t seed) { seed_ = seed; counter_ = 0; }
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }
  void set_state(uint64_t seed, uint64_t counter) { seed_ = seed; counter_ = counter; }

  // Reserves n consecutive counters and returns the first.
  uint64_t advance(uint64_t n) { uint64_t c = counter_; counter_ += n; return c; }

  uint64_t next_u64() { return bits(seed_, counter_++); }
  float uniform() { return to_unit(next_u64()); }            // [0, 1)
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  float normal(float mean = 0.0f, float stddev = 1.0f);
  int64_t randint(int64_t n);                                // [0, n)

  // Stateless helpers shared with the CUDA kernels.
  static uint64_t bits(uint64_t seed, uint64_t i) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + (i + 1) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  static float to_unit(uint64_t b) { return static_cast<float>(b >> 40) * (1.0f / 16777216.0f); }

 private:
  uint64_t seed_;
  uint64_t counter_;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// Fills a tensor (any device, contiguous) in place from `gen`.
void uniform_(Tensor& t, float lo, float hi, Generator& gen = default_generator());
void normal_(Tensor& t, float mean, float stddev, Generator& gen = default_generator());
void bernoulli_(Tensor& t, float p, Generator& gen = default_generator());  // 1 with prob p

}  // namespace mm
