// The loader: epoch order and augmentations are pure functions of (seed, epoch), identical for
// any worker count; drop_last; the disk cache returns identical tensors on a hit.
#include <catch2/catch.hpp>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "data/cache.h"
#include "data/config.h"
#include "engine/backend.h"
#include "test_data_fixtures.h"

using namespace mm::data;
using nlohmann::json;

namespace {

struct Epoch {
  std::vector<std::string> ids;
  std::vector<std::vector<float>> inputs;  // per modality, concatenated over batches
  std::vector<int64_t> labels;
  std::vector<int64_t> batch_sizes;
};

Epoch run_epoch(Stream& s, int epoch) {
  Epoch e;
  e.inputs.resize(s.modality_names().size());
  s.start_epoch(epoch);
  Batch b;
  while (s.next(b)) {
    e.batch_sizes.push_back(b.size());
    for (const auto& id : b.ids) e.ids.push_back(id);
    for (size_t m = 0; m < b.inputs.size(); ++m) {
      std::vector<float> v = b.inputs[m].to_vector();
      e.inputs[m].insert(e.inputs[m].end(), v.begin(), v.end());
    }
    std::vector<int64_t> l = b.labels.to_int_vector();
    e.labels.insert(e.labels.end(), l.begin(), l.end());
  }
  return e;
}

}  // namespace

TEST_CASE("loader: order and augmentation depend only on (seed, epoch), not on worker count", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 6, 1, 3);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  cfg["val_fraction"] = 0.0;
  cfg["batch_size"] = 5;
  cfg["audio"]["train_crop"] = "random";  // random crops, frame picks, boxes and flips at train
  cfg["frames"]["num_frames"] = 2;

  StreamOptions w0, w1, w3;
  w0.workers = 0;
  w1.workers = 1;
  w3.workers = 3;
  auto s0 = make_stream(cfg, "train", 42, w0);
  auto s1 = make_stream(cfg, "train", 42, w1);
  auto s3 = make_stream(cfg, "train", 42, w3);
  Epoch a = run_epoch(*s0, 0), b = run_epoch(*s1, 0), c = run_epoch(*s3, 0);
  REQUIRE(a.ids.size() == 18);
  CHECK(a.batch_sizes == std::vector<int64_t>{5, 5, 5, 3});
  CHECK(a.ids == b.ids);
  CHECK(a.ids == c.ids);
  CHECK(a.labels == c.labels);
  for (size_t m = 0; m < a.inputs.size(); ++m) {
    CHECK(a.inputs[m] == b.inputs[m]);  // bit-identical
    CHECK(a.inputs[m] == c.inputs[m]);
  }
  // every sample exactly once, and shuffled
  std::set<std::string> uniq(a.ids.begin(), a.ids.end());
  CHECK(uniq.size() == 18);
  std::vector<std::string> sorted_ids = a.ids;
  std::sort(sorted_ids.begin(), sorted_ids.end());
  CHECK(sorted_ids != a.ids);

  // the next epoch differs, and repeating an epoch repeats it exactly (resume)
  Epoch a1 = run_epoch(*s3, 1);
  CHECK(a1.ids != a.ids);
  CHECK(a1.inputs[1] != a.inputs[1]);
  Epoch again = run_epoch(*s1, 0);
  CHECK(again.ids == a.ids);
  CHECK(again.inputs == a.inputs);
  // another seed gives another order
  auto other = make_stream(cfg, "train", 43, w1);
  CHECK(run_epoch(*other, 0).ids != a.ids);

  // Batches in page-locked memory (a run on CUDA): the same batches, in memory the CUDA backend
  // can upload without waiting where it has a device (elsewhere ordinary memory).
  StreamOptions pinned = w3;
  pinned.pin_memory = true;
  auto sp = make_stream(cfg, "train", 42, pinned);
  Epoch p = run_epoch(*sp, 0);
  CHECK(p.ids == a.ids);
  CHECK(p.labels == a.labels);
  CHECK(p.inputs == a.inputs);
  sp->start_epoch(0);
  Batch pb;
  REQUIRE(sp->next(pb));
  for (const auto& x : pb.inputs) CHECK(x.is_pinned() == mm::cuda::available());
  CHECK(pb.labels.is_pinned() == mm::cuda::available());
  Batch ordinary;
  s3->start_epoch(0);
  REQUIRE(s3->next(ordinary));
  CHECK_FALSE(ordinary.inputs[0].is_pinned());
}

