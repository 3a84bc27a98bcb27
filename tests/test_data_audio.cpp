// Audio decoding, resampling and the log-magnitude STFT against independent references.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <cmath>
#include <complex>
#include <filesystem>

#include "data/audio.h"
#include "engine/error.h"
#include "test_data_fixtures.h"

using namespace mm::data;

namespace {

// Direct DFT in double of the centred, reflect- or zero-padded, Hann-windowed frames.
std::vector<double> reference_stft_magnitude(const std::vector<float>& x, int n_fft, int hop, bool center,
                                             bool reflect, int64_t* frames_out, std::vector<double>* l1_out) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> padded;
  const int pad = center ? n_fft / 2 : 0;
  // left pad: x[pad], ..., x[1] (reflect excludes the edge sample), or zeros
  for (int k = pad; k >= 1; --k) padded.push_back(reflect ? x[static_cast<size_t>(k)] : 0.0);
  for (float v : x) padded.push_back(v);
  for (int k = 1; k <= pad; ++k) padded.push_back(reflect ? x[static_cast<size_t>(n - 1 - k)] : 0.0);
  const int64_t S = 1 + (static_cast<int64_t>(padded.size()) - n_fft) / hop;
  const int64_t F = n_fft / 2 + 1;
  std::vector<double> mag(static_cast<size_t>(F * S));
  l1_out->assign(static_cast<size_t>(S), 0.0);
  for (int64_t s = 0; s < S; ++s) {
    for (int i = 0; i < n_fft; ++i) (*l1_out)[static_cast<size_t>(s)] += std::fabs(padded[static_cast<size_t>(s * hop + i)]);
    for (int64_t f = 0; f < F; ++f) {
      std::complex<double> acc = 0;
      for (int i = 0; i < n_fft; ++i) {
        double w = 0.5 - 0.5 * std::cos(2 * M_PI * i / n_fft);
        acc += padded[static_cast<size_t>(s * hop + i)] * w * std::polar(1.0, -2 * M_PI * f * i / n_fft);
      }
      mag[static_cast<size_t>(f * S + s)] = std::abs(acc);
    }
  }
  *frames_out = S;
  return mag;
}

void check_stft(const std::vector<float>& x, int n_fft, int hop, bool center, bool reflect) {
  StftParams p;
  p.n_fft = n_fft;
  p.hop = hop;
  p.center = center;
  p.reflect = reflect;
  p.log_eps = 1e-7f;
  int64_t S_ref = 0;
  std::vector<double> l1;
  std::vector<double> ref = reference_stft_magnitude(x, n_fft, hop, center, reflect, &S_ref, &l1);
  const int64_t S = stft_frames(static_cast<int64_t>(x.size()), p), F = stft_bins(p);
  REQUIRE(S == S_ref);
  REQUIRE(F == n_fft / 2 + 1);
  std::vector<float> out(static_cast<size_t>(F * S));
  log_stft(x.data(), static_cast<int64_t>(x.size()), p, out.data());
  // A float FFT's absolute error is about float epsilon x log2(n_fft) x the frame's L1 norm;
  // 1e-6 x L1 leaves a margin of ~4x over that for n_fft 16 and is still far below any real
  // mistake (a wrong pad sample shifts bins by ~1e-1). Compared on |X| = exp(out) - eps, since
  // the log magnifies the error of near-zero bins.
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t s = static_cast<int64_t>(i) % S;
    const double got = std::exp(static_cast<double>(out[i])) - 1e-7;
    INFO("bin " << i / S << " frame " << s << ": got " << got << " want " << ref[i]);
    REQUIRE(std::fabs(got - ref[i]) <= 1e-6 * l1[static_cast<size_t>(s)] + 1e-5 * ref[i]);
  }
}

}  // namespace

TEST_CASE("stft: centred reflect-padded log magnitude matches a direct DFT in double", "[cpu][data]") {
  std::vector<float> x(37);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.7 * i) + 0.3 * std::cos(2.1 * i) + 0.05 * i);
  SECTION("n_fft 16 hop 5") { check_stft(x, 16, 5, true, true); }
  SECTION("n_fft 8 hop 3") { check_stft(x, 8, 3, true, true); }
  SECTION("zero padding") { check_stft(x, 16, 5, true, false); }
  SECTION("not centred") { check_stft(x, 16, 4, false, true); }
}

