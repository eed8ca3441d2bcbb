// A caching CPU allocator registered with c10, so that every CPU tensor of the process (the library API
// as well as the CLI) gets it once the addon is loaded.
//
// Why: with glibc's default malloc, a sampling loop's resident size sometimes grows by one batch's
// activations per step without bound (docs/benchmarks.md, "CPU memory"): glibc's dynamic mmap threshold
// moves large buffers onto its heaps, which then fragment. A fixed threshold stops the growth but maps
// fresh pages every step (1.8x slower, mostly system time). Here large buffers are mapped once and
// reused: a freed block waits in a cache keyed by its size class and is handed to the next request of
// that class, the way PyTorch's CUDA caching allocator reuses device memory. A diffusion step asks for
// the same sizes every time, so after the first steps no large buffer is mapped or faulted in again.
// A request takes the smallest cached block of its class or of a larger one (up to kMaxFit times).
//
// Bounds: cached (free) bytes never exceed max(floor, kCacheFactor x the peak of bytes in use), the
// oldest cached blocks unmapped first; and a block that no request took back for kIdleAllocations
// large allocations is unmapped, so a finished phase's sizes do not stay.
// Small requests (below kLargeBytes) go to c10's default allocator: they cannot fragment much.
// SELFGUIDED_CPU_ALLOCATOR=default leaves c10's default allocator in place (for comparisons).
#include "common.h"

#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sg {
namespace {

constexpr size_t kLargeBytes = 64 << 10;
constexpr size_t kPage = 4096;
constexpr size_t kMaxFit = 2;
// The cache may hold this many times the peak in use: blocks freed in one size class wait while other
// classes peak, so a UNet sampling step measured 2.1x its peak in use mapped at steady state; a tighter
// bound unmaps blocks the next step needs, and every step maps again (most of the time in the kernel).
constexpr uint64_t kCacheFactor = 3;
// A cached block not taken back within this many large allocations is returned to the kernel, so that
// the blocks of a finished phase (another batch size, another model) do not stay for good.
constexpr uint64_t kIdleAllocations = 16384;
constexpr uint64_t kSweepEvery = 4096;

// Size classes an eighth of a power of two apart (at most 12.5% rounding, pages at least), so that
// requests of nearly the same size share blocks.
size_t SizeClass(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  size_t step = std::max(kPage, p >> 3);
  return (n + step - 1) / step * step;
}

struct Block {
  void* ptr;
  size_t size;
  uint64_t freedAt;  // allocation clock when it was cached (eviction order, idleness)
};

struct Stats {
  uint64_t inUse = 0, peakInUse = 0, cached = 0, mapped = 0;
  uint64_t hits = 0, maps = 0, unmaps = 0;
};

class CachingCpuAllocator final : public at::Allocator {
 public:
  explicit CachingCpuAllocator(at::Allocator* small) : small_(small) {}

  at::DataPtr allocate(size_t n) const override {
    if (n < kLargeBytes) return small_->allocate(n);
    return const_cast<CachingCpuAllocator*>(this)->AllocateLarge(n);
  }

  // c10's raw_allocate/raw_deallocate (used inside some kernels) need the context to be the pointer
  // itself and one deleter for everything this allocator hands out, small blocks included.
  at::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::Release; }

