// The trainer: epoch loop, validation, model selection on validation, checkpoints and exact
// resume, evaluation per modality and fused.
#include "boosting/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "boosting/boost_method.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/json_check.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "models/encoders.h"

namespace mm::boost {

using nlohmann::json;

namespace {

// The checkpoint format's version: 2 added the CRC-32 checksums of io::save_safetensors.
constexpr int kCheckpointVersion = 2;

class ConstantLR : public optim::LRScheduler {
 public:
  void step(int, double) override {}
  float factor() const override { return 1.0f; }
};

std::unique_ptr<optim::LRScheduler> make_scheduler(const json& o, int epochs) {
  const std::string s = one_of(o.at("scheduler").get<std::string>(), "optim.scheduler",
                               {"step", "multistep", "cosine", "plateau", "none"});
  const float gamma = o.at("gamma").get<float>();
  if (s == "step") {
    const int step = o.at("step_size").get<int>();
    MM_CHECK(step >= 1, "optim.step_size must be >= 1 epoch, got " << step);
    return std::make_unique<optim::StepLR>(step, gamma);
  }
  if (s == "multistep") return std::make_unique<optim::MultiStepLR>(o.at("milestones").get<std::vector<int>>(), gamma);
  if (s == "cosine") {
    int t = o.at("cosine_epochs").get<int>();
    return std::make_unique<optim::CosineLR>(t > 0 ? t : epochs, o.at("min_factor").get<float>());
  }
  if (s == "plateau")
    return std::make_unique<optim::ReduceLROnPlateau>(true, gamma, o.at("patience").get<int>(), 1e-4,
                                                      o.at("min_factor").get<float>());
  if (s == "none") return std::make_unique<ConstantLR>();
  MM_FAIL("optim.scheduler \"" << s << "\" has no schedule");
}

double select_value(const ClassificationMetrics& m, const std::string& key) {
  if (key == "acc") return m.acc;
  if (key == "macro_f1") return m.macro_f1;
  if (key == "map") return m.map;
  one_of(key, "train.select_metric", {"acc", "macro_f1", "map"});  // throws: none of them
  MM_FAIL("train.select_metric \"" << key << "\" has no metric");
}

nn::NamedTensors strip_prefix(const std::map<std::string, Tensor>& ts, const std::string& pre) {
  nn::NamedTensors out;
  for (const auto& [n, t] : ts)
    if (n.compare(0, pre.size(), pre) == 0) out.emplace_back(n.substr(pre.size()), t);
  return out;
}

nn::NamedTensors net_state(nn::Module& net) {
  nn::NamedTensors all = net.named_parameters();
  for (const auto& b : net.named_buffers()) all.push_back(b);
  return all;
}

// Mean cross-entropy of logits (R,K) row-major, in double.
double mean_ce(const std::vector<float>& z, const std::vector<int64_t>& y, int64_t K) {
  const int64_t R = static_cast<int64_t>(y.size());
  if (R == 0) return 0.0;
  double total = 0.0;
  for (int64_t i = 0; i < R; ++i) {
    const float* r = z.data() + i * K;
    double mx = r[0];
    for (int64_t k = 1; k < K; ++k) mx = std::max<double>(mx, r[k]);
    double s = 0.0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(r[k]) - mx);
    total += mx + std::log(s) - r[y[i]];
  }
  return total / static_cast<double>(R);
}

}  // namespace

json EvalResult::to_json(bool details) const {
  json j;
  j["fused"] = fused.to_json(details);
  for (size_t m = 0; m < modalities.size(); ++m)
    j[modalities[m]] = has_modality[m] ? per_modality[m].to_json(details) : json();
  j["loss"] = loss;
  return j;
}

// ---- construction and setup --------------------------------------------------------------------

