// mmboost boosting: the trainer.
//
// Runs a Method (method.h) over BatchStreams: the epoch loop with SGD/Adam and an LR
// schedule, the method's per-step and per-epoch hooks, validation every epoch, checkpoints
// ("last" every epoch and "best" on the validation metric), exact resume, and evaluation that
// reports metrics for each modality alone and for the fused prediction.
//
// Configuration is one JSON document with four sections; default_config() lists every key with
// its default (user configs are merged over it, and unknown keys are rejected).
//
// Checkpoint files (safetensors, engine/io/safetensors.h):
//   <checkpoint_dir>/last.safetensors   after every epoch (resume point)
//   <checkpoint_dir>/best.safetensors   the epoch with the best validation metric
// tensors: "net.<param or buffer>", "optim.<...>", "method.<...>"; metadata (JSON): config,
// epoch, scheduler, generator state, method state (classifiers per modality, omega, OGM
// state), best metric, history of epoch records.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "boosting/method.h"
#include "boosting/metrics.h"
#include "data/batch.h"
#include "engine/error.h"
#include "engine/optim/optimizer.h"
#include "engine/upload.h"

namespace mm::io {
struct SafetensorsFile;
}

namespace mm::boost {

// Every config key with its default. Sections:
//  "model":  encoders and classifier shapes
//  "method": which method and its options (the paper's switches and the release's options)
//  "optim":  optimizer and LR schedule
//  "train":  epochs, seed, device, threads, checkpoints
// "model.encoders" is a map from modality name to an object with the keys of "model.encoder"
// (each key optional; it overrides "model.encoder" for that modality).
nlohmann::json default_config();

// Merges `user` over default_config() by mm::merge_checked (engine/json_check.h): throws
// mm::ConfigError (an mm::Error) naming any unknown key (with the nearest valid key) or a value
// of the wrong JSON type. "model.encoders" entries are checked against "model.encoder".
nlohmann::json resolve_config(const nlohmann::json& user);

// Checks the choices of a resolved config that need no data, so that a misspelt name fails
// before any data is read: train.select_metric, method.name (with the nearest known name), the
// method's options (Method::check_config), optim.name, optim.scheduler and the encoder types
// (model.encoder.type, model.encoders.<m>.type). Throws mm::Error naming the key.
void check_config_choices(const nlohmann::json& resolved_config);

// A BatchStream's batches on a device, each one's upload queued before the one before it is
// handed out, so that on a GPU (with the stream's batches in page-locked memory,
// data::StreamOptions::pin_memory) the copy of batch k+1 runs while step k's kernels do
// (engine/upload.h). A batch handed out by next() stays valid until the following call; its
// device work must be queued by then (it is: the trainer's step waits for its loss). The stream
// is read one batch ahead. On the CPU the batches pass through unchanged.
class DeviceBatches {
 public:
  DeviceBatches(data::BatchStream& stream, Device device) : stream_(stream), device_(device) {}
  bool next(data::Batch& out);
  // The batch next() handed out last, as the stream gave it (host memory).
  const data::Batch& host() const { return current_.host; }

 private:
  struct InFlight {
    data::Batch host;
    Upload upload;  // inputs..., labels
  };
  bool fetch(InFlight& slot);  // false at the end of the stream
  data::BatchStream& stream_;
  Device device_;
  bool started_ = false, ahead_valid_ = false;
  InFlight current_, ahead_;
};

// Progress inside an epoch, reported after each training batch.
struct BatchProgress {
  int epoch = 0;
  int64_t batch = 0;          // batches done in this epoch (1-based after the first)
  int64_t num_batches = 0;    // of this epoch
  double samples_per_s = 0.0;
  double running_loss = 0.0;  // mean loss over this epoch's batches so far
};

// Metrics of the fused prediction and of each modality alone (boosting/metrics.h).
struct EvalResult {
  std::vector<std::string> modalities;        // M names
  ClassificationMetrics fused;
  std::vector<ClassificationMetrics> per_modality;  // M (count 0 where a method has none)
  std::vector<bool> has_modality;             // M: whether the method predicts that modality
  double loss = 0.0;                          // mean CE of the fused logits
  // Raw outputs for prediction files: fused logits (R,K) row-major, labels (R), ids (R).
  std::vector<float> fused_logits;
  std::vector<int64_t> labels;
  std::vector<std::string> ids;
  int64_t num_classes = 0;
  // {"fused": metrics, "<modality>": metrics or null, ..., "loss": x}; metrics as
  // ClassificationMetrics::to_json(details).
  nlohmann::json to_json(bool details = false) const;
};

// A checkpoint file that exists and can be opened but is not a whole mmboost checkpoint
// (truncated, overwritten, its metadata changed): restoring it can never succeed, whatever the
// settings. `path` names the file.
class CheckpointDamaged : public Error {
 public:
  CheckpointDamaged(const std::string& what, std::string path) : Error(what), path(std::move(path)) {}
  std::string path;
};

// Thrown by Trainer::evaluate when the stop flag is set between two batches: the evaluation
// after training is abandoned (nothing of it is kept), so that a stop request is not held up
// by a whole split's forward passes.
class EvaluationStopped : public Error {
 public:
  using Error::Error;
};

struct FitResult {
  int epochs_run = 0;           // epochs completed in this call
  int last_epoch = -1;          // index of the last completed epoch
  bool stopped = false;         // the stop flag ended training early
  int best_epoch = -1;
  double best_metric = 0.0;
  nlohmann::json history;       // array of epoch records
};

class Trainer {
 public:
  using ProgressFn = std::function<void(const BatchProgress&)>;
  // Epoch record: {"epoch", "lr", "loss": {"total", "<modality>.<term>", ...},
  //  "train_seconds", "seconds", "samples_per_s", "val": EvalResult::to_json() or null,
  //  plus the method's end_epoch fields: "ogm_scores", "classifiers", "omega", "assigned", and
  //  after validation its validation_record fields: "fusion_weights"}.
  using EpochFn = std::function<void(const nlohmann::json& record)>;

