// mmboost data: audio decoding (libsndfile virtual IO over memory), resampling (libsamplerate)
// and the log-magnitude STFT (FFTW).
#include "data/audio.h"

#include <fftw3.h>
#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>

#include "data/fileio.h"
#include "engine/error.h"

namespace mm::data {

namespace {

// ---- libsndfile over a memory buffer ---------------------------------------------------------
struct MemFile {
  const unsigned char* data;
  sf_count_t size;
  sf_count_t pos;
};

sf_count_t mem_len(void* u) { return static_cast<MemFile*>(u)->size; }
sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<MemFile*>(u);
  sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->size + off;
  m->pos = std::clamp<sf_count_t>(p, 0, m->size);
  return m->pos;
}
sf_count_t mem_read(void* dst, sf_count_t n, void* u) {
  auto* m = static_cast<MemFile*>(u);
  sf_count_t k = std::max<sf_count_t>(0, std::min(n, m->size - m->pos));
  if (k > 0) std::memcpy(dst, m->data + m->pos, static_cast<size_t>(k));
  m->pos += k;
  return k;
}
sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t mem_tell(void* u) { return static_cast<MemFile*>(u)->pos; }

uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// libsndfile quietly accepts a RIFF/WAVE file whose data chunk runs past the end of the file
// (it reads what is there). A clip cut short by an interrupted copy is a corrupt sample, so
// the data chunk's declared size is checked against the bytes present. Sizes 0 and 0xFFFFFFFF
// mark streamed files whose writer never went back to fill them in: not an error.
void check_riff_complete(const unsigned char* d, size_t n, const std::string& name) {
  if (n < 12 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WAVE", 4) != 0) return;
  size_t pos = 12;
  while (pos + 8 <= n) {
    uint32_t size = le32(d + pos + 4);
    if (std::memcmp(d + pos, "data", 4) == 0) {
      if (size != 0 && size != 0xFFFFFFFFu && size > n - (pos + 8)) {
        MM_FAIL(name << ": truncated WAV file: the data chunk declares " << size
                     << " bytes but only " << (n - (pos + 8))
                     << " are present (re-copy or re-export the file)");
      }
      return;
    }
    // in size_t: a chunk size near 2^32 must not wrap the step to 0 (an endless loop the
    // fuzzer found when the sum was done in 32 bits)
    pos += size_t{8} + size + (size & 1u);
  }
}

}  // namespace

Waveform decode_audio_memory(const void* data, size_t nbytes, const std::string& name) {
  MM_CHECK(nbytes > 0, name << ": empty file (0 bytes), not an audio file");
  const auto* bytes = static_cast<const unsigned char*>(data);
  check_riff_complete(bytes, nbytes, name);

  MemFile mf{bytes, static_cast<sf_count_t>(nbytes), 0};
  SF_VIRTUAL_IO vio{mem_len, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  SNDFILE* f = sf_open_virtual(&vio, SFM_READ, &info, &mf);
  MM_CHECK(f, name << ": not a readable audio file (" << sf_strerror(nullptr)
                   << "); expected WAV, FLAC or OGG");
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> guard(f, sf_close);
  MM_CHECK(info.channels >= 1 && info.channels <= 64,
           name << ": unsupported channel count " << info.channels);
  MM_CHECK(info.samplerate > 0 && info.samplerate <= 1000000,
           name << ": invalid sample rate " << info.samplerate);

  // Normalised float reads: integer formats map to [-1, 1) whatever their width. Reading in
  // chunks instead of trusting info.frames keeps a lying header from sizing an allocation.
  Waveform w;
  w.sample_rate = info.samplerate;
  const int C = info.channels;
  // (the buffer is sized by the header only up to a cap, so small files stay cheap)
  const sf_count_t chunk = info.frames > 0 ? std::min<sf_count_t>(info.frames, 16384) : 16384;
  std::vector<float> buf(static_cast<size_t>(chunk * C));
  for (;;) {
    sf_count_t got = sf_readf_float(f, buf.data(), chunk);
    if (got <= 0) break;
    size_t base = w.samples.size();
    w.samples.resize(base + static_cast<size_t>(got));
    for (sf_count_t i = 0; i < got; ++i) {
      double acc = 0;  // channel mean in double: stereo -> mono without rounding drift
      for (int c = 0; c < C; ++c) acc += buf[static_cast<size_t>(i * C + c)];
      w.samples[base + static_cast<size_t>(i)] = static_cast<float>(acc / C);
    }
  }
  MM_CHECK(!w.samples.empty(), name << ": contains no audio samples (zero-length recording)");
  for (float v : w.samples) {
    MM_CHECK(std::isfinite(v), name << ": contains NaN or infinite samples");
  }
  return w;
}

Waveform decode_audio_file(const std::string& path) {
  std::vector<unsigned char> bytes = read_file_bytes(path);
  return decode_audio_memory(bytes.data(), bytes.size(), path);
}

ResampleQuality parse_resample_quality(const std::string& s) {
  if (s == "sinc_best") return ResampleQuality::SincBest;
  if (s == "sinc_medium") return ResampleQuality::SincMedium;
  if (s == "sinc_fastest") return ResampleQuality::SincFastest;
  if (s == "linear") return ResampleQuality::Linear;
  MM_FAIL("audio.resample: unknown value \"" << s
                                             << "\"; use sinc_best, sinc_medium, sinc_fastest or linear");
}

std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate,
                            ResampleQuality q, const std::string& name) {
  const std::string who = name.empty() ? std::string() : name + ": ";
  MM_CHECK(from_rate > 0 && to_rate > 0, who << "resample: rates must be positive, got " << from_rate
                                                                                        << " -> " << to_rate);
  if (from_rate == to_rate || x.empty()) return x;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  MM_CHECK(src_is_valid_ratio(ratio), who << "cannot resample " << from_rate << " Hz to " << to_rate
                                          << " Hz: libsamplerate converts by a factor of at most 256 (is the "
                                             "sample rate in the file's header right?)");
  const int64_t want = static_cast<int64_t>(std::ceil(static_cast<double>(x.size()) * ratio));
  std::vector<float> y(static_cast<size_t>(want + 64), 0.0f);
  int type = q == ResampleQuality::SincBest     ? SRC_SINC_BEST_QUALITY
             : q == ResampleQuality::SincMedium ? SRC_SINC_MEDIUM_QUALITY
             : q == ResampleQuality::SincFastest ? SRC_SINC_FASTEST
                                                 : SRC_LINEAR;
  SRC_DATA d;
  std::memset(&d, 0, sizeof(d));
  d.data_in = x.data();
  d.input_frames = static_cast<long>(x.size());
  d.data_out = y.data();
  d.output_frames = static_cast<long>(y.size());
  d.src_ratio = ratio;
  d.end_of_input = 1;
  int err = src_simple(&d, type, 1);
  MM_CHECK(err == 0, who << "resample " << from_rate << " -> " << to_rate << " Hz failed: " << src_strerror(err));
  // src_simple may stop a sample or two short of n*ratio; pad with zeros to a length that
  // depends only on n and the rates.
  y.resize(static_cast<size_t>(want), 0.0f);
  for (int64_t i = d.output_frames_gen; i < want; ++i) y[static_cast<size_t>(i)] = 0.0f;
  return y;
}

std::vector<float> tile_crop(const std::vector<float>& x, int64_t length, int64_t offset) {
  MM_CHECK(!x.empty(), "tile_crop: empty signal");
  MM_CHECK(length >= 0 && offset >= 0, "tile_crop: negative length or offset");
  std::vector<float> y(static_cast<size_t>(length));
  const int64_t n = static_cast<int64_t>(x.size());
  for (int64_t i = 0; i < length; ++i) y[static_cast<size_t>(i)] = x[static_cast<size_t>((offset + i) % n)];
  return y;
}

void clip_unit(std::vector<float>& x) {
  for (float& v : x) v = std::min(1.0f, std::max(-1.0f, v));
}

int64_t stft_bins(const StftParams& p) { return p.n_fft / 2 + 1; }

int64_t stft_frames(int64_t n, const StftParams& p) {
  int64_t padded = p.center ? n + 2 * (p.n_fft / 2) : n;
  if (padded < p.n_fft) return 0;
  return 1 + (padded - p.n_fft) / p.hop;
}

namespace {

// One FFTW plan per n_fft. FFTW's planner is not thread-safe, execution with new arrays is
// (fftwf_execute_dft_r2c), so plans are made once under a lock and then shared.
struct Plan {
  fftwf_plan plan = nullptr;
  std::vector<float> window;  // periodic Hann, (n_fft)
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (plan) fftwf_destroy_plan(plan);
  }
};

const Plan& plan_for(int n_fft) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<Plan>> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find(n_fft);
  if (it != plans.end()) return *it->second;
  auto p = std::make_unique<Plan>();
  float* in = fftwf_alloc_real(static_cast<size_t>(n_fft));
  fftwf_complex* out = fftwf_alloc_complex(static_cast<size_t>(n_fft / 2 + 1));
  p->plan = fftwf_plan_dft_r2c_1d(n_fft, in, out, FFTW_ESTIMATE | FFTW_UNALIGNED);
  fftwf_free(in);
  fftwf_free(out);
  MM_CHECK(p->plan, "FFTW could not plan a real FFT of size " << n_fft);
  p->window.resize(static_cast<size_t>(n_fft));
  const double two_pi = 6.283185307179586476925286766559;
  for (int i = 0; i < n_fft; ++i) p->window[i] = static_cast<float>(0.5 - 0.5 * std::cos(two_pi * i / n_fft));
  const Plan& ref = *p;
  plans.emplace(n_fft, std::move(p));
  return ref;
}