Trainer::Trainer(const json& config) : config_(resolve_config(config)) {
  const json& t = config_.at("train");
  set_num_threads(t.at("threads").get<int>());
  gen_.manual_seed(t.at("seed").get<uint64_t>());
  const std::string dev = t.at("device").get<std::string>();
  MM_CHECK(dev == "cpu" || dev == "cuda", "train.device must be \"cpu\" or \"cuda\", got \"" << dev << "\"");
  if (dev == "cuda") {
    MM_CHECK(cuda::available(), "train.device = \"cuda\" but " << cuda::unavailable_reason() << "; use \"cpu\"");
    device_ = Device::CUDA;
  }
  MM_CHECK(t.at("epochs").get<int>() >= 0, "train.epochs must be >= 0");
  check_config_choices(config_);
}

void check_config_choices(const json& config) {
  (void)select_value(ClassificationMetrics(), config.at("train").at("select_metric").get<std::string>());
  make_method(config)->check_config(config);
  (void)make_optimizer(config.at("optim"));
  (void)make_scheduler(config.at("optim"), config.at("train").at("epochs").get<int>());
  const json& model = config.at("model");
  models::check_encoder_type(model.at("encoder").at("type").get<std::string>(), "model.encoder.type");
  for (const auto& [modality, enc] : model.at("encoders").items()) {
    if (enc.contains("type")) models::check_encoder_type(enc.at("type").get<std::string>(), "model.encoders." + modality + ".type");
  }
}

Trainer::~Trainer() = default;

Method& Trainer::method() {
  MM_CHECK(method_ != nullptr, "Trainer: the model is not built yet (call setup, fit or load_checkpoint)");
  return *method_;
}

optim::Optimizer& Trainer::optimizer() {
  MM_CHECK(optim_ != nullptr, "Trainer: the model is not built yet (call setup, fit or load_checkpoint)");
  return *optim_;
}

void Trainer::setup(data::BatchStream& train) {
  if (built_) return;
  DataSpec spec;
  spec.modalities = train.modality_names();
  spec.num_classes = train.num_classes();
  MM_CHECK(!spec.modalities.empty(), "the data stream reports no modalities");
  MM_CHECK(spec.num_classes >= 2, "the data stream reports " << spec.num_classes << " classes; need >= 2");
  train.start_epoch(0);
  data::Batch b;
  MM_CHECK(train.next(b), "the training stream is empty: no batch to read input shapes from (with "
                          "data.skip_bad_samples, every sample may have been skipped as bad)");
  MM_CHECK(b.inputs.size() == spec.modalities.size(),
           "the stream's batch holds " << b.inputs.size() << " inputs for " << spec.modalities.size()
                                       << " modalities");
  for (const auto& x : b.inputs) {
    Shape s(x.shape().begin() + 1, x.shape().end());
    spec.input_shapes.push_back(s);
  }
  build(spec);
}

void Trainer::build(const DataSpec& spec) {
  spec_ = spec;
  method_ = make_method(config_);
  MethodContext ctx;
  ctx.spec = spec;
  ctx.config = config_;
  ctx.device = device_;
  ctx.gen = &gen_;
  method_->build(ctx);
  const json& o = config_.at("optim");
  optim_ = make_optimizer(o);
  const float lr = o.at("lr").get<float>(), wd = o.at("weight_decay").get<float>();
  for (auto& [name, params] : method_->param_groups()) optim_->add_param_group(name, params, lr, wd);
  method_->attach_optimizer(optim_.get());
  sched_ = make_scheduler(o, config_.at("train").at("epochs").get<int>());
  sched_->apply(*optim_);
  built_ = true;
}

void Trainer::apply_schedule() { sched_->apply(*optim_); }

// ---- batches on the device ----------------------------------------------------------------------

bool DeviceBatches::fetch(InFlight& slot) {
  slot = InFlight{};  // the batch before: its step is done, its copy too
  if (!stream_.next(slot.host)) return false;
  if (device_ != Device::CPU) {
    std::vector<Tensor> host = slot.host.inputs;
    host.push_back(slot.host.labels);
    slot.upload = Upload(host, device_);
  }
  return true;
}

