// Tensor handles, copies between JS memory and tensors, metadata, randomness and threads.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>
#include <dlfcn.h>
#include <atomic>
#include <cstring>
#include <sstream>

namespace sg {
namespace {

const napi_type_tag kTensorTag = {0x5e1f9d1dedc0ffeeULL, 0x7e45012a3b8c4d11ULL};
const napi_type_tag kGeneratorTag = {0x5e1f9d1dedc0ffeeULL, 0x6e9e7a7012b3c4d5ULL};
std::atomic<int64_t> live{0};

int64_t ByteSize(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

std::vector<int64_t> ToShape(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(env, "shape must be an array of integers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

at::Generator& UnwrapGenerator(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kGeneratorTag))
    throw Napi::TypeError::New(env, "expected a Generator");
  return *v.As<Napi::External<at::Generator>>().Data();
}

// Copies raw bytes into a new tensor of the given dtype/shape; the JS buffer is not kept.
Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromBytes: expected a typed array");
  auto ta = info[0].As<Napi::TypedArray>();
  auto dtype = static_cast<at::ScalarType>(info[1].As<Napi::Number>().Int32Value());
  auto shape = ToShape(env, info[2]);
  std::string device = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "cpu";
  return Guarded(env, "fromBytes", [&]() {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    size_t need = static_cast<size_t>(ByteSize(t));
    if (need != ta.ByteLength()) {
      std::ostringstream m;
      m << "data has " << ta.ByteLength() << " bytes but shape " << ShapeString(t) << " of "
        << c10::toString(dtype) << " needs " << need;
      throw std::invalid_argument(m.str());
    }
    auto* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (need > 0) std::memcpy(t.data_ptr(), src, need);
    if (device != "cpu") t = t.to(c10::Device(device));
    return WrapTensor(env, t);
  });
}

// Copies a tensor's elements (row-major, contiguous) into a fresh ArrayBuffer.
Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "toBytes");
  return Guarded(env, "toBytes", [&]() -> Napi::Value {
    at::Tensor c = t.detach().to(c10::Device(c10::kCPU)).contiguous();
    size_t n = static_cast<size_t>(ByteSize(c));
    auto buf = Napi::ArrayBuffer::New(env, n);
    if (n > 0) std::memcpy(buf.Data(), c.data_ptr(), n);
    return buf;
  });
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "shape");
  auto sizes = t.sizes();
  auto arr = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) arr.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return arr;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(Unwrap(info.Env(), info[0], "dtype").scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Unwrap(info.Env(), info[0], "device").device().str());
}

Napi::Value Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Unwrap(info.Env(), info[0], "numel").numel()));
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = Unwrap(env, info[0], "item");
  return Guarded(env, "item (shape " + ShapeString(t) + ")", [&]() -> Napi::Value {
    c10::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  });
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  TensorBox* box = UnwrapBox(info.Env(), info[0]);
  if (box != nullptr) DisposeBox(info.Env(), box);
  return info.Env().Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  TensorBox* box = UnwrapBox(info.Env(), info[0]);
  return Napi::Boolean::New(info.Env(), box == nullptr || box->disposed);
}

std::atomic<int64_t> reportedBytes{0};

// Called by the scope layer when a tensor is owned by no scope (see TensorBox).
Napi::Value ReportExternal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorBox* box = UnwrapBox(env, info[0]);
  if (box != nullptr && !box->disposed && !box->reported) {
    box->reported = true;
    reportedBytes.fetch_add(box->bytes);
    if (box->bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, box->bytes);
  }
  return env.Undefined();
}

Napi::Value ReportedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(reportedBytes.load()));
}

Napi::Value Live(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(LiveTensors())); }

Napi::Value SameData(const Napi::CallbackInfo& info) {
  at::Tensor& a = Unwrap(info.Env(), info[0], "sameData");
  at::Tensor& b = Unwrap(info.Env(), info[1], "sameData");
  return Napi::Boolean::New(info.Env(), a.is_same(b));
}

uint64_t SeedArg(Napi::Env env, const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "seed must be a non-negative integer or bigint");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw Napi::TypeError::New(env, "seed must be a non-negative integer or bigint");
  return static_cast<uint64_t>(d);
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = SeedArg(env, info[0]);
  Guarded(env, "manualSeed", [&]() { at::manual_seed(seed); return 0; });
  return env.Undefined();
}

Napi::Value WrapGenerator(Napi::Env env, at::Generator g) {
  auto ext = Napi::External<at::Generator>::New(env, new at::Generator(std::move(g)),
                                                [](Napi::Env, at::Generator* p) { delete p; });
  ext.TypeTag(&kGeneratorTag);
  return ext;
}

Napi::Value NewGenerator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = SeedArg(env, info[0]);
  return WrapGenerator(env, at::make_generator<at::CPUGeneratorImpl>(seed));
}

