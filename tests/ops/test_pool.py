"""max_pool2d/1d, avg_pool2d/1d, adaptive_avg_pool2d: gradcheck in float64 on
hypothesis-drawn configurations under both kernel sets, second derivatives,
argument handling and errors, and PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minigrad as mg
import minigrad.kernels  # noqa: F401
import minigrad.nn.functional as F
from minigrad.ops.pool import adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from strategies import distinct_arrays, tensor
from _ops_helpers import check_zero_size, MODES
from _kernel_cases import pool_cases


def pool_configs(max_side=7):
    """The kernel tests' pooling cases at the op tests' smaller sizes (kernel sides up to 3,
    dilations up to 2, batch and channels up to 2), as (x shape, the pooling keywords,
    dilation). The tests draw count_include_pad themselves."""
    def as_config(case):
        shape, k, s, p, d, ceil_mode, _ = case
        return shape, dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode), d
    return pool_cases(max_side=max_side, max_kernel=3, max_dilation=2, max_nc=2).map(as_config)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=15)
@given(cfg=pool_configs(), data=st.data())
def test_max_pool2d_gradcheck(mode, cfg, data):
    shape, kw, d = cfg
    x = tensor(data.draw(distinct_arrays(shape)))        # no ties: the argmax is stable under eps
    with mg.kernels.use(mode):
        _, ind = max_pool2d(x, dilation=d, return_indices=True, **kw)
        assume(bool((ind.array >= 0).all()))            # a padding-only window outputs -inf
        mg.gradcheck(lambda x: max_pool2d(x, dilation=d, **kw), (x,))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=15)
@given(cfg=pool_configs(), include_pad=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_avg_pool2d_gradcheck(mode, cfg, include_pad, seed):
    shape, kw, _ = cfg
    x = tensor(np.random.default_rng(seed).uniform(-1, 1, shape))
    with mg.kernels.use(mode):
        mg.gradcheck(lambda x: avg_pool2d(x, count_include_pad=include_pad, **kw), (x,))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=10)
@given(n=st.integers(1, 2), c=st.integers(1, 2), length=st.integers(3, 10), k=st.integers(1, 3),
       s=st.integers(1, 3), ceil_mode=st.booleans(), data=st.data())
def test_pool1d_gradcheck(mode, n, c, length, k, s, ceil_mode, data):
    p = data.draw(st.integers(0, k // 2))
    x = tensor(data.draw(distinct_arrays((n, c, length))))
    with mg.kernels.use(mode):
        mg.gradcheck(lambda x: max_pool1d(x, k, s, p, ceil_mode=ceil_mode), (x,))
        mg.gradcheck(lambda x: avg_pool1d(x, k, s, p, ceil_mode=ceil_mode), (x,))


@pytest.mark.slow  # two matmul kernel calls per gradcheck probe
@settings(max_examples=10)
@given(h=st.integers(1, 6), w=st.integers(1, 6), oh=st.integers(1, 4), ow=st.integers(1, 4),
       seed=st.integers(0, 2 ** 31))
def test_adaptive_avg_pool2d_gradcheck(h, w, oh, ow, seed):
    x = tensor(np.random.default_rng(seed).uniform(-1, 1, (1, 2, h, w)))
    mg.gradcheck(lambda x: adaptive_avg_pool2d(x, (oh, ow)), (x,))


@pytest.mark.parametrize("mode", MODES)
def test_second_derivatives(mode):
    rng = np.random.default_rng(0)
    x = tensor(rng.permutation(np.linspace(-2, 2, 2 * 2 * 5 * 6)).reshape(2, 2, 5, 6))
    with mg.kernels.use(mode):
        mg.gradgradcheck(lambda x: max_pool2d(x, 3, 2, 1) ** 2, (x,))
        mg.gradgradcheck(lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True) ** 2, (x,))


def test_return_indices_defaults_and_unbatched():
    x = mg.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    y, ind = max_pool2d(x, 2, return_indices=True)                 # stride defaults to kernel
    np.testing.assert_array_equal(y.array[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(ind.array[0, 0], [[5, 7], [13, 15]])
    assert ind.dtype == np.int64
    assert max_pool2d(x[0], 2).shape == (1, 2, 2)
    assert avg_pool2d(x[0], 2).shape == (1, 2, 2)
    assert max_pool1d(mg.zeros(3, 8), 2).shape == (3, 4)
    y1, i1 = max_pool1d(mg.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]), 2, return_indices=True)
    np.testing.assert_array_equal(i1.array, [[[1, 2]]])
    np.testing.assert_allclose(avg_pool1d(mg.tensor([[1.0, 3.0, 2.0, 6.0]]), 2).array, [[2.0, 4.0]])
    np.testing.assert_allclose(adaptive_avg_pool2d(x, 1).array, [[[[7.5]]]])
    assert adaptive_avg_pool2d(x, (None, 2)).shape == (1, 1, 4, 2)
    assert max_pool2d(x.float(), 2).dtype == mg.float32


def test_gradient_goes_to_the_max_and_adds_up():
    x = mg.tensor([[[[1.0, 9.0, 2.0], [3.0, 4.0, 5.0]]]], requires_grad=True)
    max_pool2d(x, 2, stride=1).sum().backward()        # 9 wins both windows
    np.testing.assert_array_equal(x.grad.array, [[[[0, 2, 0], [0, 0, 0]]]])


def test_errors_name_the_op():
    x = mg.zeros(1, 1, 5, 5)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="avg_pool2d: input of spatial size"):
        avg_pool2d(x, 6)
    with pytest.raises(ValueError, match="max_pool2d: expected a 3-D or 4-D"):
        max_pool2d(mg.zeros(5, 5), 2)
    with pytest.raises(ValueError, match="max_pool1d: expected a 2-D or 3-D"):
        max_pool1d(x, 2)
    with pytest.raises(TypeError, match="max_pool2d: kernel_size must be an int or a tuple of 2 ints"):
        max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="max_pool2d: stride must be >= 1"):
        max_pool2d(x, 2, stride=0)
    with pytest.raises(TypeError, match="avg_pool2d: needs a floating-point input"):
        avg_pool2d(mg.zeros(1, 1, 4, 4, dtype=mg.int64), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be >= 1"):
        adaptive_avg_pool2d(x, 0)


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=20)
@given(cfg=pool_configs(max_side=10), include_pad=st.booleans(), seed=st.integers(0, 2 ** 31),
       ties=st.booleans())
def test_pooling_matches_torch(mode, cfg, include_pad, seed, ties):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, kw, d = cfg
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape)
    if ties:
        x = np.round(x)
    with mg.kernels.use(mode):
        mx = tensor(x)
        y, ind = max_pool2d(mx, dilation=d, return_indices=True, **kw)
        if (ind.array < 0).any():
            return   # padding-only windows: torch's CPU kernel reads/writes out of bounds there
        tx = torch.tensor(x, requires_grad=True)
        ty, tind = F.max_pool2d(tx, dilation=d, return_indices=True, **kw)
        np.testing.assert_array_equal(y.array, ty.detach().numpy())
        np.testing.assert_array_equal(ind.array, tind.numpy())
        gy = rng.standard_normal(y.shape)
        y.backward(mg.tensor(gy))
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), atol=1e-12)

        ma, ta = tensor(x), torch.tensor(x, requires_grad=True)
        a = avg_pool2d(ma, count_include_pad=include_pad, **kw)
        t = F.avg_pool2d(ta, count_include_pad=include_pad, **kw)
        np.testing.assert_allclose(a.array, t.detach().numpy(), atol=1e-12)
        ga = rng.standard_normal(a.shape)
        a.backward(mg.tensor(ga))
        t.backward(torch.tensor(ga))
        np.testing.assert_allclose(ma.grad.array, ta.grad.numpy(), atol=1e-12)


@pytest.mark.oracle
@settings(max_examples=20)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 6), ow=st.integers(1, 6),
       seed=st.integers(0, 2 ** 31))
def test_adaptive_avg_pool2d_matches_torch(h, w, oh, ow, seed):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    mx, tx = tensor(x), torch.tensor(x, requires_grad=True)
    y = adaptive_avg_pool2d(mx, (oh, ow))
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, (oh, ow))
    np.testing.assert_allclose(y.array, ty.detach().numpy(), atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), atol=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
def test_pool1d_matches_torch(mode):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((2, 3, 11))
    with mg.kernels.use(mode):
        y, i = max_pool1d(tensor(x), 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True)
        ty, ti = F.max_pool1d(torch.tensor(x), 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True)
        np.testing.assert_array_equal(y.array, ty.numpy())
        np.testing.assert_array_equal(i.array, ti.numpy())
        np.testing.assert_allclose(avg_pool1d(tensor(x), 4, 3, 2, True, False).array,
                                   F.avg_pool1d(torch.tensor(x), 4, 3, 2, True, False).numpy(), atol=1e-12)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("max_pool1d batch 0", lambda x: F.max_pool1d(x, 2), [(0, 3, 6)], (0, 3, 3)),
    ("max_pool2d batch 0", lambda x: F.max_pool2d(x, 2), [(0, 3, 6, 6)], (0, 3, 3, 3)),
    ("avg_pool2d batch 0", lambda x: F.avg_pool2d(x, 2), [(0, 3, 6, 6)], (0, 3, 3, 3)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)


def test_max_pool2d_of_integers_with_padding(kernel_set):
    y = F.max_pool2d(mg.tensor(np.arange(16).reshape(1, 1, 4, 4)), 2, padding=1)
    assert np.array_equal(np.asarray(y.array)[0, 0], [[0, 2, 3], [8, 10, 11], [12, 14, 15]])
