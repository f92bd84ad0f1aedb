// int8 x int8 -> int32 matrix product for quantized layers (minigrad.compress.quantize).
//
//   C[i, j] = sum_k A[i, k] * Bt[j, k]        A (M, K) int8, Bt (N, K) int8, C (M, N) int32
//
// Same contract as kernels/reference/quant.py: exact (every product of two int8 numbers
// fits in 16 bits, and K <= 131071 keeps the int32 sums from overflowing; the Python
// side refuses longer rows), so the result must equal the reference bit for bit.
//
// How: each block computes a 64 x 64 tile of C with 16 x 16 threads, 4 x 4 outputs per
// thread. K is walked 32 bytes at a time: both 64 x 32 int8 tiles are staged in shared
// memory as packed 32-bit words (4 consecutive k per word), and __dp4a multiplies the
// four int8 pairs of two words and adds them to an int32 accumulator in one
// instruction (sm_61 and newer). Words past the end of K or of the matrix are zero, so
// any M, N, K work. Loads are byte-wise: rows of an int8 matrix need not be 4-byte
// aligned, and the tile loads are a small part of the work (16 dp4a per word loaded).
#include "common.cuh"

#define Q_TILE 64          // rows of A / rows of Bt per block
#define Q_KB 32            // int8 values of k per step
#define Q_KW (Q_KB / 4)    // ... as 32-bit words

// Four int8 values X[r, k..k+3] packed little-endian into one int; zeros past the edges.
MG_DEVICE int q_word(const signed char* __restrict__ X, int r, int k, int R, int K) {
    if (r >= R) return 0;
    const signed char* p = X + (long long)r * K;
    int w = 0;
#pragma unroll
    for (int b = 0; b < 4; ++b) {
        const int v = (k + b < K) ? (int)(unsigned char)p[k + b] : 0;
        w |= v << (8 * b);
    }
    return w;
}

extern "C" __global__ void qgemm_int8(const signed char* __restrict__ A, const signed char* __restrict__ Bt,
                                      int* __restrict__ C, int M, int N, int K) {
    __shared__ int As[Q_TILE][Q_KW + 1];  // +1: rows 9 words apart, so the 16 threads of a
    __shared__ int Bs[Q_TILE][Q_KW + 1];  // half-warp reading Bs[tx + 16 j][w] hit 16 banks
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * 16 + tx;
    const int row0 = blockIdx.y * Q_TILE, col0 = blockIdx.x * Q_TILE;
    int acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += Q_KB) {
        for (int l = tid; l < Q_TILE * Q_KW; l += 256) {
            const int r = l / Q_KW, w = l % Q_KW;
            As[r][w] = q_word(A, row0 + r, k0 + 4 * w, M, K);
            Bs[r][w] = q_word(Bt, col0 + r, k0 + 4 * w, N, K);
        }
        __syncthreads();
#pragma unroll
        for (int w = 0; w < Q_KW; ++w) {
            int a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[ty + 16 * i][w];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[tx + 16 * j][w];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int r = row0 + ty + 16 * i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = col0 + tx + 16 * j;
            if (c < N) C[(long long)r * N + c] = acc[i][j];
        }
    }
}
