// runtime.hpp - just enough of CUDA to run minigrad's kernels on the CPU, for testing.
//
// kernels/cuda/emulator/__init__.py compiles a kernel file (kernels/cuda/<name>.cu) with
// g++ after this header, into a shared library it calls through ctypes. Nothing here is
// fast; what matters is that a kernel runs with CUDA's semantics closely enough that its
// bugs show up:
//
// * Every GPU thread of a block is a fiber (ucontext) with its own stack, so every
//   thread really runs the kernel's code with its own threadIdx. One block runs at a
//   time; a kernel's __shared__ arrays become `static` locals, shared by the block.
// * A fiber runs until it reaches a barrier (__syncthreads, __syncwarp, a warp shuffle)
//   or returns; then the next fiber runs. __syncthreads releases the block when every
//   thread that has not returned waits on it; a warp barrier releases a warp's lanes
//   when every lane still running in the mask waits on it. Anything else is reported
//   as a divergent barrier (a real GPU would hang or compute garbage there). Code that
//   relies on lanes running in lockstep without __syncwarp sees other lanes' stale
//   values here, as it may on Volta and newer GPUs.
// * A warp shuffle reads another lane's value through a per-warp exchange between two
//   warp barriers; reading a lane that is not taking part is reported.
// * The launch fails with a message (returned to Python) instead of hanging or crashing
//   where it can: too many threads, too much shared memory, a divergent barrier.
#pragma once
#if defined(__APPLE__) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 600  // macOS hides the ucontext functions without it
#endif
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __constant__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __ldg(p) (*(p))

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
struct int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct char4 { signed char x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

// The built-in variables. Global with external linkage, and every switch between fibers
// is a compiler memory barrier, so a kernel reads the values of the fiber it runs in.
uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
unsigned char* mgemu_dynamic_smem = nullptr;
unsigned long long mgemu_block_serial = 0;  // counts blocks across launches

// Added by the emulator after each static __shared__ declaration: the first thread of a
// block to get there fills the array with 0xFF bytes (NaN, -1).
#define MGEMU_POISON_SHARED(name)                                           \
    do {                                                                    \
        static unsigned long long mgemu_poisoned_in_ = ~0ull;               \
        if (mgemu_poisoned_in_ != mgemu_block_serial) {                     \
            mgemu_poisoned_in_ = mgemu_block_serial;                        \
            std::memset((void*)&(name), 0xff, sizeof(name));                \
        }                                                                   \
    } while (0)

// ------------------------------------------------------------------ intrinsics
using std::isfinite;  // global functions in CUDA
using std::isinf;
using std::isnan;
using std::signbit;
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; ++i) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
    return c;
}
inline unsigned int __dp4a(unsigned int a, unsigned int b, unsigned int c) {
    for (int i = 0; i < 4; ++i) c += ((a >> (8 * i)) & 255u) * ((b >> (8 * i)) & 255u);
    return c;
}
// CUDA's global min and max for integers (float and double have fminf/fmaxf and std's)
#define MGEMU_MINMAX(T)                                   \
    inline T min(T a, T b) { return a < b ? a : b; }      \
    inline T max(T a, T b) { return a < b ? b : a; }
MGEMU_MINMAX(int)
MGEMU_MINMAX(unsigned int)
MGEMU_MINMAX(long long)
MGEMU_MINMAX(unsigned long long)
MGEMU_MINMAX(long)
MGEMU_MINMAX(unsigned long)
MGEMU_MINMAX(float)
MGEMU_MINMAX(double)
#undef MGEMU_MINMAX

// One OS thread runs every fiber and switches only at barriers: an atomic is a plain update.
template <typename T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <typename T> inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
inline void __threadfence() {}
inline void __threadfence_block() {}

// ------------------------------------------------------------------ switching fibers
// On x86-64 (ELF) a switch saves the callee-saved registers on the old stack and loads the
// new stack pointer (no system call; ucontext's swapcontext makes two per switch, which
// made a launch of many blocks 10x slower). Elsewhere ucontext does the work.
#if defined(__x86_64__) && defined(__ELF__)  // the directives below are ELF's (Linux, BSDs)
#define MGEMU_FAST_SWITCH 1
extern "C" void mgemu_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl mgemu_switch
    .hidden mgemu_switch
    .type mgemu_switch, @function
mgemu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size mgemu_switch, .-mgemu_switch
)");
#else
#define MGEMU_FAST_SWITCH 0
#endif

