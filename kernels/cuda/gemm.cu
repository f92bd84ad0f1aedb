// gemm.cu - batched matrix multiplication C = A @ B in float and double.
//
//   C[b, m, n] = sum over k of A[b, m, k] * B[b, k, n]
//
// for every batch entry b, with M x K matrices A, K x N matrices B and a fresh
// row-major (C-contiguous) output C of shape (batch, M, N). Any M, N, K >= 1 work:
// tiles that hang over the edge of a matrix read zeros and store nothing.
//
// How it is fast: the classic "tile in shared memory, block in registers" GEMM.
//
// 1. Block tiling. A thread block owns a BM x BN tile of C. It walks along k in
//    steps of BK, each step copying a BM x BK slab of A and a BK x BN slab of B into
//    shared memory, where every number is reused BN (for A) or BM (for B) times
//    instead of being fetched from global memory again.
// 2. Register tiling. Each of the block's threads owns TM x TN entries of C in
//    registers. Per k it reads TM numbers of A and TN of B from shared memory and does
//    TM * TN fused multiply-adds: 8 x 8 gives 64 FMAs for 16 shared-memory loads.
//    Those loads are 16-byte vectors (float4 / double2). A thread's rows are not
//    adjacent: it owns chunks of 16 bytes spaced BM / (TM / vector width) apart, so
//    that the 32 lanes of a warp read consecutive addresses (no bank conflicts).
// 3. Double buffering. There are two shared-memory buffers. While the threads
//    multiply the slab in one, the next slab's global loads are already in flight
//    into registers; they are stored into the other buffer afterwards. One
//    __syncthreads() per k step is enough.
// 4. Vector global loads. Each thread loads a run of consecutive elements along the
//    operand's contiguous axis with one 8- or 16-byte load when the run is inside
//    the matrix and its address is aligned (odd leading dimensions fall back to
//    scalar loads for the rows that are not aligned).
//
// Layouts. An operand is read in place through a leading dimension, as in BLAS:
//   A: 'n' -> A(m, k) = A[m * lda + k]      (rows of A are contiguous)
//      't' -> A(m, k) = A[m + k * lda]      (columns of A are contiguous: A is a transposed view)
//   B: 'n' -> B(k, n) = B[k * ldb + n]
//      't' -> B(k, n) = B[k + n * ldb]
// so x @ W.T (Linear) and the transposes that backward passes create need no copy.
//
// Batches. The batch index b is split as b = (i0 * n1 + i1) * n2 + i2 and the
// operands start at i0 * sa0 + i1 * sa1 + i2 * sa2 (A) and the same with sb* (B):
// up to three batch axes with any strides, 0 for a broadcast axis. C starts at b * M * N.
// gridDim.z blocks walk the batch in a grid-stride loop, so any batch size works.
//
// Kernels (extern "C", one per type, tile configuration and layout pair):
//   sgemm_128_{nn,nt,tn,tt}  float, 128 x 128 tile, BK 8, 8 x 8 per thread, 256 threads
//   sgemm_64_{nn,nt,tn,tt}   float,  64 x  64 tile, BK 8, 4 x 4 per thread, 256 threads
//   dgemm_64_{nn,nt,tn,tt}   double, 64 x  64 tile, BK 8, 4 x 4 per thread, 256 threads
// all with the arguments
//   (const T* A, const T* B, T* C, int M, int N, int K, long long lda, long long ldb,
//    long long nbatch, long long n1, long long n2,
//    long long sa0, long long sa1, long long sa2, long long sb0, long long sb1, long long sb2)
// launched with block = (256,) and grid = (ceil(N / BN), ceil(M / BM), min(nbatch, 65535)).
#include "common.cuh"

// A and B are loaded the same way. Each is a slab of BX rows of an "outer" axis x (m for
// A, n for B) by BK entries along k, read from an operand P whose element (x, k) is
//   K_CONTIG:  P[x * ld + k]   (A 'n', B 't': runs go along k)
//   otherwise: P[x + k * ld]   (A 't', B 'n': runs go along x)
// Copy one thread's share (LPT consecutive elements along the contiguous axis) of the
// slab at (x0, k0) from global memory into registers `r`; entries outside the X x K
// operand read as zeros.
template <typename T, int BX, int BK, int LPT, bool K_CONTIG>
MG_DEVICE void gemm_load_slab(T* r, const T* __restrict__ P, int X, int K, long long ld, int x0, int k0) {
    const int tid = threadIdx.x;
    // the run's first element (gx, gk), its length axis' bound, and whether the run is in
    const int xx = K_CONTIG ? tid / (BK / LPT) : (tid % (BX / LPT)) * LPT;
    const int kk = K_CONTIG ? (tid % (BK / LPT)) * LPT : tid / (BX / LPT);
    const int gx = x0 + xx, gk = k0 + kk;
    const int g_run = K_CONTIG ? gk : gx, n_run = K_CONTIG ? K : X;  // along the run
    const bool in = K_CONTIG ? gx < X : gk < K;                         // across it
    if (in) {
        const T* p = K_CONTIG ? P + (long long)gx * ld + gk : P + gx + (long long)gk * ld;
        if (g_run + LPT <= n_run && mg_is_aligned(p, LPT * sizeof(T))) {
            mg_load_vec<T, LPT>(r, p);
        } else {
#pragma unroll
            for (int j = 0; j < LPT; ++j) r[j] = (g_run + j < n_run) ? p[j] : T(0);
        }
    } else {
#pragma unroll
        for (int j = 0; j < LPT; ++j) r[j] = T(0);
    }
}

