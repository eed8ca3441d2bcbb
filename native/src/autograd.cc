// Reverse-mode autograd entry points: backward over several roots, grad access, grad mode.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

namespace sg {
namespace {

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto roots = info[0].As<Napi::Array>();
  auto grads = info[1].As<Napi::Array>();
  bool retain = info[2].ToBoolean().Value();
  bool create = info[3].ToBoolean().Value();
  std::vector<at::Tensor> ts, gs;
  for (uint32_t i = 0; i < roots.Length(); ++i) {
    ts.push_back(Unwrap(env, roots.Get(i), "backward"));
    Napi::Value g = i < grads.Length() ? grads.Get(i) : env.Undefined();
    gs.push_back(g.IsNull() || g.IsUndefined() ? at::Tensor() : Unwrap(env, g, "backward"));
  }
  Guarded(env, "backward", [&]() {
    torch::autograd::backward(ts, gs, retain, create);
    return 0;
  });
  return env.Undefined();
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "grad");
  const at::Tensor& g = t.grad();
  if (!g.defined()) return env.Null();
  return WrapTensor(env, g);
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "setGrad");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad().reset();
  } else {
    at::Tensor& g = Unwrap(env, info[1], "setGrad");
    Guarded(env, "setGrad", [&]() {
      TORCH_CHECK(g.sizes() == t.sizes(), "gradient shape ", g.sizes(), " does not match tensor shape ", t.sizes());
      t.mutable_grad() = g;
      return 0;
    });
  }
  return env.Undefined();
}

// Swaps the data under a tensor in place (PyTorch's `param.data = x`): the handle, its identity and
// requires_grad stay; used to move or cast module parameters without invalidating references.
Napi::Value SetData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "setData");
  at::Tensor& src = Unwrap(env, info[1], "setData");
  Guarded(env, "setData", [&]() {
    t.set_data(src);
    return 0;
  });
  return env.Undefined();
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Unwrap(info.Env(), info[0], "requiresGrad").requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "requiresGrad_");
  bool flag = info[1].ToBoolean().Value();
  Guarded(env, "requiresGrad_", [&]() {
    t.set_requires_grad(flag);
    return 0;
  });
  return env.Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Unwrap(info.Env(), info[0], "isLeaf").is_leaf());
}

Napi::Value GradFnName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& fn = Unwrap(env, info[0], "gradFn").grad_fn();
  if (!fn) return env.Null();
  return Napi::String::New(env, fn->name());
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("setData", Napi::Function::New(env, SetData));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("gradFnName", Napi::Function::New(env, GradFnName));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
}

}  // namespace sg
