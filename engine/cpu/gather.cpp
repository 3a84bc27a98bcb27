// CPU kernels: true-class gather, its scatter backward, one-hot.
#include <cstring>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm::cpu {

void gather_rows(const Tensor& x, const Tensor& labels, Tensor& out) {
  const int64_t B = x.size(0), K = x.size(1);
  const float* px = x.data_f32();
  const int64_t* pl = labels.data_i64();
  float* po = out.data_f32();
  for (int64_t i = 0; i < B; ++i) {
    MM_CHECK(pl[i] >= 0 && pl[i] < K, "gather_rows: label " << pl[i] << " at row " << i
                                                            << " is outside [0, " << K << ")");
    po[i] = px[i * K + pl[i]];
  }
}

void gather_rows_backward(const Tensor& g, const Tensor& labels, Tensor& gx) {
  const int64_t B = gx.size(0), K = gx.size(1);
  const float* pg = g.data_f32();
  const int64_t* pl = labels.data_i64();
  float* po = gx.data_f32();
  std::memset(po, 0, sizeof(float) * B * K);
  for (int64_t i = 0; i < B; ++i) po[i * K + pl[i]] = pg[i];
}

void one_hot(const Tensor& labels, Tensor& out) {
  const int64_t B = out.size(0), K = out.size(1);
  const int64_t* pl = labels.data_i64();
  float* po = out.data_f32();
  std::memset(po, 0, sizeof(float) * B * K);
  for (int64_t i = 0; i < B; ++i) {
    MM_CHECK(pl[i] >= 0 && pl[i] < K, "one_hot: label " << pl[i] << " at row " << i
                                                        << " is outside [0, " << K << ")");
    po[i * K + pl[i]] = 1.0f;
  }
}

}  // namespace mm::cpu