bool DeviceBatches::next(data::Batch& out) {
  if (!started_) {
    started_ = true;
    ahead_valid_ = fetch(ahead_);
  }
  if (!ahead_valid_) {
    current_ = InFlight{};
    return false;
  }
  std::swap(current_, ahead_);
  // The next batch's copy is queued before this batch's step: on a GPU it runs beside the step.
  ahead_valid_ = fetch(ahead_);
  if (device_ == Device::CPU) {
    out = current_.host;
    return true;
  }
  const std::vector<Tensor>& dev = current_.upload.get();
  out = data::Batch{};
  out.inputs.assign(dev.begin(), dev.end() - 1);
  out.labels = dev.back();
  out.ids = current_.host.ids;
  return true;
}

// ---- training -----------------------------------------------------------------------------------

json Trainer::run_epoch(data::BatchStream& train, int epoch, bool& stopped) {
  using clock = std::chrono::steady_clock;
  method_->net().train();
  method_->begin_epoch(epoch);
  train.start_epoch(epoch);
  const auto t0 = clock::now();
  std::map<std::string, double> term_sums;
  double loss_sum = 0.0;
  int64_t batches = 0, samples = 0;
  DeviceBatches on_device(train, device_);
  data::Batch b;
  while (on_device.next(b)) {
    StepOutput s = method_->train_step(b);
    MM_CHECK(std::isfinite(s.loss), "training diverged at epoch " << epoch << ", batch " << batches
                                                                 << ": the loss is " << s.loss
                                                                 << "; lower optim.lr");
    loss_sum += s.loss;
    for (const auto& [k, v] : s.terms) term_sums[k] += v;
    ++batches;
    samples += b.size();
    if (progress_) {
      BatchProgress p;
      p.epoch = epoch;
      p.batch = batches;
      p.num_batches = train.num_batches();
      const double sec = std::chrono::duration<double>(clock::now() - t0).count();
      p.samples_per_s = sec > 0 ? static_cast<double>(samples) / sec : 0.0;
      p.running_loss = loss_sum / static_cast<double>(batches);
      progress_(p);
    }
    if (stop_ && stop_->load()) {
      stopped = true;
      break;
    }
  }
  const double sec = std::chrono::duration<double>(clock::now() - t0).count();
  json loss;
  loss["total"] = batches ? loss_sum / static_cast<double>(batches) : 0.0;
  for (const auto& [k, v] : term_sums) loss[k] = v / static_cast<double>(batches);
  json r;
  r["loss"] = loss;
  r["train_seconds"] = sec;
  r["samples_per_s"] = sec > 0 ? static_cast<double>(samples) / sec : 0.0;
  r["batches"] = batches;
  return r;
}

FitResult Trainer::fit(data::BatchStream& train, data::BatchStream* val) {
  using clock = std::chrono::steady_clock;
  const json& t = config_.at("train");
  if (!built_ && !resume(train)) setup(train);
  const int epochs = t.at("epochs").get<int>();
  const std::string metric_key = t.at("select_metric").get<std::string>();
  const std::string dir = t.at("checkpoint_dir").get<std::string>();
  FitResult res;
  for (int e = next_epoch_; e < epochs; ++e) {
    const auto t0 = clock::now();
    json rec;
    rec["epoch"] = e;
    rec["lr"] = optim_->groups().empty() ? 0.0 : optim_->groups()[0].lr;
    bool stopped = false;
    json tr = run_epoch(train, e, stopped);
    if (stopped) {
      res.stopped = true;
      break;
    }
    for (auto it = tr.begin(); it != tr.end(); ++it) rec[it.key()] = it.value();
    json mrec = method_->end_epoch(e);
    for (auto it = mrec.begin(); it != mrec.end(); ++it) rec[it.key()] = it.value();
    double metric = 0.0;
    if (val) {
      EvalResult ev;
      try {
        ev = evaluate_split(*val, true);
      } catch (const Error& err) {
        throw Error("validation after epoch " + std::to_string(e + 1) + ": " + err.what());
      }
      metric = select_value(ev.fused, metric_key);
      rec["val"] = ev.to_json(false);
      const json vr = method_->validation_record();
      for (auto it = vr.begin(); it != vr.end(); ++it) rec[it.key()] = it.value();
    } else {
      rec["val"] = nullptr;
    }
    // Select on validation only; without a validation split the last epoch counts as best.
    const bool improved = !val || !has_best_ || metric > best_metric_;
    if (improved) {
      has_best_ = true;
      best_metric_ = metric;
      best_epoch_ = e;
    }
    rec["best"] = improved;
    next_epoch_ = e + 1;
    // ReduceLROnPlateau watches the validation metric, or minus the training loss without one.
    sched_->step(e + 1, val ? metric : -rec["loss"]["total"].get<double>());
    apply_schedule();
    rec["seconds"] = std::chrono::duration<double>(clock::now() - t0).count();
    history_.push_back(rec);
    if (!dir.empty()) {
      save_checkpoint(last_checkpoint_path());
      if (improved) save_checkpoint(best_checkpoint_path());
    }
    ++res.epochs_run;
    res.last_epoch = e;
    if (epoch_fn_) epoch_fn_(rec);
  }
  res.best_epoch = best_epoch_;
  res.best_metric = best_metric_;
  res.history = history_;
  return res;
}

