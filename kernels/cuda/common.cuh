// common.cuh - small helpers shared by minigrad's CUDA kernels.
//
// Include it from a kernel file in this folder with   #include "common.cuh"
//
// The loader (kernels/cuda/_loader.py) pastes this header into the source before
// handing it to NVRTC (so CuPy's on-disk cache sees the header's text too), and also
// puts this folder on the include path; `nvcc -ptx -I kernels/cuda file.cu` and
// a plain `nvcc -ptx file.cu` run from this folder work as well. No standard
// library headers are used: NVRTC does not ship them.
//
// What is here (every function is __device__ __forceinline__, overloaded for float
// and double where it takes a value):
//
//   MG_DEVICE                       __device__ __forceinline__
//   MG_GRID_STRIDE_LOOP(i, n)       for (long long i = global thread id; i < n; i += all threads)
//   mg_ceil_div(a, b)               ceil(a / b) for non-negative integers
//   mg_exp mg_log mg_log1p mg_sqrt mg_rsqrt mg_tanh mg_abs mg_max mg_min mg_fma
//                                   math that resolves to the float or double intrinsic
//   mg_inf<T>()                     +infinity of T (so -mg_inf<T>() is the max identity)
//   mg_warp_sum(v) mg_warp_max(v)   reduce over the 32 lanes of a warp, every lane gets the result
//                                   (all 32 lanes must be active)
//   mg_block_sum(v, smem) mg_block_max(v, smem) mg_block_reduce(v, smem, identity, warp_reduce)
//                                   reduce over a 1-D block, every thread gets the result;
//                                   blockDim.x must be a multiple of 32 (at most 1024),
//                                   smem is a __shared__ T[32] scratch array; the calls
//                                   contain __syncthreads(), so every thread must reach them
//   mg_row_of<BLOCK>, MG_ROW_KERNEL_BEGIN, mg_row_sum<T, BLOCK>
//                                   row kernels: one warp per row, or (BLOCK) one block per row
//   MgVec<T, N>::type               float, float2, float4, double, double2 for (T, N)
//   mg_load_vec<T, N>(dst, src)     N consecutive T from src into dst[0..N) with ONE vector
//                                   load; src must be aligned to N * sizeof(T) bytes
//   mg_store_vec<T, N>(dst, src)    the same for a store
//   mg_is_aligned(ptr, bytes)       whether ptr is a multiple of bytes
#pragma once

#define MG_DEVICE __device__ __forceinline__
#define MG_FULL_MASK 0xffffffffu

// Grid-stride loop: covers [0, n) with any grid size (use with launch_1d in Python).
#define MG_GRID_STRIDE_LOOP(i, n)                                                    \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)

MG_DEVICE long long mg_ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// ------------------------------------------------------------------ math, float and double
MG_DEVICE float mg_exp(float x) { return expf(x); }
MG_DEVICE double mg_exp(double x) { return exp(x); }
MG_DEVICE float mg_log(float x) { return logf(x); }
MG_DEVICE double mg_log(double x) { return log(x); }
MG_DEVICE float mg_log1p(float x) { return log1pf(x); }
MG_DEVICE double mg_log1p(double x) { return log1p(x); }
MG_DEVICE float mg_sqrt(float x) { return sqrtf(x); }
MG_DEVICE double mg_sqrt(double x) { return sqrt(x); }
MG_DEVICE float mg_rsqrt(float x) { return rsqrtf(x); }
MG_DEVICE double mg_rsqrt(double x) { return rsqrt(x); }
MG_DEVICE float mg_tanh(float x) { return tanhf(x); }
MG_DEVICE double mg_tanh(double x) { return tanh(x); }
MG_DEVICE float mg_abs(float x) { return fabsf(x); }
MG_DEVICE double mg_abs(double x) { return fabs(x); }
MG_DEVICE float mg_max(float a, float b) { return fmaxf(a, b); }
MG_DEVICE double mg_max(double a, double b) { return fmax(a, b); }
MG_DEVICE float mg_min(float a, float b) { return fminf(a, b); }
MG_DEVICE double mg_min(double a, double b) { return fmin(a, b); }
MG_DEVICE float mg_fma(float a, float b, float c) { return fmaf(a, b, c); }
MG_DEVICE double mg_fma(double a, double b, double c) { return fma(a, b, c); }

