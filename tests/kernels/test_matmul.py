"""Matmul kernels: the Numba GEMM against the reference, on every layout.

Shapes are drawn by hypothesis: sizes from 1 to 2 x (micro-tile of 4) + 3, k long
enough for the vector loops, broadcast batch axes, and operands that are transposed
views, strided slices, negative-stride views, read-only or broadcast along a matrix
axis. Every kernel (dot, axpy and packed) is forced on every case, besides the
planner's own choice. float64 must agree with the reference to 1e-10 and float32
must stay within 1e-5 of the float64 product of the same (float32) inputs, both relative to
the size of the terms summed (|A| @ |B|).
"""
import inspect
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import _runtime
from minigrad.kernels.cpu import matmul as nat
from minigrad.kernels.reference import matmul as ref

TILE = 4                   # the micro-kernels work on 4 x 4 blocks of C
MAX_SIDE = 2 * TILE + 3    # sizes 1 .. 11
LAYOUTS = ("c", "t", "f", "strided", "neg", "readonly", "bcast")
KERNELS = (None, "dot", "axpy", "packed")


def _view(rng, shape, layout, dtype):
    """A random array of ``shape`` whose memory is laid out as ``layout`` says."""
    shape = tuple(shape)
    if layout == "c":
        return rng.standard_normal(shape).astype(dtype)
    if layout == "t":        # the matrix axes swapped: what x.T / swapaxes(-1, -2) gives
        base = rng.standard_normal(shape[:-2] + shape[-2:][::-1]).astype(dtype)
        return base.swapaxes(-1, -2)
    if layout == "f":        # every axis reversed in memory (Fortran order)
        return np.asfortranarray(rng.standard_normal(shape).astype(dtype))
    if layout == "strided":  # every other row and column of a bigger array
        big = rng.standard_normal(shape[:-2] + (2 * shape[-2], 3 * shape[-1])).astype(dtype)
        return big[..., ::2, ::3]
    if layout == "neg":      # rows in reverse order: a negative stride
        return rng.standard_normal(shape).astype(dtype)[..., ::-1, :]
    if layout == "readonly":
        x = rng.standard_normal(shape).astype(dtype)
        x.flags.writeable = False
        return x
    if layout == "bcast":    # one row repeated: stride 0 along the rows (and read-only)
        row = rng.standard_normal(shape[:-2] + (1, shape[-1])).astype(dtype)
        return np.broadcast_to(row, shape)
    raise AssertionError(layout)


