"""Convolution, unfold and fold (kernels/cuda/conv.{cu,py}) on the GPU against the reference kernels: see
tests/gpu/_gpu_kernels.py for how inputs are drawn and compared. Marked ``gpu``."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import conv as ref_conv

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import conv as gpu_conv  # noqa: E402
from _gpu_kernels import GPU_SETTINGS, _dev, _close  # noqa: E402
from _kernel_cases import conv_cases  # noqa: E402


# (a parameter, not a fixture: hypothesis refuses function-scoped fixtures, which would
# not be reset between its examples)
@pytest.mark.parametrize("conv_gemm", ["cublas", "minigrad"])
@GPU_SETTINGS
@given(case=conv_cases(max_side=12), seed=st.integers(0, 2 ** 31), bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), chunked=st.booleans())
def test_conv_matches_reference(conv_gemm, case, seed, bias, dtype, chunked):
    x_shape, w_shape, *conf = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(dtype)
    w = rng.uniform(-1, 1, w_shape).astype(dtype)
    b = rng.uniform(-1, 1, w_shape[0]).astype(dtype) if bias else None
    up = (lambda a: None if a is None else a.astype(np.float64))
    ry = ref_conv.conv2d_forward(up(x), up(w), up(b), *conf)
    gy = rng.uniform(-1, 1, ry.shape).astype(dtype)
    desc = f"{np.dtype(dtype).name} gemm={conv_gemm} x={x_shape} w={w_shape} conf={conf} bias={bias} chunked={chunked}"
    old_limit, old_gemm = gpu_conv.COLS_LIMIT, gpu_conv.GEMM
    gpu_conv.GEMM = conv_gemm
    if chunked:                      # force one sample per chunk
        gpu_conv.COLS_LIMIT = 1
    try:
        y = gpu_conv.conv2d_forward(cp.asarray(x), cp.asarray(w), _dev(b), *conf)
        gx = gpu_conv.conv2d_grad_input(cp.asarray(gy), cp.asarray(w), x_shape, *conf)
        gw = gpu_conv.conv2d_grad_weight(cp.asarray(gy), cp.asarray(x), w_shape, *conf)
    finally:
        gpu_conv.COLS_LIMIT, gpu_conv.GEMM = old_limit, old_gemm
    # float32: relative to the size of the summed terms (|x| * |w| <= 1, K of them)
    K = w_shape[1] * w_shape[2] * w_shape[3]
    tol = 1e-10 if dtype == np.float64 else 1e-6 * max(K, 1)
    _close("conv2d_forward", y, ry, tol, desc)
    _close("conv2d_grad_input", gx, ref_conv.conv2d_grad_input(up(gy), up(w), x_shape, *conf), tol, desc)
    npix = x_shape[0] * ry.shape[2] * ry.shape[3]
    wtol = 1e-10 if dtype == np.float64 else 1e-6 * max(npix, 1)
    _close("conv2d_grad_weight", gw, ref_conv.conv2d_grad_weight(up(gy), up(x), w_shape, *conf), wtol, desc)


@GPU_SETTINGS
@given(case=conv_cases(max_side=12), seed=st.integers(0, 2 ** 31))
def test_unfold_fold_match_reference(case, seed):
    x_shape, w_shape, stride, padding, dilation, _ = case
    kernel = w_shape[2:]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape)
    cols = gpu_conv.unfold(cp.asarray(x), kernel, stride, padding, dilation)
    rcols = ref_conv.unfold(x, kernel, stride, padding, dilation)
    desc = f"x={x_shape} k={kernel} s={stride} p={padding} d={dilation}"
    _close("unfold", cols, rcols, 0.0, desc)
    back = gpu_conv.fold(cols, x_shape[2:], kernel, stride, padding, dilation)
    _close("fold", back, ref_conv.fold(rcols, x_shape[2:], kernel, stride, padding, dilation), 1e-12, desc)
