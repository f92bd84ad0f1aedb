// norm.cu - layer normalisation over the last axis, forward and backward, float and double.
//
// Formulas (kernels/reference/norm.py), one row x of D values:
//     mean = sum(x) / D,  var = sum((x - mean)^2) / D,  rstd = 1 / sqrt(var + eps)
//     xhat = (x - mean) * rstd,  y = xhat * w + b
// backward, g = dL/dy, gh = g * w:
//     gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
//     gw = sum over rows of g * xhat,   gb = sum over rows of g
//
// Row kernels (forward, gx): one warp per row when D <= 1024 (4 rows per block of 128
// threads, shuffle reductions), else one block of 512 threads per row. The variance
// is two-pass (sum of (x - mean)^2 after the mean), which avoids the cancellation of
// E[x^2] - E[x]^2 on rows with a large mean; the second pass reads the row from L1/L2.
//
// Column kernel (gw, gb): these are sums over *rows*, so a block of 32 x 8 threads
// owns 32 adjacent columns (lanes on consecutive columns: coalesced reads) and a
// chunk of rows; its 8 partial sums per column meet in shared memory and the block
// writes one partial sum per column to a (chunks, D) array, which the Python side
// sums over chunks. No atomics: the result does not depend on scheduling.
#include "common.cuh"


template <typename T, bool BLOCK>
MG_DEVICE void ln_fwd_impl(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b, int has_w,
                           int has_b, T eps, T* __restrict__ y, T* __restrict__ mean, T* __restrict__ rstd,
                           long long rows, int D) {
    MG_ROW_KERNEL_BEGIN;
    const T* xr = x + row * D;
    T* yr = y + row * D;
    T s = T(0);
    for (int c = c0; c < D; c += step) s += xr[c];
    const T mu = mg_row_sum<T, BLOCK>(s, red) / T(D);
    T v = T(0);
    for (int c = c0; c < D; c += step) {
        const T t = xr[c] - mu;
        v = mg_fma(t, t, v);
    }
    const T r = T(1) / mg_sqrt(mg_row_sum<T, BLOCK>(v, red) / T(D) + eps);
    for (int c = c0; c < D; c += step) {
        T t = (xr[c] - mu) * r;
        if (has_w) t *= w[c];
        if (has_b) t += b[c];
        yr[c] = t;
    }
    if (c0 == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

template <typename T, bool BLOCK>
MG_DEVICE void ln_bwd_rows_impl(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ w,
                                int has_w, const T* __restrict__ mean, const T* __restrict__ rstd,
                                T* __restrict__ gx, long long rows, int D) {
    MG_ROW_KERNEL_BEGIN;
    const T* gr = gy + row * D;
    const T* xr = x + row * D;
    T* out = gx + row * D;
    const T mu = mean[row], r = rstd[row];
    T s1 = T(0), s2 = T(0);
    for (int c = c0; c < D; c += step) {
        const T gh = has_w ? gr[c] * w[c] : gr[c];
        s1 += gh;
        s2 = mg_fma(gh, (xr[c] - mu) * r, s2);
    }
    s1 = mg_row_sum<T, BLOCK>(s1, red) / T(D);
    s2 = mg_row_sum<T, BLOCK>(s2, red) / T(D);
    for (int c = c0; c < D; c += step) {
        const T gh = has_w ? gr[c] * w[c] : gr[c];
        const T xh = (xr[c] - mu) * r;
        out[c] = r * (gh - s1 - xh * s2);
    }
}

// grid (ceil(D / 32), chunks), block (32, 8); rows [chunk * rows_per_chunk, ...) of this chunk.
template <typename T>
MG_DEVICE void ln_bwd_cols_impl(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
                                const T* __restrict__ rstd, T* __restrict__ gw_part, T* __restrict__ gb_part,
                                long long rows, int D, long long rows_per_chunk) {
    __shared__ T sw[8][33], sb[8][33];  // +1 column: the transposed reads below hit distinct banks
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    const long long r0 = (long long)blockIdx.y * rows_per_chunk;
    const long long r1 = min(rows, r0 + rows_per_chunk);
    T aw = T(0), ab = T(0);
    if (c < D) {
        for (long long r = r0 + ty; r < r1; r += 8) {
            const T g = gy[r * D + c];
            aw = mg_fma(g, (x[r * D + c] - mean[r]) * rstd[r], aw);
            ab += g;
        }
    }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < D) {
        T tw = T(0), tb = T(0);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            tw += sw[i][tx];
            tb += sb[i][tx];
        }
        gw_part[(long long)blockIdx.y * D + c] = tw;
        gb_part[(long long)blockIdx.y * D + c] = tb;
    }
}

#define LN_ENTRY(SFX, T, MODE, BLOCK)                                                                  \
    extern "C" __global__ void layer_norm_fwd_##SFX##_##MODE(const T* x, const T* w, const T* b, int has_w, \
                                                             int has_b, T eps, T* y, T* mean, T* rstd,    \
                                                             long long rows, int D) {                     \
        ln_fwd_impl<T, BLOCK>(x, w, b, has_w, has_b, eps, y, mean, rstd, rows, D);                      \
    }                                                                                                   \
    extern "C" __global__ void layer_norm_bwd_rows_##SFX##_##MODE(const T* gy, const T* x, const T* w,   \
                                                                  int has_w, const T* mean, const T* rstd, \
                                                                  T* gx, long long rows, int D) {         \
        ln_bwd_rows_impl<T, BLOCK>(gy, x, w, has_w, mean, rstd, gx, rows, D);                           \
    }

LN_ENTRY(f32, float, warp, false)
LN_ENTRY(f32, float, block, true)
LN_ENTRY(f64, double, warp, false)
LN_ENTRY(f64, double, block, true)

extern "C" __global__ void layer_norm_bwd_cols_f32(const float* gy, const float* x, const float* mean,
                                                   const float* rstd, float* gw_part, float* gb_part,
                                                   long long rows, int D, long long rows_per_chunk) {
    ln_bwd_cols_impl<float>(gy, x, mean, rstd, gw_part, gb_part, rows, D, rows_per_chunk);
}
extern "C" __global__ void layer_norm_bwd_cols_f64(const double* gy, const double* x, const double* mean,
                                                   const double* rstd, double* gw_part, double* gb_part,
                                                   long long rows, int D, long long rows_per_chunk) {
    ln_bwd_cols_impl<double>(gy, x, mean, rstd, gw_part, gb_part, rows, D, rows_per_chunk);
}
