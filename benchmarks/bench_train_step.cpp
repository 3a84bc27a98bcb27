// One end-to-end training step of a run config (default: the CREMA-D ResNet18 AUG configuration,
// tools/configs/cremad_aug.json), exactly as the trainer runs it for each batch
// (Trainer::run_epoch -> Method::train_step): for each modality the encoder forward, the
// configurable classifiers and the shared head, the sustained boosting loss (plain CE while a
// modality has one classifier), the OGM score, then one backward over the summed losses and one
// SGD step (lr 0.01, momentum 0.9, weight decay 1e-4) over every parameter.
// benchmarks/pytorch/train_step_aug.py runs the same step in PyTorch eager.
//
// Inputs are synthetic (seeded normal values, labels uniform in [0,K)), shaped as the config's
// loader would make them: audio (B,1,F,S) with F = n_fft/2+1, S = STFT frames of
// duration*sample_rate samples (257 x 188 for CREMA-D); video frames (B,T,C,H,W) from
// data.frames (1 x 3 x 224 x 224). One batch is moved to the device once; --warmup untimed and
// --steps timed steps follow (CUDA synchronised before each clock read). Prints one JSON line.
//
//   bench_train_step [--device cpu|cuda] [--batch B] [--steps N] [--warmup N]
//                    [--classifiers A,V] [--classes K] [--threads N] [--seed N]
//                    [--config FILE|NAME] [--set key=value ...] [--dump DIR] [--phases N]
//                    [--upload pageable|pinned]
//
//   --device       default cuda when a GPU is usable, else cpu
//   --batch        default the config's train.batch_size (64)
//   --classifiers  configurable classifiers of audio and video (default 1,1); with n >= 2 the
//                  modality trains with the full boosting loss (eqs (2)-(6))
//   --config       default cremad_aug.json; a name is looked up where `mmboost train --config`
//                  looks (mm::cli::find_config: beside the binary and in tools/configs/)
//   --set          any config key, e.g. --set data.frames.size=112 (applied in order)
//   --dump DIR     writes DIR/state.safetensors (the initial parameters and buffers as
//                  "net.<name>", the batch as "batch.audio", "batch.video", "batch.labels") and,
//                  after the run, DIR/mmboost.json (the JSON line); train_step_aug.py --load DIR
//                  runs the same steps from the same state and compares the losses.
//   --phases N     after the timed steps, N more steps timed by phase with a device
//                  synchronisation between phases: "forward_loss" (zero_grad, encoders,
//                  classifiers, head, loss), "backward", "optimizer" (medians in "phases_ms");
//                  train_step_aug.py --phases N splits PyTorch's step the same way. For the
//                  paper's method with joint updates (the default config).
//   --upload       each step takes its batch from host memory as the trainer does
//                  (boost::DeviceBatches): "pageable" uploads it with waiting copies, "pinned"
//                  from page-locked memory, queued one batch ahead so that the copy overlaps the
//                  step before (engine/upload.h; the data loader's batches on CUDA). Without it
//                  the batch stays on the device and the steps time the computation alone.
//                  "upload_host_waits" counts the waits of one batch's upload.
// MMBOOST_TF32=1 turns TF32 on for cuBLAS/cuDNN (reported as "tf32"); MMBOOST_CUDNN_DETERMINISTIC=0
// lets cuDNN pick non-deterministic convolution algorithms (reported as "cudnn_deterministic");
// MMBOOST_CUDNN_BENCHMARK=1 ranks them by cuDNN's timing on first use ("cudnn_benchmark"). The
// warm-up steps should then cover that first use. On CUDA, "conv_algorithms" lists the
// convolution algorithm of every geometry and pass beside cuDNN's own first choice, with
// cuDNN's timings of both in benchmark mode, and "conv_summary" adds them up per step.
// Exit codes: 0 ok, 1 runtime error, 2 bad option or config.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#ifdef MMBOOST_CUDA_SIMT
namespace simt {
uint64_t launches_run();  // tests/simt/simt.h: kernel launches run so far
}
#endif

