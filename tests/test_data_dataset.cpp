// Dataset layouts, list parsing, the validation split, config checks, and every bad-input case
// (each error must name the file and, for list rows, the line).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "data/config.h"
#include "data/dataset.h"
#include "data/fileio.h"
#include "data/npy.h"
#include "engine/error.h"
#include "test_data_fixtures.h"

using namespace mm::data;
using nlohmann::json;

namespace {

// Runs fn, which must throw mm::Error whose message contains every one of `parts`.
template <typename F>
void require_error(F fn, const std::vector<std::string>& parts) {
  try {
    fn();
    FAIL("expected an mm::Error");
  } catch (const mm::Error& e) {
    std::string msg = e.what();
    INFO("message: " << msg);
    for (const auto& p : parts) CHECK(msg.find(p) != std::string::npos);
  }
}

// Loads every batch of a stream (forcing decoding of every sample).
int64_t drain(Stream& s) {
  s.start_epoch(0);
  Batch b;
  int64_t n = 0;
  while (s.next(b)) n += b.size();
  return n;
}

}  // namespace

TEST_CASE("csv: BOM, CRLF, quotes, blank lines and line numbers", "[cpu][data]") {
  std::string text = "\xEF\xBB\xBF" "a,NEU\r\n\r\n\"b,1\",\"HA\"\"P\"\r\nc,SAD";
  std::vector<CsvRow> rows = parse_csv(text, ',', "x.csv");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].fields == std::vector<std::string>{"a", "NEU"});
  CHECK(rows[0].line == 1);
  CHECK(rows[1].fields == std::vector<std::string>{"b,1", "HA\"P"});
  CHECK(rows[1].line == 3);
  CHECK(rows[2].fields == std::vector<std::string>{"c", "SAD"});
  CHECK(rows[2].line == 4);
  require_error([] { parse_csv("a,\"open\nb,c\n", ',', "q.csv"); }, {"q.csv:1", "unterminated"});
}

TEST_CASE("csv: a quote left open at the end of its line is an error, not a field swallowing the next row",
          "[cpu][data]") {
  // the quote before "dog closes only on line 2, so RFC 4180 would read one row of three fields
  require_error([] { parse_csv("a,\"dog, barking\nb,\"cat\"\n", ',', "q.csv"); }, {"q.csv:1", "unterminated"});
}

TEST_CASE("cremad layout: lists with a BOM, labels mapped NEU..ANG, describe() shapes", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "cremad";
  mmtest::make_tiny_cremad(root, 4, 2);
  // rewrite train.csv with a BOM and CRLF endings: the first clip must still be found
  std::string train;
  {
    std::ifstream in(root + "/annotations/train.csv");
    std::string line;
    while (std::getline(in, line)) train += line + "\r\n";
  }
  mmtest::write_text(root + "/annotations/train.csv", "\xEF\xBB\xBF" + train);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  DatasetInfo info = describe(cfg);
  CHECK(info.class_names == std::vector<std::string>{"NEU", "HAP", "SAD", "FEA", "DIS", "ANG"});
  REQUIRE(info.modalities.size() == 2);
  CHECK(info.modalities[0].name == "audio");
  CHECK(info.modalities[0].shape == mm::Shape{1, 33, 1 + 2000 / 32});
  CHECK(info.modalities[1].name == "video");
  CHECK(info.modalities[1].shape == mm::Shape{2, 3, 16, 16});

  DatasetSpec spec = resolve_spec(merge_config(cfg));
  SplitData all = parse_list(spec, info.class_names, read_text_file(root + "/annotations/train.csv"),
                             root + "/annotations/train.csv", "train", true, false);
  REQUIRE(all.samples.size() == 12);
  CHECK(all.samples[0].id == "c0_0");
  CHECK(all.samples[0].label == 0);
  CHECK(all.samples[4].label == 1);
  CHECK(all.samples[0].paths[0] == root + "/AudioWAV/c0_0.wav");
  CHECK(all.samples[0].paths[1] == root + "/Image-01-FPS/c0_0");

  auto test = make_stream(cfg, "test", 0);
  CHECK(test->num_samples() == 6);
  CHECK(drain(*test) == 6);
}

