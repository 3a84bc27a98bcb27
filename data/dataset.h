// mmboost data: dataset layouts. Turns a merged "data" section into the list of samples of
// one split: (id, label, one path per modality), each remembering the list file and line it
// came from so that every later error can name them.
//
// Formats (presets fill what the config leaves empty):
//   cremad           ROOT/annotations/{train,test}.csv `clip,LABEL`; ROOT/AudioWAV/{id}.wav;
//                    ROOT/Image-01-FPS/{id}/; classes NEU HAP SAD FEA DIS ANG (or
//                    ROOT/annotations/classes.txt, one label a line, when present)
//   kinetics_sounds  the paper's release: ROOT/annotations/{train,test}.csv `youtube_id,label`;
//                    ROOT/{split}_wav/{id}.wav; ROOT/{split}_img/Image-01-FPS/{id}/
//   vggsound         the OGM-GE release: ROOT/vggsound.csv `youtube_id,start,label,split`, id =
//                    youtube_id_start; ROOT/{split}-audios/{split}-set/{id}.wav;
//                    ROOT/{split}-videos/{split}-set-img/Image-01-FPS/{id}.mp4/
//   layout           everything from the config (lists, csv columns, modality path templates)
//   manifest         CSV with a header `id,label,<modality>...` or JSONL objects with those keys;
//                    relative paths resolve against data.root, else the manifest's folder
// In path templates {id} is the sample id and {split} is "train" (for train and val) or "test".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mm::data {

// Ends the error of a bad sample (a row of a list or a file that fails to load) when
// data.skip_bad_samples is off.
inline constexpr const char* kSkipBadSamplesHint = " (data.skip_bad_samples = true drops such samples instead)";

struct ModalitySpec {
  std::string name;
  std::string type;    // audio | frames | image | vector
  std::string path;    // template (layouts) or column name (manifest)
  nlohmann::json params;  // the "audio" / "frames" / "vector" section with per-modality overrides
};

struct DatasetSpec {
  nlohmann::json cfg;  // merged, validated section
  std::string format;
  std::string root;
  std::string list_train, list_val, list_test;  // resolved paths ("" = none)
  std::vector<int> id_columns;
  std::string id_join;
  int label_column = 1;
  int split_column = -1;
  std::string header;  // auto | yes | no
  char delimiter = ',';
  std::vector<ModalitySpec> modalities;
};

// Applies the format's preset to a merged section (reads a manifest's header to infer its
// modalities when the config lists none).
DatasetSpec resolve_spec(const nlohmann::json& merged_cfg);

struct CsvRow {
  std::vector<std::string> fields;
  int64_t line = 0;  // 1-based line number in the file
};

// RFC 4180-style CSV: optional UTF-8 BOM, CRLF or LF, double-quoted fields with "" escapes,
// blank lines skipped. A quoted field must close on its line (list fields hold no line breaks):
// an unterminated quote throws, naming the file and the line it opened on.
std::vector<CsvRow> parse_csv(const std::string& text, char delimiter, const std::string& name);

struct Sample {
  std::string id;
  int64_t label = -1;
  std::vector<std::string> paths;  // one per modality, resolved
  std::string origin;              // "list-file:line"
};

struct SplitData {
  std::vector<Sample> samples;
  std::vector<std::string> skipped;  // "origin: reason" for rows dropped (skip_bad_samples)
};

// The class names in label order: data.classes if given; for cremad classes.txt or the six
// CREMA-D codes; otherwise the sorted distinct labels of the train list. When every label is an
// integer they name the classes 0..max, and at least half of those must occur in the train list
// (else an error names the line of the largest label).
std::vector<std::string> resolve_classes(const DatasetSpec& spec);

// The samples of `split` ("train", "val" or "test"). Every row is checked: columns present and
// as many as in most rows of the list, a split column reading train or test (or val where
// data.lists.val is set), label known, an id without control characters, each modality's
// regular file or frame folder present (a folder must hold at least one image). Bad rows throw
// mm::Error naming the list file, the line and the reason, or are dropped and listed in
// `skipped` when skip_bad is true.
SplitData read_split(const DatasetSpec& spec, const std::vector<std::string>& classes, const std::string& split,
                     bool skip_bad);

// Parses one list file's text into samples (exposed for the fuzz targets and tests).
SplitData parse_list(const DatasetSpec& spec, const std::vector<std::string>& classes, const std::string& text,
                     const std::string& list_path, const std::string& split, bool check_files, bool skip_bad);

}  // namespace mm::data
