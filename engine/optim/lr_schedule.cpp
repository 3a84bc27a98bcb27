// Learning-rate schedules. Each computes a factor that multiplies every group's base_lr; the
// closed forms make step(epoch) independent of how often it was called before, except for
// ReduceLROnPlateau, whose state is the history of the metric.
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/optim/optimizer.h"

namespace mm::optim {

void StepLR::step(int epoch, double) {
  MM_CHECK(step_size_ > 0, "StepLR: step_size must be positive, got " << step_size_);
  MM_CHECK(epoch >= 0, "StepLR: epoch must be non-negative, got " << epoch);
  factor_ = static_cast<float>(std::pow(static_cast<double>(gamma_), epoch / step_size_));
}

void MultiStepLR::step(int epoch, double) {
  int passed = 0;
  for (int m : milestones_) passed += m <= epoch ? 1 : 0;
  factor_ = static_cast<float>(std::pow(static_cast<double>(gamma_), passed));
}

void CosineLR::step(int epoch, double) {
  MM_CHECK(t_max_ > 0, "CosineLR: t_max must be positive, got " << t_max_);
  // Held at min_factor after t_max (PyTorch's closed form would rise again).
  const double e = std::min(std::max(epoch, 0), t_max_);
  const double pi = 3.14159265358979323846;
  const double cosine = 0.5 * (1.0 + std::cos(pi * e / t_max_));
  factor_ = static_cast<float>(min_factor_ + (1.0 - min_factor_) * cosine);
}

void ReduceLROnPlateau::step(int, double metric) {
  // Relative threshold, as PyTorch's threshold_mode="rel", but measured against |best| so that
  // negative metrics behave the same way as positive ones.
  bool better = false;
  if (std::isfinite(metric)) {
    if (!has_best_) {
      better = true;
    } else {
      const double margin = threshold_ * std::fabs(best_);
      better = maximize_ ? metric > best_ + margin : metric < best_ - margin;
    }
  }
  if (better) {
    best_ = metric;
    has_best_ = true;
    bad_epochs_ = 0;
    return;
  }
  // As PyTorch: the first `patience` bad epochs are tolerated, the next one reduces.
  if (++bad_epochs_ > patience_) {
    factor_ = std::max(factor_ * decay_, min_factor_);
    bad_epochs_ = 0;
  }
}

nlohmann::json ReduceLROnPlateau::state_json() const {
  return {
      {"factor", factor_}, {"best", best_}, {"has_best", has_best_}, {"bad_epochs", bad_epochs_}};
}

void ReduceLROnPlateau::load_state(const nlohmann::json& j) {
  factor_ = j.at("factor");
  best_ = j.at("best");
  has_best_ = j.at("has_best");
  bad_epochs_ = j.at("bad_epochs");
}

}  // namespace mm::optim