// ---- evaluation ---------------------------------------------------------------------------------

EvalResult Trainer::evaluate(data::BatchStream& stream) {
  if (!built_) setup(stream);
  return evaluate_split(stream, false);
}

EvalResult Trainer::evaluate_split(data::BatchStream& stream, bool validation) {
  const int64_t M = spec_.num_modalities(), K = spec_.num_classes;
  MM_CHECK(stream.num_classes() == K, "evaluate: the stream has " << stream.num_classes()
                                                                  << " classes, the model " << K);
  MM_CHECK(stream.modality_names() == spec_.modalities,
           "evaluate: the stream's modalities differ from the model's");
  nn::Module& net = method_->net();
  const bool was_training = net.is_training();
  net.eval();
  std::vector<std::vector<float>> mod(M);
  std::vector<bool> has(M, true);
  EvalResult r;
  r.modalities = spec_.modalities;
  r.num_classes = K;
  {
    NoGradGuard ng;
    stream.start_epoch(0);
    DeviceBatches batches(stream, device_);
    data::Batch b;
    // The logits stay where the model made them until the split is done, and are read then,
    // once per prediction: on a GPU the batches' kernels queue back to back, the host waiting
    // for none of them (a read per batch would idle the GPU between batches).
    std::vector<Tensor> fused_parts;
    std::vector<std::vector<Tensor>> mod_parts(M);
    while (batches.next(b)) {
      if (!validation && stop_ && stop_->load())
        throw EvaluationStopped("evaluation stopped by request before the end of the split");
      Predictions p = method_->predict(b);
      fused_parts.push_back(p.fused_logits);
      for (int64_t m = 0; m < M; ++m) {
        if (m >= static_cast<int64_t>(p.modality_logits.size()) || !p.modality_logits[m].defined()) {
          has[m] = false;
          continue;
        }
        mod_parts[m].push_back(p.modality_logits[m]);
      }
      std::vector<int64_t> y = batches.host().labels.to_int_vector();
      r.labels.insert(r.labels.end(), y.begin(), y.end());
      r.ids.insert(r.ids.end(), b.ids.begin(), b.ids.end());
    }
    auto read = [](const std::vector<Tensor>& parts) {
      return parts.empty() ? std::vector<float>{} : concat(parts, 0).to_vector();
    };
    r.fused_logits = read(fused_parts);
    for (int64_t m = 0; m < M; ++m)
      if (has[m]) mod[m] = read(mod_parts[m]);
  }
  const int64_t R = static_cast<int64_t>(r.labels.size());
  MM_CHECK(R > 0, "nothing to evaluate: the split gave no sample (with data.skip_bad_samples, every sample of it "
                  "may have been skipped as bad)");
  // NaN outputs mean NaN weights; no metric of them means anything (and ranking NaN scores
  // has no order), so they are an error that says where they come from.
  auto check_finite = [&](const std::vector<float>& logits, const std::string& what) {
    const auto nan = std::find_if(logits.begin(), logits.end(), [](float v) { return std::isnan(v); });
    if (nan == logits.end()) return;
    const size_t row = static_cast<size_t>(nan - logits.begin()) / static_cast<size_t>(std::max<int64_t>(K, 1));
    MM_FAIL("the model's " << what << " logits are NaN (first at sample \""
                           << (row < r.ids.size() ? r.ids[row] : std::to_string(row))
                           << "\"): its weights are no longer finite. In training this means it diverged "
                              "(lower optim.lr); for a checkpoint, that the file holds such weights");
  };
  check_finite(r.fused_logits, "fused");
  for (int64_t m = 0; m < M; ++m)
    if (has[m]) check_finite(mod[m], spec_.modalities[static_cast<size_t>(m)]);
  if (validation && R > 0) {
    bool all = true;
    std::vector<Tensor> logits;
    for (int64_t m = 0; m < M; ++m) {
      all = all && has[m];
      if (has[m]) logits.push_back(Tensor::from_vector(mod[m], {R, K}));
    }
    if (all) {
      NoGradGuard ng;
      Tensor fused = method_->fuse_validation(logits, Tensor::from_ints(r.labels, {R}));
      if (fused.defined()) r.fused_logits = fused.to_vector();
    }
  }
  net.train(was_training);
  MetricAccumulator fa(K);
  if (R) fa.add(r.fused_logits.data(), r.labels.data(), R);
  r.fused = fa.compute();
  r.has_modality = has;
  for (int64_t m = 0; m < M; ++m) {
    MetricAccumulator a(K);
    if (has[m] && R) a.add(mod[m].data(), r.labels.data(), R);
    r.per_modality.push_back(a.compute());
  }
  r.loss = mean_ce(r.fused_logits, r.labels, K);
  return r;
}

