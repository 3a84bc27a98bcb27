// mmboost data: file-system helpers.
#include "data/fileio.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace mm::data {

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MM_CHECK(in, path << ": cannot open (" << std::strerror(errno) << ")");
  in.seekg(0, std::ios::end);
  std::streamoff n = in.tellg();
  MM_CHECK(n >= 0, path << ": cannot read (is it a directory?)");
  in.seekg(0, std::ios::beg);
  std::vector<unsigned char> bytes(static_cast<size_t>(n));
  if (n > 0) in.read(reinterpret_cast<char*>(bytes.data()), n);
  MM_CHECK(in || n == 0, path << ": read failed");
  return bytes;
}

std::string read_text_file(const std::string& path) {
  std::vector<unsigned char> b = read_file_bytes(path);
  return std::string(b.begin(), b.end());
}

void write_file_atomic(const std::string& path, const void* data, size_t nbytes) {
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  static std::atomic<uint64_t> counter{0};
  std::ostringstream tmp;
  tmp << path << ".tmp" << ::getpid() << "_" << counter.fetch_add(1);
  {
    std::ofstream out(tmp.str(), std::ios::binary | std::ios::trunc);
    MM_CHECK(out, tmp.str() << ": cannot create (" << std::strerror(errno)
                            << "); check that the directory is writable");
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
    out.flush();
    MM_CHECK(out, tmp.str() << ": write failed (disk full?)");
  }
  fs::rename(tmp.str(), path, ec);
  if (ec) {
    fs::remove(tmp.str(), ec);
    MM_FAIL(path << ": cannot move the written file into place");
  }
}

FileStat stat_path(const std::string& path) {
  FileStat s;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.is_dir = S_ISDIR(st.st_mode);
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return s;
}

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i0 = i, j0 = j;
      while (i0 < a.size() && a[i0] == '0') ++i0;
      while (j0 < b.size() && b[j0] == '0') ++j0;
      size_t i1 = i0, j1 = j0;
      while (i1 < a.size() && std::isdigit(static_cast<unsigned char>(a[i1]))) ++i1;
      while (j1 < b.size() && std::isdigit(static_cast<unsigned char>(b[j1]))) ++j1;
      if (i1 - i0 != j1 - j0) return (i1 - i0) < (j1 - j0);
      int c = a.compare(i0, i1 - i0, b, j0, j1 - j0);
      if (c != 0) return c < 0;
      if (i1 - i != j1 - j) return (i1 - i) < (j1 - j);  // fewer leading zeros first
      i = i1;
      j = j1;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string extension_lower(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot));
}

std::vector<std::string> list_dir_sorted(const std::string& dir, const std::vector<std::string>& exts) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  MM_CHECK(!ec, dir << ": cannot list directory (" << ec.message() << ")");
  for (const auto& e : it) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::string ext = extension_lower(name);
    if (std::find(exts.begin(), exts.end(), ext) == exts.end()) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (b.empty()) return a;
  if (a.empty() || b[0] == '/') return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace mm::data
