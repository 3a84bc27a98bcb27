// libFuzzer target: audio decoding through libsndfile's virtual IO (WAV/FLAC/OGG headers and
// data, the RIFF truncation check). Any input must either decode or throw mm::Error.
#include <cstddef>
#include <cstdint>

#include "data/audio.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mm::data::Waveform w = mm::data::decode_audio_memory(data, size, "fuzz.wav");
    if (w.samples.empty() || w.sample_rate <= 0) __builtin_trap();  // decode promises both
  } catch (const mm::Error&) {
  }
  return 0;
}
