// mmboost data: small file-system helpers shared by the decoders, the dataset readers, the
// cache and the demo builder. Errors name the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mm::data {

// Reads a regular file whole. Anything else is an error naming the path and the problem
// ("does not exist", "is a directory, not a file", "is not a regular file (a named pipe)",
// "cannot open (permission denied)"); a named pipe is refused without waiting for a writer.
std::vector<unsigned char> read_file_bytes(const std::string& path);
std::vector<unsigned char> read_file_prefix(const std::string& path, size_t max_bytes);  // the first bytes
std::string read_text_file(const std::string& path);
// As read_file_bytes, but returns false instead of throwing (for the cache, where any problem is a miss).
bool try_read_file_bytes(const std::string& path, std::vector<unsigned char>& out);

// Why `path` cannot be used as a file (want_dir false: it must be a regular file) or as a folder
// (want_dir true), in words for a message ("does not exist", "is a directory, not a file", "is not a
// directory", "is not a regular file (a named pipe)", "cannot be read (permission denied)",
// "cannot be reached (permission denied ...)"); "" when it can.
std::string path_problem(const std::string& path, bool want_dir);

// `s` in double quotes for a message, with control characters, quotes and invalid UTF-8 escaped
// (a NUL byte would otherwise cut the message short).
std::string quote_text(const std::string& s);

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
