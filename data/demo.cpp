// mmboost data: the built-in demo dataset (see demo.h).
//
// Audio: each class has one spoken word. Every distinct rendering (word, voice, pitch, speed)
// is synthesised once by the espeak-ng program, trimmed of silence and resampled; a clip
// places one rendering at a random offset with a random gain and adds white noise at the
// configured SNR. Vision: each class has one Fashion-MNIST garment; a clip's frames show one
// garment image (distinct per clip) upscaled, jittered, with reduced contrast, blurred,
// partly occluded by a grey square and covered in Gaussian noise. Confusable tops (T-shirt,
// pullover, coat, shirt) and heavy pixel noise make vision the slow modality; slow speech at a
// high SNR stays easy (docs/data.md has the calibration runs).
#include "data/demo.h"

#include <fcntl.h>
#include <spawn.h>
#include <stb_image_write.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <sndfile.h>
#include <zlib.h>

#include "data/audio.h"
#include "data/config.h"
#include "data/fileio.h"
#include "data/image.h"
#include "engine/error.h"
#include "engine/rng.h"

extern char** environ;

namespace fs = std::filesystem;

namespace mm::data {

namespace {

struct ClassDef {
  const char* label;
  const char* word;
  int garment;  // Fashion-MNIST class
};

// Garments: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
// 7 Sneaker, 8 Bag, 9 Ankle boot. The first six hold the four confusable tops.
const ClassDef kClasses[10] = {
    {"NEU", "neutral", 0},  {"HAP", "happy", 2},    {"SAD", "sad", 4},     {"FEA", "fearful", 6},
    {"DIS", "disgusted", 3}, {"ANG", "angry", 7},   {"CAL", "calm", 1},    {"SUR", "surprised", 5},
    {"BOR", "bored", 8},     {"CON", "confused", 9},
};
const char* kGarmentNames[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                 "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};

// espeak-ng voices (language + variant); with 3 pitches and 3 speeds: 72 renderings a word.
const char* kVoices[8] = {"en-us+m1", "en-us+m3", "en-us+f2", "en-us+f4",
                          "en-gb+m2", "en-gb+f1", "en-gb-scotland+m4", "en-029+f3"};
const int kPitches[3] = {30, 50, 70};
// Slow speech: a word fills half or more of a 1 s clip. Short words in a mostly-noise
// spectrogram are learned slowly by CNNs that average-pool over the whole input.
const int kSpeeds[3] = {110, 140, 170};

uint64_t mix(uint64_t a, uint64_t b) { return Generator::bits(a, b); }

void say(const DemoOptions& o, const std::string& msg) {
  if (o.progress) o.progress(msg);
  else std::cerr << msg << std::endl;
}

// ---- Fashion-MNIST ---------------------------------------------------------------------------

std::vector<unsigned char> gunzip(const std::string& path) {
  MM_CHECK(stat_path(path).exists, path << " not found: install the Debian package dataset-fashion-mnist "
                                           "(tools/setup.sh) or set the Fashion-MNIST folder");
  std::vector<unsigned char> out;
  gzFile f = gzopen(path.c_str(), "rb");
  MM_CHECK(f, path << ": cannot open");
  unsigned char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  MM_CHECK(n == 0, path << ": corrupt gzip data");
  return out;
}

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

struct Mnist {
  int64_t n = 0;
  std::vector<unsigned char> images;  // (n, 28, 28)
  std::vector<unsigned char> labels;  // (n)
};

Mnist read_fashion_mnist(const std::string& dir) {
  Mnist m;
  std::string ip = join_path(dir, "train-images-idx3-ubyte.gz"), lp = join_path(dir, "train-labels-idx1-ubyte.gz");
  std::vector<unsigned char> img = gunzip(ip), lab = gunzip(lp);
  MM_CHECK(img.size() >= 16 && be32(img.data()) == 0x803 && be32(img.data() + 8) == 28 && be32(img.data() + 12) == 28,
           ip << ": not an idx3 file of 28x28 images");
  MM_CHECK(lab.size() >= 8 && be32(lab.data()) == 0x801, lp << ": not an idx1 label file");
  m.n = be32(img.data() + 4);
  MM_CHECK(be32(lab.data() + 4) == m.n && img.size() >= 16 + static_cast<size_t>(m.n) * 784 &&
               lab.size() >= 8 + static_cast<size_t>(m.n),
           ip << " and " << lp << " disagree on the image count or are truncated");
  m.images.assign(img.begin() + 16, img.begin() + 16 + m.n * 784);
  m.labels.assign(lab.begin() + 8, lab.begin() + 8 + m.n);
  return m;
}

// ---- espeak-ng -------------------------------------------------------------------------------

int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Trims leading/trailing samples below 2% of the peak (espeak-ng pads words with silence).
std::vector<float> trim_silence(const std::vector<float>& x) {
  float peak = 0;
  for (float v : x) peak = std::max(peak, std::fabs(v));
  if (peak <= 0) return x;
  const float th = 0.02f * peak;
  size_t a = 0, b = x.size();
  while (a < b && std::fabs(x[a]) < th) ++a;
  while (b > a && std::fabs(x[b - 1]) < th) --b;
  return std::vector<float>(x.begin() + static_cast<std::ptrdiff_t>(a), x.begin() + static_cast<std::ptrdiff_t>(b));
}

// ---- images ----------------------------------------------------------------------------------

void gaussian_blur(std::vector<float>& img, int S, double sigma) {
  if (sigma <= 0) return;
  const int r = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<float> k(static_cast<size_t>(2 * r + 1));
  double tot = 0;
  for (int i = -r; i <= r; ++i) tot += k[static_cast<size_t>(i + r)] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (float& v : k) v = static_cast<float>(v / tot);
  std::vector<float> tmp(img.size());
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) acc += k[static_cast<size_t>(i + r)] * img[static_cast<size_t>(y * S + std::clamp(x + i, 0, S - 1))];
      tmp[static_cast<size_t>(y * S + x)] = acc;
    }
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) acc += k[static_cast<size_t>(i + r)] * tmp[static_cast<size_t>(std::clamp(y + i, 0, S - 1) * S + x)];
      img[static_cast<size_t>(y * S + x)] = acc;
    }
}

