// Training checkpoints on top of the safetensors reader and writer.
#include "engine/io/checkpoint.h"

#include <vector>

#include "engine/error.h"

namespace mm::io {

namespace {

constexpr const char* kFormat = "mmboost.checkpoint";
constexpr int kVersion = 2;  // 2: the file carries safetensors.h's checksums; 1 is still read
constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimPrefix = "optim.";

nn::NamedTensors model_state(const nn::Module& model) {
  nn::NamedTensors state = model.named_parameters();
  for (auto& b : model.named_buffers()) state.push_back(b);
  return state;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The checkpoint's own metadata, checked to be one of ours.
const nlohmann::json& checked_meta(const std::string& path, const nlohmann::json& meta, bool checksummed) {
  MM_CHECK(meta.is_object() && meta.value("format", "") == kFormat,
           "checkpoint '" << path << "' is a safetensors file but not an mmboost checkpoint (no "
                          << "\"format\": \"" << kFormat << "\" in its metadata); load plain "
                          << "weights with io::load_safetensors + io::load_into instead");
  const int64_t version = metadata_version(meta);
  MM_CHECK(version >= 1 && version <= kVersion,
           "checkpoint '" << path << "' has version " << (meta.contains("version") ? meta.at("version").dump() : "(none)")
                          << "; this build reads versions 1 to " << kVersion);
  MM_CHECK(version < 2 || checksummed,
           "checkpoint '" << path << "' has version " << version << " but not the checksums written with it "
                          << "(\"mmboost.crc32.*\" in the header): the file was changed after it was written");
  return meta;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer, const optim::LRScheduler* scheduler,
                     const Generator* rng, const nlohmann::json& user) {
  nn::NamedTensors tensors;
  for (auto& [name, t] : model_state(model)) tensors.emplace_back(kModelPrefix + name, t);
  nlohmann::json meta = {{"format", kFormat}, {"version", kVersion}, {"user", user}};
  if (optimizer) {
    for (auto& [name, t] : optimizer->state_tensors()) tensors.emplace_back(kOptimPrefix + name, t);
    meta["optimizer"] = optimizer->state_json();
  }
  if (scheduler) meta["scheduler"] = scheduler->state_json();
  if (rng) meta["rng"] = {{"seed", rng->seed()}, {"counter", rng->counter()}};
  save_safetensors(path, tensors, meta);
}

nlohmann::json load_checkpoint(const std::string& path, nn::Module& model,
                               optim::Optimizer* optimizer, optim::LRScheduler* scheduler,
                               Generator* rng) {
  SafetensorsFile file = load_safetensors(path);
  const nlohmann::json& meta = checked_meta(path, file.metadata, file.checksummed);

  // Model: every tensor of the model from the file, and no "model." tensor the model lacks (a
  // checkpoint of a bigger model, e.g. one with more classifiers, must not load silently).
  nn::NamedTensors state = model_state(model);
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : file.tensors) {
    if (!starts_with(name, kModelPrefix)) continue;
    bool known = false;
    for (const auto& s : state) known = known || kModelPrefix + s.first == name;
    if (!known) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 20; ++i)
      list += (i ? ", " : "") + unexpected[i];
    if (unexpected.size() > 20) list += " and " + std::to_string(unexpected.size() - 20) + " more";
    MM_FAIL("checkpoint '" << path << "' holds " << unexpected.size() << " model tensor(s) this "
                           << "model does not have: " << list << ". Build the model with the "
                           << "architecture stored in the checkpoint's user JSON first");
  }
  load_into(file, state, kModelPrefix);

  try {
    if (optimizer) {
      MM_CHECK(meta.contains("optimizer"), "checkpoint '" << path << "' holds no optimizer state");
      nn::NamedTensors opt_tensors;
      const std::string prefix = kOptimPrefix;
      for (const auto& [name, t] : file.tensors)
        if (starts_with(name, prefix)) opt_tensors.emplace_back(name.substr(prefix.size()), t);
      optimizer->load_state(opt_tensors, meta.at("optimizer"));
    }
    if (scheduler) {
      MM_CHECK(meta.contains("scheduler"),
               "checkpoint '" << path << "' holds no learning-rate schedule state");
      scheduler->load_state(meta.at("scheduler"));
    }
    if (rng) {
      MM_CHECK(meta.contains("rng"), "checkpoint '" << path << "' holds no generator state");
      rng->set_state(meta.at("rng").at("seed").get<uint64_t>(),
                     meta.at("rng").at("counter").get<uint64_t>());
    }
  } catch (const nlohmann::json::exception& e) {
    MM_FAIL("checkpoint '" << path << "': malformed metadata (" << e.what() << ")");
  } catch (const Error& e) {
    MM_FAIL("checkpoint '" << path << "': " << e.what());
  }
  return meta.value("user", nlohmann::json::object());
}

int64_t metadata_version(const nlohmann::json& meta) {
  const auto v = meta.find("version");
  return v != meta.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
}

nlohmann::json read_checkpoint_user(const std::string& path) {
  bool checksummed = false;
  nlohmann::json meta = read_safetensors_metadata(path, &checksummed);
  return checked_meta(path, meta, checksummed).value("user", nlohmann::json::object());
}

}  // namespace mm::io
