"""conv2d, conv1d, conv_transpose2d, unfold, fold: gradcheck in float64 on
hypothesis-drawn configurations under both kernel sets, second derivatives,
argument handling and errors, and PyTorch as an oracle for values and gradients."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
import minigrad.kernels  # noqa: F401
from minigrad.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from strategies import tensor
from _ops_helpers import A, check_raises_naming, check_zero_size, MODES

@st.composite
def conv2d_configs(draw, max_side=6):
    """Small conv2d problems: (x_shape, w_shape, bias, kwargs) with >= 1 output pixel."""
    groups = draw(st.integers(1, 2))
    cin_g, cout_g = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    min_h = max(1, dilation[0] * (k[0] - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (k[1] - 1) + 1 - 2 * padding[1])
    h = draw(st.integers(min_h, max(min_h, max_side)))
    w = draw(st.integers(min_w, max(min_w, max_side)))
    n = draw(st.integers(1, 2))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return (n, groups * cin_g, h, w), (groups * cout_g, cin_g) + k, draw(st.booleans()), kwargs


def _rand(rng, shape):
    return tensor(rng.uniform(-1, 1, shape))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=15)
@given(cfg=conv2d_configs(), seed=st.integers(0, 2 ** 31))
def test_conv2d_gradcheck(mode, cfg, seed):
    x_shape, w_shape, has_bias, kwargs = cfg
    rng = np.random.default_rng(seed)
    x, w = _rand(rng, x_shape), _rand(rng, w_shape)
    b = _rand(rng, w_shape[:1]) if has_bias else None
    with mg.kernels.use(mode):
        mg.gradcheck(lambda x, w, b: conv2d(x, w, b, **kwargs), (x, w, b))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=10)
@given(cfg=conv2d_configs(max_side=5), seed=st.integers(0, 2 ** 31), out_pad=st.integers(0, 1))
def test_conv_transpose2d_gradcheck(mode, cfg, seed, out_pad):
    x_shape, w_shape, has_bias, kwargs = cfg
    s, d = kwargs["stride"], kwargs["dilation"]
    op = tuple(min(out_pad, max(si, di) - 1) for si, di in zip(s, d))
    g = kwargs["groups"]
    rng = np.random.default_rng(seed)
    # transposed-conv weight: (C_in, C_out/groups, kH, kW); input has C_in channels
    c_in = w_shape[0]
    x = _rand(rng, (x_shape[0], c_in) + x_shape[2:])
    w = _rand(rng, (c_in, w_shape[1]) + w_shape[2:])
    b = _rand(rng, (w_shape[1] * g,)) if has_bias else None
    with mg.kernels.use(mode):
        try:
            conv_transpose2d(x, w, b, output_padding=op, **kwargs)
        except ValueError:
            assume(False)         # output would be empty for this draw
        mg.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, output_padding=op, **kwargs), (x, w, b))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=10)
@given(n=st.integers(1, 2), c=st.integers(1, 3), length=st.integers(3, 9), k=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       groups=st.integers(1, 2), seed=st.integers(0, 2 ** 31))
def test_conv1d_gradcheck(mode, n, c, length, k, stride, padding, dilation, groups, seed):
    assume(length + 2 * padding >= dilation * (k - 1) + 1)
    rng = np.random.default_rng(seed)
    x, w, b = _rand(rng, (n, c * groups, length)), _rand(rng, (2 * groups, c, k)), _rand(rng, (2 * groups,))
    with mg.kernels.use(mode):
        mg.gradcheck(lambda x, w, b: conv1d(x, w, b, stride, padding, dilation, groups), (x, w, b))


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=10)
@given(cfg=conv2d_configs(max_side=5), seed=st.integers(0, 2 ** 31))
def test_unfold_fold_gradcheck(mode, cfg, seed):
    x_shape, w_shape, _, kw = cfg
    conf = dict(kernel_size=w_shape[2:], dilation=kw["dilation"], padding=kw["padding"], stride=kw["stride"])
    rng = np.random.default_rng(seed)
    x = _rand(rng, x_shape)
    with mg.kernels.use(mode):
        cols = unfold(x, **conf)
        mg.gradcheck(lambda x: unfold(x, **conf), (x,))
        c = _rand(rng, cols.shape)
        mg.gradcheck(lambda c: fold(c, x_shape[2:], **conf), (c,))


@pytest.mark.parametrize("mode", MODES)
def test_second_derivatives(mode):
    """conv's backward ops differentiate each other, so create_graph works."""
    rng = np.random.default_rng(0)
    x, w, b = _rand(rng, (1, 2, 5, 4)), _rand(rng, (4, 1, 2, 3)), _rand(rng, (4,))
    with mg.kernels.use(mode):
        mg.gradgradcheck(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=1, groups=2), (x, w, b))
        wt = _rand(rng, (2, 3, 3, 2))
        mg.gradgradcheck(lambda x, w: conv_transpose2d(x, w, stride=2, padding=1, output_padding=1), (x, wt))


