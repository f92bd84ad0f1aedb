// softmax.cu - row-wise softmax, log-softmax and softmax cross-entropy, float and double.
//
// Every kernel reduces along the last axis of a C-contiguous (rows, C) array (the
// Python side makes it so). The formulas are the reference's
// (kernels/reference/softmax.py):
//
//     m = max_c x_c (0 if not finite),  s = sum_c exp(x_c - m)
//     softmax = exp(x - m) / s,   log_softmax = (x - m) - log(s)
//     softmax backward:      gx = y * (g - sum_c g_c y_c)
//     log_softmax backward:  gx = g - exp(y) * sum_c g_c
//
// Who reduces a row: rows of up to WARP_MAX_C values get one warp each (4 rows per
// block of 128 threads, reductions are 5 xor-shuffles with no shared memory and no
// __syncthreads); longer rows get a whole block (512 threads: shuffles inside each
// warp, then one value per warp through shared memory). The template flag BLOCK
// chooses; the Python side launches the matching grid. Each pass over a row reads
// it with the lanes on consecutive elements (coalesced); the passes after the first
// mostly hit L1/L2.
//
// The maximum propagates NaN (a row with a NaN gives NaN, as NumPy's max does):
// CUDA's fmaxf would skip it.
#include "common.cuh"

template <typename T> MG_DEVICE T sm_nanmax(T a, T b) { return (a != a || a > b) ? a : b; }

template <typename T> MG_DEVICE T sm_warp_nanmax(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = sm_nanmax(v, __shfl_xor_sync(MG_FULL_MASK, v, o));
    return v;
}


struct SmWarpNanMax {
    template <typename T> MG_DEVICE T operator()(T v) const { return sm_warp_nanmax(v); }
};

template <typename T, bool BLOCK> MG_DEVICE T sm_row_max(T v, T* red) {
    if (BLOCK) return mg_block_reduce(v, red, -mg_inf<T>(), SmWarpNanMax());
    return sm_warp_nanmax(v);
}


template <typename T> MG_DEVICE T sm_finite_or_zero(T m) { return isfinite(m) ? m : T(0); }

// (m, s) of one row: its max m (replaced by 0 when not finite) and s = sum exp(x - m).
template <typename T, bool BLOCK>
MG_DEVICE void sm_shift_sum(const T* __restrict__ xr, int C, int c0, int step, T* red, T& m, T& s) {
    T mx = -mg_inf<T>();
    for (int c = c0; c < C; c += step) mx = sm_nanmax(mx, xr[c]);
    m = sm_finite_or_zero(sm_row_max<T, BLOCK>(mx, red));
    T acc = T(0);
    for (int c = c0; c < C; c += step) acc += mg_exp(xr[c] - m);
    s = mg_row_sum<T, BLOCK>(acc, red);
}

// (m, log s) of one row, m already replaced by 0 when not finite.
template <typename T, bool BLOCK>
MG_DEVICE void sm_shift_logsum(const T* __restrict__ xr, int C, int c0, int step, T* red, T& m, T& ls) {
    T s;
    sm_shift_sum<T, BLOCK>(xr, C, c0, step, red, m, s);
    ls = mg_log(s);
}

template <typename T, bool BLOCK, bool LOG>
MG_DEVICE void softmax_fwd_impl(const T* __restrict__ x, T* __restrict__ y, long long rows, int C) {
    MG_ROW_KERNEL_BEGIN;
    const T* xr = x + row * C;
    T* yr = y + row * C;
    T m, s;
    sm_shift_sum<T, BLOCK>(xr, C, c0, step, red, m, s);
    if (LOG) {
        const T ls = mg_log(s);
        for (int c = c0; c < C; c += step) yr[c] = (xr[c] - m) - ls;
    } else {
        for (int c = c0; c < C; c += step) yr[c] = mg_exp(xr[c] - m) / s;
    }
}

