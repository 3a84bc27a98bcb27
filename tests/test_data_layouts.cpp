// The shipped dataset configs load real folder layouts end to end: a Kinetics-Sounds folder in
// the paper's release layout through tools/configs/ks_naive.json, and a generic manifest with
// three frame modalities through tools/configs/nvgesture_naive.json.
#include <catch2/catch.hpp>

#include <filesystem>

#include "data/config.h"
#include "test_data_fixtures.h"
#include "tools/cli/config.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string shipped_config(const std::string& name) {
  return (fs::path(__FILE__).parent_path().parent_path() / "tools" / "configs" / name).string();
}

// The data section of a shipped config, fully resolved, with data.root set and no validation
// split.
json shipped_data_section(const std::string& name, const std::string& root, const std::string& cache) {
  json user = mm::cli::load_config_file(shipped_config(name));
  user["data"]["root"] = root;
  user["data"]["cache_dir"] = cache;
  json data = mm::cli::resolve(user).at("data");
  data["val_fraction"] = 0.0;
  return data;
}

// The modalities' names and per-sample shapes, in order.
void check_modalities(const mm::data::DatasetInfo& info, const std::vector<std::pair<std::string, mm::Shape>>& want) {
  REQUIRE(info.modalities.size() == want.size());
  for (size_t m = 0; m < want.size(); ++m) {
    CHECK(info.modalities[m].name == want[m].first);
    CHECK(info.modalities[m].shape == want[m].second);
  }
}

}  // namespace

TEST_CASE("kinetics_sounds layout loads through ks_naive.json: release paths, sorted labels, 257x1003 spectrograms",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "ks";
  const std::vector<std::string> labels = {"playing piano", "dog barking"};  // sorted: dog, piano
  std::string train, test;
  int k = 0;
  for (const auto& split : {"train", "test"}) {
    for (const auto& label : labels) {
      for (int i = 0; i < (std::string(split) == "train" ? 2 : 1); ++i, ++k) {
        const std::string id = "yt" + std::to_string(k);
        // 1 s at 8 kHz: the config resamples to 35,400 Hz and tiles to 10 s
        mmtest::write_sound(root + "/" + split + "_wav/" + id + ".wav", mmtest::sine(8000, 300 + 100 * k, 8000),
                            8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
        for (int f = 0; f < 4; ++f)
          mmtest::write_jpg(root + "/" + split + "_img/Image-01-FPS/" + id + "/" + std::to_string(f) + ".jpg",
                            32, 24, 3, mmtest::pattern(32, 24, 3, k * 10 + f));
        (std::string(split) == "train" ? train : test) += id + ",\"" + label + "\"\n";
      }
    }
  }
  mmtest::write_text(root + "/annotations/train.csv", train);
  mmtest::write_text(root + "/annotations/test.csv", test);

  json cfg = shipped_data_section("ks_naive.json", root, dir / "cache");
  mm::data::DatasetInfo info = mm::data::describe(cfg);
  CHECK(info.class_names == std::vector<std::string>{"dog barking", "playing piano"});
  check_modalities(info, {{"audio", {1, 257, 1003}}, {"video", {3, 3, 224, 224}}});

  auto stream = mm::data::make_stream(cfg, "test", 0);
  REQUIRE(stream->num_samples() == 2);
  stream->start_epoch(0);
  mm::data::Batch b;
  int64_t seen = 0;
  std::vector<int64_t> got;
  while (stream->next(b)) {
    CHECK(b.inputs.at(0).shape() == mm::Shape{b.size(), 1, 257, 1003});
    CHECK(b.inputs.at(1).shape() == mm::Shape{b.size(), 3, 3, 224, 224});
    for (int64_t i = 0; i < b.size(); ++i) got.push_back(b.labels.contiguous().data_i64()[i]);
    seen += b.size();
  }
  CHECK(seen == 2);
  // test.csv lists piano (label 1) first, then dog (label 0)
  CHECK(got == std::vector<int64_t>{1, 0});
}

TEST_CASE("manifest with three frame modalities loads through nvgesture_naive.json: rgb, depth (1 channel), of",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "nvg";
  std::string train = "id,label,rgb,depth,of\n", test = "id,label,rgb,depth,of\n";
  for (int k = 0; k < 6; ++k) {
    const std::string id = "class_" + std::to_string(k % 2) + "_clip" + std::to_string(k);
    std::string row = id + "," + std::to_string(k % 2);
    for (const auto& m : {"rgb", "depth", "of"}) {
      const int c = std::string(m) == "depth" ? 1 : 3;
      for (int f = 0; f < 10; ++f)
        mmtest::write_jpg(root + "/" + m + "/" + id + "/" + std::to_string(100 + f) + ".jpg", 20, 16, c,
                          mmtest::pattern(20, 16, c, k * 100 + f));
      row += std::string(",") + m + "/" + id;
    }
    (k < 4 ? train : test) += row + "\n";
  }
  mmtest::write_text(root + "/nvgesture_train.csv", train);
  mmtest::write_text(root + "/nvgesture_test.csv", test);

  json cfg = shipped_data_section("nvgesture_naive.json", root, dir / "cache");
  mm::data::DatasetInfo info = mm::data::describe(cfg);
  CHECK(info.class_names == std::vector<std::string>{"0", "1"});
  check_modalities(info, {{"rgb", {8, 3, 224, 224}}, {"depth", {8, 1, 224, 224}}, {"of", {8, 3, 224, 224}}});

  auto stream = mm::data::make_stream(cfg, "test", 0);
  REQUIRE(stream->num_samples() == 2);
  stream->start_epoch(0);
  mm::data::Batch b;
  int64_t seen = 0;
  while (stream->next(b)) {
    REQUIRE(b.inputs.size() == 3);
    CHECK(b.inputs.at(1).shape() == mm::Shape{b.size(), 8, 1, 224, 224});
    seen += b.size();
  }
  CHECK(seen == 2);
}
