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
