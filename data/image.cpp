// mmboost data: image decoding and frame transforms.
#include "data/image.h"

#include <stb_image.h>

#include <algorithm>
#include <cmath>

#include "data/fileio.h"
#include "engine/error.h"

namespace mm::data {

Image decode_image_memory(const void* data, size_t nbytes, int channels, const std::string& name) {
  MM_CHECK(channels == 1 || channels == 3, "image channels must be 1 or 3, got " << channels);
  MM_CHECK(nbytes > 0, name << ": empty file (0 bytes), not an image");
  MM_CHECK(nbytes < (size_t(1) << 31), name << ": file too large for an image (" << nbytes << " bytes)");
  int w = 0, h = 0, c = 0;
  // stb_image keeps its failure reason in a global; with several loader threads the text may
  // come from another thread's failure, so it is only a hint after the file name.
  unsigned char* px = stbi_load_from_memory(static_cast<const stbi_uc*>(data), static_cast<int>(nbytes),
                                            &w, &h, &c, channels);
  if (!px) {
    const char* why = stbi_failure_reason();
    MM_FAIL(name << ": cannot decode image (" << (why ? why : "unknown reason")
                 << "); expected a JPEG or PNG file");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.assign(px, px + static_cast<size_t>(w) * h * channels);
  stbi_image_free(px);
  MM_CHECK(w > 0 && h > 0, name << ": image has no pixels");
  return img;
}

Image decode_image_file(const std::string& path, int channels) {
  std::vector<unsigned char> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), channels, path);
}

namespace {

// Filter taps of one output coordinate along one axis.
struct Taps {
  int first = 0;
  std::vector<float> w;
};

// Output j of out_len covers source [start + j*scale, start + (j+1)*scale); its centre gets a
// triangle filter of radius max(scale, 1), clipped to the image [0, in_size) and renormalised.
std::vector<Taps> make_taps(double start, double len, int out_len, int in_size) {
  std::vector<Taps> taps(static_cast<size_t>(out_len));
  const double scale = len / out_len;
  const double radius = std::max(scale, 1.0);
  for (int j = 0; j < out_len; ++j) {
    const double centre = start + (j + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(std::floor(centre - radius)));
    int hi = std::min(in_size - 1, static_cast<int>(std::ceil(centre + radius)));
    Taps& t = taps[static_cast<size_t>(j)];
    double total = 0;
    std::vector<double> wd;
    for (int i = lo; i <= hi; ++i) {
      double d = std::fabs((i + 0.5 - centre) / radius);
      wd.push_back(d < 1.0 ? 1.0 - d : 0.0);
      total += wd.back();
    }
    if (total <= 0) {  // centre outside the image: nearest edge pixel
      int k = std::clamp(static_cast<int>(std::floor(centre)), 0, in_size - 1);
      t.first = k;
      t.w = {1.0f};
      continue;
    }
    // trim zero weights at both ends
    int a = 0, b = static_cast<int>(wd.size()) - 1;
    while (a < b && wd[static_cast<size_t>(a)] == 0) ++a;
    while (b > a && wd[static_cast<size_t>(b)] == 0) --b;
    t.first = lo + a;
    for (int k = a; k <= b; ++k) t.w.push_back(static_cast<float>(wd[static_cast<size_t>(k)] / total));
  }
  return taps;
}

}  // namespace

void resize_to_float(const Image& src, Box box, int out_w, int out_h, std::vector<float>& out) {
  MM_CHECK(out_w > 0 && out_h > 0, "resize: output size must be positive");
  MM_CHECK(box.w > 0 && box.h > 0 && box.x >= 0 && box.y >= 0 && box.x + box.w <= src.width &&
               box.y + box.h <= src.height,
           "resize: crop box outside the image");
  const int C = src.channels;
  std::vector<Taps> tx = make_taps(box.x, box.w, out_w, src.width);
  std::vector<Taps> ty = make_taps(box.y, box.h, out_h, src.height);
  // rows the vertical pass reads
  int row_lo = src.height, row_hi = -1;
  for (const Taps& t : ty) {
    row_lo = std::min(row_lo, t.first);
    row_hi = std::max(row_hi, t.first + static_cast<int>(t.w.size()) - 1);
  }
  const int R = row_hi - row_lo + 1;
  // horizontal pass: tmp (R, out_w, C)
  std::vector<float> tmp(static_cast<size_t>(R) * out_w * C);
  for (int r = 0; r < R; ++r) {
    const uint8_t* row = src.pixels.data() + static_cast<size_t>(row_lo + r) * src.width * C;
    float* dst = tmp.data() + static_cast<size_t>(r) * out_w * C;
    for (int j = 0; j < out_w; ++j) {
      const Taps& t = tx[static_cast<size_t>(j)];
      for (int c = 0; c < C; ++c) {
        float acc = 0;
        for (size_t k = 0; k < t.w.size(); ++k) acc += t.w[k] * row[(t.first + static_cast<int>(k)) * C + c];
        dst[j * C + c] = acc;
      }
    }
  }
  // vertical pass: out (out_h, out_w, C)
  out.assign(static_cast<size_t>(out_h) * out_w * C, 0.0f);
  for (int i = 0; i < out_h; ++i) {
    const Taps& t = ty[static_cast<size_t>(i)];
    float* dst = out.data() + static_cast<size_t>(i) * out_w * C;
    for (size_t k = 0; k < t.w.size(); ++k) {
      const float* srow = tmp.data() + static_cast<size_t>(t.first + static_cast<int>(k) - row_lo) * out_w * C;
      const float wk = t.w[k];
      for (int q = 0; q < out_w * C; ++q) dst[q] += wk * srow[q];
    }
  }
}

