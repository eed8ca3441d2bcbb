// Shared pieces of the addon: how a tensor lives inside a JS value, and how errors cross into JS.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <string>
#include <vector>

namespace sg {

// One native tensor owned by one JS handle. `Dispose` frees the storage reference at once; the GC
// finalizer frees the box itself. A tensor that no scope owns reports its bytes to V8 (`reported`), so
// that a handle the user drops is collected for its weight; tensors inside scopes do not: they are freed
// when their scope ends, and reporting every activation made V8 run a full collection several times per
// forward pass (docs/benchmarks.md, "Where the time goes").
struct TensorBox {
  at::Tensor t;
  int64_t bytes = 0;
  bool disposed = false;
  bool reported = false;
};

Napi::Value WrapTensor(Napi::Env env, at::Tensor t);
// Throws a JS TypeError when v is not a live tensor handle.
at::Tensor& Unwrap(Napi::Env env, const Napi::Value& v, const char* what);
TensorBox* UnwrapBox(Napi::Env env, const Napi::Value& v);
void DisposeBox(Napi::Env env, TensorBox* box);
int64_t LiveTensors();

std::string ShapeString(const at::Tensor& t);
Napi::Value FromIValue(Napi::Env env, const c10::IValue& v);

// Runs f, turning c10/std exceptions into a JS Error prefixed with `context`.
template <typename F>
auto Guarded(Napi::Env env, const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, context + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, context + ": " + e.what());
  }
}

void InitTensor(Napi::Env env, Napi::Object exports);
void InitDispatch(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitJit(Napi::Env env, Napi::Object exports);
void InitCpuAllocator(Napi::Env env, Napi::Object exports);
void InitProfiler(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);

}  // namespace sg
