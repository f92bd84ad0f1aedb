"""2-D convolution on the GPU: im2col / col2im kernels (``conv.cu``) + a GEMM.

Same signatures, layouts and results as :mod:`minigrad.kernels.reference.conv` (read
it first: it explains im2col). Per chunk of ``S`` samples (chunks keep the patch
matrix under ``COLS_LIMIT`` elements)::

    forward       cols  = im2col(x)            (S, G, K, P)    K = C_g*kH*kW, P = H_out*W_out
                  y     = W3 @ cols            (S, G, C_out/G, P) = the NCHW output, no transpose
    grad_input    dcols = W3^T @ gy            (S, G, K, P)
                  dx    = col2im(dcols)        gather: one thread per input pixel, no atomics
    grad_weight   cols  = im2col(x)            (G, S*P, K)     the layout that makes the next
                  gW   += gy_g @ cols           one product per group, summed over every pixel

``W3`` is the weight viewed as (G, C_out/G, K). The products run on ``GEMM``:
``"cublas"`` (``cupy.matmul``, the default: NVIDIA's tuned library, pure FP32 unless
CuPy's ``CUPY_TF32=1`` is set) or ``"minigrad"`` (the hand-written tiled GEMM of
``kernels/cuda/gemm.cu``), so a learner can swap one for the other and compare.

``unfold`` and ``fold`` are im2col and col2im with one group (their layouts are the
(N, G, K, P) one). ``conv2d_grad_bias`` is a plain CuPy sum (the reference kernel).
float32 and float64 CuPy arrays run natively; anything else runs the reference.
"""
from __future__ import annotations

import numpy as np

from .._contracts import check_grad_shape, conv_geometry, fold_geometry, unfold_geometry
from ..reference import conv as _ref
from ._loader import launch_flat, on_gpu
from .._families import native_tables

__all__ = ["conv2d_forward", "conv2d_grad_input", "conv2d_grad_weight", "unfold", "fold",
           "GEMM", "KERNELS", "PREFERRED"]

GEMM = "cublas"          # or "minigrad": kernels/cuda/matmul.py
COLS_LIMIT = 1 << 25     # elements of one chunk's patch matrix (128 MiB in float32)
BLOCK = 256


def _matmul(a, b):
    if GEMM == "minigrad":
        from .matmul import matmul

        return matmul(a, b)
    if GEMM != "cublas":
        raise ValueError(f"conv: GEMM must be 'cublas' or 'minigrad', got {GEMM!r}")
    import cupy as cp

    return cp.matmul(a, b)


