// libFuzzer target: split lists. The first input byte picks the parser: a CREMA-D-style CSV
// (with the header/BOM/quote handling), a VGGSound-style CSV with a split column, or a
// manifest (CSV with header, or JSONL). Any input must parse or throw mm::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/config.h"
#include "data/dataset.h"
#include "engine/error.h"

namespace {

mm::data::DatasetSpec make_spec(int kind) {
  mm::data::DatasetSpec s;
  s.cfg = mm::data::default_config();
  s.root = "/nonexistent-root";
  s.id_columns = {0};
  s.id_join = "_";
  s.label_column = 1;
  s.header = "auto";
  auto audio = s.cfg["audio"], frames = s.cfg["frames"];
  if (kind == 0) {
    s.format = "cremad";
    s.modalities = {{"audio", "audio", "AudioWAV/{id}.wav", audio}, {"video", "frames", "Image-01-FPS/{id}", frames}};
  } else if (kind == 1) {
    s.format = "vggsound";
    s.id_columns = {0, 1};
    s.label_column = 2;
    s.split_column = 3;
    s.modalities = {{"audio", "audio", "{split}/{id}.wav", audio}};
  } else {
    s.format = "manifest";
    s.root = "";
    s.modalities = {{"rgb", "frames", "rgb", frames}, {"emb", "vector", "emb", s.cfg["vector"]}};
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int kind = data[0] % 4;  // 0 cremad, 1 vggsound, 2 manifest csv, 3 manifest jsonl
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const mm::data::DatasetSpec specs[3] = {make_spec(0), make_spec(1), make_spec(2)};
  const std::vector<std::string> classes = {"NEU", "HAP", "SAD", "0", "1"};
  try {
    (void)mm::data::parse_csv(text, ',', "fuzz.csv");
    const auto& spec = specs[kind < 2 ? kind : 2];
    const char* name = kind == 3 ? "/tmp/fuzz.jsonl" : "/tmp/fuzz.csv";
    for (const char* split : {"train", "test"}) {
      mm::data::SplitData d = mm::data::parse_list(spec, classes, text, name, split, false, false);
      for (const auto& s : d.samples) {
        if (s.label < 0 || s.label >= static_cast<int64_t>(classes.size())) __builtin_trap();
        if (s.paths.size() != spec.modalities.size()) __builtin_trap();
      }
    }
    (void)mm::data::parse_list(spec, classes, text, name, "train", false, true);  // skip mode never throws per row
  } catch (const mm::Error&) {
  }
  return 0;
}