TEST_CASE("validation split: stratified, disjoint from train, a pure function of val_seed", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 8, 1, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  cfg["val_fraction"] = 0.25;
  DatasetSpec spec = resolve_spec(merge_config(cfg));
  auto classes = resolve_classes(spec);
  SplitData tr = read_split(spec, classes, "train", false), va = read_split(spec, classes, "val", false);
  CHECK(tr.samples.size() == 18);
  CHECK(va.samples.size() == 6);  // 2 of 8 per class
  std::set<std::string> ids;
  std::map<int64_t, int> per_class;
  for (const auto& s : tr.samples) ids.insert(s.id);
  for (const auto& s : va.samples) {
    CHECK(ids.count(s.id) == 0);
    per_class[s.label]++;
  }
  CHECK(per_class == std::map<int64_t, int>{{0, 2}, {1, 2}, {2, 2}});
  SplitData va2 = read_split(spec, classes, "val", false);
  REQUIRE(va2.samples.size() == va.samples.size());
  for (size_t i = 0; i < va.samples.size(); ++i) CHECK(va2.samples[i].id == va.samples[i].id);
  cfg["val_seed"] = 5;
  DatasetSpec spec5 = resolve_spec(merge_config(cfg));
  SplitData va5 = read_split(spec5, classes, "val", false);
  bool differs = false;
  for (size_t i = 0; i < va.samples.size(); ++i) differs |= va5.samples[i].id != va.samples[i].id;
  CHECK(differs);
  cfg["val_fraction"] = 0.0;
  require_error([&] { make_stream(cfg, "val", 0); }, {"val_fraction", "no validation split"});
}

TEST_CASE("config: unknown keys suggest the nearest, wrong types and ranges are named", "[cpu][data]") {
  require_error([] { merge_config(json{{"batch_sise", 3}}); }, {"data.batch_sise", "did you mean", "data.batch_size"});
  require_error([] { merge_config(json{{"audio", {{"n_ftt", 3}}}}); }, {"data.audio.n_ftt", "data.audio.n_fft"});
  require_error([] { merge_config(json{{"workers", "two"}}); }, {"data.workers", "must be an integer"});
  require_error([] { validate_config(merge_config(json{{"audio", {{"n_fft", 511}}}})); }, {"n_fft", "even"});
  require_error([] { validate_config(merge_config(json{{"frames", {{"channels", 1}}}})); },
                {"data.frames.mean", "one value per channel"});
  require_error([] { validate_config(merge_config(json{{"format", "cremadd"}})); }, {"data.format", "cremad"});
  require_error([] { validate_config(merge_config(json{{"modalities", {{{"name", "a"}, {"typo", 1}}}}})); },
                {"data.modalities[0].typo", "did you mean"});
  // merging a merged section is a no-op, and the defaults validate
  json d = default_config();
  CHECK(merge_config(d) == d);
  validate_config(d);
  validate_config(demo_config("/tmp"));
  CHECK(demo_config("/tmp")["audio"]["n_fft"] == 256);
}

TEST_CASE("bad input at scan: unknown label, missing columns, missing files and folders; the error names the option that drops them", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  const std::string train = root + "/annotations/train.csv";
  const std::string ok = "c0_0,NEU\nc0_1,NEU\nc1_0,HAP\n";

  SECTION("unknown label") {
    mmtest::write_text(train, ok + "c1_1,XYZ\n");
    require_error([&] { make_stream(cfg, "train", 0); },
                  {train + ":4", "unknown label \"XYZ\"", "NEU", "(data.skip_bad_samples = true drops such samples instead)"});
  }
  SECTION("row with missing columns") {
    mmtest::write_text(train, ok + "c1_1\n");
    require_error([&] { make_stream(cfg, "train", 0); }, {train + ":4", "expected at least 2 columns", "found 1"});
  }
  SECTION("missing audio file") {
    std::filesystem::remove(root + "/AudioWAV/c1_0.wav");
    mmtest::write_text(train, ok);
    require_error([&] { make_stream(cfg, "train", 0); },
                  {train + ":3", root + "/AudioWAV/c1_0.wav", "does not exist", "data.skip_bad_samples = true"});
  }
  SECTION("missing frame folder") {
    std::filesystem::remove_all(root + "/Image-01-FPS/c0_1");
    mmtest::write_text(train, ok);
    require_error([&] { make_stream(cfg, "train", 0); },
                  {train + ":2", root + "/Image-01-FPS/c0_1", "frame folder", "does not exist"});
  }
  SECTION("empty frame folder") {
    std::filesystem::remove_all(root + "/Image-01-FPS/c0_1");
    mmtest::mkdirs(root + "/Image-01-FPS/c0_1");
    mmtest::write_text(train, ok);
    require_error([&] { make_stream(cfg, "train", 0); }, {train + ":2", root + "/Image-01-FPS/c0_1", "is empty"});
  }
  SECTION("skip_bad_samples drops and counts them instead") {
    std::filesystem::remove(root + "/AudioWAV/c1_0.wav");
    mmtest::write_text(train, ok + "c1_1,XYZ\nshort\n");
    cfg["skip_bad_samples"] = true;
    cfg["val_fraction"] = 0.0;
    auto s = make_stream(cfg, "train", 0);
    CHECK(s->num_samples() == 2);
    LoadStats st = s->stats();
    CHECK(st.skipped_at_scan == 3);
    REQUIRE(st.skipped.size() == 3);
    CHECK(st.skipped[0].find(train + ":3") != std::string::npos);
    CHECK(drain(*s) == 2);
  }
}

