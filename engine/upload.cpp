// mmboost engine: overlapping uploads. See upload.h.
#include "engine/upload.h"

#include <utility>

#include "engine/backend.h"
#include "engine/error.h"

namespace mm {

Upload::Upload(const std::vector<Tensor>& host, Device device) {
  bool overlap = device == Device::CUDA;
  for (const Tensor& t : host) {
    MM_CHECK(t.defined() && t.device() == Device::CPU, "Upload: every source must be a host tensor");
    overlap = overlap && t.is_pinned() && t.is_contiguous();
  }
  if (!overlap) {  // pageable memory or the CPU: the ordinary copy
    for (const Tensor& t : host) device_.push_back(t.to(device));
    return;
  }
  host_ = host;
  cuda::upload_begin();
  try {
    for (const Tensor& t : host) {
      Tensor d = Tensor::empty(t.shape(), t.dtype(), device);
      cuda::upload_h2d(d.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
      device_.push_back(std::move(d));
    }
    event_ = cuda::upload_end();
  } catch (...) {
    // A later tensor failed (out of device memory, a CUDA error) after earlier copies were
    // queued: they still read host_ and write device_, which unwinding frees (device blocks back
    // to the cache, where the compute stream may take them at once). Wait for them first.
    try {
      cuda::synchronize();
    } catch (...) {  // the context's own error; the first one is the one to report
    }
    throw;
  }
}

Upload::Upload(Upload&& o) noexcept
    : host_(std::move(o.host_)), device_(std::move(o.device_)), event_(o.event_), joined_(o.joined_) {
  o.event_ = nullptr;
}

Upload& Upload::operator=(Upload&& o) noexcept {
  if (this != &o) {
    release();
    host_ = std::move(o.host_);
    device_ = std::move(o.device_);
    event_ = o.event_;
    joined_ = o.joined_;
    o.event_ = nullptr;
  }
  return *this;
}

Upload::~Upload() { release(); }

void Upload::release() noexcept {
  if (event_) cuda::upload_release(event_);  // waits for the copies if still in flight
  event_ = nullptr;
  host_.clear();
  device_.clear();
}

const std::vector<Tensor>& Upload::get() {
  if (event_ && !joined_) {
    cuda::upload_join(event_);
    joined_ = true;
  }
  return device_;
}

}  // namespace mm