def test_conv_is_unfold_matmul():
    rng = np.random.default_rng(1)
    x, w = _rand(rng, (2, 3, 6, 5)), _rand(rng, (4, 3, 3, 3))
    y = conv2d(x, w, padding=1)
    cols = unfold(x, 3, padding=1)                                 # (2, 27, 30)
    y2 = (w.reshape(4, -1) @ cols).reshape(y.shape)
    np.testing.assert_allclose(y2.array, y.array, atol=1e-12)


def test_unbatched_and_padding_strings():
    rng = np.random.default_rng(2)
    x, w = _rand(rng, (3, 7, 6)), _rand(rng, (5, 3, 3, 2))
    y = conv2d(x, w, padding="same")
    assert y.shape == (5, 7, 6)
    np.testing.assert_allclose(y.array, conv2d(x.reshape(1, 3, 7, 6), w, padding="same").array[0])
    assert conv2d(x, w, padding="valid").shape == (5, 5, 5)
    assert conv1d(_rand(rng, (3, 10)), _rand(rng, (2, 3, 4)), padding="same").shape == (2, 10)
    assert unfold(x, 2).shape == (12, 30)
    assert fold(unfold(x, 2), (7, 6), 2).shape == (3, 7, 6)
    assert conv_transpose2d(_rand(rng, (2, 3, 3)), _rand(rng, (2, 4, 3, 3)), stride=2).shape == (4, 7, 7)


def test_dtypes():
    x = mg.randn(2, 3, 5, 5)
    w = mg.randn(4, 3, 3, 3)
    assert conv2d(x, w).dtype == mg.float32
    assert conv2d(x.double(), w.double()).dtype == mg.float64
    assert conv2d(x, w.double()).dtype == mg.float64      # promoted as NumPy would