TEST_CASE("stft: reflect padding mirrors without repeating the edge sample", "[cpu][data]") {
  // x = [1, 2, 3, 4, 5, 6], n_fft 4, hop 2: padded = [3, 2, | 1 2 3 4 5 6 | 5, 4], the
  // periodic Hann window is w = [0, .5, 1, .5], frames = 1 + 6/2 = 4.
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  StftParams p;
  p.n_fft = 4;
  p.hop = 2;
  p.log_eps = 0.0f;
  const int64_t S = stft_frames(6, p);
  REQUIRE(S == 4);
  std::vector<float> out(static_cast<size_t>(3 * S));
  log_stft(x.data(), 6, p, out.data());
  // bin 0 (DC) of frame 0: 3; bin 2 (Nyquist): 0*3 - .5*2 + 1*1 - .5*2 = -1 -> 1
  CHECK(std::exp(out[0 * S + 0]) == Approx(3.0).epsilon(1e-5));
  CHECK(std::exp(out[2 * S + 0]) == Approx(1.0).epsilon(1e-5));
  // last frame (s = 3) covers padded positions 6..9 = x[4], x[5], x[4], x[3] = 5, 6, 5, 4:
  // DC = 0*5 + .5*6 + 1*5 + .5*4 = 10
  CHECK(std::exp(out[0 * S + 3]) == Approx(10.0).epsilon(1e-5));
}

TEST_CASE("stft: CREMA-D defaults give 257 x 188 for 3 s at 22050 Hz", "[cpu][data]") {
  StftParams p;  // 512 / 353
  CHECK(stft_bins(p) == 257);
  CHECK(stft_frames(3 * 22050, p) == 188);
  StftParams q;
  q.n_fft = 256;
  q.hop = 256;
  CHECK(stft_bins(q) == 129);
  CHECK(stft_frames(16000, q) == 63);
}

namespace {

// Frequency (Hz, 0.5 Hz steps) of the largest DFT magnitude between lo and hi, in double.
double peak_frequency(const std::vector<float>& x, int rate, double lo, double hi) {
  double best = 0, best_f = 0;
  for (double f = lo; f <= hi; f += 0.5) {
    std::complex<double> acc = 0;
    for (size_t i = 0; i < x.size(); ++i) acc += static_cast<double>(x[i]) * std::polar(1.0, -2 * M_PI * f * i / rate);
    if (std::abs(acc) > best) {
      best = std::abs(acc);
      best_f = f;
    }
  }
  return best_f;
}

}  // namespace

TEST_CASE("resample: a sine keeps its frequency and the length is ceil(n * ratio)", "[cpu][data]") {
  SECTION("44100 -> 16000, 1000 Hz") {
    std::vector<float> x = mmtest::sine(44100 / 2, 1000.0, 44100);
    std::vector<float> y = resample(x, 44100, 16000);
    CHECK(y.size() == 8000);
    CHECK(std::fabs(peak_frequency(y, 16000, 950, 1050) - 1000.0) <= 1.0);
    // amplitude kept (sinc filters pass 1 kHz untouched): check the middle part's peak
    float peak = 0;
    for (size_t i = 1000; i < 7000; ++i) peak = std::max(peak, std::fabs(y[i]));
    CHECK(peak == Approx(0.5).epsilon(0.02));
  }
  SECTION("8000 -> 22050, 440 Hz") {
    std::vector<float> x = mmtest::sine(4000, 440.0, 8000);
    std::vector<float> y = resample(x, 8000, 22050);
    CHECK(y.size() == static_cast<size_t>(std::ceil(4000.0 * 22050 / 8000)));
    CHECK(std::fabs(peak_frequency(y, 22050, 400, 480) - 440.0) <= 1.0);
  }
  SECTION("equal rates return the input") {
    std::vector<float> x = {0.1f, -0.2f, 0.3f};
    CHECK(resample(x, 16000, 16000) == x);
  }
}

TEST_CASE("tile_crop repeats a short clip cyclically and clip_unit clips to [-1, 1]", "[cpu][data]") {
  std::vector<float> x = {1, 2, 3};
  CHECK(tile_crop(x, 7, 0) == std::vector<float>{1, 2, 3, 1, 2, 3, 1});
  CHECK(tile_crop(x, 4, 2) == std::vector<float>{3, 1, 2, 3});
  std::vector<float> y = {-3.0f, -0.5f, 0.5f, 2.0f};
  clip_unit(y);
  CHECK(y == std::vector<float>{-1.0f, -0.5f, 0.5f, 1.0f});
}