TEST_CASE("loader: test split is in list order without augmentation; drop_last drops the tail", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 3, 2, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  cfg["batch_size"] = 4;
  auto test = make_stream(cfg, "test", 1);
  Epoch e0 = run_epoch(*test, 0), e1 = run_epoch(*test, 7);
  CHECK(e0.ids == std::vector<std::string>{"c0_3", "c0_4", "c1_3", "c1_4", "c2_3", "c2_4"});
  CHECK(e0.inputs == e1.inputs);
  CHECK(test->num_batches() == 2);

  cfg["val_fraction"] = 0.0;
  cfg["drop_last"] = true;
  auto train = make_stream(cfg, "train", 1);
  CHECK(train->num_samples() == 9);
  CHECK(train->num_batches() == 2);
  CHECK(run_epoch(*train, 0).batch_sizes == std::vector<int64_t>{4, 4});
}

TEST_CASE("loader: batches hold (B,1,F,S) spectrograms, (B,T,C,H,W) frames, i64 labels", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 2);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  auto s = make_stream(cfg, "test", 0);
  s->start_epoch(0);
  Batch b;
  REQUIRE(s->next(b));
  CHECK(b.inputs[0].shape() == mm::Shape{3, 1, 33, 63});
  CHECK(b.inputs[1].shape() == mm::Shape{3, 2, 3, 16, 16});
  CHECK(b.labels.dtype() == mm::DType::I64);
  CHECK(s->modality_names() == std::vector<std::string>{"audio", "video"});
  CHECK(s->num_classes() == 6);
  cfg["frames"]["layout"] = "CTHW";
  auto c = make_stream(cfg, "test", 0);
  c->start_epoch(0);
  Batch bc;
  REQUIRE(c->next(bc));
  REQUIRE(bc.inputs[1].shape() == mm::Shape{3, 3, 2, 16, 16});
  // CTHW is TCHW with T and C swapped
  CHECK(bc.inputs[1].to_vector() == b.inputs[1].permute({0, 2, 1, 3, 4}).contiguous().to_vector());
}

TEST_CASE("cache: a hit returns identical tensors; a changed file or parameter misses", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 2);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  cfg["frames"]["cache_short_side"] = 20;  // the cached frames are downscaled: exercises that path

  auto cold = make_stream(cfg, "test", 0);
  Epoch e_cold = run_epoch(*cold, 0);
  CHECK(cold->stats().cache_misses == 6);  // 3 clips x 2 modalities
  CHECK(cold->stats().cache_hits == 0);
  auto warm = make_stream(cfg, "test", 0);
  Epoch e_warm = run_epoch(*warm, 0);
  CHECK(warm->stats().cache_hits == 6);
  CHECK(warm->stats().cache_misses == 0);
  CHECK(e_warm.inputs == e_cold.inputs);

  // no cache at all gives the same values as the cached path
  json nocache = cfg;
  nocache["cache"] = false;
  auto plain = make_stream(nocache, "test", 0);
  CHECK(run_epoch(*plain, 0).inputs == e_cold.inputs);

  // rewriting one clip's audio (new size and mtime) and changing n_fft both miss
  mmtest::write_sound(root + "/AudioWAV/c0_2.wav", mmtest::sine(3000, 500, 8000), 8000, 1,
                      SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto changed = make_stream(cfg, "test", 0);
  run_epoch(*changed, 0);
  CHECK(changed->stats().cache_misses == 1);
  json other = cfg;
  other["audio"]["n_fft"] = 32;
  auto o = make_stream(other, "test", 0);
  run_epoch(*o, 0);
  CHECK(o->stats().cache_misses == 3);
  CHECK(o->stats().cache_hits == 3);

  // a damaged entry reads as a miss and is rewritten
  int damaged = 0;
  for (auto& f : std::filesystem::recursive_directory_iterator(dir / "cache")) {
    if (f.is_regular_file() && damaged < 100) {
      std::filesystem::resize_file(f.path(), std::filesystem::file_size(f.path()) / 2);
      ++damaged;
    }
  }
  auto repaired = make_stream(cfg, "test", 0);
  CHECK(run_epoch(*repaired, 0).inputs[1] == e_cold.inputs[1]);
  CHECK(repaired->stats().cache_hits == 0);
}