def test_errors_name_the_op_and_shapes():
    x = mg.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 4 \(groups=1\)"):
        conv2d(x, mg.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 4 \(groups=2\)"):
        conv2d(x, mg.zeros(2, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="conv2d: weight must be 4-D"):
        conv2d(x, mg.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="conv2d: expected a 3-D"):
        conv2d(mg.zeros(8, 8), mg.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(2,\)"):
        conv2d(x, mg.zeros(2, 3, 3, 3), mg.zeros(3))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        conv2d(x, mg.zeros(2, 3, 3, 3), padding="same", stride=2)
    with pytest.raises(ValueError, match="conv2d: padding must be"):
        conv2d(x, mg.zeros(2, 3, 3, 3), padding="full")
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        conv2d(x, mg.zeros(2, 3, 3, 3), dilation=4)
    with pytest.raises(ValueError, match="conv2d: stride must be >= 1"):
        conv2d(x, mg.zeros(2, 3, 3, 3), stride=0)
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a tuple of 2 ints"):
        conv2d(x, mg.zeros(2, 3, 3, 3), stride=(1, 2, 3))
    with pytest.raises(ValueError, match="conv1d: input has 3 channels but weight expects 2"):
        conv1d(mg.zeros(1, 3, 8), mg.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="conv_transpose2d: input has 3 channels"):
        conv_transpose2d(x, mg.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        conv_transpose2d(x, mg.zeros(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="fold: input of shape"):
        fold(mg.zeros(1, 12, 5), (4, 4), 2)


# ----------------------------------------------------------------------------- PyTorch oracle

def _torch_grads(torch, fn, arrays):
    ts = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    return y, ts


def _assert_matches_torch(torch, mode, rng, arrays, ty, ts, ours):
    """Backward PyTorch's output ``ty`` and ``ours(*tensors)`` (under kernel set ``mode``)
    with one random output gradient: values and input gradients agree to 1e-9."""
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    ms = [None if a is None else tensor(a) for a in arrays]
    with mg.kernels.use(mode):
        y = ours(*ms)
        y.backward(mg.tensor(gy))
    np.testing.assert_allclose(y.array, ty.detach().numpy(), rtol=1e-9, atol=1e-9)
    for m, t in zip(ms, ts):
        if m is not None:
            np.testing.assert_allclose(m.grad.array, t.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=15)
@given(cfg=conv2d_configs(max_side=9), seed=st.integers(0, 2 ** 31))
def test_conv2d_matches_torch(mode, cfg, seed):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, has_bias, kwargs = cfg
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[0]) if has_bias else None]
    ty, ts = _torch_grads(torch, lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs), arrays)
    _assert_matches_torch(torch, mode, rng, arrays, ty, ts, lambda *ms: conv2d(*ms, **kwargs))


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=15)
@given(cfg=conv2d_configs(max_side=6), seed=st.integers(0, 2 ** 31), out_pad=st.integers(0, 2))
def test_conv_transpose2d_matches_torch(mode, cfg, seed, out_pad):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, has_bias, kwargs = cfg
    op = tuple(min(out_pad, max(s, d) - 1) for s, d in zip(kwargs["stride"], kwargs["dilation"]))
    rng = np.random.default_rng(seed)
    c_in, g = w_shape[0], kwargs["groups"]
    arrays = [rng.standard_normal((x_shape[0], c_in) + x_shape[2:]),
              rng.standard_normal((c_in, w_shape[1]) + w_shape[2:]),
              rng.standard_normal(w_shape[1] * g) if has_bias else None]
    try:
        ty, ts = _torch_grads(torch, lambda x, w, b: torch.nn.functional.conv_transpose2d(
            x, w, b, output_padding=op, **kwargs), arrays)
    except RuntimeError:
        assume(False)             # empty output for this draw
    _assert_matches_torch(torch, mode, rng, arrays, ty, ts,
                          lambda *ms: conv_transpose2d(*ms, output_padding=op, **kwargs))


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
def test_conv1d_same_and_unfold_fold_match_torch(mode):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 4)), rng.standard_normal(6)
    with mg.kernels.use(mode):
        for kw in (dict(stride=2, padding=1, dilation=2, groups=2), dict(padding="same", dilation=1, groups=2),
                   dict(padding="same", dilation=3, groups=2)):
            np.testing.assert_allclose(conv1d(tensor(x), tensor(w), tensor(b), **kw).array,
                                       F.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw).numpy(),
                                       atol=1e-10)
        # 'same' with an even kernel pads one more on the right, as torch
        w2 = rng.standard_normal((3, 4, 2, 4))
        x2 = rng.standard_normal((2, 4, 6, 7))
        np.testing.assert_allclose(conv2d(tensor(x2), tensor(w2), padding="same").array,
                                   F.conv2d(torch.tensor(x2), torch.tensor(w2), padding="same").numpy(), atol=1e-10)
        x3 = rng.standard_normal((2, 3, 7, 6))
        cols = unfold(tensor(x3), (3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
        tcols = F.unfold(torch.tensor(x3), (3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
        np.testing.assert_allclose(cols.array, tcols.numpy(), atol=1e-12)
        np.testing.assert_allclose(
            fold(cols, (7, 6), (3, 2), dilation=(1, 2), padding=1, stride=(2, 1)).array,
            F.fold(tcols, (7, 6), (3, 2), dilation=(1, 2), padding=1, stride=(2, 1)).numpy(), atol=1e-12)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("conv1d batch 0", lambda x, w: F.conv1d(x, w), [(0, 3, 5), (4, 3, 2)], (0, 4, 4)),
    ("conv2d batch 0", lambda x, w: F.conv2d(x, w), [(0, 3, 5, 5), (4, 3, 2, 2)], (0, 4, 4, 4)),
    ("conv2d 0 in-channels", lambda x, w: F.conv2d(x, w), [(2, 0, 5, 5), (4, 0, 2, 2)], (2, 4, 4, 4)),
    ("conv_transpose2d batch 0", lambda x, w: F.conv_transpose2d(x, w), [(0, 3, 5, 5), (3, 4, 2, 2)], (0, 4, 6, 6)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)


def test_conv2d_over_no_channels_is_its_bias(kernel_set):
    y = F.conv2d(mg.tensor(np.ones((2, 0, 5, 5), np.float32)), mg.tensor(np.ones((4, 0, 2, 2), np.float32)),
                 mg.tensor(np.arange(4, dtype=np.float32)))
    assert y.shape == (2, 4, 4, 4) and np.array_equal(A(y)[0, :, 0, 0], [0, 1, 2, 3])


ERRORS = [
    ("conv2d", lambda: F.conv2d(mg.ones(1, 3, 5, 5), mg.ones(0, 3, 2, 2)), ValueError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)
