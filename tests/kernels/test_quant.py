"""int8 kernels: the Numba GEMM and convolution must equal the reference exactly.

The reference itself is checked against an independent definition: the float64
product of the same integers (exact: every partial sum is an integer far below 2**53)
and, for the convolution, the float64 reference convolution of ``x - zero_point``
(which pads with real zeros, the semantics the int8 kernel must reproduce by padding
with the zero point).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.backend import get_kernel
from minigrad.kernels.cpu import quant as nat
from minigrad.kernels.reference import conv as ref_conv
from minigrad.kernels.reference import quant as ref

INT8 = st.integers(-128, 127)


def _int8(rng, shape, extreme=None):
    if extreme == "min":
        return np.full(shape, -128, np.int8)
    if extreme == "max":
        return np.full(shape, 127, np.int8)
    if extreme == "ends":   # only the two ends of the range
        return rng.choice(np.array([-128, 127], np.int8), size=shape)
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def _exact(a, b_t):
    """The product in float64: exact for these sizes, and independent of the kernels."""
    return (a.astype(np.float64) @ b_t.astype(np.float64).T).astype(np.int64)


@pytest.fixture(params=["serial", "parallel"])
def native_path(request, monkeypatch):
    """Run the native kernels on the calling thread only, or force the parallel drivers
    even on tiny inputs (SMALL_WORK = 0)."""
    if request.param == "parallel":
        monkeypatch.setattr(nat, "SMALL_WORK", 0)
    else:
        monkeypatch.setattr(nat, "SMALL_WORK", 1 << 62)
    return request.param


@settings(max_examples=25)
@given(M=st.integers(1, 11), N=st.integers(1, 11), K=st.integers(1, 300),
       extreme=st.sampled_from([None, None, "min", "max", "ends"]), seed=st.integers(0, 2 ** 31))
def test_qmatmul_matches_reference_exactly(M, N, K, extreme, seed):
    rng = np.random.default_rng(seed)
    a = _int8(rng, (M, K), extreme)
    b = _int8(rng, (N, K), None if extreme is None else "ends")
    want = ref.qmatmul_int8(a, b)
    assert want.dtype == np.int32 and want.shape == (M, N)
    np.testing.assert_array_equal(want.astype(np.int64), _exact(a, b))
    for small in (1 << 62, 0):          # serial driver, then the parallel one
        nat_small, nat.SMALL_WORK = nat.SMALL_WORK, small
        try:
            got = nat.qmatmul_int8(a, b)
        finally:
            nat.SMALL_WORK = nat_small
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(64, 64, 64), (67, 130, 129), (130, 67, 2100), (1, 200, 4500)])
def test_qmatmul_bigger_than_one_block(shape, native_path):
    """Sizes that span several tasks and k-blocks (KC = 2048), with ragged edges."""
    M, N, K = shape
    rng = np.random.default_rng(M * N + K)
    a, b = _int8(rng, (M, K)), _int8(rng, (N, K))
    np.testing.assert_array_equal(nat.qmatmul_int8(a, b), ref.qmatmul_int8(a, b))


def test_qmatmul_longest_exact_row():
    """K = MAX_K with every product (-128)(-128): the largest sum that still fits int32."""
    a = np.full((1, ref.MAX_K), -128, np.int8)
    want = ref.MAX_K * 128 * 128
    assert want < 2 ** 31
    assert ref.qmatmul_int8(a, a)[0, 0] == want
    assert nat.qmatmul_int8(a, a)[0, 0] == want


@pytest.mark.parametrize("kernel", [ref.qmatmul_int8, nat.qmatmul_int8])
def test_qmatmul_errors(kernel):
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(ValueError, match=r"qmatmul_int8: shapes \(2, 3\) and \(4, 5\)"):
        kernel(a, np.zeros((4, 5), np.int8))
    with pytest.raises(TypeError, match="qmatmul_int8: b_t must be int8"):
        kernel(a, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        kernel(a[0], a)
    too_long = np.zeros((1, ref.MAX_K + 1), np.int8)
    with pytest.raises(ValueError, match="too long for exact int32"):
        kernel(too_long, too_long)


@pytest.mark.parametrize("kernel", [ref.qmatmul_int8, nat.qmatmul_int8])
def test_qmatmul_empty_dims(kernel):
    assert kernel(np.zeros((0, 3), np.int8), np.zeros((2, 3), np.int8)).shape == (0, 2)
    out = kernel(np.zeros((2, 0), np.int8), np.zeros((3, 0), np.int8))
    assert out.shape == (2, 3) and out.dtype == np.int32 and not out.any()


def test_qmatmul_non_contiguous_operands():
    rng = np.random.default_rng(0)
    a = _int8(rng, (9, 40))[:, ::2]          # strided columns
    b = _int8(rng, (20, 7)).T                # a transposed view
    np.testing.assert_array_equal(nat.qmatmul_int8(a, b), _exact(a, b))


conv_cases = st.fixed_dictionaries({
    "N": st.integers(1, 3), "G": st.integers(1, 2), "Cg": st.integers(1, 3), "Cog": st.integers(1, 5),
    "H": st.integers(1, 7), "W": st.integers(1, 7), "kH": st.integers(1, 3), "kW": st.integers(1, 3),
    "sh": st.integers(1, 2), "sw": st.integers(1, 3), "ph": st.integers(0, 2), "pw": st.integers(0, 2),
    "dh": st.integers(1, 2), "dw": st.integers(1, 2), "zp": INT8, "seed": st.integers(0, 2 ** 31),
    "extreme": st.sampled_from([None, None, "ends"]),
})


@settings(max_examples=25)
@given(conv_cases)
def test_qconv2d_matches_reference_and_definition(c):
    kH, kW = c["kH"], c["kW"]
    if c["H"] + 2 * c["ph"] < c["dh"] * (kH - 1) + 1 or c["W"] + 2 * c["pw"] < c["dw"] * (kW - 1) + 1:
        kH = kW = 1  # keep the output non-empty
    rng = np.random.default_rng(c["seed"])
    G = c["G"]
    x = _int8(rng, (c["N"], G * c["Cg"], c["H"], c["W"]), c["extreme"])
    w = _int8(rng, (G * c["Cog"], c["Cg"], kH, kW), c["extreme"])
    conf = ((c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"]), G)
    want = ref.qconv2d_int8(x, w, c["zp"], *conf)
    # the definition: a float64 convolution of the real-valued codes x - zp, zero padded
    exact = ref_conv.conv2d_forward(x.astype(np.float64) - c["zp"], w.astype(np.float64), None, *conf)
    assert want.dtype == np.int32
    np.testing.assert_array_equal(want.astype(np.int64), np.rint(exact).astype(np.int64))
    for small in (1 << 62, 0):
        nat_small, nat.SMALL_WORK = nat.SMALL_WORK, small
        try:
            got = nat.qconv2d_int8(x, w, c["zp"], *conf)
        finally:
            nat.SMALL_WORK = nat_small
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("x_shape, w_shape, groups", [
    ((5, 32, 14, 14), (64, 32, 3, 3), 1),   # the seed CNN's second convolution (K = 288: dot path)
    ((3, 1, 28, 28), (32, 1, 3, 3), 1),     # its first one (K = 9: axpy path)
    ((2, 16, 9, 7), (14, 8, 3, 3), 2),      # K = 72 per group, 7 output channels per group
    ((2, 4, 6, 5), (6, 4, 2, 2), 1),        # K = 16, ragged output channels
])
def test_qconv2d_layer_shapes(x_shape, w_shape, groups, native_path):
    rng = np.random.default_rng(3)
    x, w = _int8(rng, x_shape), _int8(rng, w_shape)
    conf = ((1, 1), (1, 1), (1, 1), groups)
    np.testing.assert_array_equal(nat.qconv2d_int8(x, w, -128, *conf), ref.qconv2d_int8(x, w, -128, *conf))
    np.testing.assert_array_equal(nat.qconv2d_int8(x, w, 37, *conf), ref.qconv2d_int8(x, w, 37, *conf))


@pytest.mark.parametrize("kernel", [ref.qconv2d_int8, nat.qconv2d_int8])
def test_qconv2d_errors(kernel):
    x = np.zeros((1, 2, 5, 5), np.int8)
    w = np.zeros((3, 2, 3, 3), np.int8)
    conf = ((1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(TypeError, match="qconv2d_int8: x must be int8"):
        kernel(x.astype(np.float32), w, 0, *conf)
    with pytest.raises(ValueError, match="x_zero_point"):
        kernel(x, w, 200, *conf)
    with pytest.raises(ValueError, match="channels"):
        kernel(x, np.zeros((3, 4, 3, 3), np.int8), 0, *conf)


def _unwrapped(fn):
    """The kernel behind the registry's entry check (kernels/_contracts.checked)."""
    import inspect

    return inspect.unwrap(fn)  # through every wrapper (entry check, compile notice)


