// mmboost data: .npy reader and writer.
#include "data/npy.h"

#include <cstring>
#include <sstream>

#include "data/fileio.h"
#include "engine/error.h"

namespace mm::data {

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
};

// The value text of 'key' in the header dict, e.g. "'<f4'" or "(3, 4)".
std::string dict_value(const std::string& h, const std::string& key, const std::string& name) {
  size_t k = h.find("'" + key + "'");
  MM_CHECK(k != std::string::npos, name << ": .npy header has no '" << key << "' entry");
  size_t colon = h.find(':', k);
  MM_CHECK(colon != std::string::npos, name << ": malformed .npy header");
  size_t v = h.find_first_not_of(' ', colon + 1);
  MM_CHECK(v != std::string::npos, name << ": malformed .npy header");
  size_t end;
  if (h[v] == '(') end = h.find(')', v);
  else if (h[v] == '\'') end = h.find('\'', v + 1);
  else end = h.find_first_of(",}", v) - 1;
  MM_CHECK(end != std::string::npos && end >= v, name << ": malformed .npy header");
  return h.substr(v, end - v + 1);
}

NpyHeader parse_header(const unsigned char* d, size_t n, const std::string& name) {
  MM_CHECK(n >= 10 && std::memcmp(d, "\x93NUMPY", 6) == 0, name << ": not a .npy file (bad magic)");
  const int major = d[6];
  size_t hlen, pos;
  if (major == 1) {
    hlen = size_t(d[8]) | size_t(d[9]) << 8;
    pos = 10;
  } else {
    MM_CHECK(major == 2 || major == 3, name << ": unsupported .npy version " << major);
    MM_CHECK(n >= 12, name << ": truncated .npy header");
    hlen = size_t(d[8]) | size_t(d[9]) << 8 | size_t(d[10]) << 16 | size_t(d[11]) << 24;
    pos = 12;
  }
  MM_CHECK(hlen <= n - pos, name << ": truncated .npy header");
  std::string h(reinterpret_cast<const char*>(d + pos), hlen);
  NpyHeader out;
  out.data_offset = pos + hlen;
  std::string descr = dict_value(h, "descr", name);
  MM_CHECK(descr.size() >= 2, name << ": malformed .npy descr");
  out.descr = descr.substr(1, descr.size() - 2);
  out.fortran = dict_value(h, "fortran_order", name).find("True") != std::string::npos;
  std::string shape = dict_value(h, "shape", name);
  std::string inner = shape.substr(1, shape.size() - 2);
  std::stringstream ss(inner);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    size_t a = tok.find_first_not_of(' ');
    if (a == std::string::npos) continue;
    int64_t v = 0;
    for (size_t i = a; i < tok.size() && tok[i] != ' '; ++i) {
      MM_CHECK(tok[i] >= '0' && tok[i] <= '9', name << ": malformed .npy shape " << shape);
      v = v * 10 + (tok[i] - '0');
      MM_CHECK(v < (int64_t(1) << 40), name << ": .npy shape too large");
    }
    out.shape.push_back(v);
  }
  return out;
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t v : s) {
    n *= v;
    MM_CHECK(n < (int64_t(1) << 40), ".npy array too large");
  }
  return n;
}

}  // namespace

NpyArray parse_npy(const void* bytes, size_t nbytes, const std::string& name) {
  const auto* d = static_cast<const unsigned char*>(bytes);
  NpyHeader h = parse_header(d, nbytes, name);
  MM_CHECK(!h.fortran, name << ": Fortran-order .npy arrays are not supported; save with np.ascontiguousarray");
  size_t esize;
  if (h.descr == "<f4" || h.descr == "f4") esize = 4;
  else if (h.descr == "<f8" || h.descr == "f8") esize = 8;
  else MM_FAIL(name << ": .npy dtype '" << h.descr << "' is not supported; save as float32 (<f4)");
  NpyArray a;
  a.shape = h.shape;
  const int64_t n = numel(h.shape);
  MM_CHECK(static_cast<uint64_t>(n) * esize <= nbytes - h.data_offset,
           name << ": truncated .npy data (" << n << " values declared)");
  a.data.resize(static_cast<size_t>(n));
  const unsigned char* p = d + h.data_offset;
  for (int64_t i = 0; i < n; ++i) {
    if (esize == 4) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      a.data[static_cast<size_t>(i)] = v;
    } else {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      a.data[static_cast<size_t>(i)] = static_cast<float>(v);
    }
  }
  return a;
}

NpyArray read_npy(const std::string& path) {
  std::vector<unsigned char> b = read_file_bytes(path);
  return parse_npy(b.data(), b.size(), path);
}

std::vector<int64_t> read_npy_shape(const std::string& path) {
  std::vector<unsigned char> head = read_file_prefix(path, 4096);
  return parse_header(head.data(), head.size(), path).shape;
}

void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  std::ostringstream dict;
  dict << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  dict << "), }";
  std::string h = dict.str();
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h.push_back('\n');
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  out += h;
  out.append(reinterpret_cast<const char*>(data.data()), data.size() * 4);
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace mm::data
