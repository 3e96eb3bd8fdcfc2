// The JS face of T5Model (t5_napi.cpp): `engine.T5Model`. Other modules' Node-API functions
// (trainer, generation) take the JS model object and reach the C++ model through unwrap_t5.
#pragma once
#include <napi.h>

#include <memory>

#include "t5/model.h"

namespace hukuk {

// The C++ model behind a JS engine.T5Model instance; throws EngineError 'ENGINE_INVALID_ARG'
// when v is not one, or 'ENGINE_DISPOSED' after .dispose().
T5Model* unwrap_t5(const Napi::Value& v);

// The same, shared: work that outlives the call (a generation on a worker thread) should hold
// this, so a .dispose() from JavaScript meanwhile only drops the JS object's reference.
std::shared_ptr<T5Model> share_t5(const Napi::Value& v);

}  // namespace hukuk