// Index into x (n) of padded position i (may be negative or >= n) under reflect padding
// without repeating the edge sample: x[-1] = x[1], x[n] = x[n-2]; periodic beyond that, as
// numpy's "reflect" mode behaves for pads longer than the signal.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  int64_t k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

}  // namespace

void log_stft(const float* x, int64_t n, const StftParams& p, float* out) {
  MM_CHECK(p.n_fft >= 2 && p.n_fft % 2 == 0, "audio.n_fft must be even and >= 2, got " << p.n_fft);
  MM_CHECK(p.hop >= 1, "audio.hop must be >= 1, got " << p.hop);
  MM_CHECK(n >= 1, "STFT of an empty signal");
  const Plan& plan = plan_for(p.n_fft);
  const int64_t F = stft_bins(p), S = stft_frames(n, p);
  MM_CHECK(S >= 1, "signal of " << n << " samples is shorter than n_fft " << p.n_fft
                                << " (with audio.center false); lengthen audio.duration");
  const int64_t pad = p.center ? p.n_fft / 2 : 0;
  std::vector<float> frame(static_cast<size_t>(p.n_fft));
  std::vector<fftwf_complex> spec(static_cast<size_t>(F));
  for (int64_t s = 0; s < S; ++s) {
    const int64_t start = s * p.hop - pad;  // first sample of the frame in signal coordinates
    for (int64_t i = 0; i < p.n_fft; ++i) {
      int64_t j = start + i;
      float v;
      if (j >= 0 && j < n) v = x[j];
      else v = p.reflect ? x[reflect_index(j, n)] : 0.0f;
      frame[static_cast<size_t>(i)] = v * plan.window[static_cast<size_t>(i)];
    }
    fftwf_execute_dft_r2c(plan.plan, frame.data(), spec.data());
    for (int64_t f = 0; f < F; ++f) {
      float re = spec[static_cast<size_t>(f)][0], im = spec[static_cast<size_t>(f)][1];
      out[f * S + s] = std::log(std::sqrt(re * re + im * im) + p.log_eps);
    }
  }
}

}  // namespace mm::data
