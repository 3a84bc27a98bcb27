// mmboost data: file-system helpers.
#include "data/fileio.h"

#include <fcntl.h>
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
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace mm::data {

namespace {

// What an open-for-reading failure means, in words a user can act on.
std::string open_problem(int err) {
  if (err == ENOENT) return "does not exist";
  if (err == EACCES) return "cannot open (permission denied)";
  return std::string("cannot open (") + std::strerror(err) + ")";
}

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file";
}

// Reads at most `max_bytes` of the regular file `path` into `out`; returns "" or the problem.
// O_NONBLOCK keeps the open of a named pipe from waiting for a writer; the type is then checked
// on the open descriptor (no window between a check and the open).
std::string read_regular(const std::string& path, size_t max_bytes, std::vector<unsigned char>& out) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return open_problem(errno);
  struct FdGuard {
    int fd;
    ~FdGuard() { ::close(fd); }
  } guard{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return std::string("cannot read (") + std::strerror(errno) + ")";
  if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
  if (!S_ISREG(st.st_mode)) return "is not a regular file (" + kind_of(st.st_mode) + ")";
  out.resize(std::min(static_cast<size_t>(st.st_size), max_bytes));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::string("read failed (") + std::strerror(errno) + ")";
    if (r == 0) break;  // the file shrank since fstat: the decoders judge what is there
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return "";
}

}  // namespace

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  return read_file_prefix(path, std::numeric_limits<size_t>::max());
}

std::vector<unsigned char> read_file_prefix(const std::string& path, size_t max_bytes) {
  std::vector<unsigned char> bytes;
  const std::string problem = read_regular(path, max_bytes, bytes);
  MM_CHECK(problem.empty(), path << ": " << problem);
  return bytes;
}

bool try_read_file_bytes(const std::string& path, std::vector<unsigned char>& out) {
  return read_regular(path, std::numeric_limits<size_t>::max(), out).empty();
}

std::string path_problem(const std::string& path, bool want_dir) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return "does not exist";
    if (errno == EACCES) return "cannot be reached (permission denied on a folder of the path)";
    if (errno == ENOTDIR) return "does not exist (a part of the path is a file, not a folder)";
    return std::string("cannot be reached (") + std::strerror(errno) + ")";
  }
  if (want_dir) {
    if (!S_ISDIR(st.st_mode)) return "is not a directory";
    if (::access(path.c_str(), R_OK | X_OK) != 0) return "cannot be listed (permission denied)";
    return "";
  }
  if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
  if (!S_ISREG(st.st_mode)) return "is not a regular file (" + kind_of(st.st_mode) + ")";
  if (::access(path.c_str(), R_OK) != 0) return "cannot be read (permission denied)";
  return "";
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

std::string quote_text(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
