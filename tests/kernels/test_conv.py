"""Conv kernels: the Numba versions against the reference (im2col + matmul), and the
reference against PyTorch where it is installed.

Shapes are drawn by hypothesis: every stride/padding/dilation/groups combination,
odd sizes, channel counts from 1 to 2 x (GEMM tile of 4) + 3, and non-contiguous
inputs. float64 must agree to 1e-10; float32 must stay within 1e-5 of the float64
result relative to the size of the terms summed (|x| * |w| convolved). The float32
test also forces the multi-thread path on tiny problems (half of the examples).
A second strategy draws wide layers (up to 40 channels per group): several vectors of
channels per register tile, whole 8 x 8 transpose blocks, and the input gradient as a
flipped convolution (stride 1, at least half a vector of input channels per group).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import conv as nat
from minigrad.kernels.reference import conv as ref
from _kernel_cases import threshold_zero, conv_cases


@st.composite
def wide_conv_cases(draw):
    """(x_shape, w_shape, stride, padding, dilation, groups) of layers with many channels:
    up to 40 per group (two and a half vectors of float32), stride 1 in half the draws."""
    groups = draw(st.integers(1, 2))
    cin_g, cout_g = draw(st.integers(1, 20)), draw(st.integers(1, 40))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h, w = draw(st.integers(min_h, min_h + 9)), draw(st.integers(min_w, min_w + 9))
    n = draw(st.integers(1, 3))
    return (n, groups * cin_g, h, w), (groups * cout_g, cin_g, kh, kw), stride, padding, dilation, groups


def _array(rng, shape, dtype=np.float64, contiguous=True):
    """Random values in [-1, 1]; a non-contiguous view when ``contiguous`` is False."""
    if contiguous:
        return rng.uniform(-1, 1, shape).astype(dtype)
    big = rng.uniform(-1, 1, shape[:-1] + (2 * shape[-1],)).astype(dtype)
    return big[..., ::2]          # every other column: same values layout, strided memory


def parallel(on):
    """Force the multi-thread path even for tiny problems (``on``), or leave the default."""
    return threshold_zero(nat, "PARALLEL_MIN_FLOPS", on)


def _grads(mod, x, w, b, gy, conf):
    return (mod.conv2d_forward(x, w, b, *conf),
            mod.conv2d_grad_input(gy, w, x.shape, *conf),
            mod.conv2d_grad_weight(gy, x, w.shape, *conf),
            mod.conv2d_grad_bias(gy))


@given(case=conv_cases() | wide_conv_cases(), seed=st.integers(0, 2 ** 31), contiguous=st.booleans(),
       bias=st.booleans())
def test_native_matches_reference_float64(case, seed, contiguous, bias):
    x_shape, w_shape, *conf = case
    rng = np.random.default_rng(seed)
    x = _array(rng, x_shape, contiguous=contiguous)
    w = _array(rng, w_shape, contiguous=contiguous)
    b = rng.uniform(-1, 1, w_shape[0]) if bias else None
    y = ref.conv2d_forward(x, w, b, *conf)
    gy = _array(rng, y.shape, contiguous=contiguous)
    got = _grads(nat, x, w, b, gy, conf)
    for name, r, n in zip(("forward", "grad_input", "grad_weight", "grad_bias"),
                          _grads(ref, x, w, b, gy, conf), got):
        assert n.shape == r.shape and n.dtype == r.dtype, name
        np.testing.assert_allclose(n, r, rtol=0, atol=1e-10, err_msg=f"{name} {case}")


@given(case=conv_cases() | wide_conv_cases(), seed=st.integers(0, 2 ** 31), threads=st.booleans())
def test_native_float32_within_1e5_of_float64(case, seed, threads):
    x_shape, w_shape, *conf = case
    rng = np.random.default_rng(seed)
    x32 = _array(rng, x_shape, np.float32)
    w32 = _array(rng, w_shape, np.float32)
    b32 = _array(rng, w_shape[:1], np.float32)
    y64 = ref.conv2d_forward(x32.astype(np.float64), w32.astype(np.float64), b32.astype(np.float64), *conf)
    gy32 = _array(rng, y64.shape, np.float32)
    exact = _grads(ref, x32.astype(np.float64), w32.astype(np.float64), b32.astype(np.float64),
                   gy32.astype(np.float64), conf)
    # the size of the terms each result sums: the same computation on absolute values
    scale = _grads(ref, np.abs(x32).astype(np.float64), np.abs(w32).astype(np.float64),
                   np.abs(b32).astype(np.float64), np.abs(gy32).astype(np.float64), conf)
    with parallel(threads):
        got = _grads(nat, x32, w32, b32, gy32, conf)
    for name, g, e, s in zip(("forward", "grad_input", "grad_weight", "grad_bias"), got, exact, scale):
        assert g.dtype == np.float32, name
        err = np.abs(g.astype(np.float64) - e)
        assert np.all(err <= 1e-5 * s + 1e-30), f"{name} {case}: worst {np.max(err / (s + 1e-30)):.2e}"


@given(case=conv_cases(), seed=st.integers(0, 2 ** 31))
def test_unfold_fold_native_matches_reference(case, seed):
    x_shape, w_shape, stride, padding, dilation, _ = case
    rng = np.random.default_rng(seed)
    x = _array(rng, x_shape, contiguous=bool(seed % 2))
    k = w_shape[2:]
    cols = ref.unfold(x, k, stride, padding, dilation)
    np.testing.assert_array_equal(nat.unfold(x, k, stride, padding, dilation), cols)
    g = rng.uniform(-1, 1, cols.shape)
    np.testing.assert_allclose(nat.fold(g, x_shape[2:], k, stride, padding, dilation),
                               ref.fold(g, x_shape[2:], k, stride, padding, dilation), rtol=0, atol=1e-12)


@given(rows=st.integers(1, 40), cols=st.integers(1, 40), pad=st.integers(0, 9), dtype=st.sampled_from(["f4", "f8"]))
def test_transpose_into_matches_numpy(rows, cols, pad, dtype):
    """The register-block transpose (whole 8 x 8 / 4 x 4 blocks, element by element at
    the edges) between rows of any stride and offset."""
    rng = np.random.default_rng(rows * 41 + cols)
    src = rng.standard_normal(3 + rows * (cols + pad)).astype(dtype)
    dst = np.full(5 + cols * (rows + pad), np.nan, dtype=dtype)
    nat._transpose_into(src, 3, cols + pad, rows, cols, dst, 5, rows + pad)
    want = src[3:].reshape(rows, cols + pad)[:, :cols].T
    np.testing.assert_array_equal(dst[5:].reshape(cols, rows + pad)[:, :rows], want)
    assert np.isnan(dst[:5]).all() and np.isnan(dst[5:].reshape(cols, rows + pad)[:, rows:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flipped_and_col2im_input_gradients_agree(dtype):
    """A stride-1 layer whose input gradient takes the flipped-convolution path, against
    the col2im path and the reference."""
    rng = np.random.default_rng(4)
    x_shape, w = (3, 18, 7, 6), rng.standard_normal((20, 9, 3, 2)).astype(dtype)
    conf = ((1, 1), (1, 0), (1, 2), 2)
    gy = rng.standard_normal((3, 20, 7, 4)).astype(dtype)
    assert nat._flipped_pays(1, 1, 1, 2, 9, w.itemsize)
    geo = nat._geometry(3, 2, *conf[:3], 7, 4)
    got = nat.conv2d_grad_input(gy, w, x_shape, *conf)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, ref.conv2d_grad_input(gy, w, x_shape, *conf), rtol=tol, atol=tol)
    np.testing.assert_allclose(got, nat._col2im_grad_input(gy, w, geo, *x_shape, 2), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_values_propagate_as_in_the_reference(dtype):
    """inf and NaN in x, w or gy give NaN/inf exactly where the reference kernels give them
    (an inf weight must not meet the zeros around a padded gradient: no extra NaNs)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 16, 6, 5)).astype(dtype)
    w = rng.standard_normal((17, 16, 3, 3)).astype(dtype)
    gy = rng.standard_normal((2, 17, 6, 5)).astype(dtype)
    conf = ((1, 1), (1, 1), (1, 1), 1)
    x[0, 3, 0, 0], x[1, 5, 2, 4], w[2, 7, 0, 2], w[9, 1, 1, 1], gy[1, 4, 5, 0] = np.inf, np.nan, np.inf, -np.inf, np.inf
    with np.errstate(invalid="ignore"):
        for name, got, want in zip(("forward", "grad_input", "grad_weight"),
                                   _grads(nat, x, w, None, gy, conf)[:3], _grads(ref, x, w, None, gy, conf)[:3]):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
            np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=name)
            assert np.isnan(got).any() or np.isinf(got).any(), name


