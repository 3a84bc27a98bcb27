// Helpers for the data tests: a temporary directory, small WAV/JPEG/PNG writers (libsndfile,
// stb_image_write) and a tiny dataset in the CREMA-D layout.
#pragma once

#include <sndfile.h>
#include <stb_image_write.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmtest {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mmboost-data-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
};

inline void mkdirs(const std::string& p) { std::filesystem::create_directories(p); }

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::path fp(path);
  if (fp.has_parent_path()) mkdirs(fp.parent_path().string());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Writes interleaved samples (frames * channels) with libsndfile in `format`.
inline void write_sound(const std::string& path, const std::vector<float>& interleaved, int rate, int channels,
                        int format) {
  std::filesystem::path fp(path);
  if (fp.has_parent_path()) mkdirs(fp.parent_path().string());
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(std::string("sf_open for writing failed: ") + sf_strerror(nullptr));
  sf_write_float(f, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels) * channels);
  sf_close(f);
}

inline std::vector<float> sine(int64_t n, double freq, int rate, double amp = 0.5, double phase = 0.0) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(amp * std::sin(2 * M_PI * freq * i / rate + phase));
  return x;
}

// A grey w x h image (c channels) whose pixel value encodes position and a per-image seed.
inline std::vector<unsigned char> pattern(int w, int h, int c, int seed) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) px[(static_cast<size_t>(y) * w + x) * c + k] = static_cast<unsigned char>((x * 7 + y * 13 + k * 50 + seed * 31) % 256);
  return px;
}

inline void write_png(const std::string& path, int w, int h, int c, const std::vector<unsigned char>& px) {
  std::filesystem::path fp(path);
  if (fp.has_parent_path()) mkdirs(fp.parent_path().string());
  if (!stbi_write_png(path.c_str(), w, h, c, px.data(), w * c)) throw std::runtime_error("png write failed");
}

inline void write_jpg(const std::string& path, int w, int h, int c, const std::vector<unsigned char>& px) {
  std::filesystem::path fp(path);
  if (fp.has_parent_path()) mkdirs(fp.parent_path().string());
  if (!stbi_write_jpg(path.c_str(), w, h, c, px.data(), 95)) throw std::runtime_error("jpg write failed");
}

// ROOT/AudioWAV/<id>.wav (0.5 s at 8 kHz, a class-dependent tone), ROOT/Image-01-FPS/<id>/ with
// `frames` JPEGs of 40 x 30, annotations/{train,test}.csv. Clip ids c<k>_<i>.
inline void make_tiny_cremad(const std::string& root, int per_class_train, int per_class_test, int frames = 2,
                             const std::vector<std::string>& labels = {"NEU", "HAP", "SAD"}) {
  std::string train, test;
  for (size_t k = 0; k < labels.size(); ++k) {
    for (int i = 0; i < per_class_train + per_class_test; ++i) {
      std::string id = "c" + std::to_string(k) + "_" + std::to_string(i);
      write_sound(root + "/AudioWAV/" + id + ".wav", sine(4000, 300.0 + 150.0 * k + 7 * i, 8000), 8000, 1,
                  SF_FORMAT_WAV | SF_FORMAT_PCM_16);
      for (int f = 0; f < frames; ++f) {
        char name[32];
        std::snprintf(name, sizeof(name), "/%05d.jpg", f + 1);
        write_jpg(root + "/Image-01-FPS/" + id + name, 40, 30, 3, pattern(40, 30, 3, static_cast<int>(k * 100 + i * 3 + f)));
      }
      (i < per_class_train ? train : test) += id + "," + labels[k] + "\n";
    }
  }
  write_text(root + "/annotations/train.csv", train);
  write_text(root + "/annotations/test.csv", test);
}

// A data section for make_tiny_cremad: small STFT and frames so tests run fast.
inline nlohmann::json tiny_config(const std::string& root, const std::string& cache_dir) {
  return {{"root", root},
          {"cache_dir", cache_dir},
          {"batch_size", 4},
          {"workers", 0},
          {"val_fraction", 0.25},
          {"audio", {{"sample_rate", 8000}, {"duration", 0.25}, {"n_fft", 64}, {"hop", 32}}},
          {"frames", {{"num_frames", 2}, {"size", 16}, {"cache_short_side", 0}}}};
}

}  // namespace mmtest
