// mmboost data: on-disk cache of preprocessed samples.
#include "data/cache.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/fileio.h"
#include "engine/error.h"

namespace fs = std::filesystem;

namespace mm::data {

namespace {
constexpr char kMagic[4] = {'M', 'M', 'D', 'C'};
constexpr uint32_t kVersion = 1;

template <typename T>
void put(std::vector<unsigned char>& b, T v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
template <typename T>
bool get(const std::vector<unsigned char>& b, size_t& pos, T& v) {
  if (b.size() < pos + sizeof(T)) return false;
  std::memcpy(&v, b.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}
}  // namespace

// Multiply-xorshift over 8-byte words (the checksum runs over every cached byte on each read,
// so it must be much faster than byte-wise FNV) with a splitmix finaliser; two seeds give the
// 128-bit key. Not cryptographic: it guards against stale and damaged entries, not attackers.
uint64_t hash64(const void* data, size_t n, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9E3779B97F4A7C15ULL) ^ (n * 0xC2B2AE3D27D4EB4FULL);
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ (w * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
  }
  for (; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

std::string DiskCache::key(const std::vector<std::string>& files, const std::string& params) {
  std::string text = params;
  for (const auto& f : files) {
    FileStat st = stat_path(f);
    text += "\n" + f + "|" + std::to_string(st.size) + "|" + std::to_string(st.mtime_ns);
  }
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx",
                static_cast<unsigned long long>(hash64(text.data(), text.size(), 1)),
                static_cast<unsigned long long>(hash64(text.data(), text.size(), 2)));
  return buf;
}

std::string DiskCache::path_of(const std::string& key) const {
  return join_path(join_path(dir_, key.substr(0, 2)), key + ".bin");
}

bool DiskCache::read(const std::string& key, std::vector<CacheBlob>& out) const {
  std::vector<unsigned char> b;
  if (!try_read_file_bytes(path_of(key), b)) return false;
  if (b.size() < 4 + 4 + 4 + 8 || std::memcmp(b.data(), kMagic, 4) != 0) return false;
  uint64_t stored;
  std::memcpy(&stored, b.data() + b.size() - 8, 8);
  if (hash64(b.data(), b.size() - 8, 3) != stored) return false;
  size_t pos = 4;
  uint32_t version, count;
  if (!get(b, pos, version) || version != kVersion || !get(b, pos, count) || count > 1000000) return false;
  out.clear();
  const size_t end = b.size() - 8;
  for (uint32_t i = 0; i < count; ++i) {
    CacheBlob blob;
    uint8_t kind, ndim;
    if (!get(b, pos, kind) || !get(b, pos, ndim) || kind > 1 || ndim > 8) return false;
    blob.kind = static_cast<CacheBlob::Kind>(kind);
    uint64_t numel = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      int64_t v;
      if (!get(b, pos, v) || v < 0) return false;
      blob.shape.push_back(v);
      numel *= static_cast<uint64_t>(v);
      if (numel > (uint64_t(1) << 34)) return false;
    }
    uint64_t nbytes = numel * (kind == CacheBlob::F32 ? 4 : 1);
    if (pos + nbytes > end) return false;
    blob.bytes.assign(b.begin() + static_cast<std::ptrdiff_t>(pos),
                      b.begin() + static_cast<std::ptrdiff_t>(pos + nbytes));
    pos += nbytes;
    out.push_back(std::move(blob));
  }
  return pos == end;
}

void DiskCache::prepare() const {
  const std::string fix = "; set data.cache_dir (or the environment variable MMBOOST_CACHE_DIR) to a writable "
                          "folder, or data.cache to false";
  std::error_code ec;
  fs::create_directories(dir_, ec);
  MM_CHECK(!ec, "data cache folder " << dir_ << " (from " << origin_ << ") cannot be created (" << ec.message()
                                     << ")" << fix);
  FileStat st = stat_path(dir_);
  MM_CHECK(st.exists && st.is_dir,
           "data cache folder " << dir_ << " (from " << origin_ << ") is not a directory" << fix);
  std::string probe = join_path(dir_, ".mmboost-write-test-XXXXXX");
  const int fd = ::mkstemp(probe.data());
  MM_CHECK(fd >= 0, "data cache folder " << dir_ << " (from " << origin_ << ") is not writable: cannot create a file "
                                         << "in it (" << std::strerror(errno) << ")" << fix);
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string DiskCache::write(const std::string& key, const std::vector<CacheBlob>& blobs) const {
  std::vector<unsigned char> b(kMagic, kMagic + 4);
  put<uint32_t>(b, kVersion);
  put<uint32_t>(b, static_cast<uint32_t>(blobs.size()));
  for (const auto& blob : blobs) {
    put<uint8_t>(b, blob.kind);
    put<uint8_t>(b, static_cast<uint8_t>(blob.shape.size()));
    for (int64_t v : blob.shape) put<int64_t>(b, v);
    b.insert(b.end(), blob.bytes.begin(), blob.bytes.end());
  }
  put<uint64_t>(b, hash64(b.data(), b.size(), 3));
  try {
    write_file_atomic(path_of(key), b.data(), b.size());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

DiskCache DiskCache::at_default_dir() {
  if (const char* d = std::getenv("MMBOOST_CACHE_DIR"); d && *d) {
    return DiskCache(d, "the environment variable MMBOOST_CACHE_DIR");
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    return DiskCache(join_path(x, "mmboost/data"), "the default: $XDG_CACHE_HOME/mmboost/data");
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return DiskCache(join_path(h, ".cache/mmboost/data"), "the default: ~/.cache/mmboost/data");
  }
  return DiskCache("/tmp/mmboost-cache/data", "the default: /tmp/mmboost-cache/data");
}

}  // namespace mm::data
