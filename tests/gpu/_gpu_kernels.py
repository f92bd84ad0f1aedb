"""Helpers shared by the GPU kernel tests (tests/gpu/test_{attention,conv,norm,pool,softmax,families}.py):
hypothesis settings, host/device copies, and error checks whose failure messages name the
kernel, the case and the worst error.

Every input is drawn on the host, copied to the GPU, and the GPU result copied back
and compared with the reference computed from the *same host arrays*. Shapes are
drawn by hypothesis around the tile sizes of each kernel (attention tiles are 32 or
64 rows, the softmax/norm kernels switch from a warp to a block per row above 1024
columns), with odd sizes, strided views, masks and every geometry option. The test
files are marked ``gpu``: tests/conftest.py skips them without CuPy and a GPU.

Tolerances: float64 results agree with the float64 reference to 1e-10 (absolute,
inputs are O(1)); float32 results stay within 1e-5 of the float64 reference
relative to max(1, the largest entry) (attention gradients: relative to the size of
the terms that cancel, as in tests/kernels/test_attention.py).
"""
import numpy as np
import cupy as cp
from hypothesis import settings, strategies as st

GPU_SETTINGS = settings(max_examples=25, deadline=None)


def _host(a):
    return cp.asnumpy(a) if isinstance(a, cp.ndarray) else a


def _dev(a):
    return None if a is None else cp.asarray(a)


def _close(name, got, want, atol, case=""):
    """assert max |got - want| <= atol, with NaN/inf positions equal; a clear message otherwise."""
    got = _host(got)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != reference {want.shape} ({case})"
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaN positions differ ({case})"
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), f"{name}: infinities differ ({case})"
    fin = np.isfinite(want)
    if fin.any():
        err = float(np.max(np.abs(got[fin].astype(np.float64) - want[fin])))
        assert err <= atol, f"{name}: max abs error {err:.3g} > {atol:.3g} ({case})"


def _rel(name, got, want, tol, case="", floor=1.0):
    """max |got - want| / max(floor, max |want|) <= tol."""
    got = _host(got).astype(np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != reference {want.shape} ({case})"
    if want.size == 0:
        return
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), fin), f"{name}: non-finite positions differ ({case})"
    if not fin.any():
        return
    scale = max(floor, float(np.max(np.abs(want[fin]))))
    err = float(np.max(np.abs(got[fin] - want[fin]))) / scale
    assert err <= tol, f"{name}: relative error {err:.3g} > {tol:.3g} ({case})"


# row lengths around the warp/block switch of the row kernels (softmax, layer norm)
COLS = st.one_of(st.integers(1, 70), st.sampled_from([127, 128, 129, 1023, 1024, 1025, 2049]))