TEST_CASE("bad input at scan: a directory, a named pipe or a file where the other belongs is named as such",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  const std::string train = root + "/annotations/train.csv";
  const std::string wav = root + "/AudioWAV/c1_0.wav", folder = root + "/Image-01-FPS/c0_1";
  mmtest::write_text(train, "c0_0,NEU\nc0_1,NEU\nc1_0,HAP\n");
  SECTION("a directory at a WAV's path") {
    std::filesystem::remove(wav);
    mmtest::mkdirs(wav);
    require_error([&] { make_stream(cfg, "train", 0); }, {train + ":3", wav, "is a directory"});
  }
  SECTION("a named pipe at a WAV's path") {
    std::filesystem::remove(wav);
    REQUIRE(::mkfifo(wav.c_str(), 0600) == 0);
    require_error([&] { make_stream(cfg, "train", 0); }, {train + ":3", wav, "not a regular file", "named pipe"});
  }
  SECTION("a plain file at a frame folder's path") {
    std::filesystem::remove_all(folder);
    mmtest::write_text(folder, "not a folder");
    require_error([&] { make_stream(cfg, "train", 0); }, {train + ":2", folder, "is not a directory"});
  }
  SECTION("skip_bad_samples drops such rows like any other bad row") {
    std::filesystem::remove(wav);
    mmtest::mkdirs(wav);
    cfg["skip_bad_samples"] = true;
    cfg["val_fraction"] = 0.0;
    auto s = make_stream(cfg, "train", 0);
    CHECK(s->num_samples() == 2);
    REQUIRE(s->stats().skipped.size() == 1);
    CHECK(s->stats().skipped[0].find("is a directory") != std::string::npos);
  }
}

TEST_CASE("bad input at scan: a NUL byte or control character in an id or label is escaped in the message",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  const std::string train = root + "/annotations/train.csv";
  const std::string ok = "c0_0,NEU\nc0_1,NEU\nc1_0,HAP\n";
  auto message = [&] {
    try {
      make_stream(cfg, "train", 0);
    } catch (const mm::Error& e) {
      return std::string(e.what());
    }
    FAIL("expected an mm::Error");
    return std::string();
  };
  SECTION("a NUL byte in a clip id") {
    mmtest::write_text(train, ok + std::string("c1_1\0x,HAP\n", 11));
    const std::string msg = message();
    INFO(msg);
    CHECK(msg.find(train + ":4") != std::string::npos);
    CHECK(msg.find("\"c1_1\\u0000x\"") != std::string::npos);
    // what() is a C string: a raw NUL in the id would end the message before this part
    CHECK(msg.find("control character") != std::string::npos);
  }
  SECTION("a control character in a label") {
    mmtest::write_text(train, ok + "c1_1,H\x01P\n");
    const std::string msg = message();
    INFO(msg);
    CHECK(msg.find('\x01') == std::string::npos);
    CHECK(msg.find("unknown label \"H\\u0001P\"") != std::string::npos);
  }
}

