// libFuzzer target: JPEG/PNG decoding through stb_image, then a resize of the result.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/image.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mm::data::Image img = mm::data::decode_image_memory(data, size, 3, "fuzz.jpg");
    if (static_cast<int64_t>(img.width) * img.height > (int64_t(1) << 22)) return 0;  // keep runs fast
    std::vector<float> out;
    mm::data::resize_to_float(img, mm::data::Box{0, 0, img.width, img.height}, 7, 5, out);
  } catch (const mm::Error&) {
  }
  return 0;
}
