// attention.cu - fused scaled dot-product attention, forward and backward, float and double.
//
// The maths (see kernels/reference/attention.py): for one (batch, head) and query row i
//
//     s_ij = scale * q_i . k_j + mask_ij        (-inf where j > i when causal)
//     lse_i = log sum_j exp(s_ij),  p_ij = exp(s_ij - lse_i),  out_i = sum_j p_ij v_j
//
// and a fully masked row gives out_i = 0, lse_i = -inf.
//
// FORWARD (FlashAttention's idea): a block of 128 threads owns BM query rows of one
// (batch, head). It walks the keys in tiles of BN, keeping the running row max m, the
// running sum l and the unnormalised output O in registers:
//
//     S = scale * Q K_tile^T + mask         (BM x BN, registers)
//     m_new = max(m, rowmax S);  alpha = exp(m - m_new)
//     P = exp(S - m_new);  l = alpha * l + rowsum P;  O = alpha * O + P V_tile
//
// and ends with out = O / l, lse = m + log l. The BM x BN scores never leave the chip:
// nothing of size Tq x Tk is ever written to global memory.
//
// BACKWARD (FlashAttention-2's split, with no atomics): with D_i = sum_c gout_ic out_ic,
// P recomputed from the saved lse and dS = P * (gout V^T - D),
//     gv = P^T gout,   gk = scale * dS^T Q       (kernel sdpa_bwd_kv: a block owns BN keys)
//     gq = scale * dS K                          (kernel sdpa_bwd_q:  a block owns BM queries)
// Each output is summed by exactly one block, so the results are deterministic.
//
// Thread layout (all three kernels): 128 threads = 16 "ty" x 8 "tx"; lane = (ty % 4) * 8 + tx.
//   * A thread owns the rows ty + 16*i of its block's row tile (i < ROWS/16) and, of
//     the score tile, the columns tx + 8*j. The 8 threads sharing a row are 8 adjacent
//     lanes of one warp, so a row max/sum is 3 xor-shuffles, and each warp owns whole
//     rows: the P (or dS) tile a warp writes to shared memory is read back only by that
//     warp (__syncwarp, not __syncthreads).
//   * Products that reduce over the head dimension (Q K^T, dO V^T) read rows of the
//     shared tiles 4 elements at a time (one 16-byte load for float): a thread's rows
//     tx + 8*j sit (DMAX + 4) elements apart, so 8 lanes hit 8 different bank groups.
//   * Products that reduce over keys/queries (P V, dS K, dS Q, P^T dO) give each thread
//     the output columns 32*jj + 4*tx + f: one 16-byte load of a tile row serves 4 columns
//     and the 8 lanes read 128 contiguous bytes.
//
// Inputs q, k, v may be strided views (any strides on batch, head and time; the head
// dimension must be contiguous); the mask is an additive T array broadcast to
// (B, H, Tq, Tk) through element strides (0 on broadcast axes). Outputs are contiguous.
//
// Kernels (extern "C"): sdpa_fwd_{f32,f64}_d{32,64,128}, sdpa_bwd_kv_{...}, sdpa_bwd_q_{...},
// sdpa_bwd_delta_{f32,f64}; the tile sizes and shared-memory bytes of each are listed in
// kernels/cuda/attention.py (CONFIGS), which must agree with the *_smem formulas below.
#include "common.cuh"

#define ATT_THREADS 128

template <typename T> MG_DEVICE void att_ld4(T (&dst)[4], const T* src);
template <> MG_DEVICE void att_ld4<float>(float (&dst)[4], const float* src) {
    mg_load_vec<float, 4>(dst, src);
}
template <> MG_DEVICE void att_ld4<double>(double (&dst)[4], const double* src) {
    mg_load_vec<double, 2>(dst, src);
    mg_load_vec<double, 2>(dst + 2, src + 2);
}

