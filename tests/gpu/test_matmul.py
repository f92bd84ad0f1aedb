"""The hand-written CUDA GEMM (kernels/cuda/gemm.cu via kernels/cuda/matmul.py) against
the reference kernel on the same CuPy arrays (cuBLAS) and against NumPy on the host.

Shapes are drawn by hypothesis: odd sizes, sizes just around the 64 and 128 tiles,
every transposed layout, offsets that misalign rows (scalar-load fallback), broadcast
batches, 1-D operands. A failure says which kernel ran (``plan``) and where the
result differs. Marked ``gpu``: skipped without CuPy and a CUDA GPU.
"""
import inspect
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.kernels.cuda import matmul as cuda_mm
from minigrad.kernels.reference import matmul as ref_mm

pytestmark = pytest.mark.gpu

TOL = {np.float32: 1e-4, np.float64: 1e-12}


def _check(a, b, what=""):
    import cupy as cp

    got = cuda_mm.matmul(a, b)
    assert isinstance(got, cp.ndarray), f"{what}: the CUDA kernel returned {type(got).__name__}"
    want_ref = ref_mm.matmul(a, b)
    a_h, b_h = cp.asnumpy(a), cp.asnumpy(b)
    want_np = np.matmul(a_h.astype(np.float64), b_h.astype(np.float64))
    g = cp.asnumpy(got)
    a2 = a if a.ndim > 1 else a.reshape(1, -1)
    b2 = b if b.ndim > 1 else b.reshape(-1, 1)
    plan = cuda_mm.plan(a2, b2)
    assert g.shape == want_np.shape and g.dtype == a.dtype, \
        f"{what}: result {g.shape} {g.dtype}, expected {want_np.shape} {a.dtype} (plan {plan})"
    k = a.shape[-1]
    # |error| <= tol * k * max|a| * max|b| bounds the rounding of a length-k dot product
    scale = TOL[a.dtype.type] * max(k, 1) * max(np.abs(a_h).max(initial=0), 1) * max(np.abs(b_h).max(initial=0), 1)
    for name, want in (("NumPy (float64)", want_np), ("cuBLAS reference", cp.asnumpy(want_ref))):
        err = np.abs(g.astype(np.float64) - want)
        if err.size and err.max() > scale:
            i = np.unravel_index(int(np.argmax(err)), err.shape)
            raise AssertionError(
                f"{what}: CUDA GEMM differs from {name} at {int((err > scale).sum())} of {err.size} entries; "
                f"worst at {i}: got {g[i]!r}, want {want[i]!r} (|diff| {err[i]:.3g} > {scale:.3g}); "
                f"a {a.shape} strides {a.strides}, b {b.shape} strides {b.strides}; plan {plan}")


sizes = st.one_of(st.integers(1, 9), st.sampled_from([63, 64, 65, 127, 128, 129, 130, 200]))


@settings(max_examples=60, deadline=None)
@given(m=sizes, n=sizes, k=sizes, ta=st.booleans(), tb=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_gemm_2d_all_layouts(m, n, k, ta, tb, dtype, seed):
    import cupy as cp

    rng = np.random.default_rng(seed)
    a = cp.asarray(rng.standard_normal((k, m) if ta else (m, k)).astype(dtype))
    b = cp.asarray(rng.standard_normal((n, k) if tb else (k, n)).astype(dtype))
    _check(a.T if ta else a, b.T if tb else b, f"{m}x{k} @ {k}x{n} ta={ta} tb={tb} {np.dtype(dtype).name}")


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 40), off=st.integers(0, 3),
       lead=st.integers(0, 5), dtype=st.sampled_from([np.float32, np.float64]))
def test_gemm_misaligned_views(m, n, k, off, lead, dtype):
    """Slices of a bigger array: row starts not 16-byte aligned, leading dims not multiples of 4."""
    import cupy as cp

    rng = np.random.default_rng(m * 1000 + n)
    big_a = cp.asarray(rng.standard_normal((m + off, k + off + lead)).astype(dtype))
    big_b = cp.asarray(rng.standard_normal((k + off, n + off + lead)).astype(dtype))
    a, b = big_a[off:, off:off + k], big_b[off:, off:off + n]
    _check(a, b, f"views off={off} lead={lead}")
    _check(cp.ascontiguousarray(a.T).T, b, "column-major A view")


