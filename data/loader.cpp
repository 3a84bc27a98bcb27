// mmboost data: the loader. Reads one split's samples, preprocesses each modality (through the
// disk cache), and assembles batches on worker threads ahead of the trainer.
//
// Determinism: the epoch's order is a Fisher-Yates shuffle seeded by (seed, epoch); every
// random choice for a sample (audio crop offset, frame indices, crop box, flip) comes from a
// generator seeded by (seed, epoch, sample index, modality index). Workers only decide WHEN a
// batch is built, never what goes into it, so any worker count yields identical batches.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "data/audio.h"
#include "data/cache.h"
#include "data/config.h"
#include "data/dataset.h"
#include "data/fileio.h"
#include "data/image.h"
#include "data/npy.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace mm::data {

using nlohmann::json;

namespace {

uint64_t mix(uint64_t a, uint64_t b) { return Generator::bits(a, b); }

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Parsed preprocessing parameters of one modality.
struct ModalityProc {
  ModalitySpec spec;
  Shape shape;  // per sample
  int64_t numel = 0;
  // audio
  int sample_rate = 0;
  int64_t length = 0;        // samples after crop
  int64_t tile_to = 0;       // samples the clip is tiled to before cropping
  std::string train_crop, test_crop;
  StftParams stft;
  bool clip = true;
  ResampleQuality quality = ResampleQuality::SincMedium;
  std::string resample_name;
  // frames / image
  int T = 1, C = 3, size = 224;
  bool cthw = false;
  bool random_sampling = true;
  std::string train_tf, test_tf;
  int resize_short = 256;
  float scale[2] = {0.08f, 1.0f}, ratio[2] = {0.75f, 4.0f / 3.0f};
  bool flip = true;
  std::vector<float> mean, stdev;
  int cache_short = 256;
  std::vector<std::string> exts;
  // vector
  int64_t dim = 0;
};

ModalityProc make_proc(const ModalitySpec& ms) {
  ModalityProc p;
  p.spec = ms;
  const json& q = ms.params;
  if (ms.type == "audio") {
    p.sample_rate = q["sample_rate"].get<int>();
    p.length = std::max<int64_t>(1, std::llround(q["duration"].get<double>() * p.sample_rate));
    p.tile_to = std::llround(q["tile_to"].get<double>() * p.sample_rate);
    p.train_crop = q["train_crop"].get<std::string>();
    p.test_crop = q["test_crop"].get<std::string>();
    p.stft.n_fft = q["n_fft"].get<int>();
    p.stft.hop = q["hop"].get<int>();
    p.stft.center = q["center"].get<bool>();
    p.stft.reflect = q["pad_mode"].get<std::string>() == "reflect";
    p.stft.log_eps = q["log_eps"].get<float>();
    p.clip = q["clip"].get<bool>();
    p.resample_name = q["resample"].get<std::string>();
    p.quality = parse_resample_quality(p.resample_name);
    p.shape = {1, stft_bins(p.stft), stft_frames(p.length, p.stft)};
  } else if (ms.type == "frames" || ms.type == "image") {
    p.T = ms.type == "image" ? 1 : q["num_frames"].get<int>();
    p.C = q["channels"].get<int>();
    p.size = q["size"].get<int>();
    p.cthw = q["layout"].get<std::string>() == "CTHW";
    p.random_sampling = q["train_sampling"].get<std::string>() == "random";
    p.train_tf = q["train_transform"].get<std::string>();
    p.test_tf = q["test_transform"].get<std::string>();
    p.resize_short = q["resize_short"].get<int>();
    p.scale[0] = q["scale"][0].get<float>();
    p.scale[1] = q["scale"][1].get<float>();
    p.ratio[0] = q["ratio"][0].get<float>();
    p.ratio[1] = q["ratio"][1].get<float>();
    p.flip = q["flip"].get<bool>();
    for (const auto& v : q["mean"]) p.mean.push_back(v.get<float>());
    for (const auto& v : q["std"]) p.stdev.push_back(v.get<float>());
    p.cache_short = q["cache_short_side"].get<int>();
    for (const auto& e : q["extensions"]) p.exts.push_back(lower(e.get<std::string>()));
    if (ms.type == "image") p.shape = {p.C, p.size, p.size};
    else if (p.cthw) p.shape = {p.C, p.T, p.size, p.size};
    else p.shape = {p.T, p.C, p.size, p.size};
  } else {  // vector
    p.dim = q["dim"].get<int64_t>();
    p.shape = {p.dim};
  }
  p.numel = numel_of(p.shape);
  return p;
}

// Fills vector dims left at 0 from the first sample's .npy header.
void infer_vector_dims(std::vector<ModalityProc>& procs, const std::vector<Sample>& samples) {
  for (size_t m = 0; m < procs.size(); ++m) {
    ModalityProc& p = procs[m];
    if (p.spec.type != "vector" || p.dim > 0) continue;
    MM_CHECK(!samples.empty(), "cannot infer the width of vector modality \"" << p.spec.name
                                                                              << "\" from an empty split; set data.vector.dim");
    std::vector<int64_t> s = read_npy_shape(samples[0].paths[m]);
    p.dim = 1;
    for (int64_t v : s) p.dim *= v;
    MM_CHECK(p.dim > 0, samples[0].paths[m] << ": empty array");
    p.shape = {p.dim};
    p.numel = p.dim;
  }
}

struct Counters {
  std::atomic<int64_t> hits{0}, misses{0};
  // The first failed cache write. It is the cache's fault, never the sample's: the batch being
  // built fails with it (skip_bad_samples does not drop anything for it).
  std::mutex mu;
  std::string write_error;