// Copy rows [row0, row0 + ROWS) of a (nrows x ncols) matrix with row stride rs into a
// shared tile with row stride LD, columns [0, ncols4) (zeros past ncols and past nrows).
// One warp per row, lanes along the row: coalesced global reads.
template <typename T, int ROWS, int DMAX, int LD>
MG_DEVICE void att_load_tile(T* __restrict__ s, const T* __restrict__ g, long long rs, int row0,
                             int nrows, int ncols, int ncols4) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int r = warp; r < ROWS; r += ATT_THREADS / 32) {
        const int gr = row0 + r;
        const bool ok = gr < nrows;
        const T* src = g + (long long)(ok ? gr : 0) * rs;
#pragma unroll
        for (int cc = 0; cc < DMAX / 32; ++cc) {
            const int c = lane + 32 * cc;
            if (c < ncols4) s[r * LD + c] = (ok && c < ncols) ? src[c] : T(0);
        }
    }
}

// acc[i][j] += sum_k A[(ty + 16 i), k] * B[(tx + 8 j), k] over k < kmax (a multiple of 4).
template <typename T, int RA, int RB, int LD>
MG_DEVICE void att_abt(T (&acc)[RA][RB], const T* __restrict__ A, const T* __restrict__ B, int kmax,
                       int ty, int tx) {
    for (int k = 0; k < kmax; k += 4) {
        T a[RA][4], b[RB][4];
#pragma unroll
        for (int i = 0; i < RA; ++i) att_ld4<T>(a[i], A + (ty + 16 * i) * LD + k);
#pragma unroll
        for (int j = 0; j < RB; ++j) att_ld4<T>(b[j], B + (tx + 8 * j) * LD + k);
#pragma unroll
        for (int e = 0; e < 4; ++e)
#pragma unroll
            for (int i = 0; i < RA; ++i)
#pragma unroll
                for (int j = 0; j < RB; ++j) acc[i][j] = mg_fma(a[i][e], b[j][e], acc[i][j]);
    }
}

// acc[i][4 jj + f] += sum_n P[(ty + 16 i), n] * M[n, 32 jj + 4 tx + f] over n < NMAX.
// P: row stride LDP (this warp's rows only); M: row stride LDM, DMAX columns.
template <typename T, int RA, int NMAX, int DMAX, int LDP, int LDM>
MG_DEVICE void att_pm(T (&acc)[RA][DMAX / 8], const T* __restrict__ P, const T* __restrict__ M,
                      int ncols4, int ty, int tx) {
#pragma unroll 2
    for (int n = 0; n < NMAX; n += 4) {
        T p[RA][4];
#pragma unroll
        for (int i = 0; i < RA; ++i) att_ld4<T>(p[i], P + (ty + 16 * i) * LDP + n);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
#pragma unroll
            for (int jj = 0; jj < DMAX / 32; ++jj) {
                if (32 * jj < ncols4) {  // skip column groups past the head dimension
                    T m[4];
                    att_ld4<T>(m, M + (n + e) * LDM + 32 * jj + 4 * tx);
#pragma unroll
                    for (int i = 0; i < RA; ++i)
#pragma unroll
                        for (int f = 0; f < 4; ++f)
                            acc[i][4 * jj + f] = mg_fma(p[i][e], m[f], acc[i][4 * jj + f]);
                }
            }
        }
    }
}

template <typename T> MG_DEVICE T att_rowmax8(T v) {  // over the 8 lanes sharing a row
    v = mg_max(v, __shfl_xor_sync(MG_FULL_MASK, v, 1));
    v = mg_max(v, __shfl_xor_sync(MG_FULL_MASK, v, 2));
    v = mg_max(v, __shfl_xor_sync(MG_FULL_MASK, v, 4));
    return v;
}
template <typename T> MG_DEVICE T att_rowsum8(T v) {
    v += __shfl_xor_sync(MG_FULL_MASK, v, 1);
    v += __shfl_xor_sync(MG_FULL_MASK, v, 2);
    v += __shfl_xor_sync(MG_FULL_MASK, v, 4);
    return v;
}

struct AttShape {  // the sizes and strides, gathered from the kernel arguments
    int H, BH, Tq, Tk, d, dv;
    long long qsb, qsh, qst, ksb, ksh, kst, vsb, vsh, vst;  // element strides of q, k, v
    long long msb, msh, msi, msj;                           // element strides of the mask
    int has_mask, causal;
};

MG_DEVICE int att_bh() { return blockIdx.y + blockIdx.z * gridDim.y; }

// ------------------------------------------------------------------ forward

