// mmboost boosting: the methods of the paper's comparison (Tables 1-3) as trainer plug-ins.
//
// Each group of methods lives in its own file and provides two things: a function that
// registers its methods by name, and the default options of each method, which become the
// config section method.<section> (so unknown or mistyped keys there are rejected like any
// other config key). docs/methods.md describes each method, its defaults and where it departs
// from its authors' release.
//
//   baseline_modulation.cpp   ogm, ogm_ge, agm        gradient modulation of the encoders
//   baseline_validation.cpp   mslr, gblend            learning rates / loss weights from validation
//   baseline_alternating.cpp  mla, reconboost         alternating unimodal updates
//   baseline_multiloss.cpp    mmpareto, pmr           extra unimodal / prototype losses
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "boosting/method.h"

namespace mm::boost {

using AddMethodFn = std::function<void(const std::string&, MethodFactory)>;

void register_modulation_methods(const AddMethodFn& add);
void register_validation_methods(const AddMethodFn& add);
void register_alternating_methods(const AddMethodFn& add);
void register_multiloss_methods(const AddMethodFn& add);

// {"<section>": {defaults}, ...} for the methods of each file.
nlohmann::json modulation_method_defaults();
nlohmann::json validation_method_defaults();
nlohmann::json alternating_method_defaults();
nlohmann::json multiloss_method_defaults();

// All of the above.
void register_baseline_methods(const AddMethodFn& add);
nlohmann::json baseline_method_defaults();

}  // namespace mm::boost
