// The demo dataset builder: CREMA-D layout, loadable with the demo config, byte-identical for a
// seed whatever the thread count.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "data/config.h"
#include "data/demo.h"
#include "data/fileio.h"
#include "test_data_fixtures.h"

using namespace mm::data;

namespace {

bool demo_material_present() {
  return stat_path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists &&
         (stat_path("/usr/bin/espeak-ng").exists || stat_path("/usr/local/bin/espeak-ng").exists);
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

DemoOptions tiny(const std::string& out, int threads) {
  DemoOptions o;
  o.out_dir = out;
  o.seed = 11;
  o.num_classes = 2;
  o.clips_per_class = 4;
  o.test_fraction = 0.25;
  o.voices = 1;
  o.threads = threads;
  o.frames_per_clip = 2;
  o.progress = [](const std::string&) {};
  return o;
}

}  // namespace

TEST_CASE("make_demo: a small CREMA-D-layout dataset that the demo config loads", "[cpu][data]") {
  if (!demo_material_present()) {
    WARN("espeak-ng or dataset-fashion-mnist missing (tools/setup.sh); skipping");
    return;
  }
  mmtest::TempDir dir;
  DemoSummary s = make_demo(tiny(dir / "a", 2));
  CHECK(s.train_clips == 6);
  CHECK(s.test_clips == 2);
  CHECK(s.syntheses == 2 * 9);
  CHECK(bytes_of(dir / "a/annotations/classes.txt") == "NEU\nHAP\n");
  CHECK(stat_path(dir / "a/Image-01-FPS/NEU_0000_V0/00002.jpg").exists);
  CHECK(stat_path(dir / "a/AudioWAV/HAP_0003_V0.wav").exists);

  nlohmann::json cfg = nlohmann::json::parse(bytes_of(s.config_path));
  cfg["cache_dir"] = dir / "cache";
  DatasetInfo info = describe(cfg);
  CHECK(info.class_names == std::vector<std::string>{"NEU", "HAP"});
  CHECK(info.modalities[0].shape == mm::Shape{1, 129, 63});
  CHECK(info.modalities[1].shape == mm::Shape{1, 1, 64, 64});
  auto train = make_stream(cfg, "train", 0);
  auto test = make_stream(cfg, "test", 0);
  CHECK(train->num_samples() + make_stream(cfg, "val", 0)->num_samples() == 6);
  test->start_epoch(0);
  Batch b;
  REQUIRE(test->next(b));
  CHECK(b.size() == 2);
  // speech is present: the loudest spectrogram bins are well above the noise floor
  std::vector<float> spec = b.inputs[0].to_vector();
  float mx = *std::max_element(spec.begin(), spec.end());
  CHECK(mx > std::log(1.0f));

  // same seed, another thread count: byte-identical files
  make_demo(tiny(dir / "b", 1));
  for (const char* f : {"annotations/train.csv", "annotations/test.csv", "AudioWAV/NEU_0001_V0.wav",
                        "Image-01-FPS/HAP_0002_V0/00001.jpg"}) {
    INFO(f);
    CHECK(bytes_of(dir / (std::string("a/") + f)) == bytes_of(dir / (std::string("b/") + f)));
  }
}

TEST_CASE("make_demo: bad options and missing material give clear errors", "[cpu][data]") {
  mmtest::TempDir dir;
  DemoOptions o = tiny(dir / "x", 1);
  o.num_classes = 11;
  CHECK_THROWS_WITH(make_demo(o), Catch::Contains("num_classes"));
  o = tiny(dir / "x", 1);
  o.fashion_mnist_dir = dir / "nowhere";
  CHECK_THROWS_WITH(make_demo(o), Catch::Contains("dataset-fashion-mnist"));
  o = tiny(dir / "x", 1);
  o.espeak = "/nonexistent/espeak-ng";
  if (demo_material_present()) CHECK_THROWS_WITH(make_demo(o), Catch::Contains("espeak-ng"));
}