def _geo(C, H, W, G, kernel, stride, padding, dilation, Ho, Wo):
    return tuple(np.int32(v) for v in (C, H, W, G, C // G, *kernel, *stride, *padding, *dilation, Ho, Wo))


def _launch(name, dtype, total, args):
    """Launch ``<name>_<f32|f64>`` with one thread per element; ``total`` follows the two array arguments."""
    launch_flat("conv", name, dtype, total, (*args[:2], np.int64(total), *args[2:]), BLOCK)


def _strides(*s):
    return tuple(np.int64(v) for v in s)


def _chunk(N, per_sample):
    return max(1, min(N, COLS_LIMIT // max(per_sample, 1)))


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b (NCHW; see the reference kernel for the exact definition)."""
    if not on_gpu(x, w, b):
        return _ref.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    import cupy as cp

    N, C, H, W, Cout, kH, kW, Ho, Wo = conv_geometry("conv2d_forward", x.shape, w.shape, stride, padding,
                                                   dilation, groups)
    G, P = groups, Ho * Wo
    K = (C // G) * kH * kW
    x = cp.ascontiguousarray(x)
    w3 = cp.ascontiguousarray(w).reshape(G, Cout // G, K)
    y = cp.empty((N, Cout, Ho, Wo), x.dtype)
    geo = _geo(C, H, W, G, (kH, kW), stride, padding, dilation, Ho, Wo)
    S = _chunk(N, G * K * P)
    for n0 in range(0, N, S):
        n1 = min(N, n0 + S)
        cols = cp.empty((n1 - n0, G, K, P), x.dtype)
        _launch("im2col", x.dtype, cols.size, (x[n0:n1], cols, *geo, *_strides(G * K * P, K * P, P, 1)))
        ys = _matmul(w3, cols).reshape(n1 - n0, Cout, Ho, Wo)            # (S, G, Co_g, P): NCHW
        if n1 - n0 == N:
            y = cp.ascontiguousarray(ys)
        else:
            y[n0:n1] = ys
    if b is not None and y.size:
        _launch("add_bias", x.dtype, y.size, (y, cp.ascontiguousarray(b), np.int32(Cout), np.int32(P)))
    return y


def conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups):
    """dL/dx given dL/dy (same definition as the reference kernel)."""
    if not on_gpu(gy, w):
        return _ref.conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups)
    import cupy as cp

    N, C, H, W, Cout, kH, kW, Ho, Wo = conv_geometry("conv2d_grad_input", tuple(x_shape), w.shape, stride, padding,
                                                   dilation, groups)
    check_grad_shape("conv2d_grad_input", gy, (N, Cout, Ho, Wo))
    G, P = groups, Ho * Wo
    K = (C // G) * kH * kW
    gy = cp.ascontiguousarray(gy)
    wt = cp.ascontiguousarray(cp.ascontiguousarray(w).reshape(G, Cout // G, K).transpose(0, 2, 1))  # (G, K, Co_g)
    dx = cp.empty((N, C, H, W), gy.dtype)
    geo = _geo(C, H, W, G, (kH, kW), stride, padding, dilation, Ho, Wo)
    S = _chunk(N, G * K * P)
    for n0 in range(0, N, S):
        n1 = min(N, n0 + S)
        dcols = _matmul(wt, gy[n0:n1].reshape(n1 - n0, G, Cout // G, P))     # (S, G, K, P)
        dcols = cp.ascontiguousarray(dcols)
        _launch("col2im", gy.dtype, (n1 - n0) * C * H * W,
                (dcols, dx[n0:n1], *geo, *_strides(G * K * P, K * P, P, 1)))
    return dx


def conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """dL/dw given dL/dy (same definition as the reference kernel)."""
    if not on_gpu(gy, x):
        return _ref.conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups)
    import cupy as cp

    N, C, H, W, Cout, kH, kW, Ho, Wo = conv_geometry("conv2d_grad_weight", x.shape, tuple(w_shape), stride, padding,
                                                   dilation, groups)
    check_grad_shape("conv2d_grad_weight", gy, (N, Cout, Ho, Wo))
    G, P = groups, Ho * Wo
    Cog, K = Cout // G, (C // G) * kH * kW
    x = cp.ascontiguousarray(x)
    gy = cp.ascontiguousarray(gy)
    geo = _geo(C, H, W, G, (kH, kW), stride, padding, dilation, Ho, Wo)
    if N == 0:
        return cp.zeros(tuple(w_shape), gy.dtype)
    gw = None
    S = _chunk(N, G * K * P)
    for n0 in range(0, N, S):
        n1 = min(N, n0 + S)
        s = n1 - n0
        cols = cp.empty((G, s * P, K), x.dtype)
        _launch("im2col", x.dtype, cols.size, (x[n0:n1], cols, *geo, *_strides(P * K, s * P * K, 1, K)))
        gyt = cp.ascontiguousarray(gy[n0:n1].reshape(s, G, Cog, P).transpose(1, 2, 0, 3)).reshape(G, Cog, s * P)
        part = _matmul(gyt, cols)                                             # (G, Co_g, K)
        gw = part if gw is None else gw + part
    return gw.reshape(tuple(w_shape))


def unfold(x, kernel_size, stride, padding, dilation):
    """Sliding blocks as columns, (N, C*kH*kW, L): as the reference kernel."""
    if not on_gpu(x) or x.ndim != 4:
        return _ref.unfold(x, kernel_size, stride, padding, dilation)
    import cupy as cp

    Ho, Wo = unfold_geometry("unfold", x.shape, kernel_size, stride, padding, dilation)
    N, C, H, W = x.shape
    K, P = C * kernel_size[0] * kernel_size[1], Ho * Wo
    out = cp.empty((N, K, P), x.dtype)
    if out.size:
        _launch("im2col", x.dtype, out.size, (cp.ascontiguousarray(x), out,
                                              *_geo(C, H, W, 1, kernel_size, stride, padding, dilation, Ho, Wo),
                                              *_strides(K * P, 0, P, 1)))
    return out


def fold(cols, output_size, kernel_size, stride, padding, dilation):
    """Columns summed back into an image, (N, C, H, W): as the reference kernel."""
    if not on_gpu(cols) or cols.ndim != 3:
        return _ref.fold(cols, output_size, kernel_size, stride, padding, dilation)
    import cupy as cp

    C, Ho, Wo = fold_geometry(cols.shape, output_size, kernel_size, stride, padding, dilation)
    N, CK, L = cols.shape
    H, W = (int(v) for v in output_size)
    out = cp.empty((N, C, H, W), cols.dtype)
    if out.size:
        _launch("col2im", cols.dtype, out.size, (cp.ascontiguousarray(cols), out,
                                                 *_geo(C, H, W, 1, kernel_size, stride, padding, dilation, Ho, Wo),
                                                 *_strides(CK * L, 0, L, 1)))
    return out


# The reference gathers patches with as_strided + a copy and scatters col2im with
# kH*kW strided adds; these kernels do each in one pass. To be confirmed on a GPU.
KERNELS, PREFERRED = native_tables("conv", globals())   # every op above; native unless measured slower


def warmup():
    import cupy as cp

    for dt in (np.float32, np.float64):
        x = cp.zeros((1, 2, 5, 5), dt)
        w = cp.zeros((2, 2, 3, 3), dt)
        y = conv2d_forward(x, w, cp.zeros(2, dt), (1, 1), (1, 1), (1, 1), 1)
        conv2d_grad_input(y, w, x.shape, (1, 1), (1, 1), (1, 1), 1)
        conv2d_grad_weight(y, x, w.shape, (1, 1), (1, 1), (1, 1), 1)