template <typename T> MG_DEVICE T mg_inf();
template <> MG_DEVICE float mg_inf<float>() { return __int_as_float(0x7f800000); }
template <> MG_DEVICE double mg_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

// ------------------------------------------------------------------ reductions
// Butterfly (xor) shuffles: after log2(32) = 5 steps every lane holds the total.
template <typename T> MG_DEVICE T mg_warp_sum(T v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(MG_FULL_MASK, v, offset);
    return v;
}

template <typename T> MG_DEVICE T mg_warp_max(T v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = mg_max(v, __shfl_xor_sync(MG_FULL_MASK, v, offset));
    return v;
}

// Each warp reduces its values with `warp_reduce` (a warp reduction such as MgWarpSum),
// lane 0 writes the warp's result to smem, warp 0 reduces those (lanes past the last
// warp bring `identity`), and the total is broadcast through smem[0].
template <typename T, typename WarpReduce>
MG_DEVICE T mg_block_reduce(T v, T* smem, T identity, WarpReduce warp_reduce) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_reduce(v);
    __syncthreads();  // smem may still be read by a previous call
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    if (warp == 0) {
        T r = lane < nwarps ? smem[lane] : identity;
        r = warp_reduce(r);
        if (lane == 0) smem[0] = r;
    }
    __syncthreads();
    return smem[0];
}

struct MgWarpSum {
    template <typename T> MG_DEVICE T operator()(T v) const { return mg_warp_sum(v); }
};
struct MgWarpMax {
    template <typename T> MG_DEVICE T operator()(T v) const { return mg_warp_max(v); }
};

template <typename T> MG_DEVICE T mg_block_sum(T v, T* smem) { return mg_block_reduce(v, smem, T(0), MgWarpSum()); }

template <typename T> MG_DEVICE T mg_block_max(T v, T* smem) {
    return mg_block_reduce(v, smem, -mg_inf<T>(), MgWarpMax());
}

// ------------------------------------------------------------------ vector loads and stores
template <typename T, int N> struct MgVec;
template <> struct MgVec<float, 1> { typedef float type; };
template <> struct MgVec<float, 2> { typedef float2 type; };
template <> struct MgVec<float, 4> { typedef float4 type; };
template <> struct MgVec<double, 1> { typedef double type; };
template <> struct MgVec<double, 2> { typedef double2 type; };

MG_DEVICE bool mg_is_aligned(const void* p, unsigned long long bytes) {
    return ((unsigned long long)p) % bytes == 0;
}

template <typename T, int N> MG_DEVICE void mg_load_vec(T* dst, const T* src) {
    typedef typename MgVec<T, N>::type V;
    const V v = *reinterpret_cast<const V*>(src);
    const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
    for (int i = 0; i < N; ++i) dst[i] = e[i];
}

template <typename T, int N> MG_DEVICE void mg_store_vec(T* dst, const T* src) {
    typedef typename MgVec<T, N>::type V;
    V v;
    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
    for (int i = 0; i < N; ++i) e[i] = src[i];
    *reinterpret_cast<V*>(dst) = v;
}

// ---- row-wise kernels: one warp per row, or (BLOCK) one block per row -------------

// The row this thread works on, its first column and the column step; false when the
// row is past the end (a whole warp or block leaves together).
template <bool BLOCK> MG_DEVICE bool mg_row_of(long long rows, long long& row, int& c0, int& step) {
    if (BLOCK) {
        row = blockIdx.x;
        c0 = threadIdx.x;
        step = blockDim.x;
    } else {
        row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
        c0 = threadIdx.x & 31;
        step = 32;
    }
    return row < rows;
}

// The first statements of a row kernel (template parameters T and BLOCK, an argument
// `rows`): a __shared__ scratch `red` for the row reductions, and this thread's `row`,
// first column `c0` and column `step`; threads past the last row return.
#define MG_ROW_KERNEL_BEGIN                   \
    __shared__ T red[32];                     \
    long long row;                            \
    int c0, step;                             \
    if (!mg_row_of<BLOCK>(rows, row, c0, step)) return

// Sum over the threads that share a row: a warp, or (BLOCK) the whole block.
template <typename T, bool BLOCK> MG_DEVICE T mg_row_sum(T v, T* red) {
    if (BLOCK) return mg_block_sum(v, red);
    return mg_warp_sum(v);
}
