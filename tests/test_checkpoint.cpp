// safetensors files byte by byte against the public format description, error reporting on
// damaged files, and training continuation from a checkpoint bit for bit.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "tests/safetensors_testing.h"
#include "tests/testing.h"

using namespace mm;
namespace fs = std::filesystem;

namespace {

// A per-process scratch directory, removed at exit.
struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() / ("mmboost_test_checkpoint_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
std::string scratch(const std::string& name) {
  static Scratch s;
  return (s.dir / name).string();
}

using mmtest::file_bytes;
using mmtest::write_file_bytes;

// A file as the format describes it: u64 LE header length, header text, data.
std::vector<unsigned char> make_file(const std::string& header,
                                     const std::vector<unsigned char>& data) {
  std::vector<unsigned char> out(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<unsigned char> f32_bytes(const std::vector<float>& v) {
  std::vector<unsigned char> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.detach().contiguous(), cb = b.detach().contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * dtype_size(ca.dtype())) == 0;
}

}  // namespace

TEST_CASE("safetensors round trip of F32 and I64 tensors and metadata is bit-exact",
          "[cpu][checkpoint]") {
  const std::string path = scratch("roundtrip.safetensors");
  // Values that a lossy path would change: NaN with a payload, -0, a denormal, infinities.
  Tensor odd = Tensor::from_vector(
      {bits_to_float(0x7fc00123u), -0.0f, 1e-45f, std::numeric_limits<float>::infinity(),
       -std::numeric_limits<float>::infinity(), 3.14159265f},
      {2, 3});
  Tensor ints = Tensor::from_ints(
      {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()}, {4});
  Tensor scalar = Tensor::scalar(2.5f);
  Tensor empty = Tensor::zeros({0, 3});
  Tensor big = mmtest::randn({33, 17}, 5);
  Tensor view = big.transpose(0, 1);  // saved as its logical (17,33) contents
  nlohmann::json meta = {{"epoch", 12}, {"arch", {{"audio", 3}, {"video", 1}}}, {"note", "ü"}};
  io::save_safetensors(
      path, {{"odd", odd}, {"ints", ints}, {"scalar", scalar}, {"empty", empty}, {"view", view}},
      meta);
  io::SafetensorsFile f = io::load_safetensors(path);
  REQUIRE(f.tensors.size() == 5);
  REQUIRE(same_bits(f.tensors.at("odd"), odd));
  REQUIRE(same_bits(f.tensors.at("ints"), ints));
  REQUIRE(f.tensors.at("scalar").shape() == Shape{});
  REQUIRE(same_bits(f.tensors.at("scalar"), scalar));
  REQUIRE(f.tensors.at("empty").shape() == Shape{0, 3});
  REQUIRE(same_bits(f.tensors.at("view"), view));
  REQUIRE(f.metadata == meta);
  REQUIRE(f.path == path);
  REQUIRE(io::read_safetensors_metadata(path) == meta);
  // No metadata given: none written, {} read back.
  io::save_safetensors(path, {{"a", scalar}});
  REQUIRE(io::load_safetensors(path).metadata == nlohmann::json::object());
  REQUIRE(file_bytes(path).size() % 8 == 4);  // 8 + padded header + one f32
}

TEST_CASE("safetensors header follows the format: LE length, 8-byte alignment, offsets in order",
          "[cpu][checkpoint]") {
  const std::string path = scratch("layout.safetensors");
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_ints({7, -8, 9, 10}, {4});
  Tensor c = Tensor::scalar(-1.5f);
  // Names deliberately not in alphabetical order: the data follows the order given.
  io::save_safetensors(path, {{"zeta", a}, {"alpha", b}, {"mid", c}}, {{"k", 1}});
  std::vector<unsigned char> bytes = file_bytes(path);
  REQUIRE(bytes.size() >= 8);
  const uint64_t n = mmtest::safetensors_header_length(bytes);  // little-endian
  REQUIRE((8 + n) % 8 == 0);
  const uint64_t data_size = 24 + 32 + 4;
  REQUIRE(bytes.size() == 8 + n + data_size);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
  // Padding is spaces after the JSON object.
  size_t close = header.find_last_of('}');
  REQUIRE(close != std::string::npos);
  for (size_t i = close + 1; i < header.size(); ++i) REQUIRE(header[i] == ' ');
  REQUIRE(header.size() - close - 1 < 8);
  nlohmann::json j = nlohmann::json::parse(header);
  REQUIRE(j["zeta"] ==
          nlohmann::json::parse(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})"));
  REQUIRE(j["alpha"] ==
          nlohmann::json::parse(R"({"dtype":"I64","shape":[4],"data_offsets":[24,56]})"));
  REQUIRE(j["mid"] ==
          nlohmann::json::parse(R"({"dtype":"F32","shape":[],"data_offsets":[56,60]})"));
  REQUIRE(j["__metadata__"].size() == 4);  // "mmboost" and the three checksums
  REQUIRE(j["__metadata__"]["mmboost"].is_string());
  REQUIRE(nlohmann::json::parse(j["__metadata__"]["mmboost"].get<std::string>()) ==
          nlohmann::json{{"k", 1}});
  // The data section holds the raw little-endian values.
  const unsigned char* data = bytes.data() + 8 + n;
  float fa[6];
  std::memcpy(fa, data, 24);
  REQUIRE(std::vector<float>(fa, fa + 6) == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(data[24] == 7);
  for (int i = 1; i < 8; ++i) REQUIRE(data[24 + i] == 0);
  REQUIRE(data[32] == 0xf8);  // -8 = 0xfffffffffffffff8, least significant byte first
  for (int i = 1; i < 8; ++i) REQUIRE(data[32 + i] == 0xff);
  float fc;
  std::memcpy(&fc, data + 56, 4);
  REQUIRE(fc == -1.5f);
}

TEST_CASE("safetensors reads a file written by another producer", "[cpu][checkpoint]") {
  // Header keys in another order, other metadata, no padding, tensors laid out in reverse.
  const std::string path = scratch("foreign.safetensors");
  std::string header =
      R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("__metadata__":{"format":"pt"},"a":{"shape":[2],"dtype":"F32","data_offsets":[4,12]}})";
  std::vector<unsigned char> data = f32_bytes({9.0f, 1.0f, 2.0f});
  write_file_bytes(path, make_file(header, data));
  io::SafetensorsFile f = io::load_safetensors(path);
  REQUIRE(f.tensors.at("a").to_vector() == std::vector<float>{1.0f, 2.0f});
  REQUIRE(f.tensors.at("b").to_vector() == std::vector<float>{9.0f});
  REQUIRE(f.metadata == nlohmann::json::object());
  REQUIRE_FALSE(f.checksummed);  // nothing to check: read as written
}

TEST_CASE("safetensors files carry CRC-32 checksums of data and metadata; a changed byte is an error",
          "[cpu][checkpoint]") {
  // The checksums are zlib's CRC-32, as 8 hex digits: "123456789" has the standard check value
  // cbf43926, four zero bytes 2144df1c.
  const std::string known = scratch("crc_known.safetensors");
  io::save_safetensors(known, {{"z", Tensor::zeros({1})}}, nlohmann::json(123456789));
  const nlohmann::json meta = mmtest::safetensors_header(known)["__metadata__"];
  REQUIRE(meta["mmboost"] == "123456789");
  REQUIRE(meta["mmboost.crc32.metadata"] == "cbf43926");
  REQUIRE(meta["mmboost.crc32.data"] == "2144df1c");
  // The tensor table's: the CRC-32 of this compact JSON text (2d924ff6 by Python's zlib.crc32).
  REQUIRE(nlohmann::json::array({nlohmann::json::array({"z", "F32", {1}, 0, 4})}).dump() == R"([["z","F32",[1],0,4]])");
  REQUIRE(meta["mmboost.crc32.tensors"] == "2d924ff6");
  io::SafetensorsFile k = io::load_safetensors(known);
  REQUIRE(k.checksummed);
  REQUIRE(k.metadata == 123456789);

  const std::string path = scratch("crc.safetensors");
  auto save = [&] {
    io::save_safetensors(path, {{"w", mmtest::randn({4, 4}, 1)}, {"i", Tensor::from_ints({5, 6}, {2})}},
                         {{"epoch", 3}});
  };
  save();
  bool checksummed = false;
  REQUIRE(io::read_safetensors_metadata(path, &checksummed) == nlohmann::json{{"epoch", 3}});
  REQUIRE(checksummed);

  // One bit of the tensor data, first and last byte of the section (the I64 tensor's last
  // byte is 0 and becomes 1; the float tensor's first is a mantissa bit): loading names the
  // file and the checksum; the header alone still reads.
  const size_t data_bytes = 4 * 4 * 4 + 2 * 8;
  for (size_t from_end : {size_t(1), data_bytes}) {
    save();
    mmtest::flip_bit_from_end(path, from_end);
    INFO("bit flipped " << from_end << " bytes before the end");
    REQUIRE_THROWS_WITH(io::load_safetensors(path),
                        Catch::Contains(path) && Catch::Contains("tensor data do not match the checksum"));
    REQUIRE(io::read_safetensors_metadata(path) == nlohmann::json{{"epoch", 3}});
  }
  // The metadata changed (a valid JSON of its own: epoch 3 -> 4): both readers refuse it.
  save();
  mmtest::rewrite_safetensors_header(path, [](nlohmann::json& h) {
    h["__metadata__"]["mmboost"] = nlohmann::json{{"epoch", 4}}.dump();
  });
  REQUIRE_THROWS_WITH(io::load_safetensors(path),
                      Catch::Contains(path) && Catch::Contains("metadata does not match the checksum"));
  REQUIRE_THROWS_WITH(io::read_safetensors_metadata(path),
                      Catch::Contains(path) && Catch::Contains("metadata does not match the checksum"));
  // The tensor table changed: a bit of a name ("w" -> "v"), or the offsets of two tensors of
  // one size swapped (the data and its checksum unchanged).
  save();
  mmtest::rewrite_safetensors_header(path, [](nlohmann::json& h) {
    h["v"] = h["w"];
    h.erase("w");
  });
  REQUIRE_THROWS_WITH(io::read_safetensors_metadata(path),
                      Catch::Contains(path) && Catch::Contains("tensor table (names, dtypes, shapes, offsets) does not match"));
  REQUIRE_THROWS_WITH(io::load_safetensors(path), Catch::Contains("tensor table"));
  io::save_safetensors(path, {{"a", mmtest::randn({3}, 1)}, {"b", mmtest::randn({3}, 2)}}, {{"epoch", 3}});
  mmtest::rewrite_safetensors_header(path, [](nlohmann::json& h) { std::swap(h["a"]["data_offsets"], h["b"]["data_offsets"]); });
  REQUIRE_THROWS_WITH(io::load_safetensors(path), Catch::Contains("tensor table"));
  // Damage that leaves no valid JSON is named as damage too, not as a malformed header.
  save();
  mmtest::rewrite_safetensors_header(path, [](nlohmann::json& h) { h["__metadata__"]["mmboost"] = "{\"epoch\":3"; });
  REQUIRE_THROWS_WITH(io::read_safetensors_metadata(path), Catch::Contains("metadata does not match the checksum"));
  // A checksum that is not 8 hex digits.
  save();
  mmtest::rewrite_safetensors_header(path, [](nlohmann::json& h) { h["__metadata__"]["mmboost.crc32.data"] = "12g4"; });
  REQUIRE_THROWS_WITH(io::load_safetensors(path), Catch::Contains(path) && Catch::Contains("not a CRC-32"));
  // Without all three checksums the file is not "checksummed" (a checkpoint then says so); the
  // ones left are still checked. With none it reads as another producer's file.
  const std::vector<std::string> keys = {"mmboost.crc32.data", "mmboost.crc32.tensors", "mmboost.crc32.metadata"};
  for (const std::string& kept : keys) {
    INFO("kept: " << kept);
    save();
    mmtest::rewrite_safetensors_header(path, [&](nlohmann::json& h) {
      for (const std::string& k : keys)
        if (k != kept) h["__metadata__"].erase(k);
    });
    io::SafetensorsFile f = io::load_safetensors(path);
    REQUIRE_FALSE(f.checksummed);
    REQUIRE(f.metadata == nlohmann::json{{"epoch", 3}});
    REQUIRE(io::read_safetensors_metadata(path, &checksummed) == nlohmann::json{{"epoch", 3}});
    REQUIRE_FALSE(checksummed);
    if (kept == "mmboost.crc32.data") {
      mmtest::flip_bit_from_end(path, 1);
      REQUIRE_THROWS_WITH(io::load_safetensors(path), Catch::Contains("tensor data do not match"));
    }
  }
  save();
  mmtest::rewrite_safetensors_header(path, [&](nlohmann::json& h) {
    for (const std::string& k : keys) h["__metadata__"].erase(k);
  });
  REQUIRE_FALSE(io::load_safetensors(path).checksummed);
}

TEST_CASE("damaged, foreign and missing files give errors naming the file and the problem",
          "[cpu][checkpoint]") {
  const std::string good = scratch("good.safetensors");
  io::save_safetensors(good, {{"w", mmtest::randn({4, 4}, 1)}, {"b", mmtest::randn({4}, 2)}});
  const std::vector<unsigned char> bytes = file_bytes(good);
  auto fails_with = [](const std::string& path, const std::string& problem) {
    INFO(path << ": expecting '" << problem << "'");
    REQUIRE_THROWS_WITH(io::load_safetensors(path),
                        Catch::Contains(path) && Catch::Contains(problem));
  };

  const std::string missing = scratch("no_such_file.safetensors");
  fails_with(missing, "cannot open");

  const std::string truncated = scratch("truncated.safetensors");
  write_file_bytes(truncated, std::vector<unsigned char>(bytes.begin(), bytes.end() - 5));
  fails_with(truncated, "truncated");
  write_file_bytes(truncated, std::vector<unsigned char>(bytes.begin(), bytes.begin() + 20));
  fails_with(truncated, "runs past the end");
  write_file_bytes(truncated, std::vector<unsigned char>(bytes.begin(), bytes.begin() + 5));
  fails_with(truncated, "too short");

  const std::string garbage = scratch("garbage.safetensors");
  std::vector<unsigned char> noise(256);
  Generator g(3);
  for (auto& c : noise) c = static_cast<unsigned char>(g.next_u64());
  write_file_bytes(garbage, noise);
  REQUIRE_THROWS_WITH(io::load_safetensors(garbage), Catch::Contains(garbage));
  write_file_bytes(garbage, make_file("this is not JSON at all", {}));
  fails_with(garbage, "not valid JSON");
  write_file_bytes(garbage, make_file("[1, 2]", {}));
  fails_with(garbage, "not an object");

  const std::string bad = scratch("bad.safetensors");
  auto header_case = [&](const std::string& header, size_t data_bytes, const std::string& problem) {
    write_file_bytes(bad, make_file(header, std::vector<unsigned char>(data_bytes, 0)));
    fails_with(bad, problem);
  };
  header_case(R"({"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", 4, "unknown dtype 'Q7'");
  header_case(R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4, "dtype F16");
  header_case(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "outside");
  header_case(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "span 8 bytes");
  header_case(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              12, "overlap");
  header_case(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
              "belong to no tensor");
  header_case(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, "trailing bytes");
  header_case(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "non-negative");
  header_case(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", 4, "no \"shape\"");
  header_case(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4, "end before");
  header_case(R"({"__metadata__":{"mmboost":"{not json"}})", 0, "\"mmboost\" is not valid JSON");
  header_case(R"({"__metadata__":{"n":3}})", 0, "is not a string");
}

TEST_CASE("saving is atomic: no .tmp left behind, old file replaced, bad directory reported",
          "[cpu][checkpoint]") {
  const std::string path = scratch("atomic.safetensors");
  io::save_safetensors(path, {{"v", Tensor::from_vector({1, 2}, {2})}});
  io::save_safetensors(path, {{"v", Tensor::from_vector({3, 4, 5}, {3})}});
  REQUIRE_FALSE(fs::exists(path + ".tmp"));
  REQUIRE(io::load_safetensors(path).tensors.at("v").to_vector() == std::vector<float>{3, 4, 5});
  const std::string nowhere = scratch("no_dir/x.safetensors");
  REQUIRE_THROWS_WITH(io::save_safetensors(nowhere, {{"v", Tensor::scalar(1)}}),
                      Catch::Contains(nowhere) && Catch::Contains("cannot create"));
  REQUIRE_FALSE(fs::exists(nowhere + ".tmp"));
  REQUIRE_THROWS_WITH(
      io::save_safetensors(path, {{"v", Tensor::scalar(1)}, {"v", Tensor::scalar(2)}}),
      Catch::Contains("appears twice"));
  REQUIRE(io::load_safetensors(path).tensors.at("v").numel() == 3);  // the failed save left it
}

TEST_CASE("load_into copies by name and reports every missing or mismatched tensor at once",
          "[cpu][checkpoint]") {
  const std::string path = scratch("into.safetensors");
  io::save_safetensors(path, {{"m.a", Tensor::from_vector({1, 2}, {2})},
                              {"m.b", Tensor::from_vector({3, 4, 5}, {3})}});
  io::SafetensorsFile f = io::load_safetensors(path);
  Tensor a = Tensor::zeros({2}), b = Tensor::zeros({2}), c = Tensor::zeros({1}),
         d = Tensor::zeros({1});
  a.set_requires_grad(true);  // a parameter: the copy bypasses autograd
  REQUIRE_THROWS_WITH(io::load_into(f, {{"a", a}, {"b", b}, {"c", c}, {"d", d}}, "m."),
                      Catch::Contains(path) && Catch::Contains("2 tensor(s) missing: m.c, m.d") &&
                          Catch::Contains("m.b (file f32[3] cpu, expected f32[2] cpu)"));
  REQUIRE(a.to_vector() == std::vector<float>{0, 0});  // nothing copied on failure
  io::load_into(f, {{"a", a}, {"c", c}}, "m.", /*allow_missing=*/true);
  REQUIRE(a.to_vector() == std::vector<float>{1, 2});
  REQUIRE(c.to_vector() == std::vector<float>{0});
  REQUIRE_FALSE(a.grad().defined());
}

namespace {

std::shared_ptr<nn::Sequential> mlp(uint64_t seed) {
  Generator g(seed);
  auto s = std::make_shared<nn::Sequential>();
  s->add(std::make_shared<nn::Linear>(4, 8, true, g))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Linear>(8, 3, true, g));
  return s;
}

// One step on a batch drawn from `data`: loss = sum((mlp(x) - t)^2) / B; the plateau schedule
// watches the loss, so its state matters for what comes next.
void train_step(nn::Module& model, optim::Optimizer& opt, optim::ReduceLROnPlateau& sched,
                Generator& data, int step) {
  Tensor x = Tensor::empty({6, 4}), t = Tensor::empty({6, 3});
  normal_(x, 0.0f, 1.0f, data);
  uniform_(t, -1.0f, 1.0f, data);
  Tensor d = sub(model(x), t);
  Tensor loss = sum(mul(d, d)) / 6.0f;
  opt.zero_grad();
  loss.backward();
  opt.step();
  sched.step(step, loss.item());
  sched.apply(opt);
}

std::vector<std::vector<float>> values_of(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (auto& [n, p] : m.named_parameters()) out.push_back(p.to_vector());
  return out;
}

template <class MakeOpt>
void continuation(MakeOpt make_opt, const std::string& path) {
  // Run A: 3 steps, checkpoint, 3 more.
  auto model = mlp(1);
  auto opt = make_opt();
  opt.add_param_group("all", model->parameters(), 0.05f, 1e-4f);
  optim::ReduceLROnPlateau sched(false, 0.5f, 0);
  Generator data(7);
  for (int s = 0; s < 3; ++s) train_step(*model, opt, sched, data, s);
  io::save_checkpoint(path, *model, &opt, &sched, &data, {{"step", 3}, {"hidden", 8}});
  for (int s = 3; s < 6; ++s) train_step(*model, opt, sched, data, s);

  // Run B: a fresh model (another init), optimizer, schedule and data generator, restored.
  REQUIRE(io::read_checkpoint_user(path)["hidden"] == 8);
  auto model2 = mlp(2);
  auto opt2 = make_opt();
  opt2.add_param_group("all", model2->parameters(), 0.05f, 1e-4f);
  optim::ReduceLROnPlateau sched2(false, 0.5f, 0);
  Generator data2(999);
  nlohmann::json user = io::load_checkpoint(path, *model2, &opt2, &sched2, &data2);
  REQUIRE(user["step"] == 3);
  for (int s = 3; s < 6; ++s) train_step(*model2, opt2, sched2, data2, s);
  REQUIRE(values_of(*model2) == values_of(*model));  // bit-identical floats
  REQUIRE(opt2.groups()[0].lr == opt.groups()[0].lr);

  // Control: restoring the model alone (fresh optimizer state) does not reproduce run A, so
  // the comparison above really depends on the optimizer state.
  auto model3 = mlp(3);
  auto opt3 = make_opt();
  opt3.add_param_group("all", model3->parameters(), 0.05f, 1e-4f);
  optim::ReduceLROnPlateau sched3(false, 0.5f, 0);
  Generator data3(999);
  io::load_checkpoint(path, *model3, nullptr, &sched3, &data3);
  for (int s = 3; s < 6; ++s) train_step(*model3, opt3, sched3, data3, s);
  REQUIRE(values_of(*model3) != values_of(*model));
}

}  // namespace

TEST_CASE("training continues bit-identically from a checkpoint (model, optimizer, schedule, RNG)",
          "[cpu][checkpoint]") {
  SECTION("SGD momentum") {
    continuation([] { return optim::SGD(0.9f); }, scratch("cont_sgd.safetensors"));
  }
  SECTION("AdamW") {
    continuation([] { return optim::AdamW(); }, scratch("cont_adamw.safetensors"));
  }
}

TEST_CASE("load_checkpoint refuses another architecture, plain weight files and unchecked version-2 files",
          "[cpu][checkpoint]") {
  const std::string path = scratch("arch.safetensors");
  auto model = mlp(1);
  io::save_checkpoint(path, *model);
  // A bigger model: its extra layer is missing from the file.
  auto bigger = mlp(1);
  bigger->add(std::make_shared<nn::Linear>(3, 2));
  REQUIRE_THROWS_WITH(io::load_checkpoint(path, *bigger),
                      Catch::Contains(path) && Catch::Contains("model.3.weight, model.3.bias"));
  // A smaller model: the file holds tensors it lacks.
  nn::Sequential smaller;
  smaller.add(std::make_shared<nn::Linear>(4, 8));
  REQUIRE_THROWS_WITH(io::load_checkpoint(path, smaller),
                      Catch::Contains("does not have: model.2.bias, model.2.weight"));
  // Parts that were not saved cannot be restored.
  optim::SGD sgd;
  REQUIRE_THROWS_WITH(io::load_checkpoint(path, *model, &sgd),
                      Catch::Contains("no optimizer state"));
  // A version-2 checkpoint must carry its checksums; one written before them (version 1)
  // loads without.
  auto strip_checksums = [&](int version) {
    io::save_checkpoint(path, *model, nullptr, nullptr, nullptr, {{"v", version}});
    mmtest::rewrite_safetensors_header(path, [version](nlohmann::json& h) {
      nlohmann::json meta = nlohmann::json::parse(h["__metadata__"]["mmboost"].get<std::string>());
      REQUIRE(meta["version"] == 2);
      meta["version"] = version;
      h["__metadata__"] = {{"mmboost", meta.dump()}};
    });
  };
  strip_checksums(2);
  REQUIRE_THROWS_WITH(io::load_checkpoint(path, *model),
                      Catch::Contains(path) && Catch::Contains("not the checksums written with it"));
  REQUIRE_THROWS_WITH(io::read_checkpoint_user(path), Catch::Contains("not the checksums written with it"));
  strip_checksums(1);
  REQUIRE(io::load_checkpoint(path, *model)["v"] == 1);
  REQUIRE(io::read_checkpoint_user(path)["v"] == 1);
  strip_checksums(3);
  REQUIRE_THROWS_WITH(io::load_checkpoint(path, *model),
                      Catch::Contains("has version 3; this build reads versions 1 to 2"));
  // A plain safetensors file is not a checkpoint.
  const std::string plain = scratch("plain.safetensors");
  io::save_safetensors(plain, model->named_parameters());
  REQUIRE_THROWS_WITH(io::load_checkpoint(plain, *model),
                      Catch::Contains("not an mmboost checkpoint"));
}
