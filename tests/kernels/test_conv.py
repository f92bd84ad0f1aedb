"""Conv kernels: the Numba versions against the reference (im2col + matmul), and the
reference against PyTorch where it is installed.

Shapes are drawn by hypothesis: every stride/padding/dilation/groups combination,
odd sizes, channel counts from 1 to 2 x (GEMM tile of 4) + 3, and non-contiguous
inputs. float64 must agree to 1e-10; float32 must stay within 1e-5 of the float64
result relative to the size of the terms summed (|x| * |w| convolved). The float32
test also forces the multi-thread path on tiny problems (half of the examples).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import conv as nat
from minigrad.kernels.reference import conv as ref
from _kernel_cases import threshold_zero, conv_cases


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


@given(case=conv_cases(), seed=st.integers(0, 2 ** 31), contiguous=st.booleans(), bias=st.booleans())
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


@given(case=conv_cases(), seed=st.integers(0, 2 ** 31), threads=st.booleans())
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
