// libFuzzer target: .npy headers and data (vector modality).
#include <cstddef>
#include <cstdint>

#include "data/npy.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mm::data::NpyArray a = mm::data::parse_npy(data, size, "fuzz.npy");
    int64_t n = 1;
    for (int64_t d : a.shape) n *= d;
    if (n != static_cast<int64_t>(a.data.size())) __builtin_trap();
  } catch (const mm::Error&) {
  }
  return 0;
}
