// mmboost data: what the loader hands the trainer.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mm::data {

struct Batch {
  std::vector<Tensor> inputs;     // one per modality, in the dataset's modality order: (B, ...) f32 CPU
  Tensor labels;                  // (B) i64
  std::vector<std::string> ids;   // sample ids (clip names), for error messages and predictions
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

// A source of batches for one split. The trainer calls start_epoch(e) then next() until it
// returns false. Order is a pure function of (seed, epoch) so runs and resumes repeat exactly.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual void start_epoch(int epoch) = 0;
  virtual bool next(Batch& out) = 0;
  virtual int64_t num_batches() const = 0;
  virtual int64_t num_samples() const = 0;
  virtual std::vector<std::string> modality_names() const = 0;
  virtual int64_t num_classes() const = 0;
};

}  // namespace mm::data
