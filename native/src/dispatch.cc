// One generic entry point to every ATen operator: look the schema up once by name, then convert JS
// arguments to IValues by the schema's declared types and call the operator boxed. Autograd, devices
// and dtype promotion come along because the dispatcher routes the call exactly as at::op() would.
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <sstream>

namespace sg {
at::Generator& UnwrapGeneratorPublic(Napi::Env env, const Napi::Value& v);

namespace {

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;
};
std::vector<OpEntry> ops;

[[noreturn]] void ArgError(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const std::string& why) {
  throw Napi::TypeError::New(env, op.name + ": argument '" + arg.name() + "' (" + arg.type()->str() + ") " + why);
}

int64_t ToInt(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const Napi::Value& v) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) ArgError(env, op, arg, "expects an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) ArgError(env, op, arg, "expects an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

c10::IValue ToScalar(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const Napi::Value& v) {
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (!v.IsNumber()) ArgError(env, op, arg, "expects a number");
  double d = v.As<Napi::Number>().DoubleValue();
  // Integral JS numbers become integer scalars so integer tensors keep their dtype, as in Python.
  if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9.007199254740992e15)
    return c10::IValue(static_cast<int64_t>(d));
  return c10::IValue(d);
}

c10::IValue ToIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& v);

c10::IValue ToList(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::ListType& lt,
                   const Napi::Value& v) {
  const c10::TypePtr& elem = lt.getElementType();
  if (!v.IsArray()) {
    // int[2] accepts a single int, as in Python (kernel_size=3 means [3, 3]).
    if (v.IsNumber() && arg.N() && (elem->kind() == c10::TypeKind::IntType || elem->kind() == c10::TypeKind::SymIntType)) {
      return c10::IValue(std::vector<int64_t>(*arg.N(), ToInt(env, op, arg, v)));
    }
    ArgError(env, op, arg, "expects an array");
  }
  auto arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  switch (elem->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      std::vector<int64_t> out(n);
      for (uint32_t i = 0; i < n; ++i) out[i] = ToInt(env, op, arg, arr.Get(i));
      return c10::IValue(out);
    }
    case c10::TypeKind::FloatType: {
      std::vector<double> out(n);
      for (uint32_t i = 0; i < n; ++i) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) ArgError(env, op, arg, "expects numbers");
        out[i] = e.As<Napi::Number>().DoubleValue();
      }
      return c10::IValue(out);
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; ++i) out.push_back(arr.Get(i).ToBoolean().Value());
      return c10::IValue(out);
    }
    case c10::TypeKind::TensorType: {
      std::vector<at::Tensor> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; ++i) out.push_back(Unwrap(env, arr.Get(i), op.name.c_str()));
      return c10::IValue(out);
    }
    case c10::TypeKind::OptionalType: {
      c10::List<c10::optional<at::Tensor>> out;
      for (uint32_t i = 0; i < n; ++i) {
        Napi::Value e = arr.Get(i);
        if (e.IsNull() || e.IsUndefined()) out.push_back(c10::nullopt);
        else out.push_back(Unwrap(env, e, op.name.c_str()));
      }
      return c10::IValue(out);
    }
    default:
      ArgError(env, op, arg, "has a list type the addon does not convert");
  }
}

c10::IValue ToIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& v) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      return c10::IValue(Unwrap(env, v, op.name.c_str()));
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return ToIValue(env, op, arg, type->castRaw<c10::OptionalType>()->getElementType(), v);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      return c10::IValue(ToInt(env, op, arg, v));
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) ArgError(env, op, arg, "expects a number");
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) ArgError(env, op, arg, "expects a boolean");
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case c10::TypeKind::NumberType:
      return ToScalar(env, op, arg, v);
    case c10::TypeKind::StringType:
      if (!v.IsString()) ArgError(env, op, arg, "expects a string");
      return c10::IValue(v.As<Napi::String>().Utf8Value());
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) ArgError(env, op, arg, "expects a device string such as 'cpu' or 'cuda:0'");
      return c10::IValue(c10::Device(v.As<Napi::String>().Utf8Value()));
    case c10::TypeKind::GeneratorType:
      return c10::IValue(UnwrapGeneratorPublic(env, v));
    case c10::TypeKind::ListType:
      return ToList(env, op, arg, *type->castRaw<c10::ListType>(), v);
    default:
      ArgError(env, op, arg, "has a type the addon does not convert");
  }
}

