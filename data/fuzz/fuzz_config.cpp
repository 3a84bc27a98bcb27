// libFuzzer target: the "data" config section (JSON text -> merge over defaults -> validate).
// Any input must be accepted or rejected with mm::Error (or a JSON parse error), never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "data/config.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    nlohmann::json merged = mm::data::merge_config(j);
    mm::data::validate_config(merged);
    if (mm::data::merge_config(merged) != merged) __builtin_trap();  // merging is idempotent
  } catch (const mm::Error&) {
  } catch (const nlohmann::json::exception&) {
    __builtin_trap();  // type errors must be reported as mm::Error with the key's name
  }
  return 0;
}