// Store the registers loaded by gemm_load_slab into the shared slab S[k][x] (k-major, so
// that the compute loop reads a run of x for a fixed k).
template <typename T, int BX, int BK, int LPT, int LDS, bool K_CONTIG>
MG_DEVICE void gemm_store_slab(T (*S)[LDS], const T* r) {
    const int tid = threadIdx.x;
    if (K_CONTIG) {
        const int xx = tid / (BK / LPT), kk = (tid % (BK / LPT)) * LPT;
#pragma unroll
        for (int j = 0; j < LPT; ++j) S[kk + j][xx] = r[j];
    } else {
        const int kk = tid / (BX / LPT), xx = (tid % (BX / LPT)) * LPT;
        mg_store_vec<T, LPT>(&S[kk][xx], r);
    }
}

template <typename T, int BM, int BN, int BK, int TM, int TN, bool A_T, bool B_T>
__device__ void gemm_body(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                          int M, int N, int K, long long lda, long long ldb,
                          long long nbatch, long long n1, long long n2,
                          long long sa0, long long sa1, long long sa2,
                          long long sb0, long long sb1, long long sb2) {
    constexpr int NT = (BM / TM) * (BN / TN);  // threads per block
    constexpr int VW = 16 / sizeof(T);         // elements in a 16-byte vector
    constexpr int LPT_A = BM * BK / NT;        // elements of the A slab each thread loads
    constexpr int LPT_B = BN * BK / NT;
    constexpr int CM = TM / VW, CN = TN / VW;  // 16-byte chunks per thread along m / n
    constexpr int SM = BM / CM, SN = BN / CN;  // distance between a thread's chunks
    constexpr int PAD = VW;                    // pads shared rows, keeps them 16-byte aligned
    static_assert(TM % VW == 0 && TN % VW == 0, "the thread tile must be whole 16-byte vectors");
    static_assert(LPT_A * NT == BM * BK && LPT_B * NT == BN * BK, "slabs must split evenly over threads");
    static_assert(BK % LPT_A == 0 && BK % LPT_B == 0, "a load run must fit in BK");
    static_assert(LPT_A <= VW && LPT_B <= VW, "a load run is at most one 16-byte vector");

    __shared__ __align__(16) T As[2][BK][BM + PAD];
    __shared__ __align__(16) T Bs[2][BK][BN + PAD];

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int nk = (K + BK - 1) / BK;

    for (long long b = blockIdx.z; b < nbatch; b += gridDim.z) {
        const long long i2 = b % n2, rest = b / n2;
        const long long i1 = rest % n1, i0 = rest / n1;
        const T* Ab = A + i0 * sa0 + i1 * sa1 + i2 * sa2;
        const T* Bb = B + i0 * sb0 + i1 * sb1 + i2 * sb2;
        T* Cb = C + b * (long long)M * N;

        T acc[TM][TN];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

        T ra[LPT_A], rb[LPT_B];
        gemm_load_slab<T, BM, BK, LPT_A, !A_T>(ra, Ab, M, K, lda, m0, 0);
        gemm_load_slab<T, BN, BK, LPT_B, B_T>(rb, Bb, N, K, ldb, n0, 0);
        gemm_store_slab<T, BM, BK, LPT_A, BM + PAD, !A_T>(As[0], ra);
        gemm_store_slab<T, BN, BK, LPT_B, BN + PAD, B_T>(Bs[0], rb);
        __syncthreads();

        for (int t = 0; t < nk; ++t) {
            const int cur = t & 1;
            const bool more = t + 1 < nk;
            if (more) {  // next slab: global -> registers, overlapping the math below
                gemm_load_slab<T, BM, BK, LPT_A, !A_T>(ra, Ab, M, K, lda, m0, (t + 1) * BK);
                gemm_load_slab<T, BN, BK, LPT_B, B_T>(rb, Bb, N, K, ldb, n0, (t + 1) * BK);
            }
#pragma unroll
            for (int kk = 0; kk < BK; ++kk) {
                T fa[TM], fb[TN];
#pragma unroll
                for (int c = 0; c < CM; ++c) mg_load_vec<T, VW>(&fa[c * VW], &As[cur][kk][c * SM + ty * VW]);
#pragma unroll
                for (int c = 0; c < CN; ++c) mg_load_vec<T, VW>(&fb[c * VW], &Bs[cur][kk][c * SN + tx * VW]);
#pragma unroll
                for (int i = 0; i < TM; ++i)
#pragma unroll
                    for (int j = 0; j < TN; ++j) acc[i][j] = mg_fma(fa[i], fb[j], acc[i][j]);
            }
            if (more) {  // the other buffer was last read before the previous barrier
                gemm_store_slab<T, BM, BK, LPT_A, BM + PAD, !A_T>(As[cur ^ 1], ra);
                gemm_store_slab<T, BN, BK, LPT_B, BN + PAD, B_T>(Bs[cur ^ 1], rb);
            }
            __syncthreads();
        }

        // Write the thread's TM x TN entries: 16-byte stores where a whole chunk is
        // inside C and aligned, element by element at the right and bottom edges.
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + (i / VW) * SM + ty * VW + (i % VW);
            if (m >= M) continue;
#pragma unroll
            for (int c = 0; c < CN; ++c) {
                const int n = n0 + c * SN + tx * VW;
                T* p = Cb + (long long)m * N + n;
                if (n + VW <= N && mg_is_aligned(p, VW * sizeof(T))) {
                    mg_store_vec<T, VW>(p, &acc[i][c * VW]);
                } else {
#pragma unroll
                    for (int v = 0; v < VW; ++v)
                        if (n + v < N) p[v] = acc[i][c * VW + v];
                }
            }
        }
    }
}

