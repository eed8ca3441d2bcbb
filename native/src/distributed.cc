// Collective communication through c10d, PyTorch's own distributed layer inside libtorch: a TCPStore for
// the rendezvous (rank 0 serves it, as torchrun's MASTER_ADDR:MASTER_PORT) and a Gloo process group for
// all-reduce, broadcast and barrier. Nothing here re-implements a collective. Every call that can block
// (the rendezvous, waiting for a collective) runs on a libuv worker thread and settles a Promise, so the
// Node process keeps handling signals and timers while a peer is slow; a dead or hung peer ends the wait
// with c10d's error after the group's timeout.
#include "common.h"

#if SELFGUIDED_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <memory>

namespace sg {
namespace {

#if SELFGUIDED_GLOO

struct Group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
};

Group* UnwrapGroup(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(env, "expected a process group handle");
  auto* g = v.As<Napi::External<Group>>().Data();
  if (!g->pg) throw Napi::Error::New(env, "the process group was destroyed");
  return g;
}

// Settles a promise from a worker thread: Execute may block; its exception becomes the rejection.
class BlockingCall : public Napi::AsyncWorker {
 public:
  BlockingCall(Napi::Env env, std::string what, std::function<void()> body)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), what_(std::move(what)),
        body_(std::move(body)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  std::function<Napi::Value(Napi::Env)> result;

 protected:
  void Execute() override {
    try {
      body_();
    } catch (const c10::Error& e) {
      SetError(what_ + ": " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(what_ + ": " + e.what());
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(result ? result(Env()) : Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  std::function<void()> body_;
};

std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& host) {
  // As torch.distributed: GLOO_SOCKET_IFNAME picks the interface; otherwise this machine's hostname,
  // which c10d falls back from to loopback when the name does not resolve to a usable address.
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (host == "127.0.0.1" || host == "localhost") return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// distInit({ host, port, rank, worldSize, timeoutMs }) -> Promise<handle>
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = info[0].As<Napi::Object>();
  std::string host = o.Get("host").As<Napi::String>();
  int port = o.Get("port").As<Napi::Number>().Int32Value();
  int rank = o.Get("rank").As<Napi::Number>().Int32Value();
  int world = o.Get("worldSize").As<Napi::Number>().Int32Value();
  auto timeout = std::chrono::milliseconds(o.Get("timeoutMs").As<Napi::Number>().Int64Value());
  if (world < 1 || rank < 0 || rank >= world) throw Napi::RangeError::New(env, "rank must be in [0, worldSize)");
  if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "port must be in [1, 65535]");
  auto group = std::make_shared<Group>();
  group->timeout = timeout;
  auto* w = new BlockingCall(env, "distributed init (rank " + std::to_string(rank) + ")", [=] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(GlooDevice(host));
    group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, rank, world, opts);
  });
  w->result = [group](Napi::Env e) -> Napi::Value {
    auto* g = new Group(*group);
    return Napi::External<Group>::New(e, g, [](Napi::Env, Group* p) { delete p; });
  };
  auto promise = w->Promise();
  w->Queue();
  return promise;
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw Napi::TypeError::New(env, "reduce op must be sum, max, min or product (Gloo has no avg: sum, then divide)");
}

// Starts the collectives on the calling thread (c10d queues them on the group's own threads) and waits for
// all of them on a worker thread.
Napi::Value WaitAll(Napi::Env env, Group* g, const std::string& what,
                    std::vector<c10::intrusive_ptr<c10d::Work>> works) {
  auto timeout = g->timeout;
  auto* w = new BlockingCall(env, what, [works = std::move(works), timeout] {
    for (auto& work : works) work->wait(timeout);
  });
  auto promise = w->Promise();
  w->Queue();
  return promise;
}

std::vector<at::Tensor> Tensors(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "expected an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    at::Tensor t = Unwrap(env, arr.Get(i), "collective");
    if (!t.is_contiguous()) throw Napi::TypeError::New(env, "collectives need contiguous tensors");
    out.push_back(t);
  }
  return out;
}

// distAllReduce(handle, tensors[], op) -> Promise: each tensor reduced in place across the ranks.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group* g = UnwrapGroup(env, info[0]);
  auto tensors = Tensors(env, info[1]);
  c10d::AllreduceOptions opts;
  opts.reduceOp = ParseOp(env, info[2].As<Napi::String>());
  opts.timeout = g->timeout;
  return Guarded(env, "allreduce", [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      works.push_back(g->pg->allreduce(one, opts));
    }
    return WaitAll(env, g, "allreduce", std::move(works));
  });
}

// distBroadcast(handle, tensors[], root) -> Promise: each tensor overwritten with root's.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group* g = UnwrapGroup(env, info[0]);
  auto tensors = Tensors(env, info[1]);
  c10d::BroadcastOptions opts;
  opts.rootRank = info[2].As<Napi::Number>().Int32Value();
  opts.timeout = g->timeout;
  return Guarded(env, "broadcast", [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      works.push_back(g->pg->broadcast(one, opts));
    }
    return WaitAll(env, g, "broadcast", std::move(works));
  });
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group* g = UnwrapGroup(env, info[0]);
  c10d::BarrierOptions opts;
  opts.timeout = g->timeout;
  return Guarded(env, "barrier", [&] { return WaitAll(env, g, "barrier", {g->pg->barrier(opts)}); });
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "expected a process group handle");
  auto* g = info[0].As<Napi::External<Group>>().Data();
  g->pg.reset();
  g->store.reset();
  return env.Undefined();
}

#else

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "this build of the addon has no c10d Gloo backend: install libgloo-dev "
                         "(npm run setup does) and rebuild with node scripts/build-native.mjs");
}

#endif

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
#if SELFGUIDED_GLOO
  exports.Set("distInit", Napi::Function::New(env, Init));
  exports.Set("distAllReduce", Napi::Function::New(env, AllReduce));
  exports.Set("distBroadcast", Napi::Function::New(env, Broadcast));
  exports.Set("distBarrier", Napi::Function::New(env, Barrier));
  exports.Set("distDestroy", Napi::Function::New(env, Destroy));
  exports.Set("distBackends", Napi::String::New(env, "gloo"));
#else
  for (const char* name : {"distInit", "distAllReduce", "distBroadcast", "distBarrier", "distDestroy"})
    exports.Set(name, Napi::Function::New(env, Unavailable));
  exports.Set("distBackends", Napi::String::New(env, ""));
#endif
}

}  // namespace sg
