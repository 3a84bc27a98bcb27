// mmboost engine: training checkpoints, one safetensors file per checkpoint.
//
// Tensors: the model's parameters and buffers as "model.<dotted name>", the optimizer's state
// as "optim.<group>.<index>.<slot>". The "__metadata__"."mmboost" JSON holds
//   {"format": "mmboost.checkpoint", "version": 2, "user": {...},
//    "optimizer": Optimizer::state_json(), "scheduler": LRScheduler::state_json(),
//    "rng": {"seed": s, "counter": c}}
// (the last three only when saved). "user" is the caller's own document: the epoch, the
// architecture (e.g. how many classifiers each modality has grown), the configuration. A
// program resuming a run reads it first (read_checkpoint_user), rebuilds the same model and
// optimizer groups, then calls load_checkpoint. Version 2 files must carry the checksums of
// safetensors.h; version 1 files, written before them, are still read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/io/safetensors.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/rng.h"

namespace mm::io {

// Writes atomically (see save_safetensors). Null pointers are simply not saved.
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer = nullptr,
                     const optim::LRScheduler* scheduler = nullptr, const Generator* rng = nullptr,
                     const nlohmann::json& user = nlohmann::json::object());

// Restores the model (every parameter and buffer must be in the file, and the file must hold
// no other "model." tensor) and each non-null part, which the file must contain. Returns the
// user JSON. Each part is checked before it is written, but an error in a later part leaves
// the earlier ones restored: after an error, start again from fresh objects.
nlohmann::json load_checkpoint(const std::string& path, nn::Module& model,
                               optim::Optimizer* optimizer = nullptr,
                               optim::LRScheduler* scheduler = nullptr, Generator* rng = nullptr);

// The integer "version" of a checkpoint's metadata (ours or the trainer's); 0 when it is missing
// or not an integer. Version 2 and later carry safetensors.h's checksums.
int64_t metadata_version(const nlohmann::json& meta);

// The user JSON alone, from the header (no tensor data is read).
nlohmann::json read_checkpoint_user(const std::string& path);

}  // namespace mm::io