template <typename T, bool BLOCK, bool LOG>
MG_DEVICE void softmax_bwd_impl(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx,
                                long long rows, int C) {
    MG_ROW_KERNEL_BEGIN;
    const T* gr = gy + row * C;
    const T* yr = y + row * C;
    T* out = gx + row * C;
    T acc = T(0);
    if (LOG) {
        for (int c = c0; c < C; c += step) acc += gr[c];
    } else {
        for (int c = c0; c < C; c += step) acc = mg_fma(gr[c], yr[c], acc);
    }
    acc = mg_row_sum<T, BLOCK>(acc, red);
    if (LOG) {
        for (int c = c0; c < C; c += step) out[c] = gr[c] - mg_exp(yr[c]) * acc;
    } else {
        for (int c = c0; c < C; c += step) out[c] = yr[c] * (gr[c] - acc);
    }
}

// ------------------------------------------------------------------ cross-entropy
// Forward, per row n (reference formulas, eps = label smoothing, w = class weights):
//   index target y:  loss = -(1 - eps) w_y logp_y - (eps / C) sum_c w_c logp_c   (0 if y == ignore)
//   soft target t:   loss = -sum_c w_c ((1 - eps) t_c + eps / C) logp_c
// with logp_c = (x_c - m) - log s; lse_n = m + log s is written in double.
// An index outside [0, C) that is not ignore_index gives NaN (the op layer checks them).
template <typename T, bool BLOCK>
MG_DEVICE void ce_fwd_impl(const T* __restrict__ x, const long long* __restrict__ target,
                           const T* __restrict__ probs, const T* __restrict__ w, int has_w, int soft,
                           long long ignore_index, T eps, T* __restrict__ loss, double* __restrict__ lse,
                           long long rows, int C) {
    MG_ROW_KERNEL_BEGIN;
    const T* xr = x + row * C;
    T m, ls;
    sm_shift_logsum<T, BLOCK>(xr, C, c0, step, red, m, ls);
    const T epsC = eps / T(C);
    T result;
    if (soft) {
        const T* tr = probs + row * C;
        T acc = T(0);
        for (int c = c0; c < C; c += step) {
            const T wc = has_w ? w[c] : T(1);
            acc += wc * ((T(1) - eps) * tr[c] + epsC) * ((xr[c] - m) - ls);
        }
        result = -mg_row_sum<T, BLOCK>(acc, red);
    } else {
        const long long y = target[row];
        T smooth = T(0);
        if (eps != T(0)) {  // uniform across the row group: every thread takes this branch
            T acc = T(0);
            for (int c = c0; c < C; c += step) acc += (has_w ? w[c] : T(1)) * ((xr[c] - m) - ls);
            smooth = mg_row_sum<T, BLOCK>(acc, red);
        }
        if (y == ignore_index) {
            result = T(0);
        } else if (y < 0 || y >= C) {
            result = T(0) / T(0);
        } else {
            const T wy = has_w ? w[y] : T(1);
            result = -(T(1) - eps) * wy * ((xr[y] - m) - ls) - epsC * smooth;
        }
    }
    if (c0 == 0) {
        loss[row] = result;
        lse[row] = (double)m + (double)ls;
    }
}