  void wrote(const std::string& problem) {
    if (problem.empty()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (write_error.empty()) write_error = problem;
  }
  std::string first_write_error() {
    std::lock_guard<std::mutex> lock(mu);
    return write_error;
  }
};

CacheBlob f32_blob(const std::vector<float>& v, Shape shape) {
  CacheBlob b;
  b.kind = CacheBlob::F32;
  b.shape = std::move(shape);
  b.bytes.resize(v.size() * 4);
  std::memcpy(b.bytes.data(), v.data(), b.bytes.size());
  return b;
}

std::vector<float> blob_floats(const CacheBlob& b) {
  std::vector<float> v(b.bytes.size() / 4);
  std::memcpy(v.data(), b.bytes.data(), v.size() * 4);
  return v;
}

// ---- audio ------------------------------------------------------------------------------------

std::vector<float> decode_resampled(const ModalityProc& p, const std::string& path) {
  Waveform w = decode_audio_file(path);
  return resample(w.samples, w.sample_rate, p.sample_rate, p.quality, path);
}

int64_t crop_offset(const ModalityProc& p, int64_t n, const std::string& mode, Generator& gen) {
  const int64_t total = std::max({n, p.length, p.tile_to});
  const int64_t room = total - p.length;
  if (mode == "center") return room / 2;
  if (mode == "random") return room > 0 ? gen.randint(room + 1) : 0;
  return 0;
}

void spectrogram(const ModalityProc& p, const std::vector<float>& x, int64_t offset, float* out) {
  std::vector<float> y = tile_crop(x, p.length, offset);
  if (p.clip) clip_unit(y);
  log_stft(y.data(), p.length, p.stft, out);
}

void load_audio(const ModalityProc& p, const std::string& path, bool augment, Generator& gen,
                const DiskCache* cache, Counters& ctr, float* out) {
  const std::string mode = augment ? p.train_crop : p.test_crop;
  const std::string base = "audio1 sr=" + std::to_string(p.sample_rate) + " q=" + p.resample_name;
  if (mode == "random") {
    // cache the resampled waveform; crop and STFT per epoch
    std::vector<float> x;
    std::vector<CacheBlob> blobs;
    std::string key;
    if (cache) key = DiskCache::key({path}, base + " stage=wave");
    if (cache && cache->read(key, blobs) && blobs.size() == 1 && blobs[0].kind == CacheBlob::F32) {
      x = blob_floats(blobs[0]);
      ctr.hits++;
    } else {
      x = decode_resampled(p, path);
      MM_CHECK(!x.empty(), path << ": no samples after resampling");
      if (cache) {
        ctr.wrote(cache->write(key, {f32_blob(x, {static_cast<int64_t>(x.size())})}));
        ctr.misses++;
      }
    }
    spectrogram(p, x, crop_offset(p, static_cast<int64_t>(x.size()), mode, gen), out);
    return;
  }
  std::string key;
  if (cache) {
    key = DiskCache::key({path}, base + " stage=spec len=" + std::to_string(p.length) + " tile=" +
                                     std::to_string(p.tile_to) + " crop=" + mode + " nfft=" +
                                     std::to_string(p.stft.n_fft) + " hop=" + std::to_string(p.stft.hop) +
                                     " center=" + std::to_string(p.stft.center) + " reflect=" +
                                     std::to_string(p.stft.reflect) + " eps=" + fmt_double(p.stft.log_eps) +
                                     " clip=" + std::to_string(p.clip));
    std::vector<CacheBlob> blobs;
    if (cache->read(key, blobs) && blobs.size() == 1 && blobs[0].kind == CacheBlob::F32 &&
        static_cast<int64_t>(blobs[0].bytes.size()) == p.numel * 4) {
      std::memcpy(out, blobs[0].bytes.data(), blobs[0].bytes.size());
      ctr.hits++;
      return;
    }
  }
  std::vector<float> x = decode_resampled(p, path);
  MM_CHECK(!x.empty(), path << ": no samples after resampling");
  spectrogram(p, x, crop_offset(p, static_cast<int64_t>(x.size()), mode, gen), out);
  if (cache) {
    std::vector<float> v(out, out + p.numel);
    ctr.wrote(cache->write(key, {f32_blob(v, {p.shape[1], p.shape[2]})}));
    ctr.misses++;
  }
}

// ---- frames and images -----------------------------------------------------------------------

Image decode_for_cache(const ModalityProc& p, const std::string& file) {
  return resize_short_side(decode_image_file(file, p.C), p.cache_short);
}

void load_frames(const ModalityProc& p, const std::string& path, bool augment, Generator& gen,
                 const DiskCache* cache, Counters& ctr, float* out) {
  std::vector<std::string> files;
  if (p.spec.type == "image") {
    files.push_back(path);
  } else {
    std::vector<std::string> names = list_dir_sorted(path, p.exts);
    MM_CHECK(!names.empty(), path << ": frame folder is empty (no " << (p.exts.empty() ? "" : p.exts[0])
                                  << " files); the clip has no frames");
    for (const auto& n : names) files.push_back(join_path(path, n));
  }
  const int64_t n = static_cast<int64_t>(files.size());
  std::vector<std::optional<Image>> images(static_cast<size_t>(n));
  if (cache) {
    std::string key = DiskCache::key(files, "frames1 c=" + std::to_string(p.C) + " short=" +
                                                std::to_string(p.cache_short));
    std::vector<CacheBlob> blobs;
    bool ok = cache->read(key, blobs) && static_cast<int64_t>(blobs.size()) == n;
    for (size_t i = 0; ok && i < blobs.size(); ++i) {
      const CacheBlob& b = blobs[i];
      ok = b.kind == CacheBlob::U8 && b.shape.size() == 3 && b.shape[2] == p.C &&
           static_cast<int64_t>(b.bytes.size()) == b.shape[0] * b.shape[1] * b.shape[2];
      if (!ok) break;
      Image img;
      img.height = static_cast<int>(b.shape[0]);
      img.width = static_cast<int>(b.shape[1]);
      img.channels = p.C;
      img.pixels = std::move(blobs[i].bytes);
      images[i] = std::move(img);
    }
    if (ok) {
      ctr.hits++;
    } else {
      blobs.clear();
      for (int64_t i = 0; i < n; ++i) {
        images[static_cast<size_t>(i)] = decode_for_cache(p, files[static_cast<size_t>(i)]);
        const Image& img = *images[static_cast<size_t>(i)];
        CacheBlob b;
        b.kind = CacheBlob::U8;
        b.shape = {img.height, img.width, img.channels};
        b.bytes = img.pixels;
        blobs.push_back(std::move(b));
      }
      ctr.wrote(cache->write(key, blobs));
      ctr.misses++;
    }
  }
  // Random draws in a fixed order: frame indices, crop box, flip.
  std::vector<int64_t> idx = select_frames(n, p.T, augment && p.random_sampling, &gen);
  auto image_at = [&](int64_t i) -> const Image& {
    auto& slot = images[static_cast<size_t>(i)];
    if (!slot) slot = decode_for_cache(p, files[static_cast<size_t>(i)]);
    return *slot;
  };
  const Image& first = image_at(idx[0]);
  const std::string tf = augment ? p.train_tf : p.test_tf;
  Box box0{0, 0, first.width, first.height};
  if (tf == "random_resized_crop") {
    box0 = random_resized_crop_box(first.width, first.height, p.scale[0], p.scale[1], p.ratio[0], p.ratio[1], gen);
  } else if (tf == "center_crop") {
    box0 = center_crop_box(first.width, first.height, p.resize_short, p.size);
  }
  const bool flip = augment && p.flip && gen.uniform() < 0.5f;
  // One crop and flip per clip (video augmentation keeps frames aligned); frames of another
  // size get the same box in relative coordinates.
  std::vector<float> hwc, chw(static_cast<size_t>(p.C) * p.size * p.size);
  const size_t plane = static_cast<size_t>(p.size) * p.size;
  for (int64_t t = 0; t < p.T; ++t) {
    const Image& img = image_at(idx[static_cast<size_t>(t)]);
    Box box = box0;
    if (img.width != first.width || img.height != first.height) {
      double sx = static_cast<double>(img.width) / first.width, sy = static_cast<double>(img.height) / first.height;
      box.x = static_cast<int>(box0.x * sx);
      box.y = static_cast<int>(box0.y * sy);
      box.w = std::clamp(static_cast<int>(std::lround(box0.w * sx)), 1, img.width - box.x);
      box.h = std::clamp(static_cast<int>(std::lround(box0.h * sy)), 1, img.height - box.y);
    }
    resize_to_float(img, box, p.size, p.size, hwc);
    if (!p.cthw) {
      normalize_chw(hwc, p.size, p.size, p.C, p.mean, p.stdev, flip, out + static_cast<size_t>(t) * p.C * plane);
    } else {
      normalize_chw(hwc, p.size, p.size, p.C, p.mean, p.stdev, flip, chw.data());
      for (int c = 0; c < p.C; ++c) {
        std::memcpy(out + (static_cast<size_t>(c) * p.T + static_cast<size_t>(t)) * plane,
                    chw.data() + static_cast<size_t>(c) * plane, plane * sizeof(float));
      }
    }
  }
}

void load_vector(const ModalityProc& p, const std::string& path, float* out) {
  NpyArray a = read_npy(path);
  MM_CHECK(static_cast<int64_t>(a.data.size()) == p.dim,
           path << ": holds " << a.data.size() << " values, expected " << p.dim
                << " (data.vector.dim, or the size of the split's first sample)");
  std::memcpy(out, a.data.data(), a.data.size() * sizeof(float));
}

// ---- the stream ------------------------------------------------------------------------------

class StreamImpl final : public Stream {
 public:
  StreamImpl(DatasetInfo info, std::string split, SplitData data, std::vector<ModalityProc> procs,
             std::unique_ptr<DiskCache> cache, uint64_t seed, int workers, int64_t batch, bool shuffle, bool augment,
             bool drop_last, bool skip_bad, int prefetch, bool pin_memory)
      : info_(std::move(info)),
        split_(std::move(split)),
        samples_(std::move(data.samples)),
        procs_(std::move(procs)),
        cache_(std::move(cache)),
        seed_(seed),
        workers_(workers),
        batch_(batch),
        shuffle_(shuffle),
        augment_(augment),
        drop_last_(drop_last),
        skip_bad_(skip_bad),
        prefetch_(prefetch),
        pin_memory_(pin_memory) {
    stats_.skipped_at_scan = static_cast<int64_t>(data.skipped.size());
    for (auto& s : data.skipped) add_skipped(s);
  }