// ---- checkpoints --------------------------------------------------------------------------------

std::string Trainer::last_checkpoint_path() const {
  const std::string d = config_.at("train").at("checkpoint_dir").get<std::string>();
  return d.empty() ? "" : (std::filesystem::path(d) / "last.safetensors").string();
}

std::string Trainer::best_checkpoint_path() const {
  const std::string d = config_.at("train").at("checkpoint_dir").get<std::string>();
  return d.empty() ? "" : (std::filesystem::path(d) / "best.safetensors").string();
}

void Trainer::save_checkpoint(const std::string& path) const {
  MM_CHECK(built_, "save_checkpoint: nothing to save, the model is not built");
  MM_CHECK(!path.empty(), "save_checkpoint: empty path (set train.checkpoint_dir)");
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  nn::NamedTensors all;
  for (const auto& [n, t] : net_state(method_->net())) all.emplace_back("net." + n, t.to(Device::CPU));
  for (const auto& [n, t] : optim_->state_tensors()) all.emplace_back("optim." + n, t.to(Device::CPU));
  for (const auto& [n, t] : method_->state_tensors()) all.emplace_back("method." + n, t.to(Device::CPU));
  json shapes = json::array();
  for (const auto& s : spec_.input_shapes) shapes.push_back(s);
  json meta = {
      {"format", "mmboost-checkpoint"},
      {"version", kCheckpointVersion},
      {"config", config_},
      {"spec", {{"modalities", spec_.modalities}, {"input_shapes", shapes}, {"num_classes", spec_.num_classes}}},
      {"method_name", method_->name()},
      {"method", method_->state_json()},
      {"next_epoch", next_epoch_},
      {"best_epoch", best_epoch_},
      {"best_metric", best_metric_},
      {"has_best", has_best_},
      {"history", history_},
      {"optim", optim_->state_json()},
      {"scheduler", sched_->state_json()},
      {"generator", {{"seed", gen_.seed()}, {"counter", gen_.counter()}}},
  };
  io::save_safetensors(path, all, meta);
}