TEST_CASE("audio decode: every WAV/FLAC/OGG sample format decodes to the same signal", "[cpu][data]") {
  mmtest::TempDir dir;
  const int rate = 16000;
  std::vector<float> s(2000);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * 440 * i / rate) + 0.25 * std::sin(2 * M_PI * 1234 * i / rate));
  }
  struct Fmt {
    const char* name;
    int format;
    double tol;
  };
  const Fmt fmts[] = {
      {"u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1.0 / 100},
      // integer formats: half a step of rounding plus libsndfile's asymmetric scaling (writes
      // x * (2^(b-1) - 1), reads v / 2^(b-1)): 0.5/2^15 + 0.75/2^15 for 16 bits
      {"s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1.3 / 32768},
      {"s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1e-6},
      {"s32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 1e-7},
      {"f32.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0.0},
      {"f64.wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 1e-7},
      {"s16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1.3 / 32768},
      {"s24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 1e-6},
  };
  for (const Fmt& f : fmts) {
    INFO(f.name);
    std::string path = dir / f.name;
    mmtest::write_sound(path, s, rate, 1, f.format);
    Waveform w = decode_audio_file(path);
    CHECK(w.sample_rate == rate);
    REQUIRE(w.samples.size() == s.size());
    double err = 0;
    for (size_t i = 0; i < s.size(); ++i) err = std::max(err, std::fabs(static_cast<double>(w.samples[i]) - s[i]));
    CHECK(err <= f.tol);
  }
  SECTION("ogg vorbis (lossy): same length, correlation > 0.99") {
    std::string path = dir / "v.ogg";
    mmtest::write_sound(path, s, rate, 1, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
    Waveform w = decode_audio_file(path);
    REQUIRE(w.samples.size() == s.size());
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      sxy += static_cast<double>(w.samples[i]) * s[i];
      sxx += static_cast<double>(s[i]) * s[i];
      syy += static_cast<double>(w.samples[i]) * w.samples[i];
    }
    CHECK(sxy / std::sqrt(sxx * syy) > 0.99);
  }
  SECTION("stereo is averaged to mono") {
    std::vector<float> st(2 * s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      st[2 * i] = s[i];
      st[2 * i + 1] = 0.5f * s[i] + 0.125f;
    }
    std::string path = dir / "stereo.wav";
    mmtest::write_sound(path, st, rate, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    Waveform w = decode_audio_file(path);
    REQUIRE(w.samples.size() == s.size());
    for (size_t i = 0; i < s.size(); i += 97) CHECK(w.samples[i] == Approx(0.75 * s[i] + 0.0625).margin(1e-6));
  }
}

namespace {

void require_error_naming(const std::string& path, const std::string& reason) {
  try {
    decode_audio_file(path);
    FAIL("expected an error for " << path);
  } catch (const mm::Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(reason) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("audio decode: bad files give errors naming the file and the reason", "[cpu][data]") {
  mmtest::TempDir dir;
  std::string good = dir / "good.wav";
  mmtest::write_sound(good, mmtest::sine(4000, 440, 16000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  SECTION("data chunk cut short") {
    std::string p = dir / "truncated.wav";
    mmtest::write_text(p, bytes.substr(0, bytes.size() / 2));
    require_error_naming(p, "truncated");
  }
  SECTION("header cut short") {
    std::string p = dir / "header.wav";
    mmtest::write_text(p, bytes.substr(0, 20));
    require_error_naming(p, "not a readable audio file");
  }
  SECTION("not audio at all") {
    std::string p = dir / "text.wav";
    mmtest::write_text(p, "this is a text file, not a recording\n");
    require_error_naming(p, "not a readable audio file");
  }
  SECTION("zero-length recording") {
    std::string p = dir / "empty_audio.wav";
    mmtest::write_sound(p, {}, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    require_error_naming(p, "no audio samples");
  }
  SECTION("empty file") {
    std::string p = dir / "zero_bytes.wav";
    mmtest::write_text(p, "");
    require_error_naming(p, "empty file");
  }
  SECTION("missing file") { require_error_naming(dir / "nope.wav", "does not exist"); }
  SECTION("a directory (once an allocation of its bogus size: \"out of memory\")") {
    mmtest::mkdirs(dir / "folder.wav");
    require_error_naming(dir / "folder.wav", "is a directory");
  }
  SECTION("a named pipe (once a read that waited forever for a writer)") {
    REQUIRE(::mkfifo((dir / "pipe.wav").c_str(), 0600) == 0);
    require_error_naming(dir / "pipe.wav", "is not a regular file (a named pipe)");
  }
  SECTION("a chunk size near 2^32 (found by fuzz_wav: the chunk walk once looped forever)") {
    std::string p = dir / "huge_chunk.wav";
    std::string b = std::string("RIFF\x24\x7d\x00\x00WAVEfmt ", 16) + std::string("\xf7\xff\xff\xff", 4) +
                    std::string(40, '\0');
    mmtest::write_text(p, b);
    require_error_naming(p, "not a readable audio file");
  }
}
