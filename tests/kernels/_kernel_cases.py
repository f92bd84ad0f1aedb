"""Case tables and helpers shared by the kernel tests (tests/kernels) and the GPU kernel
tests (tests/gpu): hypothesis strategies of valid geometries, random arrays, errors."""
import contextlib

import numpy as np
import pytest
from hypothesis import strategies as st

SIZES = st.integers(1, 67)


def _arr(rng, shape, dtype=np.float64, contiguous=True, scale=3.0):
    a = rng.standard_normal(shape) * scale
    if not contiguous and len(shape) >= 2:
        a = np.asfortranarray(a)          # same values, column-major strides
    return a.astype(dtype)


def _rel(a, b):
    if b.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b))) / max(1.0, float(np.max(np.abs(b))))



@st.composite
def pool_cases(draw, max_side=11, max_kernel=4, max_dilation=3, max_nc=3):
    """(x_shape, kernel, stride, padding, dilation, ceil_mode, count_include_pad), valid for torch:
    sides up to ``max_side`` (or the window's extent), kernel sides up to ``max_kernel``,
    dilations up to ``max_dilation``, batch and channels up to ``max_nc``."""
    k = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    ceil_mode, include_pad = draw(st.booleans()), draw(st.booleans())
    min_h = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0])
    min_w = max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1])
    h = draw(st.integers(min_h, max(min_h, max_side)))
    w = draw(st.integers(min_w, max(min_w, max_side)))
    shape = (draw(st.integers(1, max_nc)), draw(st.integers(1, max_nc)), h, w)
    return shape, k, s, p, d, ceil_mode, include_pad


@st.composite
def conv_cases(draw, max_side=11, max_cout=11):
    """(x_shape, w_shape, stride, padding, dilation, groups) with at least 1 output pixel:
    every stride/padding/dilation/groups combination, sizes up to ``max_side``, up to
    ``max_cout`` output channels (4 per group with several groups). The default 11 is
    2 x (the CPU GEMM's 4 x 4 micro-tile) + 3: every edge case of the tiles."""
    groups = draw(st.integers(1, 3))
    cin_g = draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, max_cout if groups == 1 else 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h = draw(st.integers(min_h, max(min_h, max_side)))
    w = draw(st.integers(min_w, max(min_w, max_side)))
    n = draw(st.integers(1, 3))
    return (n, groups * cin_g, h, w), (groups * cout_g, cin_g, kh, kw), stride, padding, dilation, groups


def check_sdpa_forward_rejects_bad_inputs(sdpa_forward, xp):
    """An attention kernel's ``sdpa_forward`` (arrays of the module ``xp``: NumPy or CuPy)
    raises on mismatched head sizes, a rank other than 4, mixed dtypes and a mask that does
    not broadcast."""
    x = xp.zeros((1, 1, 3, 4))
    with pytest.raises(ValueError, match="sdpa_forward"):
        sdpa_forward(x, xp.zeros((1, 1, 3, 5)), x, None, False, None)
    with pytest.raises(ValueError, match="4-D"):
        sdpa_forward(x[0], x[0], x[0], None, False, None)
    with pytest.raises(TypeError, match="dtype"):
        sdpa_forward(x.astype(np.float32), x, x, None, False, None)
    with pytest.raises(ValueError, match="broadcast"):
        sdpa_forward(x, x, x, xp.zeros((2, 3)), False, None)


@contextlib.contextmanager
def threshold_zero(module, name, on):
    """Set ``module.name`` (a size below which a kernel runs on one thread) to 0 inside
    the block when ``on``, so tiny test inputs take the multi-thread path too."""
    old = getattr(module, name)
    if on:
        setattr(module, name, 0)
    try:
        yield
    finally:
        setattr(module, name, old)
