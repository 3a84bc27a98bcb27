// Loader throughput, cold (empty disk cache: WAV decode + resample + STFT, JPEG decode + resize)
// and warm (cache filled: read + crop/flip/normalise), in samples/s, one JSON line each.
//
//   bench_loader [--clips N] [--workers W] [--root DIR (a CREMA-D-layout dataset; default: a
//                synthetic one in a temp dir)] [--config FILE (a data section to use)]
//
// The synthetic dataset mimics CREMA-D: 2.5 s of 16 kHz 16-bit audio per clip, 2 JPEG frames
// of 640 x 360; preprocessing is the CREMA-D default (22,050 Hz, 3 s, STFT 512/353 -> 257 x 188;
// RandomResizedCrop 224 from frames cached at short side 256).
#include <sndfile.h>
#include <stb_image_write.h>
#include <stdlib.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/config.h"
#include "engine/rng.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string arg(int argc, char** argv, const char* name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      std::string s = line.substr(line.find(':') + 1);
      return s.substr(s.find_first_not_of(" \t"));
    }
  }
  return "unknown";
}

void make_synthetic(const std::string& root, int clips) {
  fs::create_directories(root + "/AudioWAV");
  fs::create_directories(root + "/annotations");
  const char* labels[6] = {"NEU", "HAP", "SAD", "FEA", "DIS", "ANG"};
  std::string csv;
  mm::Generator g(1);
  const int W = 640, H = 360;
  std::vector<unsigned char> px(static_cast<size_t>(W) * H * 3);
  std::vector<float> audio(40000);
  for (int c = 0; c < clips; ++c) {
    const std::string id = "clip" + std::to_string(c);
    for (size_t i = 0; i < audio.size(); ++i) {
      audio[i] = 0.3f * std::sin(0.05f * static_cast<float>(i) * (1 + c % 7)) + 0.05f * g.normal();
    }
    SF_INFO info;
    std::memset(&info, 0, sizeof(info));
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open((root + "/AudioWAV/" + id + ".wav").c_str(), SFM_WRITE, &info);
    sf_write_float(f, audio.data(), static_cast<sf_count_t>(audio.size()));
    sf_close(f);
    fs::create_directories(root + "/Image-01-FPS/" + id);
    for (int fr = 0; fr < 2; ++fr) {
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int k = 0; k < 3; ++k) {
            px[(static_cast<size_t>(y) * W + x) * 3 + k] =
                static_cast<unsigned char>((x / 3 + y / 2 + 40 * k + 17 * c + 9 * fr + static_cast<int>(8 * g.uniform())) & 255);
          }
      char name[32];
      std::snprintf(name, sizeof(name), "/%05d.jpg", fr + 1);
      stbi_write_jpg((root + "/Image-01-FPS/" + id + name).c_str(), W, H, 3, px.data(), 90);
    }
    csv += id + "," + labels[c % 6] + "\n";
  }
  std::ofstream(root + "/annotations/train.csv") << csv;
  std::ofstream(root + "/annotations/test.csv") << csv;
}

// One epoch; returns seconds, and the time next() blocked in total (the trainer's wait).
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double epoch(mm::data::Stream& s, int e, double* wait_s, double* cpu_s, int64_t* n) {
  auto t0 = std::chrono::steady_clock::now();
  *cpu_s = process_cpu_seconds();
  s.start_epoch(e);
  mm::data::Batch b;
  *wait_s = 0;
  *n = 0;
  for (;;) {
    auto w0 = std::chrono::steady_clock::now();
    bool ok = s.next(b);
    *wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    if (!ok) break;
    *n += b.size();
  }
  *cpu_s = process_cpu_seconds() - *cpu_s;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int clips = std::stoi(arg(argc, argv, "--clips", "96"));
  const int workers = std::stoi(arg(argc, argv, "--workers", std::to_string(std::max(1u, std::thread::hardware_concurrency()))));
  std::string root = arg(argc, argv, "--root", "");
  const std::string config = arg(argc, argv, "--config", "");

  char tmpl[] = "/tmp/mmboost-bench-loader-XXXXXX";
  const std::string tmp = mkdtemp(tmpl);
  json cfg;
  if (!config.empty()) {
    std::ifstream in(config);
    cfg = json::parse(in);
    if (cfg.contains("data")) cfg = cfg["data"];
  }
  if (root.empty() && config.empty()) {
    root = tmp + "/cremad";
    make_synthetic(root, clips);
  }
  if (!root.empty()) cfg["root"] = root;
  cfg["cache"] = true;
  cfg["cache_dir"] = tmp + "/cache";
  cfg["val_fraction"] = 0.0;
  cfg["batch_size"] = 16;
  mm::data::StreamOptions opt;
  opt.workers = workers;
  auto s = mm::data::make_stream(cfg, "train", 0, opt);
  const std::string dataset = cfg.value("root", std::string());
  std::string shapes;
  for (const auto& m : s->info().modalities) shapes += (shapes.empty() ? "" : " ") + m.name + mm::shape_str(m.shape);

  for (const char* phase : {"cold", "warm"}) {
    double wait = 0, cpu = 0;
    int64_t n = 0;
    double sec = epoch(*s, std::string(phase) == "cold" ? 0 : 1, &wait, &cpu, &n);
    nlohmann::ordered_json j = {{"bench", "loader"},
                                {"phase", phase},
                                {"workers", workers},
                                {"samples", n},
                                {"seconds", sec},
                                {"samples_per_s", n / sec},
                                {"wait_fraction", wait / sec},
                                // CPU time of all loader threads per sample: what the rate
                                // would be on one otherwise idle core
                                {"cpu_ms_per_sample", 1e3 * cpu / n},
                                {"inputs", shapes},
                                {"dataset", root.rfind(tmp, 0) == 0 ? "synthetic CREMA-D-like" : dataset},
                                {"cpu", cpu_model()},
                                {"cores", std::thread::hardware_concurrency()}};
    std::cout << j.dump() << std::endl;
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}
