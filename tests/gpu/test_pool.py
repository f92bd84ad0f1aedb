"""Pooling (kernels/cuda/pool.{cu,py}) on the GPU against the reference kernels: see
tests/gpu/_gpu_kernels.py for how inputs are drawn and compared. Marked ``gpu``."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import pool as ref_pool

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import pool as gpu_pool  # noqa: E402
from _gpu_kernels import GPU_SETTINGS, _host, _close  # noqa: E402
from _kernel_cases import pool_cases  # noqa: E402


@GPU_SETTINGS
@given(case=pool_cases(max_side=13), seed=st.integers(0, 2 ** 31), ties=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_max_pool_matches_reference_exactly(case, seed, ties, dtype):
    shape, k, s, p, d, ceil_mode, _ = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape)
    if ties:
        x = np.round(x)
    x = x.astype(dtype)
    desc = f"{np.dtype(dtype).name} x={shape} k={k} s={s} p={p} d={d} ceil={ceil_mode} ties={ties}"
    y, ind = gpu_pool.max_pool2d_forward(cp.asarray(x), k, s, p, d, ceil_mode)
    ry, rind = ref_pool.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    assert np.array_equal(_host(y), ry), f"max_pool2d_forward values differ ({desc})"
    assert np.array_equal(_host(ind), rind), f"max_pool2d_forward indices differ ({desc})"
    gy = rng.standard_normal(ry.shape).astype(dtype)
    gx = gpu_pool.max_pool2d_backward(cp.asarray(gy), ind, shape)
    rgx = ref_pool.max_pool2d_backward(gy, rind, shape)
    _close("max_pool2d_backward", gx, rgx, 1e-12 if dtype == np.float64 else 1e-5, desc)


def test_max_pool_nan_and_dilated_empty_windows():
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [5.0, 6.0, 7.0, 8.0]]]])
    for args in (((2, 2), (2, 2), (0, 0), (1, 1), False), ((2, 2), (1, 1), (1, 1), (3, 3), True)):
        y, ind = gpu_pool.max_pool2d_forward(cp.asarray(x), *args)
        ry, rind = ref_pool.max_pool2d_forward(x, *args)
        assert np.array_equal(_host(y), ry, equal_nan=True), f"values {args}"
        assert np.array_equal(_host(ind), rind), f"indices {args}"


@GPU_SETTINGS
@given(case=pool_cases(max_side=13), seed=st.integers(0, 2 ** 31), dtype=st.sampled_from([np.float32, np.float64]))
def test_avg_pool_matches_reference(case, seed, dtype):
    shape, k, s, p, _, ceil_mode, include_pad = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape).astype(dtype)
    desc = f"{np.dtype(dtype).name} x={shape} k={k} s={s} p={p} ceil={ceil_mode} include_pad={include_pad}"
    tol = 1e-12 if dtype == np.float64 else 1e-5
    y = gpu_pool.avg_pool2d_forward(cp.asarray(x), k, s, p, ceil_mode, include_pad)
    ry = ref_pool.avg_pool2d_forward(x, k, s, p, ceil_mode, include_pad)
    _close("avg_pool2d_forward", y, ry, tol, desc)
    gy = rng.standard_normal(ry.shape).astype(dtype)
    gx = gpu_pool.avg_pool2d_backward(cp.asarray(gy), shape, k, s, p, ceil_mode, include_pad)
    _close("avg_pool2d_backward", gx, ref_pool.avg_pool2d_backward(gy, shape, k, s, p, ceil_mode, include_pad),
           tol, desc)
