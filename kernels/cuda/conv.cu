// conv.cu - im2col and col2im for 2-D convolution (NCHW), float and double.
//
// The convolution itself is a matrix product once every receptive field is laid out
// as a column (kernels/reference/conv.py explains im2col). conv.py does
//     forward:      cols = im2col(x);            y = W @ cols          (+ bias)
//     grad_input:   dcols = W^T @ gy;            dx = col2im(dcols)
//     grad_weight:  cols = im2col(x);            gW = gy @ cols^T
// with the products on the GPU's GEMM. The two kernels here move the data.
//
// im2col writes cols[n*sN + g*sG + k*sK + p*sP] = xpad[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]
// for k = (c*kH + a)*kW + b and output pixel p = i*Wo + j. The strides choose the layout:
//     (N, G, K, P)   sN = G*K*P, sG = K*P, sK = P, sP = 1   -> per-sample products (forward),
//                                                            and exactly unfold's (N, C*kH*kW, L)
//     (G, N*P, K)    sN = P*K,   sG = N*P*K, sK = 1, sP = K -> one long product per group (grad weight)
// One thread per element; the thread index runs fastest over p (then b, a, c, n), so
// for the first layout the stores of a warp are one contiguous run, and the loads
// walk along an input row (stride sw).
//
// col2im is the adjoint, written as a *gather*: one thread per input element sums the
// patch entries that were copied from it. Input row r was tap a of output row i when
// r + ph - a*dh = i*sh with 0 <= i < Ho (same for columns), so the thread tries every
// tap (a, b), keeps those whose offset divides by the stride, and adds them up. Every
// input element is written by exactly one thread: no atomics, no zero-fill, and the
// result does not depend on scheduling.
#include "common.cuh"

struct ConvGeo {
    int C, H, W, G, Cg, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo;
};

template <typename T>
MG_DEVICE void im2col_impl(const T* __restrict__ x, T* __restrict__ cols, long long total, const ConvGeo g,
                           long long sN, long long sG, long long sK, long long sP) {
    const int P = g.Ho * g.Wo;
    MG_GRID_STRIDE_LOOP(e, total) {  // e = (((n*C + c)*kH + a)*kW + b)*P + p
        const int p = (int)(e % P);
        long long t = e / P;
        const int b = (int)(t % g.kW);
        t /= g.kW;
        const int a = (int)(t % g.kH);
        t /= g.kH;
        const int c = (int)(t % g.C);
        const long long n = t / g.C;
        const int i = p / g.Wo, j = p - i * g.Wo;
        const int r = i * g.sh - g.ph + a * g.dh, s = j * g.sw - g.pw + b * g.dw;
        const int grp = c / g.Cg, cl = c - grp * g.Cg;
        const long long k = ((long long)cl * g.kH + a) * g.kW + b;
        T v = T(0);
        if (r >= 0 && r < g.H && s >= 0 && s < g.W) v = x[((n * g.C + c) * g.H + r) * g.W + s];
        cols[n * sN + grp * sG + k * sK + p * sP] = v;
    }
}

template <typename T>
MG_DEVICE void col2im_impl(const T* __restrict__ cols, T* __restrict__ dx, long long total, const ConvGeo g,
                           long long sN, long long sG, long long sK, long long sP) {
    MG_GRID_STRIDE_LOOP(e, total) {  // e = ((n*C + c)*H + r)*W + s
        const int s = (int)(e % g.W);
        long long t = e / g.W;
        const int r = (int)(t % g.H);
        t /= g.H;
        const int c = (int)(t % g.C);
        const long long n = t / g.C;
        const int grp = c / g.Cg, cl = c - grp * g.Cg;
        const T* base = cols + n * sN + grp * sG;
        T acc = T(0);
        for (int a = 0; a < g.kH; ++a) {
            const int ri = r + g.ph - a * g.dh;
            if (ri < 0 || ri % g.sh) continue;
            const int i = ri / g.sh;
            if (i >= g.Ho) continue;
            for (int b = 0; b < g.kW; ++b) {
                const int si = s + g.pw - b * g.dw;
                if (si < 0 || si % g.sw) continue;
                const int j = si / g.sw;
                if (j >= g.Wo) continue;
                const long long k = ((long long)cl * g.kH + a) * g.kW + b;
                acc += base[k * sK + (long long)(i * g.Wo + j) * sP];
            }
        }
        dx[e] = acc;
    }
}

#define CONV_GEO_ARGS                                                                                   \
    int C, int H, int W, int G, int Cg, int kH, int kW, int sh, int sw, int ph, int pw, int dh, int dw,  \
        int Ho, int Wo
#define CONV_GEO {C, H, W, G, Cg, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo}

#define CONV_ENTRY(SFX, T)                                                                             \
    extern "C" __global__ void im2col_##SFX(const T* x, T* cols, long long total, CONV_GEO_ARGS,        \
                                            long long sN, long long sG, long long sK, long long sP) {    \
        const ConvGeo g = CONV_GEO;                                                                     \
        im2col_impl<T>(x, cols, total, g, sN, sG, sK, sP);                                              \
    }                                                                                                   \
    extern "C" __global__ void col2im_##SFX(const T* cols, T* dx, long long total, CONV_GEO_ARGS,       \
                                            long long sN, long long sG, long long sK, long long sP) {    \
        const ConvGeo g = CONV_GEO;                                                                     \
        col2im_impl<T>(cols, dx, total, g, sN, sG, sK, sP);                                             \
    }

CONV_ENTRY(f32, float)
CONV_ENTRY(f64, double)

// Bias: y[n, o, p] += b[o] over a contiguous (N, Cout, P) output.
template <typename T>
MG_DEVICE void add_bias_impl(T* __restrict__ y, const T* __restrict__ b, long long total, int Cout, int P) {
    MG_GRID_STRIDE_LOOP(e, total) { y[e] += b[(e / P) % Cout]; }
}
extern "C" __global__ void add_bias_f32(float* y, const float* b, long long total, int Cout, int P) {
    add_bias_impl<float>(y, b, total, Cout, P);
}
extern "C" __global__ void add_bias_f64(double* y, const double* b, long long total, int Cout, int P) {
    add_bias_impl<double>(y, b, total, Cout, P);
}
