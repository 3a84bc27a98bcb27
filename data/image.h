// mmboost data: image decoding (stb_image: JPEG, PNG) and the transforms the field applies to
// video frames: resize (bilinear, antialiased when shrinking), RandomResizedCrop, horizontal
// flip, centre crop, mean/std normalisation, and the choice of T frames out of a clip's folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.h"

namespace mm::data {

// 8-bit image, pixels (H, W, C) row-major.
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  uint8_t at(int y, int x, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// Decodes to `channels` (1: grey, 3: RGB) whatever the file holds. Throws mm::Error naming the
// file and stb_image's reason.
Image decode_image_memory(const void* data, size_t nbytes, int channels, const std::string& name);
Image decode_image_file(const std::string& path, int channels);

// A crop rectangle in source pixels.
struct Box {
  int x = 0, y = 0, w = 0, h = 0;
};

// Resamples the region `box` of src to out_w x out_h with a triangle (bilinear) filter whose
// support widens with the shrink factor, so downscaling averages instead of aliasing (as PIL
// does); for upscaling this is plain bilinear with half-pixel centres (align_corners = false).
// out: (out_h, out_w, C) floats in [0, 255].
void resize_to_float(const Image& src, Box box, int out_w, int out_h, std::vector<float>& out);
Image resize(const Image& src, int out_w, int out_h);  // rounded to 8 bits
// Resize so the shorter side is `short_side` (aspect kept); src itself if already smaller or
// short_side <= 0.
Image resize_short_side(const Image& src, int short_side);

// torchvision's RandomResizedCrop box: up to 10 tries of area fraction in [scale_lo, scale_hi]
// and log-uniform aspect ratio in [ratio_lo, ratio_hi], then a centre crop of the clamped ratio.
Box random_resized_crop_box(int width, int height, float scale_lo, float scale_hi, float ratio_lo,
                            float ratio_hi, Generator& gen);
// Centre crop of side `size` after the short side is scaled to `resize_short` (expressed as a
// box in source pixels, so crop + resize is one resampling pass).
Box center_crop_box(int width, int height, int resize_short, int size);

// out (C, H, W) = (pixels/255 - mean[c]) / std[c], mirrored left-right when `flip`.
// in: (H, W, C) floats in [0, 255] as resize_to_float writes them.
void normalize_chw(const std::vector<float>& in, int w, int h, int c, const std::vector<float>& mean,
                   const std::vector<float>& stdev, bool flip, float* out);

// Indices of T frames out of n (sorted; repeats when n < T). Segment k covers
// [floor(k n / T), floor((k+1) n / T)); `random` draws one frame inside each segment, otherwise
// the segment's centre floor((k + 0.5) n / T) is taken.
std::vector<int64_t> select_frames(int64_t n, int64_t T, bool random, Generator* gen);

}  // namespace mm::data
