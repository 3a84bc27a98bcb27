// The trainer's configuration: every key with its default, and the merge of a user config over
// it with unknown-key and type checks.
#include <algorithm>
#include <string>
#include <vector>

#include "boosting/trainer.h"
#include "engine/error.h"

namespace mm::boost {

using nlohmann::json;

json default_config() {
  json encoder = {
      // auto: rank-1 inputs -> mlp; (C,H,W) or (F,T) -> resnet18 (audio variant when C == 1
      // or rank 2); (T,C,H,W) -> resnet18 visual variant (features averaged over T).
      {"type", "auto"},               // auto | mlp | cnn | resnet18
      {"feature_dim", 512},           // D for mlp and cnn (resnet18 always gives 512)
      {"mlp_hidden", {256}},          // hidden widths of the MLP encoder
      {"cnn_channels", {32, 64, 128}},  // one conv3x3/2 + BN + ReLU block per entry
      {"resnet_width", 64},           // channels of ResNet18's first stage (64 = standard)
      {"frames_layout", "TCHW"},      // per-sample frames (T,C,H,W) or "CTHW" (C,T,H,W)
  };
  return json{
      {"model",
       {
           {"encoder", encoder},
           {"encoders", json::object()},  // modality name -> overrides of "encoder"
           {"classifier_hidden", {256}},  // configurable classifier: Linear(D->256)+ReLU
       }},
      {"method",
       {
           {"name", "boost"},  // boost | unimodal | joint_sum | joint_concat
           // sustained boosting loss, eqs (2)-(6)
           {"lambda", 0.2},
           {"terms", {{"eps", true}, {"eps_o", true}, {"eps_p", true}}},
           // adaptive classifier assignment (Algorithm 1)
           {"assignment", "adaptive"},  // adaptive | fixed | none
           {"rule", "difference"},      // difference (paper) | ratio (release)
           {"sigma", 1.0},
           {"tau", 0.01},
           {"ratio_lambda", 1.0},       // ratio rule, two modalities: s_0/s_1 vs lambda +- margin
           {"ratio_margin", 0.01},
           {"ratio_threshold", 0.4},    // ratio rule, M > 2: s_m / sum of others < threshold
           {"assign_every", 20},        // T, in epochs
           {"assign_at_first_epoch", false},  // the release also checks after epoch 0
           {"max_classifiers", 20},     // upper bound per modality
           {"fixed_modality", ""},      // assignment = fixed: modality name or index
           {"fixed_classifiers", 10},   // n_fix
           // classifier weights omega (Section 4.2, Table 6)
           {"omega", "learned"},        // learned | fixed | off
           {"omega_fixed", json::array()},  // omega = fixed: one weight per modality
           {"omega_scope", "added"},    // added (classifiers j >= 2) | all
           {"aca_lr", 1e-3},
           {"aca_hidden", {512, 64}},
           {"aca_steps", 100},          // SGD steps on L_ACA per assignment check
           // updates and inference
           {"update", "joint"},         // joint (Algorithm 2) | alternating (release)
           // fused classifier kernels (one-hidden-layer classifiers): auto = on CUDA only (on the
           // CPU the per-classifier GEMMs are as fast, see docs/algorithm.md) | on | off
           {"fused", "auto"},
           {"fusion", "omega"},         // omega | weights | mean | val_search
           {"fusion_weights", {0.4, 0.6}},  // fusion = weights: one per modality
           {"modality", ""},            // unimodal: the modality to train (name or index)
       }},
      {"optim",
       {
           {"name", "sgd"},  // sgd | adam | adamw
           {"lr", 1e-2},
           {"momentum", 0.9},
           {"nesterov", false},
           {"weight_decay", 1e-4},
           {"betas", {0.9, 0.999}},
           {"eps", 1e-8},
           {"scheduler", "step"},  // step | multistep | cosine | plateau | none
           {"step_size", 70},
           {"gamma", 0.1},
           {"milestones", {70}},
           {"cosine_epochs", 0},   // 0: train.epochs
           {"min_factor", 0.0},
           {"patience", 10},
       }},
      {"train",
       {
           {"epochs", 200},
           {"batch_size", 64},     // read by whoever builds the streams (the CLI)
           {"seed", 0},
           {"device", "cpu"},      // cpu | cuda
           {"threads", 0},         // 0: MMBOOST_THREADS or all cores
           {"checkpoint_dir", ""},  // "" = no checkpoints
           {"resume", false},
           {"select_metric", "acc"},  // fused validation metric that picks "best": acc | macro_f1 | map
       }},
  };
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_key(const json& obj, const std::string& key) {
  std::string best;
  size_t bd = static_cast<size_t>(-1);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    size_t d = edit_distance(key, it.key());
    if (d < bd) { bd = d; best = it.key(); }
  }
  return best;
}

const char* kind(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

bool same_kind(const json& def, const json& v) {
  if (def.is_number()) return v.is_number();
  if (def.is_boolean()) return v.is_boolean();
  if (def.is_string()) return v.is_string();
  if (def.is_array()) {
    if (!v.is_array()) return false;
    if (def.empty()) return true;
    for (const auto& e : v)
      if (!same_kind(def.front(), e)) return false;
    return true;
  }
  if (def.is_object()) return v.is_object();
  return true;
}

// Merges `user` into `out` (which holds the defaults), checking keys and kinds.
void merge_checked(json& out, const json& user, const std::string& path) {
  MM_CHECK(user.is_object(), "config: '" << (path.empty() ? "<root>" : path)
                                         << "' must be an object, got " << kind(user));
  for (auto it = user.begin(); it != user.end(); ++it) {
    const std::string key = it.key();
    const std::string full = path.empty() ? key : path + "." + key;
    MM_CHECK(out.contains(key), "config: unknown key '" << full << "' (did you mean '"
                                                       << (path.empty() ? "" : path + ".")
                                                       << closest_key(out, key) << "'?)");
    json& def = out[key];
    if (full == "model.encoders") {
      MM_CHECK(it.value().is_object(),
               "config: 'model.encoders' maps modality names to encoder objects, got "
                   << kind(it.value()));
      continue;  // checked below against model.encoder
    }
    MM_CHECK(same_kind(def, it.value()), "config: '" << full << "' must be " << kind(def)
                                                     << (def.is_array() && !def.empty()
                                                             ? std::string(" of ") + kind(def.front()) + "s"
                                                             : std::string())
                                                     << " (default " << def.dump() << "), got "
                                                     << it.value().dump());
    if (def.is_object() && !def.empty())
      merge_checked(def, it.value(), full);
    else
      def = it.value();
  }
}

}  // namespace

json resolve_config(const json& user) {
  json out = default_config();
  if (user.is_null()) return out;
  merge_checked(out, user, "");
  if (user.contains("model") && user["model"].contains("encoders")) {
    json encs = json::object();
    const json& enc_default = out["model"]["encoder"];
    for (auto it = user["model"]["encoders"].begin(); it != user["model"]["encoders"].end(); ++it) {
      json e = enc_default;
      merge_checked(e, it.value(), "model.encoders." + it.key());
      encs[it.key()] = it.value();  // keep only the overrides; defaults follow model.encoder
    }
    out["model"]["encoders"] = encs;
  }
  return out;
}

}  // namespace mm::boost