Napi::Value DefaultGenerator(const Napi::CallbackInfo& info) {
  return WrapGenerator(info.Env(), at::detail::getDefaultCPUGenerator());
}

Napi::Value GeneratorGetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator& g = UnwrapGenerator(env, info[0]);
  return Guarded(env, "generator.getState", [&]() {
    std::lock_guard<std::mutex> lock(g.mutex());
    return WrapTensor(env, g.get_state());
  });
}

Napi::Value GeneratorSetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator& g = UnwrapGenerator(env, info[0]);
  at::Tensor& s = Unwrap(env, info[1], "generator.setState");
  Guarded(env, "generator.setState", [&]() {
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(s);
    return 0;
  });
  return env.Undefined();
}

Napi::Value GeneratorSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator& g = UnwrapGenerator(env, info[0]);
  uint64_t seed = SeedArg(env, info[1]);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(seed);
  return env.Undefined();
}

using BlasSetThreads = void (*)(int);

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(env, "setNumThreads: need at least 1 thread");
  at::set_num_threads(n);
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// OpenBLAS keeps its own pool beside torch's OpenMP pool; it is found at run time so the addon
// links against whatever BLAS the libtorch build chose.
Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = info[0].As<Napi::Number>().Int32Value();
  auto fn = reinterpret_cast<BlasSetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn == nullptr) return Napi::Boolean::New(env, false);
  fn(n);
  return Napi::Boolean::New(env, true);
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  bool ok = at::detail::getCUDAHooks().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0;
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  int n = at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  return Napi::Number::New(info.Env(), n);
}

Napi::Value Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", Napi::String::New(env, TORCH_VERSION));
  o.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
  o.Set("cxx11Abi", Napi::Boolean::New(env, _GLIBCXX_USE_CXX11_ABI != 0));
  return o;
}

}  // namespace

std::string ShapeString(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream s;
  s << "[";
  auto sz = t.sizes();
  for (size_t i = 0; i < sz.size(); ++i) s << (i ? ", " : "") << sz[i];
  s << "]";
  return s.str();
}

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  auto* box = new TensorBox{std::move(t), 0, false, false};
  box->bytes = ByteSize(box->t);
  live.fetch_add(1);
  auto ext = Napi::External<TensorBox>::New(env, box, [](Napi::Env env, TensorBox* b) {
    if (!b->disposed) DisposeBox(env, b);
    delete b;
  });
  ext.TypeTag(&kTensorTag);
  return ext;
}

TensorBox* UnwrapBox(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kTensorTag)) return nullptr;
  return v.As<Napi::External<TensorBox>>().Data();
}

at::Tensor& Unwrap(Napi::Env env, const Napi::Value& v, const char* what) {
  TensorBox* box = UnwrapBox(env, v);
  if (box == nullptr) throw Napi::TypeError::New(env, std::string(what) + ": expected a Tensor");
  if (box->disposed)
    throw Napi::Error::New(env, std::string(what) + ": tensor was disposed and cannot be used again");
  return box->t;
}

void DisposeBox(Napi::Env env, TensorBox* box) {
  if (box->disposed) return;
  box->disposed = true;
  box->t = at::Tensor();
  live.fetch_sub(1);
  if (box->reported) {
    reportedBytes.fetch_sub(box->bytes);
    if (box->bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -box->bytes);
  }
}

int64_t LiveTensors() { return live.load(); }

void InitTensor(Napi::Env env, Napi::Object exports) {
  exports.Set("fromBytes", Napi::Function::New(env, FromBytes));
  exports.Set("toBytes", Napi::Function::New(env, ToBytes));
  exports.Set("shape", Napi::Function::New(env, Shape));
  exports.Set("dtype", Napi::Function::New(env, Dtype));
  exports.Set("device", Napi::Function::New(env, Device));
  exports.Set("numel", Napi::Function::New(env, Numel));
  exports.Set("item", Napi::Function::New(env, Item));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("isDisposed", Napi::Function::New(env, IsDisposed));
  exports.Set("liveTensors", Napi::Function::New(env, Live));
  exports.Set("reportExternal", Napi::Function::New(env, ReportExternal));
  exports.Set("reportedBytes", Napi::Function::New(env, ReportedBytes));
  exports.Set("sameData", Napi::Function::New(env, SameData));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("newGenerator", Napi::Function::New(env, NewGenerator));
  exports.Set("defaultGenerator", Napi::Function::New(env, DefaultGenerator));
  exports.Set("generatorGetState", Napi::Function::New(env, GeneratorGetState));
  exports.Set("generatorSetState", Napi::Function::New(env, GeneratorSetState));
  exports.Set("generatorSeed", Napi::Function::New(env, GeneratorSeed));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads));
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("config", Napi::Function::New(env, Config));
}

// Exposed for dispatch.cc's Generator arguments.
at::Generator& UnwrapGeneratorPublic(Napi::Env env, const Napi::Value& v) { return UnwrapGenerator(env, v); }

}  // namespace sg