def test_registry_and_preferred():
    assert _unwrapped(get_kernel("qmatmul_int8")) is nat.qmatmul_int8
    assert _unwrapped(get_kernel("qconv2d_int8")) is nat.qconv2d_int8
    with minigrad.kernels.use("reference"):
        assert _unwrapped(get_kernel("qmatmul_int8")) is ref.qmatmul_int8
        assert _unwrapped(get_kernel("qconv2d_int8")) is ref.qconv2d_int8
    assert set(nat.PREFERRED) == set(nat.KERNELS) == set(ref.KERNELS)
    nat.warmup()  # runs without error once compiled


# ----------------------------------------------------------------------------- whole int8 layers
# qconv2d_float / qlinear_float: quantize, the int8 product and the way back to float32 in
# one call. The native kernels run on AVX-512 VNNI where the CPU has it, and otherwise
# through the int8 kernels above: both must equal the reference bit for bit.

from minigrad.kernels.cpu import _qlayers, _simd  # noqa: E402

_PATHS = ["vnni", "avx2", "portable"]


def _runs_here(path):
    return path == "portable" or (path == "vnni" and _simd.has_vnni()) or (path == "avx2" and _simd.has_avx2())


@pytest.fixture(params=_PATHS)
def layer_path(request, monkeypatch):
    """The native whole-layer kernels on one SIMD path (skipped where the CPU lacks it)."""
    if not _runs_here(request.param):
        pytest.skip(f"the CPU Numba compiles for cannot run the {request.param} path")
    monkeypatch.setattr(_qlayers, "path", lambda: request.param)
    return request.param