// One degraded frame (S x S grey, 8-bit) of a 28x28 garment.
std::vector<unsigned char> render_frame(const DemoOptions& o, const unsigned char* garment, Generator& g) {
  const int S = o.image_size;
  Image src;
  src.width = src.height = 28;
  src.channels = 1;
  src.pixels.assign(garment, garment + 784);
  // random scale (80-100% of the frame) and shift, so the garment does not sit still
  const double scale = 0.8 + 0.2 * g.uniform();
  const int side = std::max(8, static_cast<int>(std::lround(S * scale)));
  std::vector<float> up;
  resize_to_float(src, Box{0, 0, 28, 28}, side, side, up);
  const int ox = static_cast<int>(g.randint(S - side + 1)), oy = static_cast<int>(g.randint(S - side + 1));
  const float bg = 0.5f;
  std::vector<float> img(static_cast<size_t>(S) * S, bg);
  const float contrast = static_cast<float>(o.image_contrast);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      float v = up[static_cast<size_t>(y * side + x)] / 255.0f;  // garment bright on black
      img[static_cast<size_t>((y + oy) * S + (x + ox))] = bg + contrast * (v - bg);
    }
  gaussian_blur(img, S, o.image_blur);
  if (o.image_occlusion > 0) {
    const int occ = std::max(1, static_cast<int>(std::lround(o.image_occlusion * S)));
    const int x0 = static_cast<int>(g.randint(S - occ + 1)), y0 = static_cast<int>(g.randint(S - occ + 1));
    const float shade = 0.3f + 0.4f * g.uniform();
    for (int y = y0; y < y0 + occ; ++y)
      for (int x = x0; x < x0 + occ; ++x) img[static_cast<size_t>(y * S + x)] = shade;
  }
  std::vector<unsigned char> out(img.size());
  for (size_t i = 0; i < img.size(); ++i) {
    float v = img[i] + static_cast<float>(o.image_noise) * g.normal();
    out[i] = static_cast<unsigned char>(std::clamp(std::lround(v * 255.0f), 0L, 255L));
  }
  return out;
}

