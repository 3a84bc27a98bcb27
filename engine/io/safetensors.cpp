// Reading and writing the safetensors format.
//
// File = [u64 little-endian N][N bytes of UTF-8 JSON header][data section]. The header maps each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative to the
// data section, plus an optional "__metadata__" object of string -> string. We write the header
// padded with spaces so that the data section starts 8-byte aligned, and lay tensors out in
// the order given, back to back. The reader checks what the public reference implementation
// checks: the header fits in the file, offsets match dtype and shape, and the tensors tile the
// data section exactly (no overlap, no hole, nothing left over).
//
// Checksums: "__metadata__" also holds three CRC-32s (zlib's), each as 8 lowercase hex digits:
//   "mmboost.crc32.data"      the data section;
//   "mmboost.crc32.tensors"   the tensor table: the JSON array of [name, dtype, shape, begin,
//                             end] of every tensor, ordered by (begin, end, name), dumped
//                             compactly (so a renamed tensor or swapped offsets are caught);
//   "mmboost.crc32.metadata"  the "mmboost" string (the empty string when there is none).
// Reading checks whichever are there; files of other producers (and of mmboost before the
// checksums) have none.
#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "engine/error.h"

namespace mm::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference reader's limit
constexpr const char* kCrcData = "mmboost.crc32.data";
constexpr const char* kCrcTable = "mmboost.crc32.tensors";
constexpr const char* kCrcMeta = "mmboost.crc32.metadata";

#define MM_ST_FAIL(path, msg) MM_FAIL("safetensors file '" << (path) << "': " << msg)

bool host_is_little_endian() {
  const uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

void check_host(const std::string& path) {
  // Tensor bytes are copied as they lie in memory; the format stores them little-endian.
  MM_CHECK(host_is_little_endian(),
           "safetensors file '" << path << "': big-endian hosts are not supported");
}

const char* st_dtype(DType t) { return t == DType::F32 ? "F32" : "I64"; }

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;
  nlohmann::json metadata = nlohmann::json::object();
  uint64_t data_start = 0;  // file offset of the data section
  bool has_crc_data = false, has_crc_table = false, has_crc_meta = false;
  uint32_t crc_data = 0, crc_table = 0, crc_meta = 0;
  bool checksummed() const { return has_crc_data && has_crc_table && has_crc_meta; }
};

// zlib's CRC-32, continued over `data`; a fresh one starts from 0 (crc32_z(0, Z_NULL, 0)).
uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  return static_cast<uint32_t>(::crc32_z(crc, static_cast<const Bytef*>(data), n));
}

// File order: by offsets, ties (empty tensors at one offset) by name.
bool in_file_order(const Entry& a, const Entry& b) {
  return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
}

// The CRC-32 of the tensor table (see the top of this file).
uint32_t tensor_table_crc(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), in_file_order);
  nlohmann::json table = nlohmann::json::array();
  for (const Entry& e : entries) table.push_back({e.name, st_dtype(e.dtype), e.shape, e.begin, e.end});
  const std::string text = table.dump();
  return crc32_update(0, text.data(), text.size());
}

std::string crc_hex(uint32_t crc) {
  char b[9];
  std::snprintf(b, sizeof(b), "%08x", crc);
  return b;
}

// A stored checksum: exactly 8 lowercase hex digits.
uint32_t parse_crc(const std::string& path, const char* key, const std::string& v) {
  bool ok = v.size() == 8;
  for (char c : v) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) MM_ST_FAIL(path, "\"__metadata__\".\"" << key << "\" is '" << v << "', not a CRC-32 (8 hex digits)");
  return static_cast<uint32_t>(std::stoul(v, nullptr, 16));
}

using FilePtr = std::unique_ptr<FILE, int (*)(FILE*)>;

FilePtr open_for_reading(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) MM_ST_FAIL(path, "cannot open it for reading (" << std::strerror(errno) << ")");
  return FilePtr(f, &std::fclose);
}

uint64_t read_u64_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

