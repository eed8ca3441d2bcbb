// Per-operator timing through libtorch's RecordFunction hooks: every aten op and autograd node that
// runs while profiling is on adds its calls, total and self time (total less the ops it called) to a
// table. RecordFunction is the instrumentation PyTorch's own profiler reads, so the table lines up
// with torch.autograd.profiler's self CPU times, and the hook API is the same in libtorch 1.13 and 2.x.
#include "common.h"

#include <ATen/record_function.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

namespace sg {
namespace {

struct Frame {
  std::string name;
  std::chrono::steady_clock::time_point start;
  double childUs = 0;
};

struct Entry {
  int64_t calls = 0;
  double totalUs = 0;
  double selfUs = 0;
};

thread_local std::vector<Frame> t_stack;
std::mutex g_mu;
std::unordered_map<std::string, Entry> g_table;
bool g_active = false;
at::CallbackHandle g_handle = 0;

std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction& fn) {
  t_stack.push_back({fn.name(), std::chrono::steady_clock::now(), 0});
  return nullptr;
}

void OnEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  // RecordFunction calls the end hook only of callbacks that saw the start, so the stack is balanced.
  if (t_stack.empty()) return;
  Frame f = std::move(t_stack.back());
  t_stack.pop_back();
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - f.start).count();
  if (!t_stack.empty()) t_stack.back().childUs += us;
  std::lock_guard<std::mutex> lock(g_mu);
  Entry& e = g_table[f.name];
  e.calls++;
  e.totalUs += us;
  e.selfUs += us - f.childUs;
}

Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_active) throw Napi::Error::New(env, "profiler: already started");
  g_table.clear();
  g_handle = at::addGlobalCallback(at::RecordFunctionCallback(OnStart, OnEnd)
                                       .needsInputs(false)
                                       .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  g_active = true;
  return env.Undefined();
}

// Stops and returns { name: [calls, totalUs, selfUs] }.
Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_active) throw Napi::Error::New(env, "profiler: not started");
    g_active = false;
  }
  at::removeCallback(g_handle);
  std::lock_guard<std::mutex> lock(g_mu);
  auto out = Napi::Object::New(env);
  for (const auto& [name, e] : g_table) {
    auto row = Napi::Array::New(env, 3);
    row.Set(uint32_t(0), Napi::Number::New(env, double(e.calls)));
    row.Set(uint32_t(1), Napi::Number::New(env, e.totalUs));
    row.Set(uint32_t(2), Napi::Number::New(env, e.selfUs));
    out.Set(name, row);
  }
  g_table.clear();
  return out;
}

}  // namespace

void InitProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profilerStart", Napi::Function::New(env, ProfilerStart));
  exports.Set("profilerStop", Napi::Function::New(env, ProfilerStop));
}

}  // namespace sg