def _on_every_path(call, want):
    """call() on every path this CPU runs, serial and parallel drivers: == want exactly."""
    saved = _qlayers.path, _qlayers.SMALL_WORK
    try:
        for path in _PATHS:
            if not _runs_here(path):
                continue
            _qlayers.path = lambda path=path: path
            for small in (1 << 62, 0):
                _qlayers.SMALL_WORK = small
                np.testing.assert_array_equal(call(), want, err_msg=f"{path} path, SMALL_WORK={small}")
    finally:
        _qlayers.path, _qlayers.SMALL_WORK = saved


def _floats(rng, shape, special):
    x = (rng.standard_normal(shape) * rng.choice([0.3, 3.0, 40.0])).astype(np.float32)
    if special and x.size:
        flat = x.reshape(-1)
        picks = rng.integers(0, flat.size, size=min(3, flat.size))
        flat[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e30, -0.0], np.float32), size=picks.size)
    return x


def _layer_args(rng, n_out, bias):
    scale = (rng.random(n_out) * 0.02 + 1e-4).astype(np.float32)
    b = (rng.standard_normal(n_out) * 2).astype(np.float32) if bias else None
    if b is not None and n_out > 2 and rng.random() < 0.2:
        b[1] = np.nan                           # NaN in a bias reaches the output, through the ReLU too
    return scale, b


@settings(max_examples=40, deadline=None)
@given(c=conv_cases, relu=st.booleans(), bias=st.booleans(), special=st.booleans(),
       x_scale=st.sampled_from([0.01, 0.05, 0.37]))
def test_qconv2d_float_matches_reference(c, relu, bias, special, x_scale):
    kH, kW = c["kH"], c["kW"]
    if c["H"] + 2 * c["ph"] < c["dh"] * (kH - 1) + 1 or c["W"] + 2 * c["pw"] < c["dw"] * (kW - 1) + 1:
        kH = kW = 1
    rng = np.random.default_rng(c["seed"])
    G = c["G"]
    x = _floats(rng, (c["N"], G * c["Cg"], c["H"], c["W"]), special)
    w = _int8(rng, (G * c["Cog"], c["Cg"], kH, kW), c["extreme"])
    scale, b = _layer_args(rng, w.shape[0], bias)
    args = (x, x_scale, c["zp"], w, scale, b, (c["sh"], c["sw"]), (c["ph"], c["pw"]), (c["dh"], c["dw"]), G, relu)
    want = ref.qconv2d_float(*args)
    assert want.dtype == np.float32
    _on_every_path(lambda: nat.qconv2d_float(*args), want)