// __launch_bounds__(threads, MINB): MINB blocks must fit on a multiprocessor, which caps the
// registers per thread at 65536 / (256 * MINB). The 128 x 128 kernels ask for 2 (at most 128
// registers, 16 warps per multiprocessor, so one block's loads overlap the other's FMAs):
// without it ptxas gives them 159 registers and only one block fits. The 64 x 64 float
// kernels ask for nothing (ptxas gives them 63 registers, 4 blocks fit; an explicit 1 makes it
// take 95). None of them spills (`nvcc -cubin -arch=sm_90 -Xptxas -v gemm.cu`; tests/test_cuda.py
// checks that no kernel spills). Not yet timed on a GPU.
#define MG_GEMM_BOUNDS_1(threads) __launch_bounds__(threads)  /* no minimum: the compiler's choice */
#define MG_GEMM_BOUNDS_2(threads) __launch_bounds__(threads, 2)
#define MG_GEMM_KERNEL(NAME, T, BM, BN, BK, TM, TN, A_T, B_T, MINB)                                   \
    extern "C" __global__ void MG_GEMM_BOUNDS_##MINB((BM / TM) * (BN / TN))                           \
        NAME(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, int M, int N, int K, \
             long long lda, long long ldb, long long nbatch, long long n1, long long n2,              \
             long long sa0, long long sa1, long long sa2, long long sb0, long long sb1, long long sb2) { \
        gemm_body<T, BM, BN, BK, TM, TN, A_T, B_T>(A, B, C, M, N, K, lda, ldb, nbatch, n1, n2,          \
                                                   sa0, sa1, sa2, sb0, sb1, sb2);                    \
    }

// One kernel per layout pair of A and B: <PREFIX>_nn, _nt, _tn, _tt ('t': transposed).
#define MG_GEMM_LAYOUTS(PREFIX, T, BM, BN, BK, TM, TN, MINB)                        \
    MG_GEMM_KERNEL(PREFIX##_nn, T, BM, BN, BK, TM, TN, false, false, MINB)          \
    MG_GEMM_KERNEL(PREFIX##_nt, T, BM, BN, BK, TM, TN, false, true, MINB)           \
    MG_GEMM_KERNEL(PREFIX##_tn, T, BM, BN, BK, TM, TN, true, false, MINB)           \
    MG_GEMM_KERNEL(PREFIX##_tt, T, BM, BN, BK, TM, TN, true, true, MINB)

MG_GEMM_LAYOUTS(sgemm_128, float, 128, 128, 8, 8, 8, 2)
MG_GEMM_LAYOUTS(sgemm_64, float, 64, 64, 8, 4, 4, 1)
MG_GEMM_LAYOUTS(dgemm_64, double, 64, 64, 8, 4, 4, 2)
