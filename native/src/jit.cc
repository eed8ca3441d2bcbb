// TorchScript modules (external feature extractors traced in PyTorch) and CUDA synchronisation.
// Kept in its own translation unit: the JIT headers are the slowest to compile.
#include "common.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/cuda.h>

namespace sg {
namespace {

const napi_type_tag kModuleTag = {0x5e1f9d1dedc0ffeeULL, 0x1a2b3c4d5e6f7081ULL};

torch::jit::Module& UnwrapModule(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kModuleTag))
    throw Napi::TypeError::New(env, "expected a TorchScript module");
  return *v.As<Napi::External<torch::jit::Module>>().Data();
}

c10::IValue InputToIValue(Napi::Env env, const Napi::Value& v) {
  if (v.IsNumber()) return c10::IValue(v.As<Napi::Number>().DoubleValue());
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (v.IsString()) return c10::IValue(v.As<Napi::String>().Utf8Value());
  if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    std::vector<at::Tensor> ts;
    for (uint32_t i = 0; i < arr.Length(); ++i) ts.push_back(Unwrap(env, arr.Get(i), "jit input"));
    return c10::IValue(ts);
  }
  return c10::IValue(Unwrap(env, v, "jit input"));
}

Napi::Value JitLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string device = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu";
  return Guarded(env, "loading TorchScript module " + path, [&]() -> Napi::Value {
    auto* m = new torch::jit::Module(torch::jit::load(path, c10::Device(device)));
    m->eval();
    auto ext = Napi::External<torch::jit::Module>::New(env, m, [](Napi::Env, torch::jit::Module* p) { delete p; });
    ext.TypeTag(&kModuleTag);
    return ext;
  });
}

Napi::Value JitCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  torch::jit::Module& m = UnwrapModule(env, info[0]);
  std::string method = info[1].As<Napi::String>().Utf8Value();
  auto arr = info[2].As<Napi::Array>();
  std::vector<c10::IValue> inputs;
  for (uint32_t i = 0; i < arr.Length(); ++i) inputs.push_back(InputToIValue(env, arr.Get(i)));
  return Guarded(env, "TorchScript " + method, [&]() {
    auto fn = m.find_method(method);
    TORCH_CHECK(fn.has_value(), "the module has no method '", method, "'");
    return FromIValue(env, (*fn)(inputs));
  });
}

Napi::Value JitTrain(const Napi::CallbackInfo& info) {
  UnwrapModule(info.Env(), info[0]).train(info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value JitTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  torch::jit::Module& m = UnwrapModule(env, info[0]);
  std::string device = info[1].As<Napi::String>().Utf8Value();
  Guarded(env, "TorchScript to(" + device + ")", [&]() {
    m.to(c10::Device(device));
    return 0;
  });
  return env.Undefined();
}

Napi::Value JitNamedParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  torch::jit::Module& m = UnwrapModule(env, info[0]);
  auto obj = Napi::Object::New(env);
  for (const auto& p : m.named_parameters(true)) obj.Set(p.name, WrapTensor(env, p.value));
  return obj;
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guarded(env, "cuda.synchronize", [&]() {
    if (torch::cuda::is_available()) torch::cuda::synchronize();
    return 0;
  });
  return env.Undefined();
}

}  // namespace

void InitJit(Napi::Env env, Napi::Object exports) {
  exports.Set("jitLoad", Napi::Function::New(env, JitLoad));
  exports.Set("jitCall", Napi::Function::New(env, JitCall));
  exports.Set("jitTrain", Napi::Function::New(env, JitTrain));
  exports.Set("jitTo", Napi::Function::New(env, JitTo));
  exports.Set("jitNamedParameters", Napi::Function::New(env, JitNamedParameters));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
}

}  // namespace sg