@settings(max_examples=30, deadline=None)
@given(batch_a=st.lists(st.integers(1, 3), max_size=3), batch_b=st.lists(st.integers(1, 3), max_size=3),
       m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 70), ta=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_gemm_broadcast_batches(batch_a, batch_b, m, n, k, ta, dtype):
    import cupy as cp

    # make the batch shapes broadcast-compatible: where they differ, one of them is 1
    la, lb = len(batch_a), len(batch_b)
    L = max(la, lb)
    pa, pb = [1] * (L - la) + batch_a, [1] * (L - lb) + batch_b
    pb = [y if x in (1, y) or y == 1 else 1 for x, y in zip(pa, pb)]
    batch_b = pb[L - lb:]
    rng = np.random.default_rng(m + n + k)
    a = cp.asarray(rng.standard_normal(tuple(batch_a) + ((k, m) if ta else (m, k))).astype(dtype))
    b = cp.asarray(rng.standard_normal(tuple(batch_b) + (k, n)).astype(dtype))
    _check(cp.swapaxes(a, -1, -2) if ta else a, b, f"batches {batch_a} x {batch_b}")


def test_gemm_many_batch_entries_beyond_grid_limit():
    import cupy as cp

    a = cp.random.standard_normal((70000, 2, 3)).astype(cp.float32)
    b = cp.random.standard_normal((70000, 3, 2)).astype(cp.float32)
    _check(a, b, "70000 batch entries (grid z is capped at 65535)")


def test_gemm_large_square_uses_big_tiles():
    import cupy as cp

    # 12 x 9 = 108 tiles of 128 x 128: one per multiprocessor of an A100 (H100s have 132)
    a = cp.random.standard_normal((1500, 517)).astype(cp.float32)
    b = cp.random.standard_normal((517, 1100)).astype(cp.float32)
    assert cuda_mm.plan(a, b, 108)["kernel"] == "sgemm_128_nn"
    assert cuda_mm.plan(a[:1031], b[:, :1029], 108)["kernel"] == "sgemm_64_nn"  # 9 x 9 = 81 tiles: too few
    _check(a, b, "1500x517 @ 517x1100")


def test_gemm_1d_and_empty_and_k0():
    import cupy as cp

    v = cp.arange(5, dtype=cp.float32)
    M = cp.ones((3, 5, 2), dtype=cp.float32)
    _check(v, M, "1-D left")
    _check(cp.ones((3, 2, 5), dtype=cp.float32), v, "1-D right")
    _check(v, v, "1-D both")
    z = cuda_mm.matmul(cp.ones((3, 0), cp.float32), cp.ones((0, 4), cp.float32))
    assert z.shape == (3, 4) and float(abs(z).max()) == 0.0, "K = 0 must give zeros"
    e = cuda_mm.matmul(cp.ones((0, 3), cp.float64), cp.ones((3, 4), cp.float64))
    assert e.shape == (0, 4)


def test_gemm_falls_back_for_other_dtypes_and_raises_the_reference_errors():
    import cupy as cp

    ai = cp.arange(6).reshape(2, 3)
    assert (cp.asnumpy(cuda_mm.matmul(ai, ai.T)) == np.arange(6).reshape(2, 3) @ np.arange(6).reshape(2, 3).T).all()
    h = cp.ones((2, 3), cp.float16)
    assert cuda_mm.matmul(h, h.T).dtype == cp.float16
    with pytest.raises(ValueError, match=r"cannot be multiplied \(3 != 4\)"):
        cuda_mm.matmul(cp.ones((2, 3), cp.float32), cp.ones((4, 5), cp.float32))
    with pytest.raises(ValueError, match="batch dimensions"):
        cuda_mm.matmul(cp.ones((2, 2, 3), cp.float32), cp.ones((3, 3, 5), cp.float32))


def test_registry_picks_the_cuda_gemm_for_cuda_arrays():
    from minigrad.backend import get_kernel

    k = get_kernel("matmul", "cuda")
    assert inspect.unwrap(k) is cuda_mm.matmul  # behind the registry's wrappers (entry check)