TEST_CASE("cache: entries round-trip f32 and u8 blobs", "[cpu][data]") {
  mmtest::TempDir dir;
  DiskCache cache(dir / "c");
  CacheBlob f;
  f.kind = CacheBlob::F32;
  f.shape = {2, 3};
  std::vector<float> vals = {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e7f};
  f.bytes.resize(24);
  std::memcpy(f.bytes.data(), vals.data(), 24);
  CacheBlob u;
  u.kind = CacheBlob::U8;
  u.shape = {4};
  u.bytes = {1, 2, 3, 255};
  const std::string key = DiskCache::key({}, "params");
  std::vector<CacheBlob> out;
  CHECK_FALSE(cache.read(key, out));
  cache.write(key, {f, u});
  REQUIRE(cache.read(key, out));
  REQUIRE(out.size() == 2);
  CHECK(out[0].shape == f.shape);
  CHECK(out[0].bytes == f.bytes);
  CHECK(out[1].kind == CacheBlob::U8);
  CHECK(out[1].bytes == u.bytes);
  CHECK(DiskCache::key({}, "params") == key);
  CHECK(DiskCache::key({}, "params2") != key);
}

TEST_CASE("cache: an unusable cache folder fails when the stream is made, naming the folder and the setting",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  mmtest::write_text(dir / "file", "a file, not a folder");
  const std::string bad = dir / "file/cache";
  json cfg = mmtest::tiny_config(root, bad);
  cfg["skip_bad_samples"] = true;  // must not turn the cache's problem into skipped samples
  SECTION("from data.cache_dir") {
    REQUIRE_THROWS_WITH(make_stream(cfg, "train", 0), Catch::Contains(bad) && Catch::Contains("data.cache_dir") &&
                                                          Catch::Contains("cannot be created") &&
                                                          !Catch::Contains("sample \""));
  }
  SECTION("from MMBOOST_CACHE_DIR") {
    cfg["cache_dir"] = "";
    const char* old = std::getenv("MMBOOST_CACHE_DIR");
    const std::string saved = old ? old : "";
    ::setenv("MMBOOST_CACHE_DIR", bad.c_str(), 1);
    CHECK_THROWS_WITH(make_stream(cfg, "train", 0), Catch::Contains(bad) && Catch::Contains("MMBOOST_CACHE_DIR"));
    if (old) ::setenv("MMBOOST_CACHE_DIR", saved.c_str(), 1);
    else ::unsetenv("MMBOOST_CACHE_DIR");
  }
}

TEST_CASE("cache: a write failing during an epoch is the cache's error, never a skipped sample", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d", cache = dir / "cache";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  json cfg = mmtest::tiny_config(root, cache);
  cfg["skip_bad_samples"] = true;
  auto s = make_stream(cfg, "train", 0);
  std::filesystem::remove_all(cache);  // e.g. the disk filled up or the folder went away mid-run
  mmtest::write_text(cache, "a file, not a folder");
  s->start_epoch(0);
  Batch b;
  REQUIRE_THROWS_WITH(s->next(b), Catch::Contains("cannot write to the data cache folder " + cache) &&
                                      Catch::Contains("data.cache_dir"));
  CHECK(s->stats().skipped_at_load == 0);
  CHECK(s->stats().skipped.empty());
}

TEST_CASE("cache: an entry path holding a directory or a named pipe reads as a miss without blocking",
          "[cpu][data]") {
  mmtest::TempDir dir;
  DiskCache cache(dir / "c");
  std::vector<CacheBlob> out;
  const std::string dkey = DiskCache::key({}, "dir"), pkey = DiskCache::key({}, "pipe");
  mmtest::mkdirs(dir / ("c/" + dkey.substr(0, 2) + "/" + dkey + ".bin"));
  CHECK_FALSE(cache.read(dkey, out));
  mmtest::mkdirs(dir / ("c/" + pkey.substr(0, 2)));
  REQUIRE(::mkfifo((dir / ("c/" + pkey.substr(0, 2) + "/" + pkey + ".bin")).c_str(), 0600) == 0);
  CHECK_FALSE(cache.read(pkey, out));
}