// One header entry (not "__metadata__"): checks its fields and its size against dtype and shape.
Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v,
                  uint64_t data_size) {
  MM_CHECK(v.is_object(),
           "safetensors file '" << path << "': header entry '" << name << "' is not an object");
  auto field = [&](const char* key) -> const nlohmann::json& {
    auto it = v.find(key);
    if (it == v.end()) MM_ST_FAIL(path, "tensor '" << name << "' has no \"" << key << "\"");
    return *it;
  };
  Entry e;
  e.name = name;
  const auto& dtype = field("dtype");
  if (!dtype.is_string()) MM_ST_FAIL(path, "tensor '" << name << "': \"dtype\" is not a string");
  const std::string d = dtype.get<std::string>();
  static const std::set<std::string> kOtherDtypes = {
      "BOOL", "U8",  "I8",      "U16",     "I16",     "F16", "BF16",    "U32",     "I32",
      "U64",  "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64"};
  if (d == "F32") {
    e.dtype = DType::F32;
  } else if (d == "I64") {
    e.dtype = DType::I64;
  } else if (kOtherDtypes.count(d)) {
    MM_ST_FAIL(path, "tensor '" << name << "' has dtype " << d << ", which mmboost does not "
                                << "read (only F32 and I64); convert it before loading");
  } else {
    MM_ST_FAIL(path, "tensor '" << name << "' has unknown dtype '" << d << "'");
  }
  const auto& shape = field("shape");
  if (!shape.is_array()) MM_ST_FAIL(path, "tensor '" << name << "': \"shape\" is not an array");
  uint64_t numel = 1;
  for (const auto& s : shape) {
    if (!s.is_number_unsigned())
      MM_ST_FAIL(path, "tensor '" << name << "': shape " << shape.dump()
                                  << " must hold non-negative integers");
    uint64_t n = s.get<uint64_t>();
    if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, n, &numel))
      MM_ST_FAIL(path, "tensor '" << name << "': shape " << shape.dump() << " is too large");
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const auto& off = field("data_offsets");
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    MM_ST_FAIL(path, "tensor '" << name << "': \"data_offsets\" must be two non-negative "
                                << "integers [begin, end), got " << off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin)
    MM_ST_FAIL(path, "tensor '" << name << "': data_offsets [" << e.begin << ", " << e.end
                                << ") end before they begin");
  if (e.end > data_size)
    MM_ST_FAIL(path, "tensor '" << name << "': data_offsets [" << e.begin << ", " << e.end
                                << ") lie outside the " << data_size << "-byte data section "
                                << "(is the file truncated?)");
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(e.dtype)), &nbytes) ||
      nbytes != e.end - e.begin)
    MM_ST_FAIL(path, "tensor '" << name << "' has shape " << shape.dump() << " of " << d << " ("
                                << numel << " elements) but its data_offsets [" << e.begin << ", "
                                << e.end << ") span " << e.end - e.begin << " bytes");
  return e;
}

