// mmboost data: the "data" section of a run config and the entry point that turns it into
// batch streams for the trainer.
//
//   nlohmann::json cfg = mm::data::default_config();        // every key with its default
//   cfg["root"] = "/datasets/CREMA-D";                        // (the CLI merges user values)
//   mm::data::DatasetInfo info = mm::data::describe(cfg);    // names, shapes, classes
//   auto train = mm::data::make_stream(cfg, "train", seed);  // a BatchStream with workers
//
// What a batch holds, per modality type (B batch, T frames, C channels, F frequency bins,
// S spectrogram frames, D vector width):
//   audio  -> (B, 1, F, S) log-magnitude spectrogram, F = n_fft/2 + 1, S = 1 + samples/hop
//   frames -> (B, T, C, H, W) by default ("frames.layout": "TCHW", so that a 2-D encoder can
//             view it as (B*T, C, H, W) without a copy); "CTHW" gives (B, C, T, H, W) as the
//             OGM-GE code lays it out
//   image  -> (B, C, H, W)
//   vector -> (B, D)
// All inputs are f32 on the CPU; labels are (B) i64. docs/data.md documents every key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "engine/tensor.h"

namespace mm::data {

// The complete "data" section with every key and its default (CREMA-D settings of the field:
// 22,050 Hz, 3 s, STFT 512/353 -> 257 x 188; 1 frame at 224 x 224, ImageNet normalisation).
// Keys whose default depends on "format" hold an empty value ("" / [] / -1) meaning "the
// format's preset".
nlohmann::json default_config();

// default_config() with `user` merged over it (objects merged key by key, other values
// replaced). Throws mm::ConfigError (an mm::Error) on an unknown key (naming its dotted path
// and the nearest valid key) or a value of the wrong type: mm::merge_checked's rules
// (engine/json_check.h). Applying it to an already merged section is a no-op.
nlohmann::json merge_config(const nlohmann::json& user);

// Checks a merged section: types, ranges and consistency (e.g. mean/std length == channels).
// make_stream() and describe() call it; exposed for the CLI to fail early.
void validate_config(const nlohmann::json& cfg);

// A merged demo preset: preprocessing sized for CPU training on the data that make_demo()
// writes (audio 16 kHz 1 s, n_fft 256, hop 256 -> 129 x 63; 1 frame 1 x 64 x 64).
nlohmann::json demo_config(const std::string& root);

struct ModalityInfo {
  std::string name;  // "audio", "video", or the manifest's column name
  std::string type;  // "audio" | "frames" | "image" | "vector"
  Shape shape;       // per-sample input shape, without the batch dimension
};

struct DatasetInfo {
  std::vector<ModalityInfo> modalities;  // in batch order
  std::vector<std::string> class_names;  // index = label
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  std::vector<std::string> modality_names() const;
};

// Counters of one stream, readable at any time (e.g. reported by the trainer at the end).
struct LoadStats {
  int64_t samples_loaded = 0;     // samples delivered in batches so far
  int64_t skipped_at_scan = 0;    // rows dropped when the split was read (skip_bad_samples)
  int64_t skipped_at_load = 0;    // samples dropped while decoding (skip_bad_samples)
  int64_t cache_hits = 0;         // modality entries served from the disk cache
  int64_t cache_misses = 0;       // modality entries decoded and written to the cache
  std::vector<std::string> skipped;  // one "file: reason" line per skipped sample (first 1000)
};

// A BatchStream over one split, with the dataset's description and load counters.
class Stream : public BatchStream {
 public:
  virtual const DatasetInfo& info() const = 0;
  virtual LoadStats stats() const = 0;
  virtual const std::string& split() const = 0;
};

// Options that belong to the caller rather than to the config file.
struct StreamOptions {
  int workers = -1;            // < 0: the config's "workers"
  int64_t batch_size = -1;     // < 0: the config's "batch_size"
  int shuffle = -1;            // < 0: shuffle the train split only; 0/1 force it
  int augment = -1;            // < 0: random augmentation on the train split only; 0/1 force it
  int64_t limit = -1;          // >= 0: keep only the first `limit` samples (smoke runs)
  // Build batches in page-locked memory (Tensor::empty_pinned), so that a run on CUDA uploads
  // each while the previous step runs (engine/upload.h). Set by callers training on CUDA.
  bool pin_memory = false;
};

// Builds the stream for split "train", "val" or "test". `cfg` is a data section (it is merged
// over the defaults first, so a partial section works too). The order of every epoch and all
// random augmentations are pure functions of (seed, epoch, sample), whatever the worker count.
// "val" is carved from the train list (val_fraction, val_seed; stratified by class) unless a
// val list is given; "train" then excludes those samples.
std::unique_ptr<Stream> make_stream(const nlohmann::json& cfg, const std::string& split,
                                    uint64_t seed, const StreamOptions& opt = {});

// The dataset's modalities (with per-sample shapes), classes and order, without loading the
// samples (reads the train list and, for vector modalities, one .npy header).
DatasetInfo describe(const nlohmann::json& cfg);

}  // namespace mm::data
