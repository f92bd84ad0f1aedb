"""Softmax, log-softmax and cross-entropy (kernels/cuda/softmax.{cu,py}) on the GPU against the reference kernels: see
tests/gpu/_gpu_kernels.py for how inputs are drawn and compared. Marked ``gpu``."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import softmax as ref_sm

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import softmax as gpu_sm  # noqa: E402
from _gpu_kernels import COLS, GPU_SETTINGS, _dev, _close, _rel  # noqa: E402


def _logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@GPU_SETTINGS
@given(rows=st.integers(0, 9), cols=COLS, seed=st.integers(0, 2 ** 31), lead=st.booleans(),
       fortran=st.booleans())
def test_softmax_family_float64(rows, cols, seed, lead, fortran):
    rng = np.random.default_rng(seed)
    shape = (2, rows, cols) if lead else (rows, cols)
    x, g = _logits(rng, shape, np.float64), _logits(rng, shape, np.float64)
    xd = cp.asfortranarray(cp.asarray(x)) if fortran else cp.asarray(x)
    case = f"shape={shape} fortran={fortran}"
    for name in ("softmax", "log_softmax"):
        y = getattr(gpu_sm, name)(xd)
        r = getattr(ref_sm, name)(x)
        _close(name, y, r, 1e-10, case)
        bname = name + "_backward"
        _close(bname, getattr(gpu_sm, bname)(cp.asarray(g), cp.asarray(r)), getattr(ref_sm, bname)(g, r), 1e-10, case)


@GPU_SETTINGS
@given(rows=st.integers(1, 9), cols=COLS, seed=st.integers(0, 2 ** 31))
def test_softmax_family_float32(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x, g = _logits(rng, (rows, cols), np.float32), _logits(rng, (rows, cols), np.float32)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    case = f"shape={(rows, cols)}"
    for name in ("softmax", "log_softmax"):
        y = getattr(gpu_sm, name)(cp.asarray(x))
        assert y.dtype == np.float32
        _rel(name, y, getattr(ref_sm, name)(x64), 1e-5, case)
        r32 = getattr(ref_sm, name)(x)
        bname = name + "_backward"
        got = getattr(gpu_sm, bname)(cp.asarray(g), cp.asarray(r32))
        _rel(bname, got, getattr(ref_sm, bname)(g64, r32.astype(np.float64)), 1e-5, case)


@pytest.mark.parametrize("cols", [5, 2000])
def test_softmax_special_values(cols):
    """Logits of 1e4 do not overflow; a -inf entry gets probability 0; NaN rows stay NaN like the reference."""
    x = np.zeros((4, cols))
    x[0, 0] = 1e4
    x[1, 1] = -np.inf
    x[2, :] = -np.inf
    x[3, 2] = np.nan
    for name in ("softmax", "log_softmax"):
        _close(name, getattr(gpu_sm, name)(cp.asarray(x)), getattr(ref_sm, name)(x), 1e-12, f"cols={cols}")


@st.composite
def ce_cases(draw):
    N = draw(st.integers(1, 9))
    C = draw(COLS)
    return dict(N=N, C=C, soft=draw(st.booleans()), weight=draw(st.booleans()),
                smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])), ignore=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 31)))


def _ce_inputs(c, dtype):
    rng = np.random.default_rng(c["seed"])
    N, C = c["N"], c["C"]
    x = _logits(rng, (N, C), dtype)
    if c["soft"]:
        t = rng.random((N, C)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, C, N)
        if c["ignore"]:
            t[rng.random(N) < 0.3] = -100
    w = rng.uniform(0.5, 2.0, C).astype(dtype) if c["weight"] else None
    g = rng.standard_normal(N).astype(dtype)
    return x, t, w, g


@GPU_SETTINGS
@given(c=ce_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_cross_entropy_matches_reference(c, dtype):
    x, t, w, g = _ce_inputs(c, dtype)
    case = f"{np.dtype(dtype).name} {c}"
    loss, lse = gpu_sm.cross_entropy_forward(cp.asarray(x), cp.asarray(t), _dev(w), -100, c["smoothing"])
    assert loss.dtype == dtype and lse.dtype == np.float64, case
    up = (lambda a: None if a is None else a.astype(np.float64))
    rloss, rlse = ref_sm.cross_entropy_forward(up(x), t if not c["soft"] else up(t), up(w), -100, c["smoothing"])
    tol = 1e-10 if dtype == np.float64 else 1e-5
    _rel("cross_entropy_forward loss", loss, rloss, tol, case)
    _rel("cross_entropy_forward lse", lse, rlse, tol, case)
    dx = gpu_sm.cross_entropy_backward(cp.asarray(g), cp.asarray(x), cp.asarray(t), _dev(w), -100,
                                       c["smoothing"], lse)
    rdx = ref_sm.cross_entropy_backward(up(g), up(x), t if not c["soft"] else up(t), up(w), -100,
                                        c["smoothing"], rlse)
    assert dx.dtype == dtype
    _rel("cross_entropy_backward", dx, rdx, tol, case)


def test_cross_entropy_broadcast_grad_and_large_logits():
    x = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], np.float32)
    t = np.array([0, 2])
    loss, lse = gpu_sm.cross_entropy_forward(cp.asarray(x), cp.asarray(t))
    rloss, rlse = ref_sm.cross_entropy_forward(x, t)
    _close("loss", loss, rloss, 1e-6)
    g = cp.broadcast_to(cp.asarray(np.float32(0.5)), (2,))        # stride-0 grad, as the mean reduction passes
    dx = gpu_sm.cross_entropy_backward(g, cp.asarray(x), cp.asarray(t), None, -100, 0.0, lse)
    _close("dx", dx, ref_sm.cross_entropy_backward(np.full(2, 0.5, np.float32), x, t, None, -100, 0.0, rlse), 1e-6)
