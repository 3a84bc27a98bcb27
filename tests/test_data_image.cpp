// Image decoding and frame transforms on known images with hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>

#include "data/fileio.h"
#include "data/image.h"
#include "engine/error.h"
#include "test_data_fixtures.h"

using namespace mm::data;

namespace {
Image gray(int w, int h, std::vector<uint8_t> px) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 1;
  img.pixels = std::move(px);
  return img;
}
}  // namespace

TEST_CASE("image decode: PNG is lossless, JPEG close, channels converted", "[cpu][data]") {
  mmtest::TempDir dir;
  std::vector<unsigned char> px = mmtest::pattern(13, 7, 3, 5);
  mmtest::write_png(dir / "a.png", 13, 7, 3, px);
  Image img = decode_image_file(dir / "a.png", 3);
  REQUIRE(img.width == 13);
  REQUIRE(img.height == 7);
  REQUIRE(img.channels == 3);
  CHECK(img.pixels == px);
  // RGB -> grey uses stb's luma weights (77, 150, 29) / 256
  Image g = decode_image_file(dir / "a.png", 1);
  REQUIRE(g.channels == 1);
  for (int i = 0; i < 13 * 7; i += 11) {
    int want = (px[3 * i] * 77 + px[3 * i + 1] * 150 + px[3 * i + 2] * 29) >> 8;
    CHECK(std::abs(int(g.pixels[static_cast<size_t>(i)]) - want) <= 1);
  }
  // a smooth JPEG stays close to its source
  std::vector<unsigned char> smooth(32 * 32 * 3);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c) smooth[static_cast<size_t>((y * 32 + x) * 3 + c)] = static_cast<unsigned char>(4 * x + 2 * y + 20 * c);
  mmtest::write_jpg(dir / "b.jpg", 32, 32, 3, smooth);
  Image j = decode_image_file(dir / "b.jpg", 3);
  double err = 0;
  for (size_t i = 0; i < smooth.size(); ++i) err += std::fabs(double(j.pixels[i]) - smooth[i]);
  CHECK(err / smooth.size() < 3.0);
}

TEST_CASE("image decode: an undecodable file names the file", "[cpu][data]") {
  mmtest::TempDir dir;
  mmtest::write_text(dir / "bad.jpg", "\xFF\xD8\xFF garbage that is not a JPEG stream");
  try {
    decode_image_file(dir / "bad.jpg", 3);
    FAIL("no error");
  } catch (const mm::Error& e) {
    std::string msg = e.what();
    CHECK(msg.find(dir / "bad.jpg") != std::string::npos);
    CHECK(msg.find("cannot decode image") != std::string::npos);
  }
}

TEST_CASE("resize: bilinear upscaling with half-pixel centres, hand-computed", "[cpu][data]") {
  // row [0, 4] -> 4 wide: source x = (j + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped
  // at the edges: 0, 1, 3, 4.
  Image src = gray(2, 1, {0, 4});
  std::vector<float> out;
  resize_to_float(src, Box{0, 0, 2, 1}, 4, 1, out);
  REQUIRE(out.size() == 4);
  CHECK(out[0] == Approx(0.0f).margin(1e-5));
  CHECK(out[1] == Approx(1.0f).margin(1e-5));
  CHECK(out[2] == Approx(3.0f).margin(1e-5));
  CHECK(out[3] == Approx(4.0f).margin(1e-5));
  // 2-D: [[0, 4], [8, 12]] -> 4x4, centre pixels (1,1) = bilinear at (0.25, 0.25) = 0*.5625 +
  // 4*.1875 + 8*.1875 + 12*.0625 = 3
  Image sq = gray(2, 2, {0, 4, 8, 12});
  resize_to_float(sq, Box{0, 0, 2, 2}, 4, 4, out);
  CHECK(out[1 * 4 + 1] == Approx(3.0f).margin(1e-5));
  CHECK(out[2 * 4 + 2] == Approx(9.0f).margin(1e-5));
}

TEST_CASE("resize: shrinking averages with a widened triangle filter", "[cpu][data]") {
  // row [0, 10, 20, 30] -> 2 wide, scale 2, radius 2. Output 0 is centred at 1.0: taps at
  // pixel centres 0.5, 1.5, 2.5 weigh 1 - |d|/2 = .75, .75, .25 -> (0*.75 + 10*.75 + 20*.25)/1.75.
  Image src = gray(4, 1, {0, 10, 20, 30});
  std::vector<float> out;
  resize_to_float(src, Box{0, 0, 4, 1}, 2, 1, out);
  CHECK(out[0] == Approx(12.5 / 1.75).epsilon(1e-5));
  CHECK(out[1] == Approx(40.0 / 1.75).epsilon(1e-5));
  // a constant image stays constant at any size
  Image c = gray(9, 5, std::vector<uint8_t>(45, 77));
  resize_to_float(c, Box{2, 1, 6, 3}, 7, 11, out);
  for (float v : out) CHECK(v == Approx(77.0f).margin(1e-3));
  Image r = resize(c, 3, 2);
  CHECK(r.pixels == std::vector<uint8_t>(6, 77));
}