// Backward: p_c = exp(x_c - lse) (the difference taken in double), g = grad_loss[n]:
//   index target y:  dx_c = g [(1 - eps) w_y (p_c - [c == y]) + (eps / C)(W p_c - w_c)],  W = sum_c w_c
//   soft target t:   dx_c = g [(sum_k w_k t~_k) p_c - w_c t~_c],  t~ = (1 - eps) t + eps / C
template <typename T, bool BLOCK>
MG_DEVICE void ce_bwd_impl(const T* __restrict__ g, const T* __restrict__ x, const long long* __restrict__ target,
                           const T* __restrict__ probs, const T* __restrict__ w, int has_w, int soft,
                           long long ignore_index, T eps, const double* __restrict__ lse, T* __restrict__ dx,
                           long long rows, int C) {
    MG_ROW_KERNEL_BEGIN;
    const T* xr = x + row * C;
    T* out = dx + row * C;
    const double L = lse[row];
    const T gn = g[row];
    const T epsC = eps / T(C);
    if (soft) {
        const T* tr = probs + row * C;
        T acc = T(0);
        for (int c = c0; c < C; c += step) acc += (has_w ? w[c] : T(1)) * ((T(1) - eps) * tr[c] + epsC);
        const T swt = mg_row_sum<T, BLOCK>(acc, red);
        for (int c = c0; c < C; c += step) {
            const T p = mg_exp((T)((double)xr[c] - L));
            const T wt = (has_w ? w[c] : T(1)) * ((T(1) - eps) * tr[c] + epsC);
            out[c] = gn * (swt * p - wt);
        }
        return;
    }
    const long long y = target[row];
    T W = T(C);
    if (eps != T(0) && has_w) {
        T acc = T(0);
        for (int c = c0; c < C; c += step) acc += w[c];
        W = mg_row_sum<T, BLOCK>(acc, red);
    }
    if (y == ignore_index) {
        for (int c = c0; c < C; c += step) out[c] = T(0);
        return;
    }
    const bool valid = y >= 0 && y < C;
    const T wy = valid ? (has_w ? w[y] : T(1)) : T(0) / T(0);
    const T a = (T(1) - eps) * wy;
    for (int c = c0; c < C; c += step) {
        const T p = mg_exp((T)((double)xr[c] - L));
        T d = a * (p - (c == y ? T(1) : T(0)));
        if (eps != T(0)) d += epsC * (W * p - (has_w ? w[c] : T(1)));
        out[c] = gn * d;
    }
}

// ------------------------------------------------------------------ entry points
// <name>_{f32,f64}_{warp,block}: "warp" kernels take blocks of 128 threads (4 rows per
// block), "block" kernels one row per block of any multiple of 32 threads (512 used).

#define SM_ENTRY(NAME, SFX, T, MODE, BLOCK)                                                            \
    extern "C" __global__ void softmax_##SFX##_##MODE(const T* x, T* y, long long rows, int C) {       \
        softmax_fwd_impl<T, BLOCK, false>(x, y, rows, C);                                               \
    }                                                                                                   \
    extern "C" __global__ void log_softmax_##SFX##_##MODE(const T* x, T* y, long long rows, int C) {   \
        softmax_fwd_impl<T, BLOCK, true>(x, y, rows, C);                                                \
    }                                                                                                   \
    extern "C" __global__ void softmax_bwd_##SFX##_##MODE(const T* gy, const T* y, T* gx, long long rows, \
                                                          int C) {                                       \
        softmax_bwd_impl<T, BLOCK, false>(gy, y, gx, rows, C);                                          \
    }                                                                                                   \
    extern "C" __global__ void log_softmax_bwd_##SFX##_##MODE(const T* gy, const T* y, T* gx,           \
                                                              long long rows, int C) {                   \
        softmax_bwd_impl<T, BLOCK, true>(gy, y, gx, rows, C);                                           \
    }                                                                                                   \
    extern "C" __global__ void ce_fwd_##SFX##_##MODE(const T* x, const long long* target, const T* probs, \
                                                     const T* w, int has_w, int soft, long long ignore_index, \
                                                     T eps, T* loss, double* lse, long long rows, int C) {  \
        ce_fwd_impl<T, BLOCK>(x, target, probs, w, has_w, soft, ignore_index, eps, loss, lse, rows, C);  \
    }                                                                                                   \
    extern "C" __global__ void ce_bwd_##SFX##_##MODE(const T* g, const T* x, const long long* target,    \
                                                     const T* probs, const T* w, int has_w, int soft,      \
                                                     long long ignore_index, T eps, const double* lse,     \
                                                     T* dx, long long rows, int C) {                        \
        ce_bwd_impl<T, BLOCK>(g, x, target, probs, w, has_w, soft, ignore_index, eps, lse, dx, rows, C); \
    }

SM_ENTRY(NAME, f32, float, warp, false)
SM_ENTRY(NAME, f32, float, block, true)
SM_ENTRY(NAME, f64, double, warp, false)
SM_ENTRY(NAME, f64, double, block, true)