// Reads and validates the header; leaves the data section unread.
Header read_header(FILE* f, const std::string& path) {
  check_host(path);
  if (fseeko(f, 0, SEEK_END) != 0) MM_ST_FAIL(path, "cannot seek (" << std::strerror(errno) << ")");
  const off_t file_size_signed = ftello(f);
  if (file_size_signed < 0)
    MM_ST_FAIL(path, "cannot tell its size (" << std::strerror(errno) << ")");
  const uint64_t file_size = static_cast<uint64_t>(file_size_signed);
  std::rewind(f);
  if (file_size < 8)
    MM_ST_FAIL(path, "it is only " << file_size << " bytes long, too short for the 8-byte "
                                   << "header length (truncated, or not a safetensors file)");
  unsigned char len_bytes[8];
  if (std::fread(len_bytes, 1, 8, f) != 8) MM_ST_FAIL(path, "cannot read the header length");
  const uint64_t n = read_u64_le(len_bytes);
  if (n > file_size - 8)
    MM_ST_FAIL(path, "the header length " << n << " runs past the end of the " << file_size
                                          << "-byte file (truncated, or not a safetensors file)");
  if (n > kMaxHeaderBytes)
    MM_ST_FAIL(path, "the header length " << n << " exceeds " << kMaxHeaderBytes
                                          << " bytes (not a safetensors file?)");
  std::string text(n, '\0');
  if (n && std::fread(text.data(), 1, n, f) != n) MM_ST_FAIL(path, "cannot read the header");

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    MM_ST_FAIL(path, "the header is not valid JSON (" << e.what() << "); not a safetensors file?");
  }
  if (!j.is_object()) MM_ST_FAIL(path, "the header is JSON but not an object");

  Header h;
  h.data_start = 8 + n;
  std::optional<std::string> mmboost_text;  // parsed last, after the checks
  const uint64_t data_size = file_size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      const auto& meta = it.value();
      if (!meta.is_object()) MM_ST_FAIL(path, "\"__metadata__\" is not an object");
      for (auto m = meta.begin(); m != meta.end(); ++m)
        if (!m.value().is_string())
          MM_ST_FAIL(path, "\"__metadata__\" value '" << m.key() << "' is not a string");
      auto ours = meta.find("mmboost");
      if (ours != meta.end()) mmboost_text = ours->get<std::string>();
      auto crc_meta = meta.find(kCrcMeta);
      if (crc_meta != meta.end()) {
        h.crc_meta = parse_crc(path, kCrcMeta, crc_meta->get<std::string>());
        h.has_crc_meta = true;
      }
      auto crc_data = meta.find(kCrcData);
      if (crc_data != meta.end()) {
        h.crc_data = parse_crc(path, kCrcData, crc_data->get<std::string>());
        h.has_crc_data = true;
      }
      auto crc_table = meta.find(kCrcTable);
      if (crc_table != meta.end()) {
        h.crc_table = parse_crc(path, kCrcTable, crc_table->get<std::string>());
        h.has_crc_table = true;
      }
      continue;
    }
    h.entries.push_back(parse_entry(path, it.key(), it.value(), data_size));
  }

  // The tensors must tile [0, data_size): sorted by offsets, each begins where the last ended.
  // (h.entries stay in that order: the reader takes the data section front to back.)
  std::sort(h.entries.begin(), h.entries.end(), in_file_order);
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin < covered)
      MM_ST_FAIL(path, "tensors '" << prev->name << "' and '" << e.name
                                   << "' overlap (data_offsets [" << prev->begin << ", "
                                   << prev->end << ") and [" << e.begin << ", " << e.end << "))");
    if (e.begin > covered)
      MM_ST_FAIL(path, "bytes [" << covered << ", " << e.begin << ") of the data section, before "
                                 << "tensor '" << e.name << "', belong to no tensor");
    covered = e.end;
    prev = &e;
  }
  if (covered != data_size)
    MM_ST_FAIL(path, "the tensors cover " << covered << " bytes but the data section has "
                                          << data_size
                                          << " (trailing bytes after the last tensor)");
  // After the layout, whose errors say more (a truncated file) than a checksum's; before the
  // metadata is parsed, since a damaged byte there is better named as damage than as bad JSON.
  if (h.has_crc_table) {
    const uint32_t actual = tensor_table_crc(h.entries);
    if (actual != h.crc_table)
      MM_ST_FAIL(path, "its tensor table (names, dtypes, shapes, offsets) does not match the checksum "
                           << "written with it (CRC-32 " << crc_hex(actual) << ", stored " << crc_hex(h.crc_table)
                           << "): the file was changed or damaged after it was written");
  }
  if (h.has_crc_meta) {
    const std::string text = mmboost_text.value_or(std::string());
    const uint32_t actual = crc32_update(0, text.data(), text.size());
    if (actual != h.crc_meta)
      MM_ST_FAIL(path, "its metadata does not match the checksum written with it (CRC-32 "
                           << crc_hex(actual) << ", stored " << crc_hex(h.crc_meta)
                           << "): the file was changed or damaged after it was written");
  }
  if (mmboost_text) {
    try {
      h.metadata = nlohmann::json::parse(*mmboost_text);
    } catch (const nlohmann::json::parse_error& e) {
      MM_ST_FAIL(path, "\"__metadata__\".\"mmboost\" is not valid JSON (" << e.what() << ")");
    }
  }
  return h;
}

// Joins up to `limit` names, then "and N more".
std::string join_names(const std::vector<std::string>& names, size_t limit = 20) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size() && i < limit; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > limit) os << " and " << names.size() - limit << " more";
  return os.str();
}