TEST_CASE("resize_short_side keeps the aspect ratio", "[cpu][data]") {
  Image src = gray(300, 100, std::vector<uint8_t>(30000, 5));
  Image r = resize_short_side(src, 50);
  CHECK(r.width == 150);
  CHECK(r.height == 50);
  CHECK(resize_short_side(src, 200).width == 300);  // never upscales
}

TEST_CASE("random_resized_crop: boxes inside the image with area and ratio in range, seeded", "[cpu][data]") {
  mm::Generator g1(7), g2(7);
  for (int i = 0; i < 200; ++i) {
    Box b = random_resized_crop_box(320, 240, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f, g1);
    Box b2 = random_resized_crop_box(320, 240, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f, g2);
    CHECK((b.x == b2.x && b.y == b2.y && b.w == b2.w && b.h == b2.h));
    REQUIRE(b.x >= 0);
    REQUIRE(b.y >= 0);
    REQUIRE(b.x + b.w <= 320);
    REQUIRE(b.y + b.h <= 240);
    double area = double(b.w) * b.h / (320.0 * 240.0);
    CHECK(area >= 0.08 * 0.9);
    CHECK(area <= 1.0);
    double ratio = double(b.w) / b.h;
    bool fallback = b.w == 320 && b.h == 240;
    CHECK((fallback || (ratio > 0.75 * 0.9 && ratio < 4.0 / 3.0 * 1.1)));
  }
  // scale (1, 1) on a square image: the whole image
  mm::Generator g(1);
  Box full = random_resized_crop_box(50, 50, 1.0f, 1.0f, 1.0f, 1.0f, g);
  CHECK((full.x == 0 && full.y == 0 && full.w == 50 && full.h == 50));
}

TEST_CASE("center_crop_box: resize short side then crop, as a source box", "[cpu][data]") {
  // 400 x 300, short side 300 -> 256 (scale .8533); a 224 crop covers 224/.8533 = 262.5 -> 263
  Box b = center_crop_box(400, 300, 256, 224);
  CHECK(b.w == 263);
  CHECK(b.h == 263);
  CHECK(b.x == (400 - 263) / 2);
  CHECK(b.y == (300 - 263) / 2);
}

TEST_CASE("normalize_chw: mean/std per channel, HWC -> CHW, horizontal flip", "[cpu][data]") {
  // 2 x 1 image, 3 channels: pixel 0 = (255, 0, 51), pixel 1 = (0, 255, 102)
  std::vector<float> hwc = {255, 0, 51, 0, 255, 102};
  std::vector<float> mean = {0.5f, 0.5f, 0.2f}, sd = {0.5f, 0.25f, 0.1f};
  std::vector<float> out(6);
  normalize_chw(hwc, 2, 1, 3, mean, sd, false, out.data());
  // channel 0: (1 - .5)/.5 = 1, (0 - .5)/.5 = -1; channel 1: -2, 2; channel 2: (.2-.2)/.1 = 0, (.4-.2)/.1 = 2
  std::vector<float> want = {1, -1, -2, 2, 0, 2};
  for (size_t i = 0; i < 6; ++i) CHECK(out[i] == Approx(want[i]).margin(1e-5));
  normalize_chw(hwc, 2, 1, 3, mean, sd, true, out.data());
  std::vector<float> flipped = {-1, 1, 2, -2, 2, 0};
  for (size_t i = 0; i < 6; ++i) CHECK(out[i] == Approx(flipped[i]).margin(1e-5));
}

TEST_CASE("select_frames: sorted, segment centres at test time, inside segments when random", "[cpu][data]") {
  CHECK(select_frames(10, 3, false, nullptr) == std::vector<int64_t>{1, 5, 8});
  CHECK(select_frames(1, 3, false, nullptr) == std::vector<int64_t>{0, 0, 0});
  CHECK(select_frames(2, 4, false, nullptr) == std::vector<int64_t>{0, 0, 1, 1});
  CHECK(select_frames(5, 1, false, nullptr) == std::vector<int64_t>{2});
  mm::Generator g(3);
  for (int rep = 0; rep < 50; ++rep) {
    std::vector<int64_t> idx = select_frames(10, 3, true, &g);
    CHECK((idx[0] >= 0 && idx[0] < 3));
    CHECK((idx[1] >= 3 && idx[1] < 6));
    CHECK((idx[2] >= 6 && idx[2] < 10));
  }
}

TEST_CASE("frame folders list images in natural order", "[cpu][data]") {
  mmtest::TempDir dir;
  for (const char* n : {"frame_10.jpg", "frame_2.JPG", "frame_1.png", "notes.txt", "frame_003.jpeg"}) {
    mmtest::write_text(dir / n, "x");
  }
  std::vector<std::string> names = list_dir_sorted(dir.path, {".jpg", ".jpeg", ".png"});
  CHECK(names == std::vector<std::string>{"frame_1.png", "frame_2.JPG", "frame_003.jpeg", "frame_10.jpg"});
  CHECK(natural_less("00002.jpg", "00010.jpg"));
  CHECK_FALSE(natural_less("b", "a"));
}
