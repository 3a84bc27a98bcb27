// mmboost data: audio decoding and the spectrogram the field feeds its audio encoders.
//
// decode (libsndfile: WAV/FLAC/OGG, any integer or float format, channels averaged to mono)
// -> resample (libsamplerate) -> tile/crop to a fixed length -> clip to [-1, 1]
// -> centred STFT (FFTW, periodic Hann window, reflect padding of n_fft/2 as librosa did before
//    0.10) -> log(|X| + eps), laid out (F, S): F = n_fft/2 + 1 bins, S frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mm::data {

struct Waveform {
  std::vector<float> samples;  // mono, nominally in [-1, 1]
  int sample_rate = 0;
};

// Decodes an audio file held in memory; `name` is used in error messages. Throws mm::Error
// naming the file and the reason (not audio, truncated, no samples, ...).
Waveform decode_audio_memory(const void* data, size_t nbytes, const std::string& name);
Waveform decode_audio_file(const std::string& path);

enum class ResampleQuality { SincBest, SincMedium, SincFastest, Linear };
ResampleQuality parse_resample_quality(const std::string& s);  // "sinc_best", ...

// x at from_rate -> ceil(n * to_rate / from_rate) samples at to_rate (x itself if equal).
// `name` (the source file) starts error messages when given.
std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate,
                            ResampleQuality q = ResampleQuality::SincMedium, const std::string& name = "");

// length samples of x repeated cyclically (tiling a short clip), starting at `offset`.
std::vector<float> tile_crop(const std::vector<float>& x, int64_t length, int64_t offset = 0);

void clip_unit(std::vector<float>& x);  // x = min(max(x, -1), 1)

struct StftParams {
  int n_fft = 512;
  int hop = 353;
  bool center = true;     // pad n_fft/2 on both sides so frame s is centred on sample s*hop
  bool reflect = true;    // padding mode when centred: reflect (true) or zeros (false)
  float log_eps = 1e-7f;  // out = log(|X| + log_eps)
};

int64_t stft_bins(const StftParams& p);                // n_fft/2 + 1
int64_t stft_frames(int64_t n, const StftParams& p);   // frames for a signal of n samples

// x (n) -> out (F, S) row-major, out[f*S + s] = log(|X[f, s]| + eps). Thread-safe.
void log_stft(const float* x, int64_t n, const StftParams& p, float* out);

}  // namespace mm::data
