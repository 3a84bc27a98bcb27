// The trainer's configuration: every key with its default, and the merge of a user config over
// it with unknown-key and type checks.
#include <algorithm>
#include <string>
#include <vector>

#include "boosting/baselines.h"
#include "boosting/trainer.h"
#include "engine/error.h"
#include "engine/json_check.h"

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
  json config{
      {"model",
       {
           {"encoder", encoder},
           {"encoders", json::object()},  // modality name -> overrides of "encoder"
           {"classifier_hidden", {256}},  // configurable classifier: Linear(D->256)+ReLU
       }},
      {"method",
       {
           {"name", "boost"},  // boost | unimodal | joint_sum | joint_concat | a baseline (baselines.h)
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
           // CPU the per-classifier GEMMs are as fast, see docs/algorithm.md; with deeper
           // classifiers only the loss is fused) | on (one hidden layer required) | off
           {"fused", "auto"},
           // test-time fusion (Section 4.3 leaves it open): val_search = weights on the simplex
           // chosen on the validation split (equal weights without one) | omega = equal weights,
           // omega* acting inside each modality's ensemble | weights = fusion_weights
           {"fusion", "val_search"},
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
  // Each comparison method's options: method.ogm, method.mslr, ... (baselines.h).
  const json baselines = baseline_method_defaults();
  for (auto it = baselines.begin(); it != baselines.end(); ++it) config["method"][it.key()] = it.value();
  return config;
}

json resolve_config(const json& user) {
  json out = default_config();
  if (user.is_null()) return out;
  // model.encoders: modality name -> overrides of model.encoder, each checked against it.
  MergeOptions options;
  options.entry_defaults["model.encoders"] = out["model"]["encoder"];
  merge_checked(out, user, "", options);
  return out;
}

}  // namespace mm::boost
