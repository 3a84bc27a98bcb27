// Test helpers that change safetensors files on disk the way damage or another writer would:
// the header rewritten (its JSON edited, the data section kept), one bit of a byte flipped.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mmtest {

inline std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The header length: the file's first 8 bytes, little-endian.
inline uint64_t safetensors_header_length(const std::vector<unsigned char>& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes.at(static_cast<size_t>(i));
  return n;
}

// The header of `path` as JSON, read as written (no checks).
inline nlohmann::json safetensors_header(const std::string& path) {
  const std::vector<unsigned char> bytes = file_bytes(path);
  const uint64_t n = safetensors_header_length(bytes);
  return nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(n));
}

// Parses the header of `path`, lets `edit` change it, and writes the file again with the new
// header in front of the same data section (the offsets are relative to that section).
inline void rewrite_safetensors_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  std::vector<unsigned char> bytes = file_bytes(path);
  const uint64_t n = safetensors_header_length(bytes);
  nlohmann::json header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(n));
  edit(header);
  const std::string text = header.dump();
  std::vector<unsigned char> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), bytes.begin() + 8 + static_cast<int64_t>(n), bytes.end());
  write_file_bytes(path, out);
}

// Flips the lowest bit of the byte `from_end` bytes before the end of the file (1 = the last
// byte, which lies in the data section of any file with tensor data).
inline void flip_bit_from_end(const std::string& path, size_t from_end) {
  std::vector<unsigned char> bytes = file_bytes(path);
  bytes.at(bytes.size() - from_end) ^= 0x01;
  write_file_bytes(path, bytes);
}

}  // namespace mmtest
