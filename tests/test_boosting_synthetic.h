// A synthetic two-modality classification set generated in memory, and a BatchStream over it,
// for the trainer tests.
//
// K = 4 classes. Modality "fast": 6-dimensional, high signal-to-noise, but it only tells the
// class pairs {0,1} and {2,3} apart (at most ~50% accuracy alone): quick to learn, less
// informative. Modality "slow": 24-dimensional, low signal-to-noise, separates all four classes
// (informative but slow to learn). This is the imbalance the paper targets: joint training
// fits the fast modality first and the slow one lags.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "data/batch.h"
#include "engine/rng.h"

namespace mmtest {

struct SyntheticSet {
  std::vector<std::vector<float>> x;  // per modality, (R, dim) row-major
  std::vector<int64_t> dims;
  std::vector<int64_t> y;             // (R)
  int64_t rows() const { return static_cast<int64_t>(y.size()); }
};

// Class means are drawn from `mean_seed` (shared by all splits); samples from `seed`.
inline SyntheticSet make_synthetic(int64_t R, uint64_t seed, float slow_snr = 0.45f, uint64_t mean_seed = 1234) {
  const int64_t K = 4, Df = 6, Ds = 24;
  mm::Generator mg(mean_seed), g(seed);
  std::vector<float> mu_f(2 * Df), mu_s(K * Ds);
  for (auto& v : mu_f) v = mg.normal();
  for (auto& v : mu_s) v = mg.normal();
  SyntheticSet s;
  s.dims = {Df, Ds};
  s.x.assign(2, {});
  for (int64_t i = 0; i < R; ++i) {
    const int64_t c = g.randint(K);
    s.y.push_back(c);
    for (int64_t d = 0; d < Df; ++d) s.x[0].push_back(2.0f * mu_f[(c / 2) * Df + d] + 0.5f * g.normal());
    for (int64_t d = 0; d < Ds; ++d) s.x[1].push_back(slow_snr * mu_s[c * Ds + d] + g.normal());
  }
  return s;
}

// Batches of a SyntheticSet; the order is a pure function of (seed, epoch) when shuffled.
class VectorStream : public mm::data::BatchStream {
 public:
  VectorStream(SyntheticSet set, int64_t batch, bool shuffle, uint64_t seed = 0)
      : set_(std::move(set)), batch_(batch), shuffle_(shuffle), seed_(seed) {}
  void start_epoch(int epoch) override {
    order_.resize(set_.rows());
    std::iota(order_.begin(), order_.end(), 0);
    if (shuffle_) {
      mm::Generator g(seed_ * 1000003ULL + static_cast<uint64_t>(epoch));
      for (int64_t i = set_.rows() - 1; i > 0; --i) std::swap(order_[i], order_[g.randint(i + 1)]);
    }
    pos_ = 0;
  }
  bool next(mm::data::Batch& out) override {
    if (pos_ >= set_.rows()) return false;
    const int64_t n = std::min(batch_, set_.rows() - pos_);
    out.inputs.clear();
    out.ids.clear();
    for (size_t m = 0; m < set_.x.size(); ++m) {
      const int64_t D = set_.dims[m];
      std::vector<float> v(n * D);
      for (int64_t i = 0; i < n; ++i)
        std::copy_n(set_.x[m].begin() + order_[pos_ + i] * D, D, v.begin() + i * D);
      out.inputs.push_back(host_tensor(mm::Tensor::from_vector(v, {n, D})));
    }
    std::vector<int64_t> y(n);
    for (int64_t i = 0; i < n; ++i) {
      y[i] = set_.y[order_[pos_ + i]];
      out.ids.push_back("s" + std::to_string(order_[pos_ + i]));
    }
    out.labels = host_tensor(mm::Tensor::from_ints(y, {n}));
    pos_ += n;
    return true;
  }
  int64_t num_batches() const override { return (set_.rows() + batch_ - 1) / batch_; }
  int64_t num_samples() const override { return set_.rows(); }
  std::vector<std::string> modality_names() const override { return {"fast", "slow"}; }
  int64_t num_classes() const override { return 4; }
  // Batches in page-locked memory (Tensor::empty_pinned), as the data loader builds them for a
  // run on CUDA (data::StreamOptions::pin_memory).
  void set_pinned(bool on) { pinned_ = on; }

 private:
  mm::Tensor host_tensor(const mm::Tensor& t) const { return pinned_ ? t.pin_memory() : t; }
  SyntheticSet set_;
  int64_t batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
  bool pinned_ = false;
};

}  // namespace mmtest