void Trainer::load_checkpoint(const std::string& path, data::BatchStream& train) { restore(path, train, true); }

bool Trainer::resume(data::BatchStream& train) {
  const std::string last = last_checkpoint_path();
  if (last.empty()) return false;
  // A file being written when the process was killed is never read (the rename did not
  // happen); the next save starts it again.
  for (const std::string& p : {last, best_checkpoint_path()}) {
    std::error_code ec;
    std::filesystem::remove(p + ".tmp", ec);
  }
  if (!config_.at("train").at("resume").get<bool>() || !std::filesystem::exists(last)) return false;
  load_checkpoint(last, train);
  // The epoch that last.safetensors ends with may be the best one; its best.safetensors is
  // written just after it, so a run stopped between the two writes has an older best file.
  // The state just loaded is that epoch's, so the best file is written again from it when it
  // does not hold that epoch.
  if (has_best_ && best_epoch_ == next_epoch_ - 1) {
    const std::string best = best_checkpoint_path();
    int held = -2;
    try {
      // The whole file, so that damaged weights under an intact header are written again too.
      if (std::filesystem::exists(best)) {
        const io::SafetensorsFile f = io::load_safetensors(best);
        if (f.checksummed || io::metadata_version(f.metadata) == 1) held = f.metadata.at("best_epoch").get<int>();
      }
    } catch (const std::exception&) {
      held = -2;  // unreadable: written again below
    }
    if (held != best_epoch_) save_checkpoint(best);
  }
  return true;
}

void Trainer::load_best_weights(data::BatchStream& stream) {
  const std::string best = best_checkpoint_path();
  MM_CHECK(!best.empty(), "load_best_weights: no checkpoint directory (train.checkpoint_dir is empty)");
  MM_CHECK(has_best_, "load_best_weights: no epoch has been trained yet");
  MM_CHECK(std::filesystem::exists(best),
           "'" << best << "' is missing: it holds the weights of epoch " << best_epoch_ + 1
               << ", the one chosen on validation, which the run's report is made from (the last epoch's "
                  "are in last.safetensors beside it; mmboost eval --checkpoint scores any checkpoint)");
  restore(best, stream, false, best_epoch_);
}

void Trainer::load_weights(const std::string& path, data::BatchStream& stream) { restore(path, stream, false); }

void Trainer::restore(const std::string& path, data::BatchStream& stream, bool full, int expect_best) {
  // A file that cannot be opened (missing, permission denied) is not damaged: the error is the
  // reader's own. One that opens but does not read as a whole checkpoint is CheckpointDamaged.
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) io::load_safetensors(path);  // throws the reader's message naming the file and errno
  }
  io::SafetensorsFile f;
  try {
    f = io::load_safetensors(path);
  } catch (const Error& e) {
    throw CheckpointDamaged(e.what(), path);
  }
  const json& meta = f.metadata;
  if (!meta.is_object() || meta.value("format", "") != "mmboost-checkpoint")
    throw CheckpointDamaged("'" + path + "' is not an mmboost training checkpoint (no mmboost metadata)", path);
  // Version 1 files were written before the checksums; from version 2 on they must be there.
  const int64_t version = io::metadata_version(meta);
  if (version > kCheckpointVersion)
    MM_FAIL("'" << path << "' is a version-" << version << " checkpoint, written by a newer mmboost; this build "
                << "reads versions 1 to " << kCheckpointVersion);
  if (version < 1)
    throw CheckpointDamaged("'" + path + "' has no valid \"version\" in its metadata: the file was changed or "
                            "damaged after it was written, or another program wrote it", path);
  if (version >= 2 && !f.checksummed)
    throw CheckpointDamaged("'" + path + "' is a version-" + std::to_string(version) + " checkpoint without the "
                            "checksums mmboost writes with it (\"mmboost.crc32.*\" in the header): the file was "
                            "changed after it was written", path);
  try {
    restore_from(f, stream, full, expect_best);
  } catch (const std::exception& e) {
    // The checks below name the file; anything else (a key missing from the metadata, a value
    // of the wrong type, a state a component refuses) means the metadata is damaged.
    const std::string what = e.what();
    if (what.find("'" + path + "'") != std::string::npos) throw;
    throw CheckpointDamaged("'" + path + "' cannot be restored, its metadata is not what mmboost writes (" + what +
                                "): the file was changed or damaged after it was written, or another program wrote it",
                            path);
  }
}