def _rel_err(c, a, b):
    """|c - a@b| / |(|a| @ |b|)| in float64, Frobenius norms: the error relative to
    the size of the terms that were summed (no blow-up from cancellation)."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    exact = ref.matmul(a64, b64)
    scale = np.linalg.norm(ref.matmul(np.abs(a64), np.abs(b64)))
    assert c.shape == exact.shape
    return np.linalg.norm(c.astype(np.float64) - exact) / max(scale, 1e-300)


def _check(a, b, kernel, dtype):
    out = nat._matmul(a, b, kernel)
    expect = ref.matmul(a, b)
    assert out.dtype == expect.dtype == dtype
    assert out.shape == expect.shape
    err = _rel_err(out, a, b)
    if dtype == np.float64:
        assert err < 1e-10, f"float64 relative error {err:.3g}"
        # and against the reference's own float64 result, directly
        ref_err = np.linalg.norm(out - expect) / max(np.linalg.norm(ref.matmul(np.abs(a), np.abs(b))), 1e-300)
        assert ref_err < 1e-10
    else:
        assert err < 1e-5, f"float32 relative error {err:.3g} against the float64 product"


sides = st.integers(1, MAX_SIDE)
# k: short (the axpy kernel's 4-step groups and their remainders) or long enough for
# the dot kernel's vector loop (512-element k-blocks are covered by test_block_edges)
ks = st.one_of(st.integers(1, MAX_SIDE), st.integers(16, 40), st.integers(128, 140))


@given(m=sides, n=sides, k=ks, la=st.sampled_from(LAYOUTS), lb=st.sampled_from(LAYOUTS),
       kernel=st.sampled_from(KERNELS), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2 ** 31))
@settings(max_examples=80, deadline=None)
def test_native_matches_reference_2d(m, n, k, la, lb, kernel, dtype, seed):
    rng = np.random.default_rng(seed)
    a = _view(rng, (m, k), la, dtype)
    b = _view(rng, (k, n), lb, dtype)
    _check(a, b, kernel, dtype)


batch_pairs = st.sampled_from([
    ((), (3,)), ((2,), ()), ((3,), (3,)), ((2, 1), (3,)), ((1, 3), (2, 1)), ((2, 3), (1,)),
    ((1,), (4,)), ((2, 2), (2, 2)),
])


@given(batches=batch_pairs, m=sides, n=sides, k=ks, la=st.sampled_from(LAYOUTS),
       lb=st.sampled_from(LAYOUTS), kernel=st.sampled_from(KERNELS),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 31))
@settings(max_examples=60, deadline=None)
def test_native_matches_reference_batched(batches, m, n, k, la, lb, kernel, dtype, seed):
    rng = np.random.default_rng(seed)
    ba, bb = batches
    a = _view(rng, ba + (m, k), la, dtype)
    b = _view(rng, bb + (k, n), lb, dtype)
    _check(a, b, kernel, dtype)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layouts", [("c", "c"), ("c", "t"), ("t", "c"), ("t", "t")])
def test_block_edges(kernel, dtype, layouts):
    """Sizes that cross every cache block (per-task blocks of C, k-blocks) with a
    remainder: 2 x block + 3 along each axis, for both kernels' block sizes."""
    rng = np.random.default_rng(0)
    kc_dot = nat.DOT_KC_BYTES // np.dtype(dtype).itemsize
    g = nat._gemm
    for m, n, k in [(2 * nat.DOT_MC + 3, 2 * nat.DOT_NC + 3, 2 * kc_dot + 3),
                    (2 * nat.AXPY_MC + 3, 2 * nat.AXPY_NC + 3, 2 * nat.AXPY_KC + 3),
                    (2 * g.MC + 5, g.NC + g.tile_width(dtype) + 3, 2 * g.KC + 1)]:
        a = _view(rng, (m, k), layouts[0], dtype)
        b = _view(rng, (k, n), layouts[1], dtype)
        _check(a, b, kernel, dtype)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("layouts", [("c", "c"), ("c", "t"), ("t", "c"), ("strided", "strided")])
def test_packed_kernel_splits_work_over_threads(threads, layouts):
    """The packed kernel gives each thread a range of row panels (or, when C has more
    column panels, of column panels): every split, with partial tiles on both edges,
    computes the whole product; 3 threads on a 2-core machine too."""
    if threads > _runtime.numba.config.NUMBA_NUM_THREADS:
        pytest.skip("fewer Numba threads available")
    rng = np.random.default_rng(threads)
    n_before = _runtime.get_num_threads()
    _runtime.set_num_threads(threads)
    try:
        for m, n, k in [(8, 300, 70), (301, 40, 65), (67, 67, 67), (13, 5, 3)]:
            for dtype in (np.float32, np.float64):
                a = _view(rng, (m, k), layouts[0], dtype)
                b = _view(rng, (k, n), layouts[1], dtype)
                _check(a, b, "packed", dtype)
    finally:
        _runtime.set_num_threads(n_before)


@pytest.mark.parametrize("pack_all", [True, False])
def test_packed_kernel_packs_b_whole_or_block_by_block(monkeypatch, pack_all):
    """B is packed in one call when it is small, one block of k at a time when not
    (forced here with a limit of 0 bytes); both give the product."""
    if not pack_all:
        monkeypatch.setattr(nat._gemm, "PACK_ALL_BYTES", 0)
    rng = np.random.default_rng(7)
    for layouts in (("c", "c"), ("t", "t")):
        for dtype in (np.float32, np.float64):
            a = _view(rng, (100, 3 * nat._gemm.KC + 5), layouts[0], dtype)
            b = _view(rng, (3 * nat._gemm.KC + 5, 70), layouts[1], dtype)
            _check(a, b, "packed", dtype)


