"""int8 x int8 -> int32 kernels on the GPU (``quant.cu``), for quantized layers.

Same signatures and results (bit for bit) as :mod:`minigrad.kernels.reference.quant`:

* ``qmatmul_int8(a, b_t)``: ``a`` (M, K) int8 @ ``b_t`` (N, K) int8 transposed -> (M, N)
  int32, in ``qgemm_int8``: 64 x 64 tiles of C per block, four int8 products per
  ``__dp4a`` instruction (see the ``.cu`` file);
* ``qconv2d_int8``: the reference's im2col (padded with the input's zero point) on
  the GPU, then the same product, then the zero-point correction.

NumPy inputs go to the reference kernels.
"""
from __future__ import annotations

import numpy as np

from .._arrays import is_cupy
from ..reference import quant as _ref
from ..reference import conv as _conv
from .._families import native_tables

__all__ = ["qmatmul_int8", "qconv2d_int8", "KERNELS", "PREFERRED", "warmup"]

TILE = 64
MAX_GRID_Y = 65535


def qmatmul_int8(a, b_t):
    """``a @ b_t.T`` for int8 matrices, exact, as int32 (M, N)."""
    if not all(map(is_cupy, (a, b_t))):
        return _ref.qmatmul_int8(a, b_t)
    M, N, K = _ref._check_qmatmul(a, b_t)
    import cupy as cp

    from ._loader import get_function

    c = cp.empty((M, N), np.int32)
    if c.size == 0:
        return c
    if K == 0:
        c[...] = 0
        return c
    a = cp.ascontiguousarray(a)
    b_t = cp.ascontiguousarray(b_t)
    fn = get_function("quant", "qgemm_int8")
    gx = -(-N // TILE)
    for r0 in range(0, M, TILE * MAX_GRID_Y):   # the grid's y extent is limited to 65535 blocks
        rows = min(M - r0, TILE * MAX_GRID_Y)
        fn((gx, -(-rows // TILE)), (16, 16),
           (a[r0:r0 + rows], b_t, c[r0:r0 + rows], np.int32(rows), np.int32(N), np.int32(K)))
    return c


def qconv2d_int8(x, w, x_zero_point, stride, padding, dilation, groups):
    """Integer convolution (see the reference for the contract): im2col + :func:`qmatmul_int8`."""
    if not all(map(is_cupy, (x, w))):
        return _ref.qconv2d_int8(x, w, x_zero_point, stride, padding, dilation, groups)
    import cupy as cp

    (N, C, H, W, C_out, kH, kW, H_out, W_out), zp = _ref._check_qconv(x, w, x_zero_point, stride, padding,
                                                                       dilation, groups)
    ph, pw = padding
    xpad = cp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=np.int8(zp))
    cols = _conv.im2col(xpad, (kH, kW), stride, (0, 0), dilation, groups)   # (G, N*Ho*Wo, Cg*kH*kW)
    wmat = w.reshape(groups, C_out // groups, -1)
    outs = []
    for g in range(groups):
        acc = qmatmul_int8(cp.ascontiguousarray(cols[g]), cp.ascontiguousarray(wmat[g]))  # (NP, Co_g)
        acc -= np.int32(zp) * wmat[g].sum(axis=1, dtype=np.int64).astype(np.int32)[None, :]
        outs.append(acc)
    acc = cp.stack(outs)                                     # (G, NP, Co_g)
    acc = acc.reshape(groups, N, H_out, W_out, C_out // groups)
    return cp.ascontiguousarray(acc.transpose(1, 0, 4, 2, 3).reshape(N, C_out, H_out, W_out))


# Not yet measured on a GPU: native by default, as every CUDA family.
KERNELS, PREFERRED = native_tables("quant", globals())   # every op above; native unless measured slower


def warmup():
    """Compile ``quant.cu`` (needs CuPy and a GPU)."""
    import cupy as cp

    qmatmul_int8(cp.zeros((1, 4), np.int8), cp.zeros((1, 4), np.int8))