TEST_CASE("bad input at load: truncated or non-audio WAV, zero-length audio, undecodable JPEG", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "d";
  mmtest::make_tiny_cremad(root, 2, 1, 1);
  json cfg = mmtest::tiny_config(root, dir / "cache");
  cfg["val_fraction"] = 0.0;
  cfg["cache"] = false;
  const std::string wav = root + "/AudioWAV/c1_1.wav";
  std::string bytes;
  {
    std::ifstream in(wav, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::string bad_file, reason;
  SECTION("truncated WAV") {
    mmtest::write_text(wav, bytes.substr(0, bytes.size() - 100));
    bad_file = wav;
    reason = "truncated";
  }
  SECTION("not audio") {
    mmtest::write_text(wav, "<html>not a wav</html>");
    bad_file = wav;
    reason = "not a readable audio file";
  }
  SECTION("zero-length audio") {
    mmtest::write_sound(wav, {}, 8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    bad_file = wav;
    reason = "no audio samples";
  }
  SECTION("undecodable JPEG") {
    bad_file = root + "/Image-01-FPS/c0_0/00001.jpg";
    mmtest::write_text(bad_file, "\xFF\xD8\xFF\xE0 truncated jpeg");
    reason = "cannot decode image";
  }
  SECTION("a directory named like a frame (once an allocation of its bogus size: \"out of memory\")") {
    bad_file = root + "/Image-01-FPS/c0_0/00001.jpg";
    std::filesystem::remove(bad_file);
    mmtest::mkdirs(bad_file);
    reason = "is a directory";
  }
  SECTION("a named pipe named like a frame (once a read that waited forever for a writer)") {
    bad_file = root + "/Image-01-FPS/c0_0/00001.jpg";
    std::filesystem::remove(bad_file);
    REQUIRE(::mkfifo(bad_file.c_str(), 0600) == 0);
    reason = "is not a regular file (a named pipe)";
  }
  SECTION("a sample rate too far from audio.sample_rate to resample") {
    mmtest::write_sound(wav, mmtest::sine(8, 0.1, 1), 1, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    bad_file = wav;
    reason = "cannot resample 1 Hz to 8000 Hz";
  }
  auto s = make_stream(cfg, "train", 0);
  require_error([&] { drain(*s); }, {bad_file, reason, "sample \""});

  cfg["skip_bad_samples"] = true;
  auto skip = make_stream(cfg, "train", 0);
  CHECK(drain(*skip) == 5);
  LoadStats st = skip->stats();
  CHECK(st.skipped_at_load == 1);
  REQUIRE(st.skipped.size() == 1);
  CHECK(st.skipped[0].find(bad_file) != std::string::npos);
}

TEST_CASE("manifest: CSV and JSONL, three frame/image/vector modalities, types inferred", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "nv";
  std::string csv = "id,label,rgb,depth,emb\n", jsonl;
  for (int i = 0; i < 6; ++i) {
    std::string id = "g" + std::to_string(i);
    for (int f = 0; f < 3; ++f) {
      mmtest::write_jpg(root + "/rgb/" + id + "/" + std::to_string(f) + ".jpg", 20, 20, 3, mmtest::pattern(20, 20, 3, i + f));
    }
    mmtest::write_png(root + "/depth/" + id + ".png", 10, 10, 1, mmtest::pattern(10, 10, 1, i));
    write_npy(root + "/emb/" + id + ".npy", std::vector<float>(5, static_cast<float>(i)), {5});
    std::string label = i % 2 ? "swipe" : "tap";
    csv += id + "," + label + ",rgb/" + id + ",depth/" + id + ".png,emb/" + id + ".npy\n";
    jsonl += nlohmann::ordered_json{{"id", id}, {"label", label}, {"rgb", "rgb/" + id}, {"depth", "depth/" + id + ".png"},
                  {"emb", "emb/" + id + ".npy"}}.dump() + "\n";
  }
  mmtest::write_text(root + "/train.csv", csv);
  mmtest::write_text(root + "/train.jsonl", jsonl);
  for (const char* list : {"train.csv", "train.jsonl"}) {
    INFO(list);
    json cfg = {{"format", "manifest"},
                {"lists", {{"train", root + "/" + list}, {"test", root + "/" + list}}},
                {"cache_dir", dir / "cache"},
                {"workers", 1},
                {"batch_size", 4},
                {"frames", {{"num_frames", 2}, {"size", 8}}}};
    DatasetInfo info = describe(cfg);
    CHECK(info.class_names == std::vector<std::string>{"swipe", "tap"});
    REQUIRE(info.modalities.size() == 3);
    CHECK(info.modalities[0].type == "frames");
    CHECK(info.modalities[0].shape == mm::Shape{2, 3, 8, 8});
    CHECK(info.modalities[1].type == "image");
    CHECK(info.modalities[1].shape == mm::Shape{3, 8, 8});
    CHECK(info.modalities[2].type == "vector");
    CHECK(info.modalities[2].shape == mm::Shape{5});
    auto s = make_stream(cfg, "test", 0);
    s->start_epoch(0);
    Batch b;
    REQUIRE(s->next(b));
    CHECK(b.inputs[2].shape() == mm::Shape{4, 5});
    CHECK(b.inputs[2].to_vector()[5 * 3] == 3.0f);  // sample g3's embedding
    CHECK(b.labels.to_int_vector() == std::vector<int64_t>{1, 0, 1, 0});
  }
  SECTION("per-modality overrides: depth as one grey channel") {
    json cfg = {{"format", "manifest"},
                {"lists", {{"train", root + "/train.csv"}}},
                {"cache", false},
                {"modalities",
                 {{{"name", "rgb"}, {"type", "frames"}},
                  {{"name", "depth"}, {"frames", {{"channels", 1}, {"mean", {0.5}}, {"std", {0.5}}}}}}},
                {"frames", {{"size", 8}}}};
    DatasetInfo info = describe(cfg);
    REQUIRE(info.modalities.size() == 2);
    CHECK(info.modalities[1].shape == mm::Shape{1, 8, 8});
  }
  SECTION("a manifest path that does not exist") {
    mmtest::write_text(root + "/bad.csv", csv + "g9,tap,rgb/g9,depth/g9.png,emb/g0.npy\n");
    json cfg = {{"format", "manifest"}, {"lists", {{"train", root + "/bad.csv"}}}, {"val_fraction", 0.0}};
    require_error([&] { make_stream(cfg, "train", 0); }, {root + "/bad.csv:8", root + "/rgb/g9", "does not exist"});
  }
  SECTION("a manifest row with missing columns") {
    mmtest::write_text(root + "/short.csv", csv + "g0,tap\n");
    json cfg = {{"format", "manifest"}, {"lists", {{"train", root + "/short.csv"}}}};
    require_error([&] { make_stream(cfg, "train", 0); }, {root + "/short.csv:8", "expected 5 columns"});
  }
}

TEST_CASE("vggsound layout: id from two columns, rows filtered by the split column", "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "vgg";
  std::string csv;
  for (int i = 0; i < 4; ++i) {
    const std::string split = i < 3 ? "train" : "test";
    const std::string id = "yt" + std::to_string(i) + "_30";
    mmtest::write_sound(root + "/" + split + "-audios/" + split + "-set/" + id + ".wav", mmtest::sine(800, 440, 8000),
                        8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    mmtest::write_jpg(root + "/" + split + "-videos/" + split + "-set-img/Image-01-FPS/" + id + ".mp4/0001.jpg", 8, 8,
                      3, mmtest::pattern(8, 8, 3, i));
    csv += "yt" + std::to_string(i) + ",30,\"dog barking\"," + split + "\n";
  }
  mmtest::write_text(root + "/vggsound.csv", csv);
  json cfg = {{"format", "vggsound"}, {"root", root}, {"val_fraction", 0.0}, {"cache", false}};
  DatasetSpec spec = resolve_spec(merge_config(cfg));
  auto classes = resolve_classes(spec);
  CHECK(classes == std::vector<std::string>{"dog barking"});
  CHECK(read_split(spec, classes, "train", false).samples.size() == 3);
  SplitData te = read_split(spec, classes, "test", false);
  REQUIRE(te.samples.size() == 1);
  CHECK(te.samples[0].id == "yt3_30");
}

TEST_CASE("integer labels name the class of that index whatever their spelling: \"01\" is class 1",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "vgg", list = root + "/vggsound.csv";
  const std::string text = "a,0,01,train\nb,0,02,train\nc,0,2,train\nd,0,0,train\ne,0,007,train\n";
  mmtest::write_text(list, text);
  json cfg = {{"format", "vggsound"}, {"root", root}, {"val_fraction", 0.0}, {"cache", false}};
  DatasetSpec spec = resolve_spec(merge_config(cfg));
  auto classes = resolve_classes(spec);
  CHECK(classes == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7"});
  SplitData tr = parse_list(spec, classes, text, list, "train", false, false);
  std::vector<int64_t> labels;
  for (const auto& s : tr.samples) labels.push_back(s.label);
  CHECK(labels == std::vector<int64_t>{1, 2, 2, 0, 7});
  SECTION("names are still looked up as written where the classes are not integers") {
    const std::vector<std::string> named = {"dog", "cat"};
    require_error([&] { parse_list(spec, named, text, list, "train", false, false); },
                  {list + ":1", "unknown label \"01\"", "dog, cat"});
  }
}

TEST_CASE("vggsound list: a split other than train/test, an unquoted comma or tabs are errors naming the line",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "vgg", list = root + "/vggsound.csv";
  const std::string rest = "b,0,\"dog, barking\",train\nc,0,cat,train\nd,0,cat,test\n";
  json cfg = {{"format", "vggsound"}, {"root", root}, {"val_fraction", 0.0}, {"cache", false}};
  mmtest::mkdirs(root);
  auto train_of = [&](const std::string& text, bool skip_bad) {
    mmtest::write_text(list, text);
    DatasetSpec spec = resolve_spec(merge_config(cfg));
    return parse_list(spec, resolve_classes(spec), text, list, "train", false, skip_bad);
  };
  CHECK(train_of("a,0,\"dog, barking\",train\n" + rest, false).samples.size() == 3);
  SECTION("a split value other than train or test (the real list holds only those two)") {
    require_error([&] { train_of("a,0,\"dog, barking\",val\n" + rest, false); },
                  {list + ":1", "\"val\"", "expected train or test"});
  }
  SECTION("an unquoted comma inside the label shifts the split column") {
    require_error([&] { train_of("a,0,dog, barking,train\n" + rest, false); },
                  {list + ":1", "found 5 columns", "have 4", "must be quoted"});
  }
  SECTION("a tab-separated list read with the default ','") {
    std::string text = "a\t0\tdog\ttrain\n" "b\t0\tcat\ttrain\n";
    require_error([&] { train_of(text, false); },
                  {list + ":1", "expected at least 4 columns", "found 1", "data.csv.delimiter"});
  }
  SECTION("skip_bad_samples drops such rows and lists each") {
    SplitData tr = train_of("a,0,dog, barking,train\nx,0,cat,val\n" + rest, true);
    CHECK(tr.samples.size() == 2);
    REQUIRE(tr.skipped.size() == 2);
    CHECK(tr.skipped[0].find(list + ":1") != std::string::npos);
    CHECK(tr.skipped[1].find(list + ":2") != std::string::npos);
  }
}

TEST_CASE("integer labels: one far above the others is refused, naming the file, the line and the label",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "ks", list = root + "/annotations/train.csv";
  json cfg = {{"format", "kinetics_sounds"}, {"root", root}};
  auto classes_of = [&](const std::string& text) {
    mmtest::write_text(list, text);
    return resolve_classes(resolve_spec(merge_config(cfg)));
  };
  // 1-based labels leave class 0 empty: allowed, at least half of 0..max occur
  CHECK(classes_of("a,1\nb,2\nc,3\n") == std::vector<std::string>{"0", "1", "2", "3"});
  require_error([&] { classes_of("a,0\nb,1\nc,100000\nd,1\n"); },
                {list + ":3", "\"100000\"", "100001 classes", "3 distinct labels", "at least half", "data.classes"});
  require_error([&] { classes_of("a,0\nb,999999999\nc,1\n"); }, {list + ":2", "\"999999999\"", "1000000000 classes"});
  SECTION("the labels still work as names when data.classes lists them") {
    cfg["classes"] = {"0", "1", "100000"};
    CHECK(classes_of("a,0\nb,1\nc,100000\n").size() == 3);
  }
}

TEST_CASE("describe(): a named pipe at a vector's path is an error naming it, not a read that waits forever",
          "[cpu][data]") {
  mmtest::TempDir dir;
  const std::string root = dir / "m";
  write_npy(root + "/emb/a.npy", std::vector<float>(3, 1.0f), {3});
  REQUIRE(::mkfifo((root + "/emb/b.npy").c_str(), 0600) == 0);
  mmtest::write_text(root + "/train.csv", "id,label,emb\nb,x,emb/b.npy\na,y,emb/a.npy\n");
  json cfg = {{"format", "manifest"}, {"lists", {{"train", root + "/train.csv"}}}};
  require_error([&] { describe(cfg); }, {root + "/emb/b.npy", "named pipe"});
}
