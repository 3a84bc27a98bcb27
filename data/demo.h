// mmboost data: the built-in audio-visual demo dataset.
//
// make_demo() writes a real dataset in the CREMA-D layout from material that ships with Debian
// packages: class words spoken by espeak-ng (many voices, pitches and speeds) plus noise as the
// audio modality, Fashion-MNIST garments (degraded by noise, blur and occlusion) as the visual
// modality. Each class pairs one spoken word with one garment class. The defaults make audio
// the easy, fast-learning modality and vision the slow one, the imbalance the paper is about.
//
//   OUT/AudioWAV/<clip>.wav                16-bit mono WAV at sample_rate
//   OUT/Image-01-FPS/<clip>/00001.jpg ...  frames_per_clip JPEGs, image_size^2, grayscale
//   OUT/annotations/{train,test}.csv       `clip,LABEL` lines
//   OUT/annotations/classes.txt            the class labels in index order (read by the loader)
//   OUT/demo.json                          the options used and the class -> word/garment map
//   OUT/mmboost-data.json                  a data config section for this dataset (demo_config)
//
// Deterministic given the seed (same files, byte for byte, for any thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace mm::data {

struct DemoOptions {
  std::string out_dir;                 // created if missing; existing demo files are overwritten
  uint64_t seed = 0;
  int num_classes = 6;                 // 2..10; the first 6 use the CREMA-D codes NEU..ANG
  int clips_per_class = 500;
  double test_fraction = 0.2;          // per class, written to annotations/test.csv
  int threads = 0;                     // <= 0: all cores
  // audio
  int sample_rate = 16000;
  double clip_seconds = 1.0;
  double audio_snr_db = 30.0;          // speech-to-noise ratio of the added noise, dB
  int voices = 8;                      // espeak-ng voices used (1..8), x 3 pitches x 3 speeds
  // vision
  int image_size = 64;
  int frames_per_clip = 1;
  double image_noise = 0.45;           // std of additive Gaussian noise, image in [0, 1]
  double image_blur = 1.2;             // Gaussian blur sigma in output pixels (0: none)
  double image_occlusion = 0.35;       // side of a random grey square, fraction of image_size
  double image_contrast = 0.6;         // garment contrast against the background, in (0, 1]
  // material
  std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
  std::string espeak = "espeak-ng";    // program name or path
  // Progress lines ("make-demo: synthesised 120/432 words"); default: print to stderr.
  std::function<void(const std::string&)> progress;
};

struct DemoSummary {
  int64_t train_clips = 0;
  int64_t test_clips = 0;
  int64_t syntheses = 0;               // distinct espeak-ng renderings
  double seconds = 0;
  std::string config_path;             // OUT/mmboost-data.json
};

// Builds the dataset; throws mm::Error naming what is missing (espeak-ng, Fashion-MNIST files,
// an unwritable output directory) and how to install it (tools/setup.sh).
DemoSummary make_demo(const DemoOptions& opt);

}  // namespace mm::data
