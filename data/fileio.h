// mmboost data: small file-system helpers shared by the decoders, the dataset readers, the
// cache and the demo builder. Errors name the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mm::data {

std::vector<unsigned char> read_file_bytes(const std::string& path);
std::string read_text_file(const std::string& path);

// Writes via a temporary file in the same directory and a rename, so a reader (or a second
// process filling the same cache) never sees a half-written file. Creates parent directories.
void write_file_atomic(const std::string& path, const void* data, size_t nbytes);

struct FileStat {
  bool exists = false;
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
FileStat stat_path(const std::string& path);

// Entries of a directory (names only) whose extension (lower-cased) is in `exts`, in natural
// order: runs of digits compare as numbers, so frame_2.jpg sorts before frame_10.jpg.
std::vector<std::string> list_dir_sorted(const std::string& dir, const std::vector<std::string>& exts);
bool natural_less(const std::string& a, const std::string& b);

std::string join_path(const std::string& a, const std::string& b);  // b if b is absolute
std::string parent_dir(const std::string& path);
std::string lower(std::string s);
std::string extension_lower(const std::string& path);  // ".wav"

}  // namespace mm::data