// fsync of the directory holding `path`, so that the rename itself is durable. Best effort:
// some filesystems refuse it, and the data is already safe.
void sync_parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const nlohmann::json& metadata) {
  check_host(path);
  // Header, tensors in the order given, back to back from offset 0.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string dumped;  // the "mmboost" metadata string, empty when there is none
  if (!metadata.is_null() && !(metadata.is_object() && metadata.empty())) {
    try {
      dumped = metadata.dump();
    } catch (const nlohmann::json::exception& e) {
      MM_ST_FAIL(path, "cannot serialise the metadata (" << e.what() << ")");
    }
    header["__metadata__"]["mmboost"] = dumped;
  }
  header["__metadata__"][kCrcMeta] = crc_hex(crc32_update(0, dumped.data(), dumped.size()));
  std::set<std::string> names;
  std::vector<Tensor> host;
  std::vector<Entry> entries;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MM_CHECK(!name.empty() && name != "__metadata__", "safetensors file '"
                                                          << path << "': tensor name '" << name
                                                          << "' is reserved or empty");
    MM_CHECK(names.insert(name).second,
             "safetensors file '" << path << "': tensor name '" << name << "' appears twice");
    MM_CHECK(t.defined(),
             "safetensors file '" << path << "': tensor '" << name << "' is undefined");
    Tensor h = t.detach().contiguous().to(Device::CPU);
    const uint64_t nbytes = static_cast<uint64_t>(h.numel()) * dtype_size(h.dtype());
    header[name] = {{"dtype", st_dtype(h.dtype())},
                    {"shape", h.shape()},
                    {"data_offsets", nlohmann::ordered_json::array({offset, offset + nbytes})}};
    entries.push_back({name, h.dtype(), h.shape(), offset, offset + nbytes});
    offset += nbytes;
    host.push_back(std::move(h));
  }
  uint32_t crc = 0;
  for (const Tensor& h : host)
    crc = crc32_update(crc, h.raw_data(), static_cast<size_t>(h.numel()) * dtype_size(h.dtype()));
  header["__metadata__"][kCrcData] = crc_hex(crc);
  header["__metadata__"][kCrcTable] = crc_hex(tensor_table_crc(entries));
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  // Write to <path>.tmp, flush to disk, then rename: a crash leaves the old file or the new one,
  // never a torn one.
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) MM_ST_FAIL(path, "cannot create '" << tmp << "' (" << std::strerror(errno) << ")");
  bool ok = std::fwrite(len_bytes, 1, 8, f) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (size_t i = 0; ok && i < host.size(); ++i) {
    const size_t nbytes = static_cast<size_t>(host[i].numel()) * dtype_size(host[i].dtype());
    ok = nbytes == 0 || std::fwrite(host[i].raw_data(), 1, nbytes, f) == nbytes;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int saved_errno = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    MM_ST_FAIL(path, "writing failed (" << std::strerror(saved_errno ? saved_errno : errno)
                                        << "); is the disk full?");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    MM_ST_FAIL(path, "cannot rename '" << tmp << "' over it (" << std::strerror(e) << ")");
  }
  sync_parent_dir(path);
}

SafetensorsFile load_safetensors(const std::string& path) {
  FilePtr f = open_for_reading(path);
  Header h = read_header(f.get(), path);
  SafetensorsFile out;
  out.path = path;
  out.metadata = std::move(h.metadata);
  // h.entries are in file order (the tensors tile the data section), so the checksum runs over
  // the section from its first byte to its last.
  uint32_t crc = 0;
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    const uint64_t nbytes = e.end - e.begin;
    if (nbytes) {
      if (fseeko(f.get(), static_cast<off_t>(h.data_start + e.begin), SEEK_SET) != 0 ||
          std::fread(t.raw_data(), 1, nbytes, f.get()) != nbytes)
        MM_ST_FAIL(path, "cannot read the data of tensor '" << e.name << "'");
      if (h.has_crc_data) crc = crc32_update(crc, t.raw_data(), nbytes);
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  if (h.has_crc_data && crc != h.crc_data)
    MM_ST_FAIL(path, "its tensor data do not match the checksum written with them (CRC-32 "
                         << crc_hex(crc) << ", stored " << crc_hex(h.crc_data)
                         << "): the file was changed or damaged after it was written");
  out.checksummed = h.checksummed();
  return out;
}

nlohmann::json read_safetensors_metadata(const std::string& path, bool* checksummed) {
  FilePtr f = open_for_reading(path);
  Header h = read_header(f.get(), path);
  if (checksummed) *checksummed = h.checksummed();
  return std::move(h.metadata);
}

void load_into(const SafetensorsFile& file, const nn::NamedTensors& into, const std::string& prefix,
               bool allow_missing) {
  // Check every name first and report all problems at once; copy only when all are fine, so
  // that a failed load leaves the destination untouched.
  std::vector<std::string> missing, mismatched;
  for (const auto& [name, t] : into) {
    auto it = file.tensors.find(prefix + name);
    if (it == file.tensors.end()) {
      if (!allow_missing) missing.push_back(prefix + name);
      continue;
    }
    const Tensor& src = it->second;
    if (src.shape() != t.shape() || src.dtype() != t.dtype())
      mismatched.push_back(prefix + name + " (file " + src.describe() + ", expected " +
                           t.describe() + ")");
  }
  if (!missing.empty() || !mismatched.empty()) {
    std::ostringstream os;
    if (!missing.empty()) os << missing.size() << " tensor(s) missing: " << join_names(missing);
    if (!mismatched.empty())
      os << (missing.empty() ? "" : "; ") << mismatched.size()
         << " tensor(s) with another shape or dtype: " << join_names(mismatched);
    MM_ST_FAIL(file.path, "cannot load into the given tensors: "
                              << os.str() << ". Was it saved from the same architecture?");
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : into) {
    auto it = file.tensors.find(prefix + name);
    if (it == file.tensors.end()) continue;
    Tensor dst = t;
    dst.copy_(it->second);
  }
}

}  // namespace mm::io