def test_qconv2d_float_reference_is_the_layer_arithmetic():
    """The reference is quantize -> qconv2d_int8 -> float32(acc) * scale + bias -> ReLU."""
    rng = np.random.default_rng(5)
    x = _floats(rng, (2, 3, 6, 5), False)
    w = _int8(rng, (4, 3, 3, 3))
    scale, b = _layer_args(rng, 4, True)
    conf = ((1, 1), (1, 1), (1, 1), 1)
    xq = np.clip(np.rint(x / np.float32(0.05)) + np.float32(3), -128, 127).astype(np.int8)
    acc = ref.qconv2d_int8(xq, w, 3, *conf)
    want = np.maximum(acc.astype(np.float32) * scale[:, None, None] + b[:, None, None], np.float32(0))
    np.testing.assert_array_equal(ref.qconv2d_float(x, 0.05, 3, w, scale, b, *conf, True), want)


@pytest.mark.parametrize("x_shape, w_shape, groups, stride", [
    ((64, 1, 28, 28), (32, 1, 3, 3), 1, 1),     # the seed CNN's first convolution (K = 9)
    ((9, 32, 14, 14), (64, 32, 3, 3), 1, 1),    # its second (K = 288)
    ((3, 16, 11, 9), (12, 4, 3, 3), 4, 2),      # grouped, strided: the row-by-row im2col
    ((2, 5, 7, 33), (17, 5, 1, 5), 1, 1),       # a row wider than a tile of 32 columns
])
def test_qconv2d_float_layer_shapes(x_shape, w_shape, groups, stride, layer_path, monkeypatch):
    rng = np.random.default_rng(11)
    x = _floats(rng, x_shape, True)
    w = _int8(rng, w_shape)
    scale, b = _layer_args(rng, w_shape[0], True)
    args = (x, 0.03, -7, w, scale, b, (stride, stride), (1, 2), (1, 1), groups, True)
    want = ref.qconv2d_float(*args)
    for small in (1 << 62, 0):           # serial, then the parallel driver
        monkeypatch.setattr(_qlayers, "SMALL_WORK", small)
        np.testing.assert_array_equal(nat.qconv2d_float(*args), want)


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 70), K=st.integers(1, 300), N=st.integers(1, 40), zp=INT8, relu=st.booleans(),
       bias=st.booleans(), special=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_qlinear_float_matches_reference(M, K, N, zp, relu, bias, special, seed):
    rng = np.random.default_rng(seed)
    x = _floats(rng, (M, K), special)
    w = _int8(rng, (N, K))
    scale, b = _layer_args(rng, N, bias)
    args = (x, 0.04, zp, w, scale, b, relu)
    _on_every_path(lambda: nat.qlinear_float(*args), ref.qlinear_float(*args))


def test_qlinear_float_seed_cnn_head(layer_path):
    rng = np.random.default_rng(2)
    x = _floats(rng, (64, 3136), False)
    w = _int8(rng, (128, 3136))
    scale, b = _layer_args(rng, 128, True)
    for relu in (False, True):
        args = (x, 0.02, -128, w, scale, b, relu)
        np.testing.assert_array_equal(nat.qlinear_float(*args), ref.qlinear_float(*args))


@pytest.mark.parametrize("kernel", [ref.qlinear_float, nat.qlinear_float])
def test_qlinear_float_errors(kernel):
    x = np.zeros((2, 5), np.float32)
    w = np.zeros((3, 5), np.int8)
    s = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="qlinear_float: x must be float32"):
        kernel(x.astype(np.float64), 0.1, 0, w, s, None, False)
    with pytest.raises(ValueError, match="qlinear_float: out_scale must be float32 of shape"):
        kernel(x, 0.1, 0, w, np.ones(4, np.float32), None, False)
    with pytest.raises(ValueError, match="qlinear_float: bias"):
        kernel(x, 0.1, 0, w, s, np.ones(3), False)
    with pytest.raises(ValueError, match="qlinear_float: expects 2-D"):
        kernel(x[0], 0.1, 0, w, s, None, False)
    with pytest.raises(ValueError, match="cannot be"):
        kernel(np.zeros((2, 4), np.float32), 0.1, 0, w, s, None, False)