template <typename T, int BM, int BN, int DMAX>
MG_DEVICE void sdpa_fwd_impl(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                             const T* __restrict__ mask, T* __restrict__ out, T* __restrict__ lse,
                             const AttShape& a, T scale) {
    constexpr int RM = BM / 16, CN = BN / 8, CO = DMAX / 8;
    constexpr int LDD = DMAX + 4, LDP = BN + 4;
    extern __shared__ __align__(16) unsigned char att_smem[];
    T* Qs = reinterpret_cast<T*>(att_smem);  // BM x LDD
    T* Ks = Qs + BM * LDD;                    // BN x LDD
    T* Vs = Ks + BN * LDD;                    // BN x LDD
    T* Ps = Vs + BN * LDD;                    // BM x LDP

    const int bh = att_bh();
    if (bh >= a.BH) return;
    // causal: the last query tiles have the most keys; start them first
    const int tile = a.causal ? (gridDim.x - 1 - blockIdx.x) : blockIdx.x;
    const int q0 = tile * BM;
    const int b = bh / a.H, h = bh - b * a.H;
    const int tx = threadIdx.x & 7, ty = threadIdx.x >> 3;
    const int dk4 = (a.d + 3) & ~3, dv4 = (a.dv + 3) & ~3;
    q += b * a.qsb + h * a.qsh;
    k += b * a.ksb + h * a.ksh;
    v += b * a.vsb + h * a.vsh;
    const T* mk = a.has_mask ? mask + b * a.msb + h * a.msh : mask;
    const T NEG = -mg_inf<T>();

    att_load_tile<T, BM, DMAX, LDD>(Qs, q, a.qst, q0, a.Tq, a.d, dk4);

    T o[RM][CO], m[RM], l[RM];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        m[i] = NEG;
        l[i] = T(0);
#pragma unroll
        for (int c = 0; c < CO; ++c) o[i][c] = T(0);
    }
    const int kend = a.causal ? min(a.Tk, q0 + BM) : a.Tk;
    for (int k0 = 0; k0 < kend; k0 += BN) {
        __syncthreads();  // every warp is done with the previous K/V tile
        att_load_tile<T, BN, DMAX, LDD>(Ks, k, a.kst, k0, a.Tk, a.d, dk4);
        att_load_tile<T, BN, DMAX, LDD>(Vs, v, a.vst, k0, a.Tk, a.dv, dv4);
        __syncthreads();

        T s[RM][CN];
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int j = 0; j < CN; ++j) s[i][j] = T(0);
        att_abt<T, RM, CN, LDD>(s, Qs, Ks, dk4, ty, tx);

#pragma unroll
        for (int i = 0; i < RM; ++i) {
            const int r = q0 + ty + 16 * i;
            T mx = NEG;
#pragma unroll
            for (int j = 0; j < CN; ++j) {
                const int c = k0 + tx + 8 * j;
                const bool ok = c < a.Tk && r < a.Tq && (!a.causal || c <= r);
                T val = s[i][j] * scale;
                if (ok && a.has_mask) val += mk[r * a.msi + c * a.msj];
                val = ok ? val : NEG;
                s[i][j] = val;
                mx = mg_max(mx, val);
            }
            mx = att_rowmax8(mx);
            const T mnew = mg_max(m[i], mx);
            const T base = (mnew == NEG) ? T(0) : mnew;  // all masked so far: keep exp() NaN-free
            const T alpha = mg_exp(m[i] - base);          // m = -inf -> 0 (O and l are 0 anyway)
            m[i] = mnew;
            l[i] *= alpha;
#pragma unroll
            for (int c = 0; c < CO; ++c) o[i][c] *= alpha;
#pragma unroll
            for (int j = 0; j < CN; ++j) {
                const T p = mg_exp(s[i][j] - base);
                l[i] += p;  // this thread's share of the row sum (reduced at the end)
                Ps[(ty + 16 * i) * LDP + tx + 8 * j] = p;
            }
        }
        __syncwarp();
        att_pm<T, RM, BN, DMAX, LDP, LDD>(o, Ps, Vs, dv4, ty, tx);
        __syncwarp();
    }