// Described from the JS arguments, which outlive a failed call (the stack may be half consumed).
std::string DescribeInputs(Napi::Env env, const Napi::Array& js) {
  std::ostringstream s;
  bool first = true;
  for (uint32_t i = 0; i < js.Length(); ++i) {
    Napi::Value jv = js.Get(i);
    std::vector<Napi::Value> items;
    if (jv.IsArray()) {
      auto a = jv.As<Napi::Array>();
      for (uint32_t j = 0; j < a.Length(); ++j) items.push_back(a.Get(j));
    } else {
      items.push_back(jv);
    }
    for (const auto& item : items) {
    TensorBox* box = UnwrapBox(env, item);
    if (box == nullptr || box->disposed) continue;
    const at::Tensor& t = box->t;
    s << (first ? "" : ", ") << ShapeString(t);
    if (t.defined()) s << " " << c10::toString(t.scalar_type()) << (t.is_cuda() ? " " + t.device().str() : "");
    first = false;
    }
  }
  return s.str();
}

Napi::Value LookupOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw Napi::Error::New(env, "no operator " + name + (overload.empty() ? "" : "." + overload) + " in this libtorch");
  ops.push_back({*handle, name + (overload.empty() ? "" : "." + overload)});
  return Napi::Number::New(env, static_cast<double>(ops.size() - 1));
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  uint32_t idx = info[0].As<Napi::Number>().Uint32Value();
  std::ostringstream s;
  s << ops.at(idx).handle.schema();
  return Napi::String::New(info.Env(), s.str());
}

// callOp(index, args[, discard]): args are positional over the whole schema, keyword-only ones
// included; undefined takes the schema's default. With discard the results are dropped (in-place ops).
Napi::Value CallOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t idx = info[0].As<Napi::Number>().Uint32Value();
  if (idx >= ops.size()) throw Napi::RangeError::New(env, "callOp: unknown operator index");
  const OpEntry& op = ops[idx];
  const c10::FunctionSchema& schema = op.handle.schema();
  const auto& args = schema.arguments();
  auto js = info[1].As<Napi::Array>();
  uint32_t given = js.Length();
  if (given > args.size())
    throw Napi::TypeError::New(env, op.name + ": takes " + std::to_string(args.size()) + " arguments, got " + std::to_string(given));
  c10::Stack stack;
  stack.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const c10::Argument& arg = args[i];
    Napi::Value v = i < given ? js.Get(static_cast<uint32_t>(i)) : env.Undefined();
    if (v.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      ArgError(env, op, arg, "is required");
    }
    stack.push_back(ToIValue(env, op, arg, arg.type(), v));
  }
  try {
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, op.name + " (inputs " + DescribeInputs(env, js) + "): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, op.name + " (inputs " + DescribeInputs(env, js) + "): " + e.what());
  }
  if (info.Length() > 2 && info[2].ToBoolean().Value()) return env.Undefined();
  if (stack.empty()) return env.Undefined();
  if (stack.size() == 1) return FromIValue(env, stack[0]);
  auto arr = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); ++i) arr.Set(i, FromIValue(env, stack[i]));
  return arr;
}

}  // namespace

// Converts an operator or TorchScript result to JS: tensors become handles, tuples and lists arrays,
// dicts objects.
Napi::Value FromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return WrapTensor(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) arr.Set(i, WrapTensor(env, list.get(i)));
    return arr;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    auto arr = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) arr.Set(i, FromIValue(env, elems[i]));
    return arr;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) arr.Set(i, FromIValue(env, list[i]));
    return arr;
  }
  if (v.isGenericDict()) {
    auto obj = Napi::Object::New(env);
    for (const auto& kv : v.toGenericDict()) {
      std::string key = kv.key().isString() ? kv.key().toStringRef() : c10::str(kv.key());
      obj.Set(key, FromIValue(env, kv.value()));
    }
    return obj;
  }
  throw Napi::TypeError::New(env, std::string("cannot convert a result of kind ") + v.tagKind());
}

void InitDispatch(Napi::Env env, Napi::Object exports) {
  exports.Set("lookupOp", Napi::Function::New(env, LookupOp));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema));
  exports.Set("callOp", Napi::Function::New(env, CallOp));
}

}  // namespace sg