  Stats GetStats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peakInUse = stats_.inUse;
    Trim();
  }

  // Unmaps every cached block; blocks in use are untouched.
  void EmptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_) {
      for (Block* b : blocks) Unmap(b);
      blocks.clear();
    }
    free_.clear();
  }

  void SetFloor(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    floor_ = bytes;
    Trim();
  }

  uint64_t Floor() {
    std::lock_guard<std::mutex> lock(mu_);
    return floor_;
  }

 private:
  at::DataPtr AllocateLarge(size_t n) {
    size_t size = SizeClass(n);
    Block* b = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (++clock_ % kSweepEvery == 0) SweepIdle();
      // Best fit: the smallest cached block of this class or a larger one, up to kMaxFit times the
      // request; without it blocks freed in one class sit idle while the next class maps new memory.
      for (auto it = free_.lower_bound(size); it != free_.end() && it->first <= size * kMaxFit; ++it) {
        if (it->second.empty()) continue;
        b = it->second.back();
        it->second.pop_back();
        stats_.cached -= b->size;
        stats_.hits++;
        break;
      }
    }
    if (b == nullptr) b = Map(size);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.inUse += b->size;
      stats_.peakInUse = std::max(stats_.peakInUse, stats_.inUse);
      live_.emplace(b->ptr, b);
    }
    return {b->ptr, b->ptr, &CachingCpuAllocator::Release, at::Device(at::DeviceType::CPU)};
  }

  Block* Map(size_t size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      // Give the cache back to the kernel and try once more before failing like c10 does.
      EmptyCache();
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      TORCH_CHECK(p != MAP_FAILED, "CPU out of memory: cannot map ", size, " bytes: ", std::strerror(errno));
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.mapped += size;
    stats_.maps++;
    return new Block{p, size, 0};
  }

  // Called with mu_ held.
  void Unmap(Block* b) {
    munmap(b->ptr, b->size);
    stats_.mapped -= b->size;
    stats_.cached -= b->size;
    stats_.unmaps++;
    delete b;
  }

  static void Release(void* ptr);

  void Free(void* ptr) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = live_.find(ptr);
    if (it == live_.end()) {
      lock.unlock();
      small_->raw_deleter()(ptr);
      return;
    }
    Block* b = it->second;
    live_.erase(it);
    stats_.inUse -= b->size;
    b->freedAt = clock_;
    free_[b->size].push_back(b);
    stats_.cached += b->size;
    Trim();
  }

  // Unmaps cached blocks that no allocation took back for kIdleAllocations. mu_ held.
  void SweepIdle() {
    for (auto& [size, blocks] : free_) {
      size_t keep = 0;
      for (Block* b : blocks) {
        if (clock_ - b->freedAt > kIdleAllocations) Unmap(b);
        else blocks[keep++] = b;
      }
      blocks.resize(keep);
    }
  }

  // Unmaps the oldest cached blocks until the cache fits its bound. mu_ held.
  void Trim() {
    uint64_t bound = std::max(floor_, kCacheFactor * stats_.peakInUse);
    while (stats_.cached > bound) {
      std::vector<Block*>* oldestList = nullptr;
      uint64_t oldest = UINT64_MAX;
      for (auto& [size, blocks] : free_) {
        // Each list is in the order its blocks were freed, so its first block is its oldest.
        if (!blocks.empty() && blocks.front()->freedAt < oldest) {
          oldest = blocks.front()->freedAt;
          oldestList = &blocks;
        }
      }
      if (oldestList == nullptr) return;
      Block* b = oldestList->front();
      oldestList->erase(oldestList->begin());
      Unmap(b);
    }
  }

  at::Allocator* small_;
  std::mutex mu_;
  std::map<size_t, std::vector<Block*>> free_;
  std::unordered_map<void*, Block*> live_;
  Stats stats_;
  uint64_t clock_ = 0;
  uint64_t floor_ = 256ull << 20;
};

// Never destroyed: tensors may still be released while the process exits.
CachingCpuAllocator* g_caching = nullptr;

void CachingCpuAllocator::Release(void* ptr) { g_caching->Free(ptr); }

bool InstallRequested() {
  const char* v = std::getenv("SELFGUIDED_CPU_ALLOCATOR");
  return v == nullptr || std::strcmp(v, "default") != 0;
}

Napi::Value CpuAllocatorStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("allocator", Napi::String::New(env, g_caching ? "caching" : "default"));
  if (g_caching == nullptr) return o;
  Stats s = g_caching->GetStats();
  o.Set("inUseBytes", Napi::Number::New(env, double(s.inUse)));
  o.Set("peakInUseBytes", Napi::Number::New(env, double(s.peakInUse)));
  o.Set("cachedBytes", Napi::Number::New(env, double(s.cached)));
  o.Set("mappedBytes", Napi::Number::New(env, double(s.mapped)));
  o.Set("cacheFloorBytes", Napi::Number::New(env, double(g_caching->Floor())));
  o.Set("hits", Napi::Number::New(env, double(s.hits)));
  o.Set("maps", Napi::Number::New(env, double(s.maps)));
  o.Set("unmaps", Napi::Number::New(env, double(s.unmaps)));
  return o;
}

Napi::Value CpuAllocatorEmptyCache(const Napi::CallbackInfo& info) {
  if (g_caching) g_caching->EmptyCache();
  return info.Env().Undefined();
}

Napi::Value CpuAllocatorResetPeak(const Napi::CallbackInfo& info) {
  if (g_caching) g_caching->ResetPeak();
  return info.Env().Undefined();
}

Napi::Value CpuAllocatorSetFloor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double mb = info[0].As<Napi::Number>().DoubleValue();
  if (!(mb >= 0)) throw Napi::RangeError::New(env, "cpu allocator: the cache floor must be >= 0 MB");
  if (g_caching) g_caching->SetFloor(uint64_t(mb * (1 << 20)));
  return env.Undefined();
}

}  // namespace

void InitCpuAllocator(Napi::Env env, Napi::Object exports) {
  // Once per process, though the addon may be initialised in several Node environments (workers).
  static std::once_flag once;
  std::call_once(once, [] {
    if (!InstallRequested()) return;
    g_caching = new CachingCpuAllocator(c10::GetDefaultCPUAllocator());
    // Above c10's default (priority 0), so a later default registration cannot displace it.
    c10::SetCPUAllocator(g_caching, 1);
  });
  exports.Set("cpuAllocatorStats", Napi::Function::New(env, CpuAllocatorStats));
  exports.Set("cpuAllocatorEmptyCache", Napi::Function::New(env, CpuAllocatorEmptyCache));
  exports.Set("cpuAllocatorResetPeak", Napi::Function::New(env, CpuAllocatorResetPeak));
  exports.Set("cpuAllocatorSetFloor", Napi::Function::New(env, CpuAllocatorSetFloor));
}

}  // namespace sg
