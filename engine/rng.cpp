#include "engine/rng.h"

#include <cmath>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm {

float Generator::normal(float mean, float stddev) {
  // Box-Muller on two counters; the second variate is dropped so that the state stays two
  // integers.
  float u1 = to_unit(next_u64());
  float u2 = to_unit(next_u64());
  if (u1 < 1e-12f) u1 = 1e-12f;
  return mean + stddev * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
}

int64_t Generator::randint(int64_t n) {
  MM_CHECK(n > 0, "randint: n must be positive, got " << n);
  return static_cast<int64_t>(next_u64() % static_cast<uint64_t>(n));
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
void fill_random(Tensor& t, RandomDist dist, float a, float b, Generator& gen) {
  MM_CHECK(t.dtype() == DType::F32 && t.is_contiguous(),
           "random fill needs a contiguous f32 tensor, got " << t.describe());
  // Normal draws consume two counters per element.
  uint64_t per = dist == RandomDist::Normal ? 2 : 1;
  uint64_t start = gen.advance(per * static_cast<uint64_t>(t.numel()));
  MM_DISPATCH(t.device(), random_fill, t, dist, a, b, gen.seed(), start);
}
}  // namespace

void uniform_(Tensor& t, float lo, float hi, Generator& gen) {
  fill_random(t, RandomDist::Uniform, lo, hi, gen);
}
void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  fill_random(t, RandomDist::Normal, mean, stddev, gen);
}
void bernoulli_(Tensor& t, float p, Generator& gen) {
  fill_random(t, RandomDist::Bernoulli, p, 0.0f, gen);
}

}  // namespace mm