@pytest.mark.parametrize("kernel", [ref.qconv2d_float, nat.qconv2d_float])
def test_qconv2d_float_errors(kernel):
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.int8)
    s = np.ones(3, np.float32)
    conf = ((1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(TypeError, match="qconv2d_float: x must be float32"):
        kernel(x.astype(np.float64), 0.1, 0, w, s, None, *conf, False)
    with pytest.raises(ValueError, match="qconv2d_float: out_scale"):
        kernel(x, 0.1, 0, w, s[:2], None, *conf, False)
    with pytest.raises(ValueError, match="x_zero_point"):
        kernel(x, 0.1, 300, w, s, None, *conf, False)
    with pytest.raises(ValueError, match="channels"):
        kernel(x, 0.1, 0, np.zeros((3, 4, 3, 3), np.int8), s, None, *conf, False)


def test_simd_paths_follow_numba_target(monkeypatch):
    from numba.core import config

    monkeypatch.setattr(config, "CPU_FEATURES", "+avx512f,+avx512bw,+avx512vl,+avx512vnni")
    assert _simd.has_vnni()
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,-avx512f,-avx512vnni")
    assert not _simd.has_vnni()
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    monkeypatch.setattr(config, "CPU_NAME", "haswell")
    assert not _simd.has_vnni()                     # a named target: only explicit features count
    assert not _simd.has_avx2()
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,-avx512f,-avx512vnni")
    assert _simd.has_avx2() and _qlayers.path() == "avx2"
    monkeypatch.setattr(config, "CPU_FEATURES", "+neon")
    assert _qlayers.path() == "portable"
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx512f,+avx512bw,+avx512vl,+avx512vnni,+avx2")
    assert _qlayers.path() == "vnni"
    monkeypatch.setenv("MINIGRAD_INT8_VNNI", "0")
    assert not _simd.has_vnni() and _qlayers.path() == "avx2"
    monkeypatch.setenv("MINIGRAD_INT8_AVX2", "0")
    assert _qlayers.path() == "portable"


@pytest.mark.parametrize("path, instructions", [("vnni", ("vpdpbusd",)),
                                                 ("avx2", ("vpmaddwd", "vpdpwssd"))])   # LLVM fuses the add on VNNI CPUs
def test_simd_kernels_use_their_instruction_and_masked_stores(path, instructions):
    """The point of the SIMD paths: the GEMM compiles to vpdpbusd / vpmaddwd, the epilogue
    to masked vector stores (in a fresh interpreter with its own cache: cached code
    cannot be inspected)."""
    import os
    import subprocess
    import sys
    import tempfile

    if not _runs_here(path):
        pytest.skip(f"the CPU Numba compiles for cannot run the {path} path")
    gemm = f"_{path}_gemm"
    code = ("import numpy as np; from minigrad.kernels.cpu import _qlayers as q\n"
            f"q.path = lambda: {path!r}\n"
            "x = np.ones((2, 3, 6, 6), np.float32); w = np.ones((5, 3, 3, 3), np.int8); s = np.ones(5, np.float32)\n"
            "q.qconv2d_float(x, 0.1, 0, w, s, None, (1, 1), (1, 1), (1, 1), 1, True)\n"
            f"asm = ''.join(q.{gemm}.inspect_asm(sig) for sig in q.{gemm}.signatures)\n"
            f"print(sum(asm.count(i) for i in {instructions!r}), asm.count('vmaskmovps') + asm.count('{{%k'))\n")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, MINIGRAD_QUIET="1")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    n_op, n_masked = map(int, out.stdout.split()[-2:])
    assert n_op >= 12 and n_masked >= 2, out.stdout


def test_packed_weights_are_kept_in_the_callers_dict(layer_path):
    rng = np.random.default_rng(8)
    x = _floats(rng, (6, 40), False)
    w = _int8(rng, (9, 40))
    scale, b = _layer_args(rng, 9, True)
    packed = {}
    want = ref.qlinear_float(x, 0.05, 3, w, scale, b, True)
    np.testing.assert_array_equal(nat.qlinear_float(x, 0.05, 3, w, scale, b, True, packed), want)
    assert len(packed) == 1
    kept = {k: tuple(id(a) for a in v) for k, v in packed.items()}
    np.testing.assert_array_equal(nat.qlinear_float(x, 0.05, 3, w, scale, b, True, packed), want)
    assert {k: tuple(id(a) for a in v) for k, v in packed.items()} == kept      # reused, not rebuilt
    xc = _floats(rng, (2, 4, 6, 6), False)
    wc = _int8(rng, (5, 4, 3, 3))
    sc, bc = _layer_args(rng, 5, False)
    conv_packed = {}
    for _ in range(2):
        np.testing.assert_array_equal(
            nat.qconv2d_float(xc, 0.05, 3, wc, sc, bc, (1, 1), (1, 1), (1, 1), 1, False, conv_packed),
            ref.qconv2d_float(xc, 0.05, 3, wc, sc, bc, (1, 1), (1, 1), (1, 1), 1, False))
    assert len(conv_packed) == (0 if layer_path == "portable" else 1)