#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const T lt = att_rowsum8(l[i]);
        const int r = q0 + ty + 16 * i;
        if (r < a.Tq) {
            const T inv = lt > T(0) ? T(1) / lt : T(0);
            T* orow = out + ((long long)bh * a.Tq + r) * a.dv;
#pragma unroll
            for (int jj = 0; jj < DMAX / 32; ++jj)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int c = 32 * jj + 4 * tx + f;
                    if (c < a.dv) orow[c] = o[i][4 * jj + f] * inv;
                }
            if (tx == 0) lse[(long long)bh * a.Tq + r] = lt > T(0) ? m[i] + mg_log(lt) : NEG;
        }
    }
}

// ------------------------------------------------------------------ backward: D = rowsum(gout * out)

template <typename T>
MG_DEVICE void sdpa_bwd_delta_impl(const T* __restrict__ gout, const T* __restrict__ out, T* __restrict__ delta,
                                   long long rows, int dv) {
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;  // the whole warp leaves together
    const T* g = gout + row * dv;
    const T* o = out + row * dv;
    T acc = T(0);
    for (int c = lane; c < dv; c += 32) acc = mg_fma(g[c], o[c], acc);
    acc = mg_warp_sum(acc);
    if (lane == 0) delta[row] = acc;
}

// ------------------------------------------------------------------ backward: gk, gv

template <typename T, int BM, int BN, int DMAX>
MG_DEVICE void sdpa_bwd_kv_impl(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                const T* __restrict__ gout, const T* __restrict__ lse,
                                const T* __restrict__ delta, const T* __restrict__ mask,
                                T* __restrict__ gk, T* __restrict__ gv, const AttShape& a, T scale) {
    constexpr int RN = BN / 16, CQ = BM / 8, CO = DMAX / 8;
    constexpr int LDD = DMAX + 4, LDQ = BM + 4;
    extern __shared__ __align__(16) unsigned char att_smem[];
    T* Ks = reinterpret_cast<T*>(att_smem);  // BN x LDD
    T* Vs = Ks + BN * LDD;                    // BN x LDD
    T* Qs = Vs + BN * LDD;                    // BM x LDD
    T* Gs = Qs + BM * LDD;                    // BM x LDD  (gout tile)
    T* Ps = Gs + BM * LDD;                    // BN x LDQ  (P^T: key rows, query columns)
    T* Ss = Ps + BN * LDQ;                    // BN x LDQ  (dS^T)
    T* Ls = Ss + BN * LDQ;                    // BM        (lse of the query tile)
    T* Ds = Ls + BM;                          // BM        (delta of the query tile)

    const int bh = att_bh();
    if (bh >= a.BH) return;
    const int k0 = blockIdx.x * BN;
    const int b = bh / a.H, h = bh - b * a.H;
    const int tx = threadIdx.x & 7, ty = threadIdx.x >> 3;
    const int dk4 = (a.d + 3) & ~3, dv4 = (a.dv + 3) & ~3;
    q += b * a.qsb + h * a.qsh;
    k += b * a.ksb + h * a.ksh;
    v += b * a.vsb + h * a.vsh;
    gout += (long long)bh * a.Tq * a.dv;
    lse += (long long)bh * a.Tq;
    delta += (long long)bh * a.Tq;
    const T* mk = a.has_mask ? mask + b * a.msb + h * a.msh : mask;
    const T NEG = -mg_inf<T>();

    att_load_tile<T, BN, DMAX, LDD>(Ks, k, a.kst, k0, a.Tk, a.d, dk4);
    att_load_tile<T, BN, DMAX, LDD>(Vs, v, a.vst, k0, a.Tk, a.dv, dv4);

    T dk[RN][CO], dvv[RN][CO];
#pragma unroll
    for (int i = 0; i < RN; ++i)
#pragma unroll
        for (int c = 0; c < CO; ++c) dk[i][c] = dvv[i][c] = T(0);

    const int qstart = a.causal ? (k0 / BM) * BM : 0;  // earlier queries see none of these keys
    for (int q0 = qstart; q0 < a.Tq; q0 += BM) {
        __syncthreads();
        att_load_tile<T, BM, DMAX, LDD>(Qs, q, a.qst, q0, a.Tq, a.d, dk4);
        att_load_tile<T, BM, DMAX, LDD>(Gs, gout, a.dv, q0, a.Tq, a.dv, dv4);
        if (threadIdx.x < BM) {
            const int r = q0 + threadIdx.x;
            Ls[threadIdx.x] = r < a.Tq ? lse[r] : NEG;
            Ds[threadIdx.x] = r < a.Tq ? delta[r] : T(0);
        }
        __syncthreads();

        T s[RN][CQ], dp[RN][CQ];
#pragma unroll
        for (int i = 0; i < RN; ++i)
#pragma unroll
            for (int j = 0; j < CQ; ++j) s[i][j] = dp[i][j] = T(0);
        att_abt<T, RN, CQ, LDD>(s, Ks, Qs, dk4, ty, tx);   // s^T = K Q^T
        att_abt<T, RN, CQ, LDD>(dp, Vs, Gs, dv4, ty, tx);  // dp^T = V gout^T

#pragma unroll
        for (int i = 0; i < RN; ++i) {
            const int kr = k0 + ty + 16 * i;
#pragma unroll
            for (int j = 0; j < CQ; ++j) {
                const int qc = tx + 8 * j, qr = q0 + qc;
                const bool ok = qr < a.Tq && kr < a.Tk && (!a.causal || kr <= qr);
                const T L = Ls[qc];
                T p = T(0);
                if (ok && L != NEG) {
                    T val = s[i][j] * scale;
                    if (a.has_mask) val += mk[qr * a.msi + kr * a.msj];
                    p = mg_exp(val - L);
                }
                Ps[(ty + 16 * i) * LDQ + qc] = p;
                Ss[(ty + 16 * i) * LDQ + qc] = p * (dp[i][j] - Ds[qc]);
            }
        }
        __syncwarp();
        att_pm<T, RN, BM, DMAX, LDQ, LDD>(dvv, Ps, Gs, dv4, ty, tx);  // gv += P^T gout
        att_pm<T, RN, BM, DMAX, LDQ, LDD>(dk, Ss, Qs, dk4, ty, tx);   // gk += dS^T Q
        __syncwarp();
    }

#pragma unroll
    for (int i = 0; i < RN; ++i) {
        const int kr = k0 + ty + 16 * i;
        if (kr < a.Tk) {
            T* krow = gk + ((long long)bh * a.Tk + kr) * a.d;
            T* vrow = gv + ((long long)bh * a.Tk + kr) * a.dv;
#pragma unroll
            for (int jj = 0; jj < DMAX / 32; ++jj)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int c = 32 * jj + 4 * tx + f;
                    if (c < a.d) krow[c] = dk[i][4 * jj + f] * scale;
                    if (c < a.dv) vrow[c] = dvv[i][4 * jj + f];
                }
        }
    }
}