Image resize(const Image& src, int out_w, int out_h) {
  std::vector<float> f;
  resize_to_float(src, Box{0, 0, src.width, src.height}, out_w, out_h, f);
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = src.channels;
  out.pixels.resize(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    out.pixels[i] = static_cast<uint8_t>(std::clamp(f[i] + 0.5f, 0.0f, 255.0f));  // round half up
  }
  return out;
}

Image resize_short_side(const Image& src, int short_side) {
  const int s = std::min(src.width, src.height);
  if (short_side <= 0 || s <= short_side) return src;
  int w, h;
  if (src.width <= src.height) {
    w = short_side;
    h = static_cast<int>(std::lround(static_cast<double>(src.height) * short_side / src.width));
  } else {
    h = short_side;
    w = static_cast<int>(std::lround(static_cast<double>(src.width) * short_side / src.height));
  }
  return resize(src, std::max(w, 1), std::max(h, 1));
}

Box random_resized_crop_box(int width, int height, float scale_lo, float scale_hi, float ratio_lo,
                            float ratio_hi, Generator& gen) {
  const double area = static_cast<double>(width) * height;
  const double lr_lo = std::log(ratio_lo), lr_hi = std::log(ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * (scale_lo + (scale_hi - scale_lo) * static_cast<double>(gen.uniform()));
    double aspect = std::exp(lr_lo + (lr_hi - lr_lo) * static_cast<double>(gen.uniform()));
    int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      int y = static_cast<int>(gen.randint(height - h + 1));
      int x = static_cast<int>(gen.randint(width - w + 1));
      return Box{x, y, w, h};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_lo) {
    h = static_cast<int>(std::lround(w / static_cast<double>(ratio_lo)));
  } else if (in_ratio > ratio_hi) {
    w = static_cast<int>(std::lround(h * static_cast<double>(ratio_hi)));
  }
  w = std::clamp(w, 1, width);
  h = std::clamp(h, 1, height);
  return Box{(width - w) / 2, (height - h) / 2, w, h};
}

Box center_crop_box(int width, int height, int resize_short, int size) {
  const int s = std::min(width, height);
  const double scale = resize_short > 0 ? static_cast<double>(resize_short) / s : 1.0;
  int side_w = std::clamp(static_cast<int>(std::lround(size / scale)), 1, width);
  int side_h = std::clamp(static_cast<int>(std::lround(size / scale)), 1, height);
  return Box{(width - side_w) / 2, (height - side_h) / 2, side_w, side_h};
}

void normalize_chw(const std::vector<float>& in, int w, int h, int c, const std::vector<float>& mean,
                   const std::vector<float>& stdev, bool flip, float* out) {
  MM_CHECK(static_cast<int>(mean.size()) == c && static_cast<int>(stdev.size()) == c,
           "frames.mean and frames.std need one value per channel (" << c << ")");
  for (int ch = 0; ch < c; ++ch) {
    const float m = mean[static_cast<size_t>(ch)], inv = 1.0f / stdev[static_cast<size_t>(ch)];
    float* plane = out + static_cast<size_t>(ch) * h * w;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        int sx = flip ? w - 1 - x : x;
        float v = in[(static_cast<size_t>(y) * w + sx) * c + ch] * (1.0f / 255.0f);
        plane[static_cast<size_t>(y) * w + x] = (v - m) * inv;
      }
    }
  }
}

std::vector<int64_t> select_frames(int64_t n, int64_t T, bool random, Generator* gen) {
  MM_CHECK(n >= 1 && T >= 1, "select_frames: need at least one frame");
  std::vector<int64_t> idx(static_cast<size_t>(T));
  for (int64_t k = 0; k < T; ++k) {
    int64_t lo = k * n / T, hi = (k + 1) * n / T;  // segment [lo, hi)
    if (random && gen && hi > lo + 1) {
      idx[static_cast<size_t>(k)] = lo + gen->randint(hi - lo);
    } else {
      idx[static_cast<size_t>(k)] = std::min(n - 1, static_cast<int64_t>((2 * k + 1) * n / (2 * T)));
    }
  }
  return idx;
}

}  // namespace mm::data