  ~StreamImpl() override { stop_workers(); }

  const DatasetInfo& info() const override { return info_; }
  const std::string& split() const override { return split_; }
  int64_t num_samples() const override { return static_cast<int64_t>(samples_.size()); }
  int64_t num_batches() const override {
    const int64_t n = num_samples();
    return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
  }
  std::vector<std::string> modality_names() const override { return info_.modality_names(); }
  int64_t num_classes() const override { return info_.num_classes(); }

  LoadStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    LoadStats s = stats_;
    s.cache_hits = ctr_.hits.load();
    s.cache_misses = ctr_.misses.load();
    s.samples_loaded = loaded_.load();
    return s;
  }

  void start_epoch(int epoch) override {
    stop_workers();
    epoch_ = epoch;
    const int64_t n = num_samples();
    order_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
    if (shuffle_) {
      Generator g(mix(seed_, 0x5A17F1E5ULL + static_cast<uint64_t>(epoch)));
      for (int64_t i = n - 1; i > 0; --i) std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(g.randint(i + 1))]);
    }
    nb_ = num_batches();
    next_claim_ = 0;
    consumed_ = 0;
    ready_.clear();
    abort_ = false;
    started_ = true;
    for (int w = 0; w < workers_; ++w) threads_.emplace_back([this] { worker_loop(); });
  }

  bool next(Batch& out) override {
    if (!started_) start_epoch(0);
    for (;;) {
      Slot slot;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (consumed_ >= nb_) return false;
        const int64_t b = consumed_;
        if (workers_ == 0) {
          ++consumed_;
          lock.unlock();
          build(b, slot);
        } else {
          cv_.wait(lock, [&] { return ready_.count(b) > 0; });
          slot = std::move(ready_[b]);
          ready_.erase(b);
          ++consumed_;
          cv_.notify_all();
        }
      }
      if (slot.error) std::rethrow_exception(slot.error);
      if (slot.batch.size() == 0) continue;  // every sample of the batch was skipped
      out = std::move(slot.batch);
      loaded_ += out.size();
      return true;
    }
  }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  void add_skipped(const std::string& s) {
    if (stats_.skipped.size() < 1000) stats_.skipped.push_back(s);
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void worker_loop() {
    for (;;) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return abort_ || next_claim_ >= nb_ || next_claim_ < consumed_ + prefetch_; });
        if (abort_ || next_claim_ >= nb_) return;
        b = next_claim_++;
      }
      Slot slot;
      build(b, slot);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_[b] = std::move(slot);
      }
      cv_.notify_all();
    }
  }

  void build(int64_t b, Slot& slot) {
    try {
      const int64_t n = num_samples();
      const int64_t lo = b * batch_, hi = std::min(n, lo + batch_);
      const size_t M = procs_.size();
      std::vector<std::vector<float>> bufs(M);
      for (size_t m = 0; m < M; ++m) bufs[m].resize(static_cast<size_t>((hi - lo) * procs_[m].numel));
      std::vector<int64_t> labels;
      std::vector<std::string> ids;
      int64_t k = 0;
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t si = order_[static_cast<size_t>(i)];
        const Sample& s = samples_[static_cast<size_t>(si)];
        try {
          for (size_t m = 0; m < M; ++m) {
            const ModalityProc& p = procs_[m];
            Generator gen(mix(mix(mix(seed_, static_cast<uint64_t>(epoch_)), static_cast<uint64_t>(si)), m));
            float* dst = bufs[m].data() + k * p.numel;
            const DiskCache* cache = cache_.get();
            if (p.spec.type == "audio") load_audio(p, s.paths[m], augment_, gen, cache, ctr_, dst);
            else if (p.spec.type == "vector") load_vector(p, s.paths[m], dst);
            else load_frames(p, s.paths[m], augment_, gen, cache, ctr_, dst);
          }
        } catch (const Error& e) {
          std::string msg = "sample " + quote_text(s.id) + " (" + s.origin + "): " + e.what();
          if (!skip_bad_) throw Error(msg + kSkipBadSamplesHint);
          std::lock_guard<std::mutex> lock(stats_mu_);
          stats_.skipped_at_load++;
          add_skipped(msg);
          continue;
        }
        labels.push_back(s.label);
        ids.push_back(s.id);
        ++k;
      }
      if (cache_) {
        const std::string why = ctr_.first_write_error();
        MM_CHECK(why.empty(), "cannot write to the data cache folder " << cache_->dir() << " (from " << cache_->origin()
                                                                        << "): " << why
                                                                        << "; free space there, set data.cache_dir "
                                                                           "(or MMBOOST_CACHE_DIR) to another folder, "
                                                                           "or data.cache to false");
      }
      Batch batch;
      for (size_t m = 0; m < M; ++m) {
        Shape shape = procs_[m].shape;
        shape.insert(shape.begin(), k);
        Tensor t = pin_memory_ ? Tensor::empty_pinned(shape) : Tensor::empty(shape);
        if (k > 0) std::memcpy(t.data_f32(), bufs[m].data(), static_cast<size_t>(k * procs_[m].numel) * sizeof(float));
        batch.inputs.push_back(t);
      }
      batch.labels = Tensor::from_ints(labels, {k});
      if (pin_memory_) batch.labels = batch.labels.pin_memory();
      batch.ids = std::move(ids);
      slot.batch = std::move(batch);
    } catch (...) {
      slot.error = std::current_exception();
    }
  }

  DatasetInfo info_;
  std::string split_;
  std::vector<Sample> samples_;
  std::vector<ModalityProc> procs_;
  std::unique_ptr<DiskCache> cache_;
  uint64_t seed_;
  int workers_;
  int64_t batch_;
  bool shuffle_, augment_, drop_last_, skip_bad_;
  int prefetch_;
  bool pin_memory_;

  int epoch_ = 0;
  bool started_ = false;
  std::vector<int64_t> order_;
  int64_t nb_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Slot> ready_;
  int64_t next_claim_ = 0, consumed_ = 0;
  bool abort_ = false;
  std::vector<std::thread> threads_;

  mutable std::mutex stats_mu_;
  LoadStats stats_;
  mutable Counters ctr_;
  std::atomic<int64_t> loaded_{0};
};