  // `config` is resolved with resolve_config (so partial configs are fine).
  explicit Trainer(const nlohmann::json& config);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const nlohmann::json& config() const { return config_; }
  void on_progress(ProgressFn fn) { progress_ = std::move(fn); }
  void on_epoch(EpochFn fn) { epoch_fn_ = std::move(fn); }
  // Checked between batches; when it becomes true, fit() returns after the current batch
  // without finishing the epoch (the "last" checkpoint stays at the last completed epoch), and
  // evaluate() throws EvaluationStopped. (The validation pass inside fit() runs to its end.)
  void set_stop_flag(const std::atomic<bool>* stop) { stop_ = stop; }

  // Builds the method's networks from the stream's modality names, class count and the input
  // shapes of its first batch (called by fit/evaluate/load_checkpoint when not yet built).
  void setup(data::BatchStream& train);
  bool is_setup() const { return method_ != nullptr && built_; }

  // Trains from the current epoch up to train.epochs, validating on `val` each epoch (when
  // val is null, the last epoch counts as best). With train.resume and an existing
  // <checkpoint_dir>/last.safetensors, continues from it.
  FitResult fit(data::BatchStream& train, data::BatchStream* val);

  // Metrics of the current model on a stream (eval mode, no autograd).
  EvalResult evaluate(data::BatchStream& stream);

  // Full training state (model with classifier counts, optimizer, scheduler, generator, epoch,
  // method state such as the ACA network, its optimizer and the OGM state).
  void save_checkpoint(const std::string& path) const;
  // Restores a full training state; `train` is needed to build the model if not yet built.
  void load_checkpoint(const std::string& path, data::BatchStream& train);
  // Restores only what inference needs (structure, parameters, buffers, fusion state).
  void load_weights(const std::string& path, data::BatchStream& any_stream);
  // With train.resume and an existing <checkpoint_dir>/last.safetensors: restores it and
  // returns true (fit() then continues from there); false when there is nothing to resume.
  // Also removes files left half-written by a killed process, and writes best.safetensors
  // again when the process was stopped between the last and the best file of an epoch.
  bool resume(data::BatchStream& train);
  // The weights of the best epoch (best.safetensors) for the final report; an error naming the
  // file when it is missing or holds another epoch.
  void load_best_weights(data::BatchStream& any_stream);

  std::string last_checkpoint_path() const;  // "" when train.checkpoint_dir is ""
  std::string best_checkpoint_path() const;

  int next_epoch() const { return next_epoch_; }  // the epoch fit() would run next
  Method& method();
  optim::Optimizer& optimizer();
  const DataSpec& spec() const { return spec_; }

 private:
  void build(const DataSpec& spec);
  nlohmann::json run_epoch(data::BatchStream& train, int epoch, bool& stopped);
  void apply_schedule();
  // expect_best >= 0: the file must hold that epoch as the best one (best.safetensors).
  void restore(const std::string& path, data::BatchStream& stream, bool full, int expect_best = -1);
  void restore_from(const io::SafetensorsFile& f, data::BatchStream& stream, bool full, int expect_best);
  // validation: lets the method choose its fusion on this split (Method::fuse_validation).
  EvalResult evaluate_split(data::BatchStream& stream, bool validation);

  nlohmann::json config_;
  std::unique_ptr<Method> method_;
  std::unique_ptr<optim::Optimizer> optim_;
  std::unique_ptr<optim::LRScheduler> sched_;
  Generator gen_;
  DataSpec spec_;
  Device device_ = Device::CPU;
  bool built_ = false;
  int next_epoch_ = 0;
  int best_epoch_ = -1;
  double best_metric_ = 0.0;
  bool has_best_ = false;
  nlohmann::json history_ = nlohmann::json::array();
  ProgressFn progress_;
  EpochFn epoch_fn_;
  const std::atomic<bool>* stop_ = nullptr;
};

}  // namespace mm::boost