def test_planner_sends_big_products_to_the_packed_kernel():
    assert nat._packed_pays(512, 512, 512) and nat._packed_pays(2048, 192, 64)
    assert not nat._packed_pays(128, 10, 256)        # a classifier head: too few columns
    assert not nat._packed_pays(32, 512, 512)        # a small batch: too few rows


def test_packed_tile_fits_the_target_registers(monkeypatch):
    """6 rows by 2 vectors of 64 bytes with AVX-512 (12 of 32 registers), by 1 vector
    elsewhere (12 of AVX2's 16 256-bit registers)."""
    from minigrad.kernels.cpu import _simd

    assert nat._gemm.NV == (2 if _simd.float_vector_bytes() >= 64 else 1)
    assert nat._gemm.tile_width(np.float32) == nat._gemm.NV * 16
    assert nat._gemm.tile_width(np.float64) == nat._gemm.NV * 8
    assert nat._gemm.MC % nat._gemm.MR == 0 and nat._gemm.NC % nat._gemm.tile_width(np.float32) == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_mlp_and_conv_shapes(kernel):
    """The shapes the layers use: Linear forward x @ W.T and both backward products,
    and im2col GEMMs with a tiny k (1 input channel, 3x3 kernel)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((256, 784)).astype(np.float32)
    gy = rng.standard_normal((128, 256)).astype(np.float32)
    _check(x, w.T, kernel, np.float32)      # y = x @ W^T
    _check(gy, w, kernel, np.float32)       # gx = gy @ W
    _check(gy.T, x, kernel, np.float32)     # gW = gy^T @ x
    cols = rng.standard_normal((2 * 28 * 28, 9)).astype(np.float32)
    wmat = rng.standard_normal((32, 9)).astype(np.float32)
    _check(cols, wmat.T, kernel, np.float32)


@pytest.mark.parametrize("kernel", KERNELS)
def test_broadcast_views_are_read_in_place(kernel):
    """np.broadcast_to stacks (read-only, stride 0 on the batch axis) give the same
    result as the materialised stacks."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((130, 9)).astype(np.float32)
    x = rng.standard_normal((4, 9, 140)).astype(np.float32)
    wb = np.broadcast_to(w, (4, 130, 9))
    assert not wb.flags.writeable
    out = nat._matmul(wb, x, kernel)
    np.testing.assert_array_equal(out, nat._matmul(np.ascontiguousarray(wb), x, kernel))
    assert _rel_err(out, wb, x) < 1e-5


def test_one_dimensional_operands():
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        v = rng.standard_normal(7).astype(dtype)
        m = rng.standard_normal((7, 5)).astype(dtype)
        s = rng.standard_normal((3, 5, 7)).astype(dtype)
        for a, b in [(v, m), (m.T, v), (v, v), (v, s.swapaxes(-1, -2)), (s, v)]:
            out = nat.matmul(a, b)
            expect = ref.matmul(a, b)
            assert out.shape == expect.shape
            np.testing.assert_allclose(out, expect, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_empty_and_zero_k():
    for a_shape, b_shape in [((0, 3), (3, 4)), ((3, 0), (0, 4)), ((2, 0, 3), (3, 5)), ((3, 4), (4, 0))]:
        a = np.ones(a_shape, np.float32)
        b = np.ones(b_shape, np.float32)
        out = nat.matmul(a, b)
        expect = a @ b
        assert out.shape == expect.shape and out.dtype == expect.dtype
        np.testing.assert_array_equal(out, expect)   # k == 0 gives zeros, as in NumPy


def test_dtype_rules_follow_numpy():
    a32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    b64 = np.arange(12, dtype=np.float64).reshape(3, 4)
    out = nat.matmul(a32, b64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, a32 @ b64)
    ai = np.arange(6).reshape(2, 3)
    bi = np.arange(12).reshape(3, 4)
    out = nat.matmul(ai, bi)                        # integers: handed to NumPy, exact
    assert out.dtype == (ai @ bi).dtype
    np.testing.assert_array_equal(out, ai @ bi)
    out = nat.matmul(ai, b64.astype(np.float32))    # int64 with float32 promotes to float64
    assert out.dtype == np.float64


@pytest.mark.parametrize("kernel", KERNELS)
def test_inf_and_nan_propagate_like_numpy(kernel):
    rng = np.random.default_rng(3)
    for m, k, n in [(9, 11, 10), (9, 150, 10)]:
        a = rng.standard_normal((m, k))
        b = rng.standard_normal((k, n))
        a[1, 2] = np.inf
        a[4, 0] = np.nan
        b[2, 3] = 0.0        # inf * 0 = nan in entry (1, 3)
        b[5, 7] = -np.inf
        with np.errstate(invalid="ignore"):
            expect = a @ b
        out = nat._matmul(a, b, kernel)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expect))
        np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expect))
        np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expect))
        fin = np.isfinite(expect)
        np.testing.assert_allclose(out[fin], expect[fin], rtol=1e-10, atol=1e-10)