std::vector<ModalityProc> make_procs(const DatasetSpec& spec) {
  std::vector<ModalityProc> procs;
  for (const auto& ms : spec.modalities) procs.push_back(make_proc(ms));
  return procs;
}

DatasetInfo make_info(const std::vector<ModalityProc>& procs, std::vector<std::string> classes) {
  DatasetInfo info;
  for (const auto& p : procs) info.modalities.push_back({p.spec.name, p.spec.type, p.shape});
  info.class_names = std::move(classes);
  return info;
}

}  // namespace

std::unique_ptr<Stream> make_stream(const json& cfg_in, const std::string& split, uint64_t seed,
                                    const StreamOptions& opt) {
  json cfg = merge_config(cfg_in);
  DatasetSpec spec = resolve_spec(cfg);
  std::vector<std::string> classes = resolve_classes(spec);
  const bool skip_bad = cfg["skip_bad_samples"].get<bool>();
  SplitData data = read_split(spec, classes, split, skip_bad);
  MM_CHECK(!data.samples.empty() || skip_bad, "split \"" << split << "\" has no samples (lists: "
                                                         << (split == "test" ? spec.list_test : spec.list_train)
                                                         << ")");
  if (opt.limit >= 0 && static_cast<int64_t>(data.samples.size()) > opt.limit) {
    data.samples.resize(static_cast<size_t>(opt.limit));
  }
  std::vector<ModalityProc> procs = make_procs(spec);
  bool need_vector = false;
  for (const auto& p : procs) need_vector |= p.spec.type == "vector" && p.dim == 0;
  if (need_vector && split != "train") {
    // vector widths come from the train split so every split agrees
    SplitData tr = parse_list(spec, classes, read_text_file(spec.list_train), spec.list_train, "train", false, true);
    infer_vector_dims(procs, tr.samples.empty() ? data.samples : tr.samples);
  } else if (need_vector) {
    infer_vector_dims(procs, data.samples);
  }
  std::unique_ptr<DiskCache> cache;
  if (cfg["cache"].get<bool>()) {
    std::string dir = cfg["cache_dir"].get<std::string>();
    cache = std::make_unique<DiskCache>(dir.empty() ? DiskCache::at_default_dir() : DiskCache(dir, "data.cache_dir"));
    cache->prepare();
  }
  const bool is_train = split == "train";
  const int workers = opt.workers >= 0 ? opt.workers : cfg["workers"].get<int>();
  const int64_t batch = opt.batch_size > 0 ? opt.batch_size : cfg["batch_size"].get<int64_t>();
  const bool shuffle = opt.shuffle >= 0 ? opt.shuffle != 0 : is_train;
  const bool augment = opt.augment >= 0 ? opt.augment != 0 : is_train;
  const bool drop_last = is_train && cfg["drop_last"].get<bool>();
  return std::make_unique<StreamImpl>(make_info(procs, classes), split, std::move(data), std::move(procs),
                                      std::move(cache), seed, workers, batch, shuffle, augment, drop_last, skip_bad,
                                      cfg["prefetch"].get<int>(), opt.pin_memory);
}

DatasetInfo describe(const json& cfg_in) {
  json cfg = merge_config(cfg_in);
  DatasetSpec spec = resolve_spec(cfg);
  std::vector<std::string> classes = resolve_classes(spec);
  std::vector<ModalityProc> procs = make_procs(spec);
  bool need_vector = false;
  for (const auto& p : procs) need_vector |= p.spec.type == "vector" && p.dim == 0;
  if (need_vector) {
    SplitData tr = parse_list(spec, classes, read_text_file(spec.list_train), spec.list_train, "train", false, true);
    infer_vector_dims(procs, tr.samples);
  }
  return make_info(procs, classes);
}

}  // namespace mm::data