// ------------------------------------------------------------------ backward: gq

template <typename T, int BM, int BN, int DMAX>
MG_DEVICE void sdpa_bwd_q_impl(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                               const T* __restrict__ gout, const T* __restrict__ lse,
                               const T* __restrict__ delta, const T* __restrict__ mask, T* __restrict__ gq,
                               const AttShape& a, T scale) {
    constexpr int RM = BM / 16, CN = BN / 8, CO = DMAX / 8;
    constexpr int LDD = DMAX + 4, LDP = BN + 4;
    extern __shared__ __align__(16) unsigned char att_smem[];
    T* Qs = reinterpret_cast<T*>(att_smem);  // BM x LDD
    T* Gs = Qs + BM * LDD;                    // BM x LDD
    T* Ks = Gs + BM * LDD;                    // BN x LDD
    T* Vs = Ks + BN * LDD;                    // BN x LDD
    T* Ss = Vs + BN * LDD;                    // BM x LDP  (dS)

    const int bh = att_bh();
    if (bh >= a.BH) return;
    const int tile = a.causal ? (gridDim.x - 1 - blockIdx.x) : blockIdx.x;
    const int q0 = tile * BM;
    const int b = bh / a.H, h = bh - b * a.H;
    const int tx = threadIdx.x & 7, ty = threadIdx.x >> 3;
    const int dk4 = (a.d + 3) & ~3, dv4 = (a.dv + 3) & ~3;
    q += b * a.qsb + h * a.qsh;
    k += b * a.ksb + h * a.ksh;
    v += b * a.vsb + h * a.vsh;
    gout += (long long)bh * a.Tq * a.dv;
    lse += (long long)bh * a.Tq;
    delta += (long long)bh * a.Tq;
    const T* mk = a.has_mask ? mask + b * a.msb + h * a.msh : mask;
    const T NEG = -mg_inf<T>();

    att_load_tile<T, BM, DMAX, LDD>(Qs, q, a.qst, q0, a.Tq, a.d, dk4);
    att_load_tile<T, BM, DMAX, LDD>(Gs, gout, a.dv, q0, a.Tq, a.dv, dv4);
    T L[RM], Dl[RM], dq[RM][CO];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const int r = q0 + ty + 16 * i;
        L[i] = r < a.Tq ? lse[r] : NEG;
        Dl[i] = r < a.Tq ? delta[r] : T(0);
#pragma unroll
        for (int c = 0; c < CO; ++c) dq[i][c] = T(0);
    }

    const int kend = a.causal ? min(a.Tk, q0 + BM) : a.Tk;
    for (int k0 = 0; k0 < kend; k0 += BN) {
        __syncthreads();
        att_load_tile<T, BN, DMAX, LDD>(Ks, k, a.kst, k0, a.Tk, a.d, dk4);
        att_load_tile<T, BN, DMAX, LDD>(Vs, v, a.vst, k0, a.Tk, a.dv, dv4);
        __syncthreads();

        T s[RM][CN], dp[RM][CN];
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int j = 0; j < CN; ++j) s[i][j] = dp[i][j] = T(0);
        att_abt<T, RM, CN, LDD>(s, Qs, Ks, dk4, ty, tx);   // S = Q K^T
        att_abt<T, RM, CN, LDD>(dp, Gs, Vs, dv4, ty, tx);  // dP = gout V^T