// ------------------------------------------------------------------ the fiber scheduler
namespace mgemu {

enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
    ucontext_t ctx;          // (MGEMU_FAST_SWITCH 0)
    void* sp;                // the saved stack pointer (MGEMU_FAST_SWITCH 1)
    State state;
    unsigned int tid;        // linear thread index in the block
    unsigned int x, y, z;    // threadIdx
    unsigned int warp_mask;  // the mask a lane waits on at a warp barrier
};

struct Launch {
    std::vector<Fiber> fibers;
    char* stacks = nullptr;
    size_t stack_bytes = 0;
    ucontext_t sched;
    void* sched_sp = nullptr;
    int current = -1;
    const std::function<void()>* body = nullptr;
    char error[512] = {0};
    // the warp shuffle exchange: one slot of 8 bytes per lane
    std::vector<unsigned long long> slot;
    std::vector<unsigned char> slot_full;
};

inline Launch*& current_launch() { static Launch* l = nullptr; return l; }

inline void fail(const char* msg) {
    Launch* L = current_launch();
    if (L && !L->error[0]) std::snprintf(L->error, sizeof L->error, "%s", msg);
}

__attribute__((noinline)) inline void yield_to_scheduler(State s, unsigned int mask) {
    Launch* L = current_launch();
    Fiber& f = L->fibers[L->current];
    f.state = s;
    f.warp_mask = mask;
    asm volatile("" ::: "memory");
#if MGEMU_FAST_SWITCH
    mgemu_switch(&f.sp, L->sched_sp);
#else
    swapcontext(&f.ctx, &L->sched);
#endif
    asm volatile("" ::: "memory");
}

inline void trampoline() {
    Launch* L = current_launch();
    (*L->body)();
    L->fibers[L->current].state = DONE;
    asm volatile("" ::: "memory");
#if MGEMU_FAST_SWITCH
    mgemu_switch(&L->fibers[L->current].sp, L->sched_sp);
#else
    swapcontext(&L->fibers[L->current].ctx, &L->sched);
#endif
    __builtin_unreachable();
}

inline unsigned int lane_id() { return current_launch()->fibers[current_launch()->current].tid & 31u; }
inline unsigned int warp_id() { return current_launch()->fibers[current_launch()->current].tid >> 5; }

// Release what can be released after every fiber has run as far as it can. Returns false
// (and sets the error) on a deadlock.
inline bool release(Launch* L) {
    const size_t n = L->fibers.size();
    const size_t nwarps = (n + 31) / 32;
    bool released = false;
    for (size_t w = 0; w < nwarps; ++w) {
        unsigned int waiting = 0, live = 0, mask = 0;
        for (size_t i = w * 32; i < n && i < w * 32 + 32; ++i) {
            const Fiber& f = L->fibers[i];
            const unsigned int bit = 1u << (i - w * 32);
            if (f.state != DONE) live |= bit;
            if (f.state == WAIT_WARP) { waiting |= bit; mask |= f.warp_mask; }
        }
        if (!waiting) continue;
        if ((mask & live & ~waiting) == 0) {  // every running lane in the masks has arrived
            for (size_t i = w * 32; i < n && i < w * 32 + 32; ++i)
                if (L->fibers[i].state == WAIT_WARP) L->fibers[i].state = RUNNABLE;
            released = true;
        }
    }
    if (released) return true;
    bool all_block = true, any_block = false;
    for (const Fiber& f : L->fibers) {
        if (f.state == WAIT_BLOCK) any_block = true;
        else if (f.state != DONE) all_block = false;
    }
    if (any_block && all_block) {
        for (Fiber& f : L->fibers)
            if (f.state == WAIT_BLOCK) f.state = RUNNABLE;
        return true;
    }
    // deadlock: describe the first waiting threads
    int nb = 0, nw = 0, first_b = -1, first_w = -1;
    for (const Fiber& f : L->fibers) {
        if (f.state == WAIT_BLOCK) { ++nb; if (first_b < 0) first_b = (int)f.tid; }
        if (f.state == WAIT_WARP) { ++nw; if (first_w < 0) first_w = (int)f.tid; }
    }
    char msg[400];
    std::snprintf(msg, sizeof msg,
                  "divergent barrier in block (%u, %u, %u): %d threads wait in __syncthreads (first: thread %d) "
                  "and %d at a warp barrier/shuffle whose mask names lanes that will not arrive (first: thread %d)",
                  blockIdx.x, blockIdx.y, blockIdx.z, nb, first_b, nw, first_w);
    fail(msg);
    return false;
}

