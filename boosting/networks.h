// mmboost boosting: building blocks the methods share (encoders per modality from config,
// classifier widths, Tensor batch helpers).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "boosting/method.h"
#include "models/classifier.h"
#include "models/encoders.h"

namespace mm::boost {

// "model.encoder" overridden by "model.encoders"[modality] (when present).
nlohmann::json encoder_config(const nlohmann::json& config, const std::string& modality);

// One encoder per modality where `which` is true (all when empty), registered in `into` under
// the modality's name; entries for the other modalities are null.
std::vector<std::shared_ptr<models::Encoder>> build_encoders(const MethodContext& ctx,
                                                             models::ModuleDict& into,
                                                             const std::vector<bool>& which = {});

// "model.classifier_hidden" as widths.
std::vector<int64_t> classifier_hidden(const nlohmann::json& config);

// The root module of a method: children are added from outside.
using Net = models::ModuleDict;

}  // namespace mm::boost