#include "benchmarks/bench_common.h"
#include "boosting/boost_method.h"
#include "boosting/trainer.h"
#include "data/audio.h"
#include "data/batch.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tools/cli/commands.h"
#include "tools/cli/config.h"

namespace {

namespace fs = std::filesystem;
using mm::Tensor;
using nlohmann::json;

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kUsage =
    "usage: bench_train_step [--device cpu|cuda] [--batch B] [--steps N] [--warmup N]\n"
    "                        [--classifiers A,V] [--classes K] [--threads N] [--seed N]\n"
    "                        [--config FILE|NAME] [--set key=value ...] [--dump DIR]\n"
    "                        [--phases N] [--upload pageable|pinned]\n";

int64_t parse_int(const std::string& opt, const std::string& v, int64_t lo, int64_t hi) {
  size_t pos = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (v.empty() || pos != v.size())
    throw Usage(opt + ": expected an integer, got \"" + v + "\"");
  if (x < lo || x > hi)
    throw Usage(opt + ": " + v + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

struct Options {
  std::string device;  // "" = auto
  int64_t batch = -1;  // -1 = the config's
  int steps = 20, warmup = 3, threads = 0;
  int64_t classes = 6;
  int64_t cls_audio = 1, cls_video = 1;
  uint64_t seed = 0;
  std::string config;
  std::vector<std::string> sets;
  std::string dump;
  int phases = 0;
  std::string upload;  // "" = the batch stays on the device; "pageable" | "pinned"
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (a.rfind("--", 0) != 0) throw Usage("unexpected argument \"" + a + "\"");
    if (i + 1 >= argc) throw Usage(a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--device") {
      if (v != "cpu" && v != "cuda") throw Usage("--device must be cpu or cuda, got \"" + v + "\"");
      o.device = v;
    } else if (a == "--batch") {
      o.batch = parse_int(a, v, 1, 1 << 20);
    } else if (a == "--steps") {
      o.steps = static_cast<int>(parse_int(a, v, 1, 1000000));
    } else if (a == "--warmup") {
      o.warmup = static_cast<int>(parse_int(a, v, 0, 1000000));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(parse_int(a, v, 0, 4096));
    } else if (a == "--classes") {
      o.classes = parse_int(a, v, 2, 100000);
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(parse_int(a, v, 0, INT64_MAX));
    } else if (a == "--classifiers") {
      const size_t comma = v.find(',');
      if (comma == std::string::npos)
        throw Usage("--classifiers: expected A,V (classifiers of audio and video), got \"" + v + "\"");
      o.cls_audio = parse_int(a, v.substr(0, comma), 1, 1000);
      o.cls_video = parse_int(a, v.substr(comma + 1), 1, 1000);
    } else if (a == "--config") {
      o.config = v;
    } else if (a == "--set") {
      o.sets.push_back(v);
    } else if (a == "--dump") {
      o.dump = v;
    } else if (a == "--phases") {
      o.phases = static_cast<int>(parse_int(a, v, 0, 1000000));
    } else if (a == "--upload") {
      if (v != "pageable" && v != "pinned") throw Usage("--upload must be pageable or pinned, got \"" + v + "\"");
      o.upload = v;
    } else {
      throw Usage("unknown option \"" + a + "\"");
    }
  }
  return o;
}

// Yields the same synthetic batch once per epoch, or at every call without end (`endless`: the
// --upload steps).
class SyntheticStream : public mm::data::BatchStream {
 public:
  SyntheticStream(mm::data::Batch b, int64_t classes, bool endless = false)
      : batch_(std::move(b)), classes_(classes), endless_(endless) {}
  void start_epoch(int) override { done_ = false; }
  bool next(mm::data::Batch& out) override {
    if (done_) return false;
    out = batch_;
    done_ = !endless_;
    return true;
  }
  int64_t num_batches() const override { return 1; }
  int64_t num_samples() const override { return batch_.size(); }
  std::vector<std::string> modality_names() const override { return {"audio", "video"}; }
  int64_t num_classes() const override { return classes_; }

 private:
  mm::data::Batch batch_;
  int64_t classes_;
  bool endless_;
  bool done_ = false;
};

// "conv_algorithms": each geometry and pass with the algorithm in use and cuDNN's own first
// choice (determinism aside), their cuDNN timings when MMBOOST_CUDNN_BENCHMARK=1, and the runs
// per step; "conv_summary": how many passes differ from cuDNN's first choice and, with
// timings, the step's convolution time by cuDNN's measurements for both choices, so that the
// cost of the determinism rule shows in one run.
void add_conv_report(mmbench::Json& j, const std::vector<mm::cuda::ConvChoice>& convs, int steps) {
  mmbench::Json list = mmbench::Json::array();
  int differ = 0, deterministic = 0;
  bool timed = true;
  double ms = 0, first_ms = 0;
  for (const mm::cuda::ConvChoice& c : convs) {
    const double per_step = steps > 0 ? static_cast<double>(c.calls) / steps : 0.0;
    mmbench::Json e = {{"geometry", c.geometry},
                       {"pass", c.pass},
                       {"algo", c.algo},
                       {"deterministic", c.deterministic},
                       {"workspace_bytes", c.workspace},
                       {"calls_per_step", per_step},
                       {"cudnn_first", c.first},
                       {"cudnn_first_deterministic", c.first_deterministic}};
    if (c.ms >= 0) e["ms"] = c.ms;
    if (c.first_ms >= 0) e["cudnn_first_ms"] = c.first_ms;
    list.push_back(e);
    differ += c.algo != c.first;
    deterministic += c.deterministic;
    timed = timed && c.ms >= 0 && c.first_ms >= 0;
    ms += per_step * c.ms;
    first_ms += per_step * c.first_ms;
  }
  j["conv_algorithms"] = list;
  mmbench::Json summary = {{"passes", convs.size()},
                           {"deterministic", deterministic},
                           {"differ_from_cudnn_first", differ}};
  if (timed) {
    summary["cudnn_ms_per_step"] = ms;
    summary["cudnn_first_ms_per_step"] = first_ms;
  }
  j["conv_summary"] = summary;
}

int run(const Options& o, const std::string& exe_path) {
  // ---- config -------------------------------------------------------------------------------
  // A path, or a name looked up as `mmboost train --config` looks it up (tools/configs/).
  const std::string path = mm::cli::find_config(o.config.empty() ? "cremad_aug.json" : o.config, exe_path);
  json user = mm::cli::load_config_file(path);
  if (!user.contains("name") || !user["name"].is_string() || user["name"].get<std::string>().empty())
    user["name"] = fs::path(path).stem().string();
  const json defaults = mm::cli::schema_defaults();
  for (const auto& s : o.sets) mm::cli::apply_set(user, s, defaults);
  const std::string device = !o.device.empty() ? o.device : (mm::cuda::available() ? "cuda" : "cpu");
  if (device == "cuda" && !mm::cuda::available())
    throw Usage("--device cuda: no CUDA device is usable (a CPU-only build, or no GPU visible)");
  mm::cli::set_path(user, "train.device", device);
  mm::cli::set_path(user, "train.checkpoint_dir", "");
  mm::cli::set_path(user, "train.resume", false);
  mm::cli::set_path(user, "train.threads", o.threads);
  if (o.batch > 0) mm::cli::set_path(user, "train.batch_size", o.batch);
  json cfg = mm::cli::resolve(user);
  // The encoder reads frames in the layout the loader writes them (as the CLI arranges).
  const json& frames = cfg.at("data").at("frames");
  const std::string layout = frames.value("layout", std::string("TCHW"));
  if (mm::cli::get_path(user, "model.encoder.frames_layout").is_null())
    cfg["model"]["encoder"]["frames_layout"] = layout;

  // ---- shapes ---------------------------------------------------------------------------------
  const json& a = cfg.at("data").at("audio");
  mm::data::StftParams stft;
  stft.n_fft = a.at("n_fft").get<int>();
  stft.hop = a.at("hop").get<int>();
  stft.center = a.at("center").get<bool>();
  const int64_t samples = std::max<int64_t>(
      1, std::llround(a.at("duration").get<double>() * a.at("sample_rate").get<double>()));
  const int64_t F = mm::data::stft_bins(stft), S = mm::data::stft_frames(samples, stft);
  const int64_t T = frames.at("num_frames").get<int64_t>(), C = frames.at("channels").get<int64_t>(),
                HW = frames.at("size").get<int64_t>();
  const int64_t B = cfg.at("train").at("batch_size").get<int64_t>(), K = o.classes;
  if (F < 1 || S < 1) throw Usage("data.audio gives an empty spectrogram (" + std::to_string(F) + " x " + std::to_string(S) + ")");
  const mm::Shape audio_shape{B, 1, F, S};
  const mm::Shape video_shape =
      layout == "CTHW" ? mm::Shape{B, C, T, HW, HW} : mm::Shape{B, T, C, HW, HW};

  const std::string method = cfg.at("method").at("name").get<std::string>();
  const std::vector<int64_t> counts = {o.cls_audio, o.cls_video};
  if (method != "boost" && (o.cls_audio != 1 || o.cls_video != 1))
    throw Usage("--classifiers needs method.name = \"boost\"; the config's method is \"" + method + "\"");

  // ---- synthetic batch --------------------------------------------------------------------------
  mm::Generator g(o.seed);
  mm::data::Batch cpu_batch;
  for (const mm::Shape& s : {audio_shape, video_shape}) {
    Tensor x = Tensor::empty(s);
    mm::normal_(x, 0.0f, 1.0f, g);
    cpu_batch.inputs.push_back(x);
  }
  std::vector<int64_t> labels(static_cast<size_t>(B));
  for (auto& l : labels) l = g.randint(K);
  cpu_batch.labels = Tensor::from_ints(labels, {B});
  for (int64_t i = 0; i < B; ++i) cpu_batch.ids.push_back("synthetic_" + std::to_string(i));

  // ---- trainer and model --------------------------------------------------------------------------
  json sections;
  for (const char* k : {"model", "method", "optim", "train"}) sections[k] = cfg.at(k);
  mm::boost::Trainer trainer(sections);
  SyntheticStream stream(cpu_batch, K);
  trainer.setup(stream);
  auto* boost = dynamic_cast<mm::boost::BoostMethod*>(&trainer.method());
  if (boost) {
    for (int64_t m = 0; m < 2; ++m) {
      if (counts[m] < boost->num_classifiers(m))
        throw Usage("--classifiers: the config already builds " + std::to_string(boost->num_classifiers(m)) +
                    " classifiers for " + stream.modality_names()[m]);
      while (boost->num_classifiers(m) < counts[m]) boost->add_classifier(m);
    }
  } else if (o.cls_audio != 1 || o.cls_video != 1) {
    throw Usage("--classifiers needs method.name = \"boost\"; the config's method is \"" + method + "\"");
  }
  int64_t params = 0;
  for (const auto& grp : trainer.optimizer().groups())
    for (const auto& p : grp.params) params += p.numel();

  const mm::Device dev = device == "cuda" ? mm::Device::CUDA : mm::Device::CPU;
  if (!o.dump.empty()) {
    fs::create_directories(o.dump);
    mm::nn::NamedTensors all;
    mm::nn::Module& net = trainer.method().net();
    for (const auto& [n, t] : net.named_parameters()) all.emplace_back("net." + n, t.to(mm::Device::CPU));
    for (const auto& [n, t] : net.named_buffers()) all.emplace_back("net." + n, t.to(mm::Device::CPU));
    all.emplace_back("batch.audio", cpu_batch.inputs[0]);
    all.emplace_back("batch.video", cpu_batch.inputs[1]);
    all.emplace_back("batch.labels", cpu_batch.labels);
    json meta = {{"config", cfg.value("name", "")}, {"classifiers", counts}, {"classes", K},
                 {"lambda", cfg.at("method").at("lambda")}, {"optim", cfg.at("optim")}};
    mm::io::save_safetensors((fs::path(o.dump) / "state.safetensors").string(), all, meta);
  }

  // One batch on the device, once; then the trainer's per-batch work.
  mm::data::Batch batch;
  for (const auto& x : cpu_batch.inputs) batch.inputs.push_back(x.to(dev));
  batch.labels = cpu_batch.labels.to(dev);
  batch.ids = cpu_batch.ids;
  trainer.method().net().train();
  trainer.method().begin_epoch(0);
  std::vector<double> losses;
  int64_t train_step_waits = 0;  // waits for the device inside the last train_step (not the
                                 // synchronize after it); zero on the CPU and the emulated device
  int64_t upload_waits = 0;      // --upload: waits of the last batch's upload
  // --upload: the batch from host memory at every step, through DeviceBatches as in the trainer.
  mm::data::Batch host_batch = cpu_batch;
  if (o.upload == "pinned") {
    for (auto& x : host_batch.inputs) x = x.pin_memory();
    host_batch.labels = host_batch.labels.pin_memory();
  }
  SyntheticStream repeat(host_batch, K, /*endless=*/true);
  mm::boost::DeviceBatches uploads(repeat, dev);
  mm::data::Batch fed;
  auto step = [&] {
    int64_t w0 = mm::cuda::host_waits();
    if (!o.upload.empty()) {
      uploads.next(fed);
      upload_waits = mm::cuda::host_waits() - w0;
      w0 = mm::cuda::host_waits();
    }
    mm::boost::StepOutput s = trainer.method().train_step(o.upload.empty() ? batch : fed);
    train_step_waits = mm::cuda::host_waits() - w0;
    if (dev == mm::Device::CUDA) mm::cuda::synchronize();
    losses.push_back(s.loss);
    MM_CHECK(std::isfinite(s.loss), "training diverged: loss " << s.loss << " at step " << losses.size());
  };
  if (dev == mm::Device::CUDA) mm::cuda::reset_conv_calls();
  const mmbench::Timing t = mmbench::time_ms(step, o.warmup, o.steps);
  // The convolution algorithms those steps ran, per geometry and pass (empty without cuDNN).
  const std::vector<mm::cuda::ConvChoice> convs =
      dev == mm::Device::CUDA ? mm::cuda::conv_choices() : std::vector<mm::cuda::ConvChoice>{};
#ifdef MMBOOST_CUDA_SIMT
  // The SIMT build counts the launches of the project's own kernels (its cuBLAS, cuBLASLt and
  // cuDNN stand-ins launch none): those of one more step, whose loss is not reported.
  int64_t own_launches = -1;
  if (dev == mm::Device::CUDA) {
    const uint64_t before = simt::launches_run();
    step();
    own_launches = static_cast<int64_t>(simt::launches_run() - before);
    losses.pop_back();
  }
#endif

  // The same step split into phases (BoostMethod::train_step's joint branch, the OGM sums
  // left out), each phase closed by a synchronisation.
  mmbench::Json phases;
  if (o.phases > 0) {
    if (!boost || cfg.at("method").value("update", std::string("joint")) != "joint")
      throw Usage("--phases needs method.name = \"boost\" with method.update = \"joint\"");
    using clock = std::chrono::steady_clock;
    auto ms = [](clock::time_point a, clock::time_point b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    auto sync = [&] {
      if (dev == mm::Device::CUDA) mm::cuda::synchronize();
    };
    std::vector<double> fwd, bwd, upd;
    mm::optim::Optimizer& opt = trainer.optimizer();
    for (int i = 0; i < o.phases; ++i) {
      sync();
      const auto t0 = clock::now();
      opt.zero_grad();
      mm::boost::LossOutput l = boost->loss(batch);
      sync();
      const auto t1 = clock::now();
      l.loss.backward();
      boost->after_backward();
      sync();
      const auto t2 = clock::now();
      opt.step();
      sync();
      const auto t3 = clock::now();
      fwd.push_back(ms(t0, t1));
      bwd.push_back(ms(t1, t2));
      upd.push_back(ms(t2, t3));
    }
    phases = {{"forward_loss", mmbench::median_of(fwd)}, {"backward", mmbench::median_of(bwd)},
              {"optimizer", mmbench::median_of(upd)}, {"steps", o.phases}};
  }

  // ---- report -----------------------------------------------------------------------------------
  // The CUDA backend's own reading of MMBOOST_TF32 and the convolution settings.
  const mm::cuda::Settings cuda = dev == mm::Device::CUDA ? mm::cuda::settings() : mm::cuda::Settings{};
  const std::string fused_opt = cfg.at("method").value("fused", std::string("auto"));
  const bool fused = boost && (fused_opt == "on" || (fused_opt == "auto" && dev == mm::Device::CUDA));
  mmbench::Json j = mmbench::header("train_step", mm::num_threads());
  j["framework"] = "mmboost";
  j["device"] = device;
  if (!cuda.gpu.empty()) j["gpu"] = cuda.gpu;
  j["config"] = cfg.value("name", "");
  j["method"] = method;
  j["update"] = cfg.at("method").value("update", std::string(""));
  j["batch"] = B;
  j["classes"] = K;
  j["classifiers"] = {{"audio", counts[0]}, {"video", counts[1]}};
  j["inputs"] = {{"audio", audio_shape}, {"video", video_shape}};
  j["params"] = params;
  j["tf32"] = cuda.tf32;
  if (dev == mm::Device::CUDA) {
    j["cudnn_deterministic"] = cuda.conv_deterministic;
    j["cudnn_benchmark"] = cuda.conv_benchmark;
    j["train_step_host_waits"] = train_step_waits;
    j["upload"] = o.upload.empty() ? "none" : o.upload;
    if (!o.upload.empty()) {
      j["upload_host_waits"] = upload_waits;
      j["upload_pinned"] = host_batch.labels.is_pinned();
    }
    // The loaded cuDNN in the encoding of PyTorch's `cudnn` field (torch.backends.cudnn.version()),
    // so that the two sides' lines say whether they ran the same library.
    if (cuda.cudnn > 0) {
      j["cudnn"] = cuda.cudnn;
      j["cudnn_built"] = cuda.cudnn_built;
      j["cuda_runtime"] = cuda.cuda_runtime;
    }
  }
  j["fused"] = fused;
  j["warmup"] = o.warmup;
  mmbench::add_timing(j, t);
  j["samples_per_s"] = t.median_ms > 0 ? static_cast<double>(B) * 1e3 / t.median_ms : 0.0;
  j["first_loss"] = losses.front();
  j["last_loss"] = losses.back();
  j["losses"] = losses;
  if (!phases.is_null()) j["phases_ms"] = phases;
  if (!convs.empty()) add_conv_report(j, convs, o.warmup + o.steps);
#ifdef MMBOOST_CUDA_SIMT
  if (own_launches >= 0) j["own_kernel_launches_per_step"] = own_launches;
#endif
  if (!o.dump.empty()) j["dumped"] = o.dump;
  mmbench::emit(j);
  if (!o.dump.empty()) {
    std::ofstream f(fs::path(o.dump) / "mmboost.json");
    f << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv), argv[0]);
  } catch (const Usage& e) {
    std::cerr << "bench_train_step: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const mm::cli::UsageError& e) {
    std::cerr << "bench_train_step: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_train_step: error: " << e.what() << "\n";
    return 1;
  }
}
