"""Layer norm (kernels/cuda/norm.{cu,py}) on the GPU against the reference kernels: see
tests/gpu/_gpu_kernels.py for how inputs are drawn and compared. Marked ``gpu``."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import norm as ref_norm

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import norm as gpu_norm  # noqa: E402
from _gpu_kernels import COLS, GPU_SETTINGS, _dev, _rel  # noqa: E402


@GPU_SETTINGS
@given(rows=st.integers(0, 300), D=COLS, seed=st.integers(0, 2 ** 31), dtype=st.sampled_from([np.float32, np.float64]),
       affine=st.sampled_from(["both", "weight", "bias", "none"]), offset=st.sampled_from([0.0, 10.0]))
def test_layer_norm_matches_reference(rows, D, seed, dtype, affine, offset):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, D)) + offset).astype(dtype)
    gy = rng.standard_normal((rows, D)).astype(dtype)
    w = rng.standard_normal(D).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(D).astype(dtype) if affine in ("both", "bias") else None
    case = f"{np.dtype(dtype).name} rows={rows} D={D} affine={affine} offset={offset}"
    y, mean, rstd = gpu_norm.layer_norm_forward(cp.asarray(x), _dev(w), _dev(b), 1e-5)
    up = (lambda a: None if a is None else a.astype(np.float64))
    ry, rmean, rrstd = ref_norm.layer_norm_forward(up(x), up(w), up(b), 1e-5)
    # float32: an offset of 10 costs about 3 bits (x - mean cancels them)
    tol = 1e-10 if dtype == np.float64 else (1e-5 if offset == 0 else 1e-4)
    _rel("layer_norm_forward y", y, ry, tol, case)
    _rel("layer_norm_forward mean", mean, rmean, tol, case)
    _rel("layer_norm_forward rstd", rstd, rrstd, tol, case)
    gx, gw, gb = gpu_norm.layer_norm_backward(cp.asarray(gy), cp.asarray(x), _dev(w), mean, rstd)
    rgx, rgw, rgb = ref_norm.layer_norm_backward(up(gy), up(x), up(w), rmean, rrstd)
    _rel("layer_norm_backward gx", gx, rgx, tol, case)
    # gw, gb are sums over `rows` rows: allow the float32 error of such a sum
    ftol = tol * max(1.0, np.sqrt(rows))
    _rel("layer_norm_backward gw", gw, rgw, ftol, case)
    _rel("layer_norm_backward gb", gb, rgb, ftol, case)


def test_layer_norm_many_rows_uses_several_chunks():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5000, 3, 40))
    gy = rng.standard_normal(x.shape)
    w = rng.standard_normal(40)
    y, m, r = gpu_norm.layer_norm_forward(cp.asarray(x), cp.asarray(w), None, 1e-5)
    assert y.shape == x.shape and m.shape == (5000, 3)
    gx, gw, gb = gpu_norm.layer_norm_backward(cp.asarray(gy), cp.asarray(x), cp.asarray(w), m, r)
    ry, rm, rr = ref_norm.layer_norm_forward(x, w, None, 1e-5)
    rgx, rgw, rgb = ref_norm.layer_norm_backward(gy, x, w, rm, rr)
    for name, a, b in (("y", y, ry), ("gx", gx, rgx), ("gw", gw, rgw), ("gb", gb, rgb)):
        _rel(name, a, b, 1e-10, "x (5000, 3, 40)")
