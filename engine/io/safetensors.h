// mmboost engine: checkpoints in the safetensors format.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header (tensor name ->
// {dtype, shape, data_offsets}, plus "__metadata__": string -> string), then the raw data.
// PyTorch users read our files with safetensors.torch.load_file. Our own metadata (an
// arbitrary JSON document) is stored as one string under "__metadata__"."mmboost".
// Files are written atomically: to "<path>.tmp", flushed, then renamed over <path>.
// "__metadata__" also carries CRC-32 checksums of the data section ("mmboost.crc32.data"), of
// the tensor table: names, dtypes, shapes, offsets ("mmboost.crc32.tensors") and of the
// "mmboost" string ("mmboost.crc32.metadata"); the reader checks those it finds, so a byte
// changed on disk after writing is an error rather than silently different weights.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/nn/module.h"

namespace mm::io {

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const nlohmann::json& metadata = nlohmann::json::object());

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // CPU tensors
  nlohmann::json metadata;                // what save_safetensors was given (or {})
  std::string path;                       // where it was read from (for error messages)
  bool checksummed = false;               // all three checksums were in the file (and matched)
};

// Throws mm::Error naming the file and the problem (missing, truncated, bad header, a checksum
// that does not match, ...).
SafetensorsFile load_safetensors(const std::string& path);

// Only the metadata, from the header (the data is checked for size, not read nor checksummed):
// what a program needs to rebuild a model's architecture before loading its tensors. The
// checksums of the tensor table and of the metadata are checked when they are there;
// *checksummed (if given) says whether the file carries all three.
nlohmann::json read_safetensors_metadata(const std::string& path, bool* checksummed = nullptr);

// Copies tensors[name] into each of `into` (same shapes required; names missing from the file
// are reported together in one error unless allow_missing).
void load_into(const SafetensorsFile& file, const nn::NamedTensors& into, const std::string& prefix = "",
               bool allow_missing = false);

}  // namespace mm::io
