// The method registry, the default training step, and the shared building blocks.
#include "boosting/method.h"

#include <map>
#include <mutex>

#include "boosting/networks.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/json_check.h"
#include "engine/ops.h"

namespace mm::boost {

int64_t DataSpec::modality_index(const std::string& key) const {
  for (size_t i = 0; i < modalities.size(); ++i)
    if (modalities[i] == key) return static_cast<int64_t>(i);
  if (!key.empty() && key.size() < 10 && key.find_first_not_of("0123456789") == std::string::npos) {
    const int64_t i = std::stoll(key);
    if (i < num_modalities()) return i;
  }
  std::string names;
  for (const auto& m : modalities) names += (names.empty() ? "" : ", ") + m;
  MM_FAIL("unknown modality \"" << key << "\": the data has " << names
                                << " (give a name or an index from 0)");
}

std::vector<double> read_pending(LossOutput& l, const std::vector<Tensor>& also) {
  std::vector<Tensor> xs;
  for (const auto& [name, t] : l.pending) {
    MM_CHECK(t.defined() && t.numel() == 1, "read_pending: term \"" << name << "\" is not a scalar");
    xs.push_back(t.detach().reshape({1}));
  }
  for (const Tensor& t : also) {
    MM_CHECK(t.defined() && t.numel() == 1, "read_pending: expected scalars");
    xs.push_back(t.detach().reshape({1}));
  }
  std::vector<double> out;
  if (xs.empty()) return out;
  std::vector<float> v;
  {
    NoGradGuard ng;
    v = (xs.size() == 1 ? xs[0] : concat(xs, 0)).to_vector();
  }
  size_t i = 0;
  for (const auto& [name, t] : l.pending) l.terms[name] = v[i++];
  l.pending.clear();
  for (; i < v.size(); ++i) out.push_back(v[i]);
  return out;
}

StepOutput Method::train_step(const data::Batch& batch) {
  MM_CHECK(opt_ != nullptr, "Method::train_step: no optimizer attached");
  opt_->zero_grad();
  LossOutput l = loss(batch);
  l.loss.backward();
  after_backward();
  opt_->step();
  StepOutput out;
  out.loss = read_pending(l, {l.loss})[0];
  out.terms = std::move(l.terms);
  return out;
}

// ---- registry ----------------------------------------------------------------------------------

// Defined next to the methods (boost_method.cpp, baselines.cpp); `add` inserts without
// re-entering the registry's initialisation.
void register_builtin_methods(const std::function<void(const std::string&, MethodFactory)>& add);

namespace {
std::map<std::string, MethodFactory>& registry() {
  static std::map<std::string, MethodFactory> r;
  return r;
}
std::once_flag builtin_once;
void ensure_builtins() {
  std::call_once(builtin_once, [] {
    register_builtin_methods([](const std::string& n, MethodFactory f) { registry()[n] = std::move(f); });
  });
}
}  // namespace

void register_method(const std::string& name, MethodFactory factory) {
  ensure_builtins();
  registry()[name] = std::move(factory);
}

std::vector<std::string> method_names() {
  ensure_builtins();
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

std::unique_ptr<Method> make_method(const nlohmann::json& config) {
  ensure_builtins();
  const std::string name = config.at("method").at("name").get<std::string>();
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string names;
    for (const auto& kv : registry()) names += (names.empty() ? "" : ", ") + kv.first;
    const std::string near = nearest_name(name, method_names());
    MM_FAIL("unknown method \"" << name << "\" (method.name)"
            << (near.empty() ? "; known" : "; did you mean \"" + near + "\"? Known") << " methods: " << names);
  }
  return it->second();
}

// ---- building blocks ---------------------------------------------------------------------------

nlohmann::json encoder_config(const nlohmann::json& config, const std::string& modality) {
  nlohmann::json e = config.at("model").at("encoder");
  const auto& per = config.at("model").at("encoders");
  if (per.contains(modality))
    for (auto it = per[modality].begin(); it != per[modality].end(); ++it) e[it.key()] = it.value();
  return e;
}

std::vector<std::shared_ptr<models::Encoder>> build_encoders(const MethodContext& ctx,
                                                             models::ModuleDict& into,
                                                             const std::vector<bool>& which) {
  const auto& spec = ctx.spec;
  MM_CHECK(ctx.gen != nullptr, "build_encoders: no generator");
  std::vector<std::shared_ptr<models::Encoder>> out(spec.modalities.size());
  for (size_t m = 0; m < spec.modalities.size(); ++m) {
    if (!which.empty() && !which[m]) continue;
    out[m] = models::make_encoder(encoder_config(ctx.config, spec.modalities[m]),
                                  spec.input_shapes.at(m), *ctx.gen);
    into.add(spec.modalities[m], out[m]);
  }
  return out;
}

std::vector<int64_t> classifier_hidden(const nlohmann::json& config) {
  std::vector<int64_t> h;
  for (const auto& v : config.at("model").at("classifier_hidden")) h.push_back(v.get<int64_t>());
  return h;
}

}  // namespace mm::boost
