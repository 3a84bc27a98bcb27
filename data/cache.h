// mmboost data: the on-disk cache of preprocessed samples.
//
// A clip's expensive, deterministic stage (decode + resample + STFT for audio; JPEG decode +
// resize for frames) runs once and is stored under CACHE_DIR/<2 hex>/<32 hex>.bin, keyed by
// a 128-bit hash of the source path(s), their size and mtime, and every preprocessing
// parameter that shapes the stored arrays. Changing a file or a parameter changes the key, so
// stale entries are never read (they are simply left behind; delete the folder to reclaim the
// space). Entries are written atomically (temporary file + rename) and end with a checksum; a
// damaged entry reads as a miss and is rewritten.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mm::data {

// One stored array: f32 or u8 values with a shape.
struct CacheBlob {
  enum Kind : uint8_t { F32 = 0, U8 = 1 };
  Kind kind = F32;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;  // numel * (4 or 1) bytes
};

uint64_t hash64(const void* data, size_t n, uint64_t seed);

class DiskCache {
 public:
  // `origin` names the setting the folder came from, for messages (e.g. "data.cache_dir").
  explicit DiskCache(std::string dir, std::string origin = "data.cache_dir")
      : dir_(std::move(dir)), origin_(std::move(origin)) {}
  const std::string& dir() const { return dir_; }
  const std::string& origin() const { return origin_; }

  // Creates the folder and checks that a file can be created in it; otherwise throws an error
  // naming the folder and the setting it came from. Run once when a stream is set up, so that an
  // unusable folder is not blamed on the first sample.
  void prepare() const;

  // Key of an entry: hash of the parameter text and, for each source file, path + size + mtime.
  static std::string key(const std::vector<std::string>& files, const std::string& params);

  bool read(const std::string& key, std::vector<CacheBlob>& out) const;
  // Returns "" or why the entry could not be written (a full disk, say). A failed write is the
  // cache's problem, not the sample's: the caller decides, it is not thrown.
  std::string write(const std::string& key, const std::vector<CacheBlob>& blobs) const;

  // The cache at the default folder: $MMBOOST_CACHE_DIR, else $XDG_CACHE_HOME/mmboost/data, else
  // ~/.cache/mmboost/data, else /tmp/mmboost-cache/data; its origin names which one.
  static DiskCache at_default_dir();

 private:
  std::string path_of(const std::string& key) const;
  std::string dir_;
  std::string origin_;
};

}  // namespace mm::data