// The order in which the threads of a block run between two barriers, from the
// environment variable MINIGRAD_CUDA_EMULATOR_ORDER: "alternate" (the default: thread 0
// first in every other block and launch, the last thread first in the others), "forward",
// "reverse", or "random" (a new order after every barrier). A kernel that reads shared
// memory another thread writes without a barrier in between gets the wrong value in at
// least one of the orders.
inline int schedule_order() {
    const char* v = std::getenv("MINIGRAD_CUDA_EMULATOR_ORDER");
    if (!v || !*v || !std::strcmp(v, "alternate")) return 0;
    if (!std::strcmp(v, "forward")) return 1;
    if (!std::strcmp(v, "reverse")) return 2;
    if (!std::strcmp(v, "random")) return 3;
    return -1;
}

// Run `body` as a kernel over grid x block. Returns 0, or 1 with L.error set.
inline int launch(const unsigned int* grid, const unsigned int* block, size_t shmem, const std::function<void()>& body,
                  char* error, size_t error_len) {
    Launch L;
    L.body = &body;
    const unsigned long long nthreads = (unsigned long long)block[0] * block[1] * block[2];
    auto bad = [&](const char* msg) { std::snprintf(error, error_len, "%s", msg); return 1; };
    if (nthreads == 0 || nthreads > 1024 || block[2] > 64)
        return bad("block must have 1..1024 threads (z at most 64)");
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535)
        return bad("grid must be at least 1 in x, y and z, and at most 65535 in y and z");
    if (shmem > 227 * 1024) return bad("more dynamic shared memory than a GPU has (227 KiB)");
    if (schedule_order() < 0) return bad("MINIGRAD_CUDA_EMULATOR_ORDER must be alternate, forward, reverse or random");
    std::vector<unsigned char> dyn(shmem + 16, 0xff);
    mgemu_dynamic_smem = dyn.data() + (16 - ((uintptr_t)dyn.data() % 16)) % 16;
    L.stack_bytes = 256 * 1024;
    // The fibers' stacks: kept from launch to launch and never cleared, so a launch does
    // not fault in (and zero) up to 256 MiB of fresh pages.
    static char* stack_pool = nullptr;
    static size_t stack_pool_bytes = 0;
    if (stack_pool_bytes < L.stack_bytes * nthreads) {
        std::free(stack_pool);
        stack_pool_bytes = L.stack_bytes * nthreads;
        stack_pool = (char*)std::malloc(stack_pool_bytes);
        if (!stack_pool) { stack_pool_bytes = 0; return bad("out of memory for the fibers' stacks"); }
    }
    L.stacks = stack_pool;
    L.fibers.resize(nthreads);
    L.slot.assign(nthreads + 32, 0);
    L.slot_full.assign(nthreads + 32, 0);
    const int order = schedule_order();
    static unsigned long long launches = 0;
    const unsigned long long launch_no = launches++;
    std::vector<unsigned int> perm(nthreads);
    current_launch() = &L;
    gridDim = dim3(grid[0], grid[1], grid[2]);
    blockDim = dim3(block[0], block[1], block[2]);
    int rc = 0;
    for (unsigned int bz = 0; bz < grid[2] && !rc; ++bz)
        for (unsigned int by = 0; by < grid[1] && !rc; ++by)
            for (unsigned int bx = 0; bx < grid[0] && !rc; ++bx) {
                blockIdx = {bx, by, bz};
                ++mgemu_block_serial;
                std::memset(dyn.data(), 0xff, dyn.size());  // dynamic shared memory: stale, as on a GPU
                for (unsigned int t = 0; t < nthreads; ++t) {
                    Fiber& f = L.fibers[t];
                    f.tid = t;
                    f.x = t % block[0];
                    f.y = (t / block[0]) % block[1];
                    f.z = t / (block[0] * block[1]);
                    f.state = RUNNABLE;
                    char* stack = L.stacks + (size_t)t * L.stack_bytes;
#if MGEMU_FAST_SWITCH
                    // the new stack as mgemu_switch leaves one: six saved registers, then the
                    // address to return to; the slot above keeps rsp % 16 == 8 on entry
                    uintptr_t top = ((uintptr_t)(stack + L.stack_bytes)) & ~(uintptr_t)15;
                    void** sp = (void**)top;
                    *--sp = nullptr;
                    *--sp = (void*)&trampoline;
                    for (int r = 0; r < 6; ++r) *--sp = nullptr;
                    f.sp = sp;
#else
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stack;
                    f.ctx.uc_stack.ss_size = L.stack_bytes;
                    f.ctx.uc_link = nullptr;
                    makecontext(&f.ctx, trampoline, 0);
#endif
                }
                // the order fibers run in between barriers (see schedule_order)
                const unsigned long long linear = bx + (unsigned long long)grid[0] * (by + (unsigned long long)grid[1] * bz);
                const bool reverse = order == 2 || (order == 0 && ((linear + launch_no) & 1));
                for (unsigned int t = 0; t < nthreads; ++t) perm[t] = reverse ? nthreads - 1 - t : t;
                unsigned long long rng = 0x9e3779b97f4a7c15ull * (linear + 1) + launch_no;
                for (;;) {
                    if (order == 3)  // a new random order every pass
                        for (unsigned int t = nthreads - 1; t > 0; --t) {
                            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                            const unsigned int j = (unsigned int)((rng >> 33) % (t + 1));
                            const unsigned int tmp = perm[t]; perm[t] = perm[j]; perm[j] = tmp;
                        }
                    bool ran = false, live = false;
                    for (unsigned int pi = 0; pi < nthreads; ++pi) {
                        const unsigned int t = perm[pi];
                        Fiber& f = L.fibers[t];
                        if (f.state != DONE) live = true;
                        if (f.state != RUNNABLE) continue;
                        ran = true;
                        L.current = (int)t;
                        threadIdx = {f.x, f.y, f.z};
                        asm volatile("" ::: "memory");
#if MGEMU_FAST_SWITCH
                        mgemu_switch(&L.sched_sp, f.sp);
#else
                        swapcontext(&L.sched, &f.ctx);
#endif
                        asm volatile("" ::: "memory");
                        if (L.error[0]) { rc = 1; break; }
                    }
                    if (rc || !live) break;
                    if (!ran) {
                        bool any_live = false;
                        for (const Fiber& f : L.fibers) any_live |= f.state != DONE;
                        if (!any_live) break;
                        if (!release(&L)) { rc = 1; break; }
                    }
                }
            }
    current_launch() = nullptr;
    mgemu_dynamic_smem = nullptr;
    if (rc) std::snprintf(error, error_len, "%s", L.error);
    return rc;
}

}  // namespace mgemu

