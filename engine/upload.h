// mmboost engine: copying a group of host tensors to the device without making the host wait.
//
// The trainer feeds the device one batch ahead (boosting/trainer.cpp, DeviceBatches): the next
// batch's upload is queued before the current step's kernels, so on a GPU the copy runs beside
// them instead of between steps, with the device idle. That takes page-locked host memory
// (Tensor::empty_pinned, where the data loader's workers build batches when the run is on CUDA):
// from it a copy needs no staging by the host, and the CUDA backend queues it on a copy stream of
// its own (engine/backend.h, upload_h2d).
//
//   Upload up({x, labels}, Device::CUDA);   // queued; the host goes on at once
//   ...                                     // (the previous step's work may still be queued)
//   const auto& dev = up.get();             // the compute stream waits for the copy; no host wait
//   ...                                     // kernels reading dev[0], dev[1]
//   // `up` and the host tensors may be destroyed once those kernels are done or queued: the
//   // destructor waits for a copy still in flight.
//
// Sources in pageable memory, and the CPU as destination, take the ordinary Tensor::to, which
// waits for the copy. (On the emulated device page-locked memory is ordinary memory and the
// "overlapping" copy is made at once, so that this code path runs without a GPU.)
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace mm {

class Upload {
 public:
  Upload() = default;
  // Starts copying each of `host` (host tensors) to `device`.
  Upload(const std::vector<Tensor>& host, Device device);
  Upload(Upload&& o) noexcept;
  Upload& operator=(Upload&& o) noexcept;
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;
  // Waits, on the host, for a copy still in flight, so that neither side's memory is freed while
  // the copy reads or writes it.
  ~Upload();

  // The tensors on the device, in the order given. For an overlapping upload, the first call
  // makes the device's compute stream wait for the copies: kernels queued from then on read
  // the data, and the host does not wait.
  const std::vector<Tensor>& get();
  // Whether the copies overlap the device's work (page-locked sources, a GPU).
  bool overlapped() const { return event_ != nullptr; }

 private:
  void release() noexcept;
  std::vector<Tensor> host_, device_;
  void* event_ = nullptr;  // the copies' end (cuda::upload_end); null once released or if synchronous
  bool joined_ = false;
};

}  // namespace mm
