// mmboost data: defaults, merging and validation of the "data" config section.
#include "data/config.h"

#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/json_check.h"

namespace mm::data {

using nlohmann::json;

json default_config() {
  return json{
      {"format", "cremad"},  // cremad | kinetics_sounds | vggsound | layout | manifest
      {"root", ""},
      {"lists", {{"train", ""}, {"val", ""}, {"test", ""}}},
      {"csv",
       {{"id_columns", json::array()},
        {"id_join", "_"},
        {"label_column", -1},
        {"split_column", -1},
        {"header", "auto"},
        {"delimiter", ","}}},
      {"classes", json::array()},
      {"modalities", json::array()},
      {"val_fraction", 0.1},
      {"val_seed", 0},
      {"batch_size", 64},
      {"drop_last", false},
      {"workers", 2},
      {"prefetch", 4},
      {"cache", true},
      {"cache_dir", ""},
      {"skip_bad_samples", false},
      {"audio",
       {{"sample_rate", 22050},
        {"duration", 3.0},
        {"tile_to", 0.0},
        {"train_crop", "start"},
        {"test_crop", "start"},
        {"n_fft", 512},
        {"hop", 353},
        {"center", true},
        {"pad_mode", "reflect"},
        {"log_eps", 1e-7},
        {"clip", true},
        {"resample", "sinc_medium"}}},
      {"frames",
       {{"num_frames", 1},
        {"channels", 3},
        {"size", 224},
        {"layout", "TCHW"},
        {"train_sampling", "random"},
        {"train_transform", "random_resized_crop"},
        {"test_transform", "resize"},
        {"resize_short", 256},
        {"scale", {0.08, 1.0}},
        {"ratio", {0.75, 4.0 / 3.0}},
        {"flip", true},
        {"mean", {0.485, 0.456, 0.406}},
        {"std", {0.229, 0.224, 0.225}},
        {"cache_short_side", 256},
        {"extensions", {".jpg", ".jpeg", ".png"}}}},
      {"vector", {{"dim", 0}}},
  };
}

json demo_config(const std::string& root) {
  json user = {
      {"format", "cremad"},
      {"root", root},
      {"batch_size", 64},
      {"audio",
       {{"sample_rate", 16000},
        {"duration", 1.0},
        {"n_fft", 256},
        {"hop", 256}}},
      {"frames",
       {{"num_frames", 1},
        {"channels", 1},
        {"size", 64},
        {"train_transform", "random_resized_crop"},
        {"scale", {0.6, 1.0}},
        {"flip", true},
        {"mean", {0.5}},
        {"std", {0.25}},
        {"cache_short_side", 0}}},
  };
  return merge_config(user);
}

std::vector<std::string> DatasetInfo::modality_names() const {
  std::vector<std::string> n;
  for (const auto& m : modalities) n.push_back(m.name);
  return n;
}

namespace {

void check_choice(const json& v, const std::string& key, std::initializer_list<const char*> allowed) {
  std::string s = v.get<std::string>();
  for (const char* a : allowed) if (s == a) return;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  MM_FAIL("config key \"" << key << "\" = \"" << s << "\" is not one of: " << list);
}

void check_number_range(const json& v, const std::string& key, double lo, double hi, bool lo_open = false) {
  double x = v.get<double>();
  MM_CHECK(std::isfinite(x) && (lo_open ? x > lo : x >= lo) && x <= hi,
           "config key \"" << key << "\" = " << v.dump() << " is out of range " << (lo_open ? "(" : "[") << lo
                           << ", " << hi << "]");
}

void validate_audio(const json& a, const std::string& p) {
  check_number_range(a["sample_rate"], p + ".sample_rate", 1000, 384000);
  check_number_range(a["duration"], p + ".duration", 0.0, 3600.0, true);
  check_number_range(a["tile_to"], p + ".tile_to", 0.0, 3600.0);
  check_choice(a["train_crop"], p + ".train_crop", {"start", "center", "random"});
  check_choice(a["test_crop"], p + ".test_crop", {"start", "center"});
  int n_fft = a["n_fft"].get<int>();
  MM_CHECK(n_fft >= 2 && n_fft <= 65536 && n_fft % 2 == 0,
           "config key \"" << p << ".n_fft\" must be even and in [2, 65536], got " << n_fft);
  check_number_range(a["hop"], p + ".hop", 1, 65536);
  check_choice(a["pad_mode"], p + ".pad_mode", {"reflect", "constant"});
  check_number_range(a["log_eps"], p + ".log_eps", 0.0, 1.0, true);
  check_choice(a["resample"], p + ".resample", {"sinc_best", "sinc_medium", "sinc_fastest", "linear"});
  double samples = a["duration"].get<double>() * a["sample_rate"].get<double>();
  MM_CHECK(samples >= 1, p << ".duration x sample_rate gives no samples");
  MM_CHECK(a["center"].get<bool>() || samples >= n_fft,
           p << ": a clip of " << samples << " samples is shorter than n_fft " << n_fft
             << " without centring; set audio.center true or lengthen audio.duration");
}

void validate_frames(const json& f, const std::string& p) {
  check_number_range(f["num_frames"], p + ".num_frames", 1, 4096);
  int c = f["channels"].get<int>();
  MM_CHECK(c == 1 || c == 3, "config key \"" << p << ".channels\" must be 1 or 3, got " << c);
  check_number_range(f["size"], p + ".size", 1, 8192);
  check_choice(f["layout"], p + ".layout", {"TCHW", "CTHW"});
  check_choice(f["train_sampling"], p + ".train_sampling", {"random", "uniform"});
  check_choice(f["train_transform"], p + ".train_transform", {"random_resized_crop", "resize", "center_crop"});
  check_choice(f["test_transform"], p + ".test_transform", {"resize", "center_crop"});
  check_number_range(f["resize_short"], p + ".resize_short", 0, 8192);
  for (const char* k : {"scale", "ratio"}) {
    const json& r = f[k];
    MM_CHECK(r.size() == 2 && r[0].is_number() && r[1].is_number(),
             "config key \"" << p << "." << k << "\" must be [low, high], got " << r.dump());
    double lo = r[0].get<double>(), hi = r[1].get<double>();
    MM_CHECK(lo > 0 && lo <= hi && (std::string(k) == "ratio" || hi <= 1.0),
             "config key \"" << p << "." << k << "\" = " << r.dump() << " needs 0 < low <= high"
                             << (std::string(k) == "scale" ? " <= 1" : ""));
  }
  for (const char* k : {"mean", "std"}) {
    const json& v = f[k];
    MM_CHECK(static_cast<int>(v.size()) == c,
             "config key \"" << p << "." << k << "\" has " << v.size() << " values but " << p << ".channels is "
                             << c << "; give one value per channel (e.g. [0.5] for grayscale)");
    for (const auto& x : v) {
      MM_CHECK(x.is_number(), "config key \"" << p << "." << k << "\" must hold numbers");
      if (std::string(k) == "std") MM_CHECK(x.get<double>() > 0, p << ".std values must be > 0");
    }
  }
  check_number_range(f["cache_short_side"], p + ".cache_short_side", 0, 16384);
  for (const auto& e : f["extensions"]) {
    MM_CHECK(e.is_string() && !e.get<std::string>().empty() && e.get<std::string>()[0] == '.',
             "config key \"" << p << ".extensions\" must hold strings like \".jpg\"");
  }
}

}  // namespace

json merge_config(const json& user) {
  json cfg = default_config();
  if (user.is_null()) return cfg;
  merge_checked(cfg, user, "data");
  return cfg;
}

void validate_config(const json& cfg) {
  json def = default_config();
  // every key present with the right type (a merged section always is; a hand-built one may not be)
  for (auto it = def.begin(); it != def.end(); ++it) {
    MM_CHECK(cfg.contains(it.key()), "data config misses key \"data." << it.key()
                                                                    << "\"; pass it through merge_config()");
  }
  json probe = def;
  merge_checked(probe, cfg, "data");

  check_choice(cfg["format"], "data.format", {"cremad", "kinetics_sounds", "vggsound", "layout", "manifest"});
  for (const char* s : {"train", "val", "test"}) {
    MM_CHECK(cfg["lists"][s].is_string(), "data.lists." << s << " must be a string");
  }
  const json& csv = cfg["csv"];
  for (const auto& c : csv["id_columns"]) {
    MM_CHECK(c.is_number_integer() && c.get<int>() >= 0,
             "data.csv.id_columns must hold column indices >= 0, got " << csv["id_columns"].dump());
  }
  MM_CHECK(csv["label_column"].get<int>() >= -1, "data.csv.label_column must be >= 0 (or -1: preset)");
  MM_CHECK(csv["split_column"].get<int>() >= -1, "data.csv.split_column must be >= 0 (or -1: none)");
  check_choice(csv["header"], "data.csv.header", {"auto", "yes", "no"});
  std::string delim = csv["delimiter"].get<std::string>();
  MM_CHECK(delim.size() == 1 || delim == "\\t",
           "data.csv.delimiter must be one character (or \"\\t\"), got \"" << delim << "\"");

  std::set<std::string> seen;
  for (const auto& c : cfg["classes"]) {
    MM_CHECK(c.is_string() && !c.get<std::string>().empty(), "data.classes must hold non-empty strings");
    MM_CHECK(seen.insert(c.get<std::string>()).second, "data.classes lists \"" << c.get<std::string>() << "\" twice");
  }

  seen.clear();
  const json& mods = cfg["modalities"];
  for (size_t i = 0; i < mods.size(); ++i) {
    const json& m = mods[i];
    std::string p = "data.modalities[" + std::to_string(i) + "]";
    MM_CHECK(m.is_object(), p << " must be an object like {\"name\": \"audio\", \"type\": \"audio\", \"path\": "
                                 "\"AudioWAV/{id}.wav\"}");
    // keys and kinds only: the audio/frames/vector overrides are merged over the section below
    json allowed = {{"name", ""}, {"type", ""}, {"path", ""}, {"audio", json::object()},
                    {"frames", json::object()}, {"vector", json::object()}};
    merge_checked(allowed, m, p);
    MM_CHECK(m.contains("name") && !m["name"].get<std::string>().empty(), p << " needs a \"name\"");
    MM_CHECK(seen.insert(m["name"].get<std::string>()).second,
             "data.modalities has two entries named \"" << m["name"].get<std::string>() << "\"");
    if (m.contains("type")) check_choice(m["type"], p + ".type", {"audio", "frames", "image", "vector"});
    for (const char* sec : {"audio", "frames", "vector"}) {
      if (!m.contains(sec)) continue;
      json merged = cfg[sec];
      merge_checked(merged, m[sec], p + "." + sec);
      if (std::string(sec) == "audio") validate_audio(merged, p + ".audio");
      if (std::string(sec) == "frames") validate_frames(merged, p + ".frames");
    }
  }

  check_number_range(cfg["val_fraction"], "data.val_fraction", 0.0, 0.9);
  check_number_range(cfg["val_seed"], "data.val_seed", 0, 9.2e18);
  check_number_range(cfg["batch_size"], "data.batch_size", 1, 1 << 20);
  check_number_range(cfg["workers"], "data.workers", 0, 256);
  check_number_range(cfg["prefetch"], "data.prefetch", 1, 4096);
  validate_audio(cfg["audio"], "data.audio");
  validate_frames(cfg["frames"], "data.frames");
  check_number_range(cfg["vector"]["dim"], "data.vector.dim", 0, 1 << 30);
}

}  // namespace mm::data