void write_wav16(const std::string& path, const std::vector<float>& x, int rate) {
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  MM_CHECK(f, path << ": cannot write WAV (" << sf_strerror(nullptr) << ")");
  sf_count_t n = sf_write_float(f, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(f);
  MM_CHECK(n == static_cast<sf_count_t>(x.size()), path << ": short write");
}

template <typename F>
void parallel_for(int64_t n, int threads, F fn) {
  std::atomic<int64_t> next{0};
  std::mutex err_mu;
  std::exception_ptr err;
  auto work = [&]() {
    for (;;) {
      int64_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!err) err = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back(work);
  work();
  for (auto& t : ts) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

DemoSummary make_demo(const DemoOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  MM_CHECK(!o.out_dir.empty(), "make-demo: no output directory given");
  MM_CHECK(o.num_classes >= 2 && o.num_classes <= 10, "make-demo: num_classes must be in [2, 10], got " << o.num_classes);
  MM_CHECK(o.clips_per_class >= 2, "make-demo: clips_per_class must be >= 2");
  MM_CHECK(o.test_fraction > 0 && o.test_fraction < 1, "make-demo: test_fraction must be in (0, 1)");
  MM_CHECK(o.sample_rate >= 4000 && o.clip_seconds > 0.2, "make-demo: sample_rate >= 4000 and clip_seconds > 0.2");
  MM_CHECK(o.image_size >= 16 && o.frames_per_clip >= 1, "make-demo: image_size >= 16 and frames_per_clip >= 1");
  MM_CHECK(o.image_contrast > 0 && o.image_contrast <= 1, "make-demo: image_contrast must be in (0, 1]");
  MM_CHECK(o.voices >= 1 && o.voices <= 8, "make-demo: voices must be in [1, 8], got " << o.voices);
  MM_CHECK(o.image_occlusion >= 0 && o.image_occlusion < 1, "make-demo: image_occlusion must be in [0, 1)");
  const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  const int K = o.num_classes;

  std::error_code ec;
  fs::create_directories(join_path(o.out_dir, "AudioWAV"), ec);
  fs::create_directories(join_path(o.out_dir, "Image-01-FPS"), ec);
  fs::create_directories(join_path(o.out_dir, "annotations"), ec);
  MM_CHECK(stat_path(join_path(o.out_dir, "annotations")).is_dir,
           o.out_dir << ": cannot create the output directory (" << ec.message() << ")");

  // ---- material ----
  say(o, "make-demo: reading Fashion-MNIST from " + o.fashion_mnist_dir);
  Mnist mnist = read_fashion_mnist(o.fashion_mnist_dir);
  {
    const std::string probe = join_path(o.out_dir, ".espeak-probe.wav");
    int rc = run_program({o.espeak, "-w", probe, "test"});
    fs::remove(probe, ec);
    MM_CHECK(rc == 0, "make-demo: cannot run \"" << o.espeak
                                                << "\"; install the Debian package espeak-ng (tools/setup.sh)");
  }

  // ---- speech: every (word, voice, pitch, speed) once ----
  const int V = o.voices;
  const int R = V * 3 * 3;  // renderings per word
  const int64_t total_syn = static_cast<int64_t>(K) * R;
  say(o, "make-demo: synthesising " + std::to_string(total_syn) + " spoken words with espeak-ng on " +
             std::to_string(threads) + " threads");
  std::vector<std::vector<float>> speech(static_cast<size_t>(total_syn));
  const std::string tmpdir = join_path(o.out_dir, ".espeak-tmp");
  fs::create_directories(tmpdir, ec);
  std::atomic<int64_t> done{0};
  std::mutex say_mu;
  parallel_for(total_syn, threads, [&](int64_t j) {
    const int k = static_cast<int>(j / R), r = static_cast<int>(j % R);
    const int v = r / 9, pi = (r / 3) % 3, si = r % 3;
    const std::string wav = join_path(tmpdir, "w" + std::to_string(j) + ".wav");
    int rc = run_program({o.espeak, "-v", kVoices[v], "-p", std::to_string(kPitches[pi]), "-s",
                          std::to_string(kSpeeds[si]), "-w", wav, kClasses[k].word});
    MM_CHECK(rc == 0, "make-demo: espeak-ng failed for voice " << kVoices[v] << " (exit " << rc << ")");
    Waveform w = decode_audio_file(wav);
    fs::remove(wav);
    std::vector<float> x = trim_silence(resample(w.samples, w.sample_rate, o.sample_rate, ResampleQuality::SincMedium));
    MM_CHECK(!x.empty(), "make-demo: espeak-ng produced silence for \"" << kClasses[k].word << "\"");
    speech[static_cast<size_t>(j)] = std::move(x);
    int64_t d = ++done;
    if (d % 100 == 0 || d == total_syn) {
      std::lock_guard<std::mutex> lock(say_mu);
      say(o, "make-demo: synthesised " + std::to_string(d) + "/" + std::to_string(total_syn) + " words");
    }
  });
  fs::remove_all(tmpdir, ec);

  // ---- garment images: a seeded, distinct choice per clip ----
  std::vector<std::vector<int64_t>> by_garment(10);
  for (int64_t i = 0; i < mnist.n; ++i) by_garment[mnist.labels[static_cast<size_t>(i)]].push_back(i);
  for (int gi = 0; gi < 10; ++gi) {
    auto& v = by_garment[static_cast<size_t>(gi)];
    Generator g(mix(o.seed, 0x6A2000ULL + static_cast<uint64_t>(gi)));
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(g.randint(i + 1))]);
  }
  for (int k = 0; k < K; ++k) {
    MM_CHECK(static_cast<int64_t>(by_garment[static_cast<size_t>(kClasses[k].garment)].size()) >= o.clips_per_class,
             "make-demo: Fashion-MNIST has only " << by_garment[static_cast<size_t>(kClasses[k].garment)].size()
                                                  << " images of a class; lower clips_per_class");
  }

  // ---- clips ----
  const int64_t N = static_cast<int64_t>(K) * o.clips_per_class;
  const int64_t L = std::llround(o.clip_seconds * o.sample_rate);
  say(o, "make-demo: writing " + std::to_string(N) + " clips to " + o.out_dir);
  std::vector<std::string> ids(static_cast<size_t>(N));
  done = 0;
  parallel_for(N, threads, [&](int64_t c) {
    const int k = static_cast<int>(c / o.clips_per_class), i = static_cast<int>(c % o.clips_per_class);
    Generator g(mix(o.seed, 0xC11Bull * 1000003ULL + static_cast<uint64_t>(c)));
    const int r = static_cast<int>(g.randint(R));
    const std::vector<float>& word = speech[static_cast<size_t>(k * R + r)];
    char id[64];
    std::snprintf(id, sizeof(id), "%s_%04d_V%d", kClasses[k].label, i, r / 9);
    ids[static_cast<size_t>(c)] = id;
    // audio: the word at a random offset with a random gain, plus white noise at the SNR
    std::vector<float> a(static_cast<size_t>(L), 0.0f);
    const int64_t wl = std::min<int64_t>(L, static_cast<int64_t>(word.size()));
    const int64_t off = g.randint(L - wl + 1);
    const float gain = 0.3f + 0.6f * g.uniform();
    double power = 0;
    for (int64_t t = 0; t < wl; ++t) {
      float v = gain * word[static_cast<size_t>(t)];
      a[static_cast<size_t>(off + t)] = v;
      power += static_cast<double>(v) * v;
    }
    const double rms = std::sqrt(power / std::max<int64_t>(1, wl));
    const float noise = static_cast<float>(rms / std::pow(10.0, o.audio_snr_db / 20.0));
    for (auto& v : a) v = std::clamp(v + noise * g.normal(), -1.0f, 1.0f);
    write_wav16(join_path(o.out_dir, std::string("AudioWAV/") + id + ".wav"), a, o.sample_rate);
    // frames: one garment image per clip, re-jittered per frame
    const int64_t img = by_garment[static_cast<size_t>(kClasses[k].garment)][static_cast<size_t>(i)];
    const std::string dir = join_path(o.out_dir, std::string("Image-01-FPS/") + id);
    fs::create_directories(dir);
    for (int f = 0; f < o.frames_per_clip; ++f) {
      std::vector<unsigned char> px = render_frame(o, mnist.images.data() + img * 784, g);
      char name[32];
      std::snprintf(name, sizeof(name), "/%05d.jpg", f + 1);
      MM_CHECK(stbi_write_jpg((dir + name).c_str(), o.image_size, o.image_size, 1, px.data(), 90),
               dir << name << ": cannot write JPEG");
    }
    int64_t d = ++done;
    if (d % 500 == 0 || d == N) {
      std::lock_guard<std::mutex> lock(say_mu);
      say(o, "make-demo: wrote " + std::to_string(d) + "/" + std::to_string(N) + " clips");
    }
  });

  // ---- split (stratified, seeded) and annotations ----
  DemoSummary sum;
  std::string train_csv, test_csv;
  for (int k = 0; k < K; ++k) {
    std::vector<int> perm(static_cast<size_t>(o.clips_per_class));
    for (int i = 0; i < o.clips_per_class; ++i) perm[static_cast<size_t>(i)] = i;
    Generator g(mix(o.seed, 0x5B117ULL + static_cast<uint64_t>(k)));
    for (int i = o.clips_per_class - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(g.randint(i + 1))]);
    const int ntest = std::max(1, static_cast<int>(std::lround(o.test_fraction * o.clips_per_class)));
    std::vector<char> is_test(static_cast<size_t>(o.clips_per_class), 0);
    for (int i = 0; i < ntest; ++i) is_test[static_cast<size_t>(perm[static_cast<size_t>(i)])] = 1;
    for (int i = 0; i < o.clips_per_class; ++i) {
      const std::string line = ids[static_cast<size_t>(k * o.clips_per_class + i)] + "," + kClasses[k].label + "\n";
      if (is_test[static_cast<size_t>(i)]) {
        test_csv += line;
        sum.test_clips++;
      } else {
        train_csv += line;
        sum.train_clips++;
      }
    }
  }
  write_file_atomic(join_path(o.out_dir, "annotations/train.csv"), train_csv.data(), train_csv.size());
  write_file_atomic(join_path(o.out_dir, "annotations/test.csv"), test_csv.data(), test_csv.size());
  std::string classes;
  for (int k = 0; k < K; ++k) classes += std::string(kClasses[k].label) + "\n";
  write_file_atomic(join_path(o.out_dir, "annotations/classes.txt"), classes.data(), classes.size());

  nlohmann::json meta = {
      {"seed", o.seed},
      {"num_classes", K},
      {"clips_per_class", o.clips_per_class},
      {"test_fraction", o.test_fraction},
      {"sample_rate", o.sample_rate},
      {"clip_seconds", o.clip_seconds},
      {"audio_snr_db", o.audio_snr_db},
      {"image_size", o.image_size},
      {"frames_per_clip", o.frames_per_clip},
      {"image_noise", o.image_noise},
      {"image_blur", o.image_blur},
      {"image_occlusion", o.image_occlusion},
      {"image_contrast", o.image_contrast},
      {"classes", nlohmann::json::array()},
  };
  for (int k = 0; k < K; ++k) {
    meta["classes"].push_back({{"label", kClasses[k].label},
                               {"word", kClasses[k].word},
                               {"garment", kGarmentNames[kClasses[k].garment]}});
  }
  std::string ms = meta.dump(2) + "\n";
  write_file_atomic(join_path(o.out_dir, "demo.json"), ms.data(), ms.size());
  nlohmann::json cfg = demo_config(fs::absolute(o.out_dir).string());
  std::string cs = cfg.dump(2) + "\n";
  sum.config_path = join_path(o.out_dir, "mmboost-data.json");
  write_file_atomic(sum.config_path, cs.data(), cs.size());

  sum.syntheses = total_syn;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char buf[160];
  std::snprintf(buf, sizeof(buf), "make-demo: done: %lld train + %lld test clips, %d classes, in %.1f s",
                static_cast<long long>(sum.train_clips), static_cast<long long>(sum.test_clips), K, sum.seconds);
  say(o, buf);
  return sum;
}

}  // namespace mm::data
