// pool.cu - 2-D max and average pooling, forward and backward, NCHW, float and double.
//
// Geometry (kernels/reference/pool.py): window (i, j) of a plane covers the input
// rows i*sh - ph + a*dh (a < kH) and columns j*sw - pw + b*dw (b < kW); taps outside
// the input are padding (never the max; counted in an average only with
// count_include_pad, and only up to the edge of the padding).
//
// One thread per output element in the forward kernels and in the max backward;
// one thread per *input* element in the average backward, which gathers from the
// windows that cover it instead of scattering into them: no atomics, deterministic.
// Consecutive threads take consecutive output columns, so the stores are coalesced
// and neighbouring windows share cache lines on the loads.
//
// Max backward scatters: gx (zeroed) += gy at the recorded argmax. Overlapping windows
// can pick the same input element, so the add is atomic (float and double atomicAdd,
// sm_60+); the order of those few additions is not fixed, so float results agree with
// the reference to rounding, not bit for bit, where windows overlap.
#include "common.cuh"

struct PoolGeo {
    int H, W, Ho, Wo, kH, kW, sh, sw, ph, pw, dh, dw;
};

// The first real tap holding the maximum (the first NaN, if any) wins; index -1 when
// the window covers no input element (possible with dilation), its value -inf.
template <typename T>
MG_DEVICE void max_fwd_impl(const T* __restrict__ x, T* __restrict__ y, long long* __restrict__ ind,
                            long long total, const PoolGeo g) {
    MG_GRID_STRIDE_LOOP(o, total) {
        const int j = (int)(o % g.Wo);
        const long long t = o / g.Wo;
        const int i = (int)(t % g.Ho);
        const long long plane = t / g.Ho;
        const T* xp = x + plane * g.H * g.W;
        T best = -mg_inf<T>();
        long long arg = -1;
        bool nan = false;
        const int r0 = i * g.sh - g.ph, c0 = j * g.sw - g.pw;
        for (int a = 0; a < g.kH && !nan; ++a) {
            const int r = r0 + a * g.dh;
            if (r < 0 || r >= g.H) continue;
            for (int b = 0; b < g.kW; ++b) {
                const int c = c0 + b * g.dw;
                if (c < 0 || c >= g.W) continue;
                const T v = xp[r * g.W + c];
                if (v != v) {  // NaN: it is the max, and the first one stays
                    best = v;
                    arg = (long long)r * g.W + c;
                    nan = true;
                    break;
                }
                if (arg < 0 || v > best) {
                    best = v;
                    arg = (long long)r * g.W + c;
                }
            }
        }
        y[o] = best;
        ind[o] = arg;
    }
}

template <typename T>
MG_DEVICE void max_bwd_impl(const T* __restrict__ gy, const long long* __restrict__ ind, T* __restrict__ gx,
                            long long total, long long out_plane, long long in_plane) {
    MG_GRID_STRIDE_LOOP(o, total) {
        const long long p = ind[o];
        if (p >= 0 && p < in_plane) atomicAdd(gx + (o / out_plane) * in_plane + p, gy[o]);
    }
}

// What window (i, j)'s sum is divided by (PyTorch's rule, see the reference).
MG_DEVICE int avg_count(int i, int j, const PoolGeo& g, int include_pad) {
    const int hs = i * g.sh - g.ph, ws = j * g.sw - g.pw;
    const int he = min(hs + g.kH, g.H + g.ph), we = min(ws + g.kW, g.W + g.pw);
    if (include_pad) return (he - hs) * (we - ws);
    return (min(he, g.H) - max(hs, 0)) * (min(we, g.W) - max(ws, 0));
}

template <typename T>
MG_DEVICE void avg_fwd_impl(const T* __restrict__ x, T* __restrict__ y, long long total, const PoolGeo g,
                            int include_pad) {
    MG_GRID_STRIDE_LOOP(o, total) {
        const int j = (int)(o % g.Wo);
        const long long t = o / g.Wo;
        const int i = (int)(t % g.Ho);
        const T* xp = x + (t / g.Ho) * g.H * g.W;
        const int r0 = max(i * g.sh - g.ph, 0), r1 = min(i * g.sh - g.ph + g.kH, g.H);
        const int c0 = max(j * g.sw - g.pw, 0), c1 = min(j * g.sw - g.pw + g.kW, g.W);
        T s = T(0);
        for (int r = r0; r < r1; ++r)
            for (int c = c0; c < c1; ++c) s += xp[r * g.W + c];
        y[o] = s / T(avg_count(i, j, g, include_pad));
    }
}

// Input pixel (r, c) lies in window i when i*sh - ph <= r < i*sh - ph + kH, i.e.
// i in [ceil((r + ph - kH + 1) / sh), floor((r + ph) / sh)], clipped to [0, Ho).
template <typename T>
MG_DEVICE void avg_bwd_impl(const T* __restrict__ gy, T* __restrict__ gx, long long total, const PoolGeo g,
                            int include_pad) {
    MG_GRID_STRIDE_LOOP(e, total) {
        const int c = (int)(e % g.W);
        const long long t = e / g.W;
        const int r = (int)(t % g.H);
        const T* gp = gy + (t / g.H) * g.Ho * g.Wo;
        const int i0 = max(0, (r + g.ph - g.kH + g.sh) / g.sh), i1 = min(g.Ho - 1, (r + g.ph) / g.sh);
        const int j0 = max(0, (c + g.pw - g.kW + g.sw) / g.sw), j1 = min(g.Wo - 1, (c + g.pw) / g.sw);
        T s = T(0);
        for (int i = i0; i <= i1; ++i)
            for (int j = j0; j <= j1; ++j) s += gp[i * g.Wo + j] / T(avg_count(i, j, g, include_pad));
        gx[e] = s;
    }
}

#define POOL_GEO_ARGS                                                                              \
    int H, int W, int Ho, int Wo, int kH, int kW, int sh, int sw, int ph, int pw, int dh, int dw
#define POOL_GEO {H, W, Ho, Wo, kH, kW, sh, sw, ph, pw, dh, dw}

#define POOL_ENTRY(SFX, T)                                                                          \
    extern "C" __global__ void max_pool2d_fwd_##SFX(const T* x, T* y, long long* ind, long long total, \
                                                    POOL_GEO_ARGS) {                                 \
        const PoolGeo g = POOL_GEO;                                                                  \
        max_fwd_impl<T>(x, y, ind, total, g);                                                        \
    }                                                                                                \
    extern "C" __global__ void max_pool2d_bwd_##SFX(const T* gy, const long long* ind, T* gx,         \
                                                    long long total, long long out_plane,             \
                                                    long long in_plane) {                             \
        max_bwd_impl<T>(gy, ind, gx, total, out_plane, in_plane);                                    \
    }                                                                                                \
    extern "C" __global__ void avg_pool2d_fwd_##SFX(const T* x, T* y, long long total, POOL_GEO_ARGS,  \
                                                    int include_pad) {                               \
        const PoolGeo g = POOL_GEO;                                                                  \
        avg_fwd_impl<T>(x, y, total, g, include_pad);                                                \
    }                                                                                                \
    extern "C" __global__ void avg_pool2d_bwd_##SFX(const T* gy, T* gx, long long total, POOL_GEO_ARGS, \
                                                    int include_pad) {                               \
        const PoolGeo g = POOL_GEO;                                                                  \
        avg_bwd_impl<T>(gy, gx, total, g, include_pad);                                              \
    }

POOL_ENTRY(f32, float)
POOL_ENTRY(f64, double)