void Trainer::restore_from(const io::SafetensorsFile& f, data::BatchStream& stream, bool full, int expect_best) {
  const std::string& path = f.path;
  const json& meta = f.metadata;
  if (expect_best >= 0) {
    const int held = meta.at("best_epoch").get<int>();
    MM_CHECK(held == expect_best && meta.at("next_epoch").get<int>() == expect_best + 1,
             "'" << path << "' holds the weights of epoch " << meta.at("next_epoch").get<int>()
                 << " (best so far: epoch " << held + 1 << "), but the run's best epoch on validation is "
                 << expect_best + 1 << "; the file was replaced, or comes from another run");
  }
  DataSpec spec;
  spec.modalities = meta.at("spec").at("modalities").get<std::vector<std::string>>();
  spec.num_classes = meta.at("spec").at("num_classes").get<int64_t>();
  for (const auto& s : meta.at("spec").at("input_shapes")) spec.input_shapes.push_back(s.get<Shape>());
  MM_CHECK(stream.modality_names() == spec.modalities && stream.num_classes() == spec.num_classes,
           "'" << path << "' was trained on other modalities or classes than this data stream has");
  const std::string mname = meta.at("method_name").get<std::string>();
  MM_CHECK(mname == config_.at("method").at("name").get<std::string>(),
           "'" << path << "' holds a model of method \"" << mname << "\" but method.name is \""
               << config_.at("method").at("name").get<std::string>() << "\"");
  if (built_) {
    MM_CHECK(spec.modalities == spec_.modalities && spec.input_shapes == spec_.input_shapes,
             "'" << path << "' does not match the model already built (modalities or input shapes)");
  }
  // Always a fresh model: the checkpoint may come from an epoch with fewer classifiers than
  // the model has grown to since (the best epoch loaded after training ends). Building draws
  // initial weights from the generator; a weights-only load leaves the generator as it was.
  const uint64_t gen_seed = gen_.seed(), gen_counter = gen_.counter();
  build(spec);
  if (!full) gen_.set_state(gen_seed, gen_counter);
  // Structure first (classifiers per modality, registered with the optimizer in the same
  // order as when they were added), then the tensors.
  method_->load_structure(meta.at("method"));
  io::load_into(f, net_state(method_->net()), "net.");
  method_->load_state(meta.at("method"), strip_prefix(f.tensors, "method."));
  if (!full) return;
  // The step sizes and weight decay are the config's, as the model just built has them (with
  // what the method's restored state scales them by): a resume with --set optim.lr=... goes
  // on with the new value. The rest of the optimizer's state (momenta, steps) is the file's.
  std::vector<std::pair<float, float>> configured;
  for (const auto& g : optim_->groups()) configured.emplace_back(g.base_lr, g.weight_decay);
  optim_->load_state(strip_prefix(f.tensors, "optim."), meta.at("optim"));
  for (size_t i = 0; i < configured.size(); ++i) {
    optim_->groups()[i].base_lr = configured[i].first;
    optim_->groups()[i].weight_decay = configured[i].second;
  }
  sched_->load_state(meta.at("scheduler"));
  apply_schedule();
  gen_.set_state(meta.at("generator").at("seed").get<uint64_t>(),
                 meta.at("generator").at("counter").get<uint64_t>());
  next_epoch_ = meta.at("next_epoch").get<int>();
  best_epoch_ = meta.at("best_epoch").get<int>();
  best_metric_ = meta.at("best_metric").get<double>();
  has_best_ = meta.at("has_best").get<bool>();
  history_ = meta.at("history");
}

}  // namespace mm::boost