def test_unfold_then_matmul_is_conv():
    """The identity the whole design rests on: conv = weights @ im2col."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    conf = ((2, 1), (1, 0), (1, 2))
    y = ref.conv2d_forward(x, w, None, *conf, 1)
    cols = ref.unfold(x, (3, 2), *conf)
    np.testing.assert_allclose((w.reshape(4, -1) @ cols).reshape(y.shape), y, atol=1e-12)


def test_adjoint_identities():
    """<gy, conv(x, w)> = <grad_input(gy, w), x> = <grad_weight(gy, x), w> for both kernel sets."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 9, 7)), rng.standard_normal((6, 2, 3, 3))
    conf = ((2, 1), (1, 2), (1, 2), 2)
    for mod in (ref, nat):
        y = mod.conv2d_forward(x, w, None, *conf)
        gy = rng.standard_normal(y.shape)
        a = np.sum(gy * y)
        assert np.isclose(a, np.sum(mod.conv2d_grad_input(gy, w, x.shape, *conf) * x))
        assert np.isclose(a, np.sum(mod.conv2d_grad_weight(gy, x, w.shape, *conf) * w))


def test_batch_larger_than_threads_and_big_layer():
    """A layer big enough for the multi-thread path (batch split, tiles with remainders)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 5, 14, 13)).astype(np.float32)
    w = rng.standard_normal((23, 5, 3, 3)).astype(np.float32)
    b = rng.standard_normal(23).astype(np.float32)
    assert 2 * 9 * 23 * 45 * 14 * 13 > nat.PARALLEL_MIN_FLOPS
    conf = ((1, 1), (1, 1), (1, 1), 1)
    y = nat.conv2d_forward(x, w, b, *conf)
    np.testing.assert_allclose(y, ref.conv2d_forward(x, w, b, *conf), rtol=1e-4, atol=1e-4)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(nat.conv2d_grad_weight(gy, x, w.shape, *conf),
                               ref.conv2d_grad_weight(gy, x, w.shape, *conf), rtol=1e-4, atol=1e-3)


def test_other_dtypes_fall_back_to_reference():
    x = np.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    w = np.ones((2, 1, 2, 2), dtype=np.int64)
    conf = ((1, 1), (0, 0), (1, 1), 1)
    np.testing.assert_array_equal(nat.conv2d_forward(x, w, None, *conf), ref.conv2d_forward(x, w, None, *conf))
    x16 = x.astype(np.float16)
    assert nat.conv2d_forward(x16, w.astype(np.float16), None, *conf).dtype == np.float16


@pytest.mark.parametrize("mod", [ref, nat], ids=["reference", "native"])
def test_shape_errors_name_the_kernel_and_shapes(mod):
    x = np.zeros((1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d_forward: input has 3 channels but weight .* expects 4"):
        mod.conv2d_forward(x, np.zeros((2, 4, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        mod.conv2d_forward(x, np.zeros((2, 3, 3, 3)), None, (1, 1), (0, 0), (3, 3), 1)
    with pytest.raises(ValueError, match="groups=2"):
        mod.conv2d_forward(x, np.zeros((2, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="conv2d_grad_input: gradient shape"):
        mod.conv2d_grad_input(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3)), x.shape, (1, 1), (0, 0), (1, 1), 1)


def test_empty_batch():
    x = np.zeros((0, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    y = nat.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    assert y.shape == (0, 3, 5, 5)
    assert nat.conv2d_grad_weight(y, x, w.shape, (1, 1), (1, 1), (1, 1), 1).sum() == 0


def test_tables_and_warmup():
    assert set(nat.PREFERRED) == set(nat.KERNELS)
    assert set(nat.KERNELS) == set(ref.KERNELS)
    assert all(v in ("native", "reference") for v in nat.PREFERRED.values())
    nat.warmup()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@settings(max_examples=25)
@given(case=conv_cases(), seed=st.integers(0, 2 ** 31))
def test_reference_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    conf = (stride, padding, dilation, groups)
    got = _grads(ref, x, w, b, gy, conf)
    want = (ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())
    for name, g, t in zip(("forward", "grad_input", "grad_weight", "grad_bias"), got, want):
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.oracle
def test_reference_unfold_fold_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = ref.unfold(x, (3, 2), (2, 1), (1, 1), (1, 2))
    t = torch.nn.functional.unfold(torch.tensor(x), (3, 2), dilation=(1, 2), padding=(1, 1), stride=(2, 1))
    np.testing.assert_allclose(cols, t.numpy(), atol=1e-12)
    back = ref.fold(cols, (7, 6), (3, 2), (2, 1), (1, 1), (1, 2))
    tb = torch.nn.functional.fold(t, (7, 6), (3, 2), dilation=(1, 2), padding=(1, 1), stride=(2, 1))
    np.testing.assert_allclose(back, tb.numpy(), atol=1e-12)