#pragma unroll
        for (int i = 0; i < RM; ++i) {
            const int r = q0 + ty + 16 * i;
#pragma unroll
            for (int j = 0; j < CN; ++j) {
                const int c = k0 + tx + 8 * j;
                const bool ok = c < a.Tk && r < a.Tq && (!a.causal || c <= r);
                T p = T(0);
                if (ok && L[i] != NEG) {
                    T val = s[i][j] * scale;
                    if (a.has_mask) val += mk[r * a.msi + c * a.msj];
                    p = mg_exp(val - L[i]);
                }
                Ss[(ty + 16 * i) * LDP + tx + 8 * j] = p * (dp[i][j] - Dl[i]);
            }
        }
        __syncwarp();
        att_pm<T, RM, BN, DMAX, LDP, LDD>(dq, Ss, Ks, dk4, ty, tx);  // gq += dS K
        __syncwarp();
    }

#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const int r = q0 + ty + 16 * i;
        if (r < a.Tq) {
            T* qrow = gq + ((long long)bh * a.Tq + r) * a.d;
#pragma unroll
            for (int jj = 0; jj < DMAX / 32; ++jj)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int c = 32 * jj + 4 * tx + f;
                    if (c < a.d) qrow[c] = dq[i][4 * jj + f] * scale;
                }
        }
    }
}

// ------------------------------------------------------------------ extern "C" entry points
// name suffix: element type and DMAX (the largest head dimension, of q/k or v, it serves).
// Tile sizes (BM, BN) per entry point; attention.py's CONFIGS lists the same numbers.

#define ATT_FWD(NAME, T, BM, BN, DMAX)                                                          \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                    \
        NAME(const T* q, const T* k, const T* v, const T* mask, T* out, T* lse, int H, int BH, int Tq, int Tk, int d, int dv, long long qsb, long long qsh, long long qst, \
             long long ksb, long long ksh, long long kst, long long vsb, long long vsh, long long vst,      \
             long long msb, long long msh, long long msi, long long msj, int has_mask, int causal, T scale) { \
        const AttShape a = {H, BH, Tq, Tk, d, dv, qsb, qsh, qst, ksb, ksh, kst, vsb, vsh, vst,     \
                            msb, msh, msi, msj, has_mask, causal};                                  \
        sdpa_fwd_impl<T, BM, BN, DMAX>(q, k, v, mask, out, lse, a, scale);                       \
    }