// ------------------------------------------------------------------ barriers and shuffles
inline void __syncthreads() { mgemu::yield_to_scheduler(mgemu::WAIT_BLOCK, 0); }

inline unsigned int mgemu_full_warp_mask() {
    // lanes that exist in this thread's warp (the last warp of a block may be short)
    const unsigned int n = blockDim.x * blockDim.y * blockDim.z;
    const unsigned int w = mgemu::warp_id();
    const unsigned int lanes = n - 32 * w >= 32 ? 32 : n - 32 * w;
    return lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
}

inline void __syncwarp(unsigned int mask = 0xffffffffu) {
    mgemu::yield_to_scheduler(mgemu::WAIT_WARP, mask & mgemu_full_warp_mask());
}

template <typename T> inline T mgemu_shuffle(unsigned int mask, T v, int src_lane_in_warp) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    mgemu::Launch* L = mgemu::current_launch();
    const unsigned int me = mgemu::current_launch()->fibers[L->current].tid;
    const unsigned int base = me & ~31u;
    if (!(mask >> (me & 31u) & 1u)) mgemu::fail("a warp shuffle was called by a lane not in its mask");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    L->slot[me] = bits;
    L->slot_full[me] = 1;
    __syncwarp(mask);
    T r = v;
    const unsigned int src = base + (unsigned int)src_lane_in_warp;
    if (src < L->fibers.size() && L->slot_full[src]) {
        std::memcpy(&r, &L->slot[src], sizeof(T));
    } else {
        mgemu::fail("a warp shuffle read a lane that did not take part in it");
    }
    __syncwarp(mask);
    L->slot_full[me] = 0;
    return r;
}

template <typename T> inline T __shfl_sync(unsigned int mask, T v, int src, int width = 32) {
    const int lane = (int)mgemu::lane_id();
    return mgemu_shuffle(mask, v, (lane / width) * width + (src % width));
}
template <typename T> inline T __shfl_xor_sync(unsigned int mask, T v, int lane_mask, int width = 32) {
    const int lane = (int)mgemu::lane_id();
    int src = lane ^ lane_mask;
    if (src / width != lane / width) src = lane;
    return mgemu_shuffle(mask, v, src);
}
template <typename T> inline T __shfl_down_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
    const int lane = (int)mgemu::lane_id();
    int src = lane + (int)delta;
    if (src / width != lane / width) src = lane;
    return mgemu_shuffle(mask, v, src);
}
template <typename T> inline T __shfl_up_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
    const int lane = (int)mgemu::lane_id();
    int src = lane - (int)delta;
    if (src < 0 || src / width != lane / width) src = lane;
    return mgemu_shuffle(mask, v, src);
}
