// Module entry: each translation unit registers its functions on the exports object.
#include "common.h"

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  using namespace sg;
  InitCpuAllocator(env, exports);
  InitTensor(env, exports);
  InitDispatch(env, exports);
  InitAutograd(env, exports);
  InitJit(env, exports);
  InitProfiler(env, exports);
  InitDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(selfguided, InitAll)