def test_errors_name_the_op_and_shapes():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        nat.matmul(a, np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        ref.matmul(a, np.ones((4, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        nat.matmul(np.float64(2.0), a)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        ref.matmul(np.array(2.0), a)
    with pytest.raises(ValueError, match="batch dimensions"):
        nat.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="batch dimensions"):
        ref.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="unknown kernel"):
        nat._matmul(a, a.T, "fast")


@given(m=sides, n=sides, k=sides, seed=st.integers(0, 2 ** 31))
@settings(max_examples=20, deadline=None)
def test_naive_matmul_matches_reference(m, n, k, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k))
    b = rng.standard_normal((k, n))
    assert _rel_err(nat.naive_matmul(a, b), a, b) < 1e-12
    with pytest.raises(ValueError, match="naive_matmul"):
        nat.naive_matmul(a[0], b)


def test_operands_are_not_modified():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((20, 150)).astype(np.float32)
    b = rng.standard_normal((150, 30)).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    for kernel in KERNELS:
        nat._matmul(a.T.T, b, kernel)
        nat._matmul(b.T, a.T, kernel)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_registry_switches_between_native_and_reference():
    from minigrad import backend

    def kernel():  # the registry's entry is the kernel behind its entry check
        k = backend.get_kernel("matmul", "cpu")
        return inspect.unwrap(k)

    with minigrad.kernels.use("reference"):
        assert kernel() is ref.matmul
    with minigrad.kernels.use("native"):
        assert kernel() is nat.matmul
    with minigrad.kernels.use(None):  # the measured choice (minigrad/tuning.py)
        choice = backend.kernel_choices()["ops"].get("matmul", nat.PREFERRED["matmul"])
        if isinstance(choice, str):
            assert kernel() is (nat.matmul if choice == "native" else ref.matmul)
        else:
            assert isinstance(backend.get_kernel("matmul", "cpu"), backend.SizeChoice)
    assert set(nat.KERNELS) == set(ref.KERNELS) == {"matmul"}


def test_warmup_runs():
    nat.warmup()   # compiles or loads every specialisation; must not raise


def test_warmup_compiles_the_blocked_kernels_for_both_dtypes():
    """In a fresh interpreter, warmup() alone leaves the packing, dot and axpy kernels
    compiled (or loaded) for float32 and float64: tiny products go to BLAS, so a warm-up
    through matmul() with small shapes would compile none of them."""
    code = ("import minigrad.kernels\n"
            "from minigrad.kernels.cpu import matmul as m\n"
            "m.warmup()\n"
            "for f in (m._pack, m._blocked_dot, m._blocked_axpy, m._gemm._gemm_blocks):\n"
            "    print(f.__name__, sorted({str(sig[0].dtype) for sig in f.signatures}))\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    names = ("_pack", "_blocked_dot", "_blocked_axpy", "_gemm_blocks")
    assert r.stdout.split("\n")[:4] == [f"{name} ['float32', 'float64']" for name in names], r.stdout


# ----------------------------------------------------------------------------- runtime helpers

def test_aligned_empty_is_aligned():
    for dtype in (np.float32, np.float64):
        for shape in (1, 7, (3, 5), (64, 33)):
            x = _runtime.aligned_empty(shape, dtype)
            assert x.ctypes.data % 64 == 0
            assert x.dtype == dtype and x.flags.c_contiguous
            assert x.shape == ((shape,) if isinstance(shape, int) else shape)


def test_workspace_is_reused_and_grows():
    w1 = _runtime.workspace("test_ws", 100, np.float32)
    w2 = _runtime.workspace("test_ws", 50, np.float32)
    assert w1.shape == (100,) and w2.shape == (50,)
    assert w2.ctypes.data == w1.ctypes.data       # the same memory, reused
    w3 = _runtime.workspace("test_ws", 10 ** 6, np.float32)
    assert w3.shape == (10 ** 6,) and w3.ctypes.data % 64 == 0
    assert _runtime.workspace("test_ws", 10, np.float64).dtype == np.float64


def test_blas_thread_policy():
    _runtime.configure()
    info = _runtime.blas_info()
    if info["threads"] is None:
        pytest.skip("no OpenBLAS/MKL library found in this process")
    inside = []
    with _runtime.blas_threads(1):
        inside.append(_runtime.blas_info()["threads"])
    assert inside == [1]
    assert _runtime.blas_info()["threads"] == info["threads"]   # restored
    t = _runtime.threading_info()
    assert t["cores"] >= 1 and t["numba_threads"] >= 1


def test_environment_knobs_in_a_fresh_process():
    """MINIGRAD_BLAS_THREADS=keep leaves the BLAS alone; MINIGRAD_NUMBA_512=1 sets
    NUMBA_CPU_FEATURES before Numba is imported (only on CPUs with AVX-512)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, os, numpy\n"
        "from minigrad.kernels.cpu import _runtime\n"
        "before = _runtime.blas_info()['threads']\n"
        "_runtime.configure()\n"
        "import numba\n"
        "print(json.dumps({'before': before, 'after': _runtime.blas_info()['threads'],\n"
        "    'features': os.environ.get('NUMBA_CPU_FEATURES'), 'numba': numba.config.CPU_FEATURES,\n"
        "    'expected': _runtime.avx512_features()}))\n"
    )
    env = dict(os.environ, MINIGRAD_BLAS_THREADS="keep", MINIGRAD_NUMBA_512="1")
    env.pop("NUMBA_CPU_FEATURES", None)
    env.pop("NUMBA_CPU_NAME", None)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["after"] == got["before"]
    assert got["features"] == got["expected"]
    assert got["numba"] == got["expected"]
    if got["expected"] is not None:
        assert got["expected"].endswith(",-prefer-256-bit")


def test_set_num_threads_validates():
    n = _runtime.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads"):
        _runtime.set_num_threads(0)
    _runtime.set_num_threads(1)
    try:
        a = np.ones((70, 130), np.float32)
        np.testing.assert_allclose(nat.matmul(a, a.T), np.full((70, 70), 130.0))
    finally:
        _runtime.set_num_threads(n)


def test_small_skinny_products_go_to_blas_and_big_ones_stay_native(monkeypatch):
    """matmul hands 2-D products with a dimension under SKINNY to BLAS while they are
    small (a classifier head of 13 classes and both its gradients), and keeps the blocked
    kernels for big ones, whichever dimension is skinny; the results are NumPy's."""
    assert nat._skinny(448, 13, 64) and nat._skinny(13, 64, 448) and nat._skinny(448, 64, 13)
    assert nat._skinny(3000, 10, 64)                  # any work while k <= SKINNY_K
    assert not nat._skinny(2048, 8, 256) and not nat._skinny(2048, 256, 8)   # big, k >= 128
    assert not nat._skinny(448, 64, 64) and not nat._skinny(4096, 12, 1024)
    calls = []
    real = nat._matmul
    monkeypatch.setattr(nat, "_matmul", lambda a, b, k: calls.append(a.shape) or real(a, b, k))
    rng = np.random.default_rng(0)
    for (M, K, N), native in (((448, 64, 13), False), ((13, 448, 64), False), ((2048, 256, 8), True)):
        a, b = rng.random((M, K), np.float32), rng.random((N, K), np.float32).T
        calls.clear()
        np.testing.assert_allclose(nat.matmul(a, b), a @ b, rtol=1e-5)
        assert bool(calls) == native, (M, K, N)
