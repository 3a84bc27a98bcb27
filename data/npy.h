// mmboost data: .npy arrays (precomputed embeddings as a "vector" modality).
// Reads little-endian float32 / float64 (converted to float32), C order, format versions 1-3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mm::data {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // numel(shape) values
};

NpyArray parse_npy(const void* bytes, size_t nbytes, const std::string& name);
NpyArray read_npy(const std::string& path);
std::vector<int64_t> read_npy_shape(const std::string& path);  // header only
void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);

}  // namespace mm::data