#define ATT_BWD_KV(NAME, T, BM, BN, DMAX)                                                       \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                    \
        NAME(const T* q, const T* k, const T* v, const T* gout, const T* lse, const T* delta,    \
             const T* mask, T* gk, T* gv, int H, int BH, int Tq, int Tk, int d, int dv, long long qsb, long long qsh, long long qst, \
             long long ksb, long long ksh, long long kst, long long vsb, long long vsh, long long vst,      \
             long long msb, long long msh, long long msi, long long msj, int has_mask, int causal, T scale) { \
        const AttShape a = {H, BH, Tq, Tk, d, dv, qsb, qsh, qst, ksb, ksh, kst, vsb, vsh, vst,     \
                            msb, msh, msi, msj, has_mask, causal};                                  \
        sdpa_bwd_kv_impl<T, BM, BN, DMAX>(q, k, v, gout, lse, delta, mask, gk, gv, a, scale);    \
    }
#define ATT_BWD_Q(NAME, T, BM, BN, DMAX)                                                        \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS)                                    \
        NAME(const T* q, const T* k, const T* v, const T* gout, const T* lse, const T* delta,    \
             const T* mask, T* gq, int H, int BH, int Tq, int Tk, int d, int dv, long long qsb, long long qsh, long long qst, \
             long long ksb, long long ksh, long long kst, long long vsb, long long vsh, long long vst,      \
             long long msb, long long msh, long long msi, long long msj, int has_mask, int causal, T scale) { \
        const AttShape a = {H, BH, Tq, Tk, d, dv, qsb, qsh, qst, ksb, ksh, kst, vsb, vsh, vst,     \
                            msb, msh, msi, msj, has_mask, causal};                                  \
        sdpa_bwd_q_impl<T, BM, BN, DMAX>(q, k, v, gout, lse, delta, mask, gq, a, scale);         \
    }

ATT_FWD(sdpa_fwd_f32_d32, float, 64, 64, 32)
ATT_FWD(sdpa_fwd_f32_d64, float, 64, 64, 64)
ATT_FWD(sdpa_fwd_f32_d128, float, 64, 32, 128)
ATT_FWD(sdpa_fwd_f64_d32, double, 32, 32, 32)
ATT_FWD(sdpa_fwd_f64_d64, double, 32, 32, 64)
ATT_FWD(sdpa_fwd_f64_d128, double, 32, 32, 128)

ATT_BWD_KV(sdpa_bwd_kv_f32_d32, float, 64, 64, 32)
ATT_BWD_KV(sdpa_bwd_kv_f32_d64, float, 64, 64, 64)
ATT_BWD_KV(sdpa_bwd_kv_f32_d128, float, 32, 64, 128)
ATT_BWD_KV(sdpa_bwd_kv_f64_d32, double, 32, 32, 32)
ATT_BWD_KV(sdpa_bwd_kv_f64_d64, double, 32, 32, 64)
ATT_BWD_KV(sdpa_bwd_kv_f64_d128, double, 32, 32, 128)

ATT_BWD_Q(sdpa_bwd_q_f32_d32, float, 64, 64, 32)
ATT_BWD_Q(sdpa_bwd_q_f32_d64, float, 64, 64, 64)
ATT_BWD_Q(sdpa_bwd_q_f32_d128, float, 64, 32, 128)
ATT_BWD_Q(sdpa_bwd_q_f64_d32, double, 32, 32, 32)
ATT_BWD_Q(sdpa_bwd_q_f64_d64, double, 32, 32, 64)
ATT_BWD_Q(sdpa_bwd_q_f64_d128, double, 32, 32, 128)

extern "C" __global__ void sdpa_bwd_delta_f32(const float* gout, const float* out, float* delta, long long rows,
                                              int dv) {
    sdpa_bwd_delta_impl<float>(gout, out, delta, rows, dv);
}
extern "C" __global__ void sdpa_bwd_delta_f64(const double* gout, const double* out, double* delta,
                                              long long rows, int dv) {
    sdpa_bwd_delta_impl<double>(gout, out, delta, rows, dv);
}
