"""Hostile inputs with a known right answer: NaN/inf and huge values, zero-size
dimensions, and arguments that must be refused with the user's op named. Each case
runs in both kernel sets; where PyTorch is installed the oracle tests compare with it.
"""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def A(t):
    return np.asarray(t.array, dtype=np.float64)


# ----------------------------------------------------------------------------- NaN, inf, huge

def test_attention_propagates_nan_and_inf_query_rows(kernel_set):
    q = np.random.default_rng(0).standard_normal((1, 1, 3, 4)).astype(np.float32)
    q[0, 0, 1, 2] = np.nan
    q[0, 0, 2, 0] = np.inf
    k = np.ones((1, 1, 3, 4), np.float32)
    v = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    qt = mg.tensor(q, requires_grad=True)
    out = F.scaled_dot_product_attention(qt, mg.tensor(k), mg.tensor(v))
    o = A(out)[0, 0]
    assert np.allclose(o[0], [4, 5, 6, 7]) and np.isnan(o[1]).all() and np.isnan(o[2]).all()
    out.sum().backward()
    assert np.isnan(A(qt.grad)[0, 0, 1:]).all() and np.isfinite(A(qt.grad)[0, 0, 0]).all()


def test_attention_propagates_nan_in_a_float_mask(kernel_set):
    q = mg.tensor(np.ones((1, 1, 2, 4), np.float32))
    mask = np.zeros((2, 2), np.float32)
    mask[0, 1] = np.nan
    o = A(F.scaled_dot_product_attention(q, q, q, attn_mask=mg.tensor(mask)))[0, 0]
    assert np.isnan(o[0]).all() and np.allclose(o[1], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_huge_queries_give_finite_gradients(kernel_set, dtype):
    for seed in range(4):
        r = np.random.default_rng(seed)
        q = mg.tensor((r.standard_normal((2, 2, 5, 8)) * 1e30).astype(dtype), requires_grad=True)
        k = mg.tensor(r.standard_normal((2, 2, 6, 8)).astype(dtype), requires_grad=True)
        v = mg.tensor(r.standard_normal((2, 2, 6, 8)).astype(dtype), requires_grad=True)
        F.scaled_dot_product_attention(q, k, v).sum().backward()
        for t in (q, k, v):
            assert np.isfinite(A(t.grad)).all()


@pytest.mark.parametrize("scale", [1e19, 1e25, 1e36])
def test_layer_norm_of_huge_values(kernel_set, scale):
    r = np.random.default_rng(0).standard_normal((3, 7))
    x = mg.tensor((r * scale).astype(np.float32), requires_grad=True)
    y = F.layer_norm(x, (7,))
    expect = (r - r.mean(1, keepdims=True)) / r.std(1, keepdims=True)
    assert np.allclose(A(y), expect, atol=1e-4)
    (y * mg.tensor(np.arange(21, dtype=np.float32).reshape(3, 7))).sum().backward()
    assert np.isfinite(A(x.grad)).all()


def test_gelu_tanh_of_inf(kernel_set):
    y = F.gelu(mg.tensor(np.array([np.inf, 1.0, np.nan], np.float32)), approximate="tanh")
    assert A(y)[0] == np.inf and np.isnan(A(y)[2])


def test_var_std_of_huge_equal_values():
    x = mg.full((4,), 3e38)
    assert float(x.var().item()) == 0.0 and float(x.std().item()) == 0.0
    assert np.all(A(mg.full((2, 4), 3e38).var(1)) == 0)


def test_pow_gradient_at_zero_to_the_zero():
    x = mg.tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    y = mg.tensor(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    (x ** y).sum().backward()
    assert np.array_equal(A(x.grad), [0.0, 1.0, 0.0])
    assert np.allclose(A(y.grad), [0.0, 0.0, math.log(2)])


def test_nll_loss_ignores_nan_in_other_classes():
    x = mg.tensor(np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]]), requires_grad=True)
    loss = F.nll_loss(x, mg.tensor(np.array([0, 2])))
    loss.backward()
    assert float(loss.item()) == -1.5
    assert np.array_equal(A(x.grad), [[-0.5, 0, 0], [0, 0, -0.5]])


@pytest.mark.parametrize("x, t, what", [([0.5, np.nan], [1.0, 0.0], "input"), ([0.5, 0.3], [2.0, 0.0], "target"),
                                        ([0.5, 0.3], [-0.5, 0.0], "target"), ([0.5, 0.3], [np.nan, 0.0], "target")])
def test_binary_cross_entropy_refuses_values_outside_0_1(x, t, what):
    with pytest.raises(ValueError, match=f"binary_cross_entropy: all elements of {what}"):
        F.binary_cross_entropy(mg.tensor(np.array(x)), mg.tensor(np.array(t)))


def test_clip_grad_norm_with_a_nan_gradient_makes_every_gradient_nan():
    a, b = nn.Parameter(mg.tensor([1.0, 2.0])), nn.Parameter(mg.tensor([3.0, 4.0]))
    a.grad, b.grad = mg.tensor([np.nan, 1.0]), mg.tensor([3.0, 4.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert math.isnan(float(total.item()))
    assert np.isnan(A(a.grad)).all() and np.isnan(A(b.grad)).all()


# ----------------------------------------------------------------------------- zero-size dimensions

def _fwd_bwd(fn, *shapes, dtype=np.float32):
    xs = [mg.tensor(np.ones(s, dtype), requires_grad=True) for s in shapes]
    y = fn(*xs)
    y = y[0] if isinstance(y, tuple) else y
    y.sum().backward()
    return tuple(y.shape), [tuple(x.grad.shape) for x in xs]


ZERO_SIZE = [
    ("conv1d batch 0", lambda x, w: F.conv1d(x, w), [(0, 3, 5), (4, 3, 2)], (0, 4, 4)),
    ("conv2d batch 0", lambda x, w: F.conv2d(x, w), [(0, 3, 5, 5), (4, 3, 2, 2)], (0, 4, 4, 4)),
    ("conv2d 0 in-channels", lambda x, w: F.conv2d(x, w), [(2, 0, 5, 5), (4, 0, 2, 2)], (2, 4, 4, 4)),
    ("conv_transpose2d batch 0", lambda x, w: F.conv_transpose2d(x, w), [(0, 3, 5, 5), (3, 4, 2, 2)], (0, 4, 6, 6)),
    ("max_pool1d batch 0", lambda x: F.max_pool1d(x, 2), [(0, 3, 6)], (0, 3, 3)),
    ("max_pool2d batch 0", lambda x: F.max_pool2d(x, 2), [(0, 3, 6, 6)], (0, 3, 3, 3)),
    ("avg_pool2d batch 0", lambda x: F.avg_pool2d(x, 2), [(0, 3, 6, 6)], (0, 3, 3, 3)),
    ("softmax empty rows", lambda x: F.softmax(x, dim=-1), [(3, 0)], (3, 0)),
    ("log_softmax empty rows", lambda x: F.log_softmax(x, dim=-1), [(3, 0)], (3, 0)),
    ("softmax no rows", lambda x: F.softmax(x, dim=-1), [(0, 3)], (0, 3)),
    ("layer_norm empty rows", lambda x: F.layer_norm(x, (0,)), [(3, 0)], (3, 0)),
    ("layer_norm no rows", lambda x: F.layer_norm(x, (4,)), [(0, 4)], (0, 4)),
    ("linear 0 in-features", lambda x, w, b: F.linear(x, w, b), [(2, 0), (3, 0), (3,)], (2, 3)),
    ("linear 0 in-features 3-D", lambda x, w: F.linear(x, w), [(2, 2, 0), (3, 0)], (2, 2, 3)),
    ("sdpa 0 keys", lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)],
     (1, 2, 3, 4)),
    ("cross_entropy batch 0", lambda x: F.cross_entropy(x, mg.tensor(np.zeros(0, np.int64)), reduction="sum"),
     [(0, 3)], ()),
    ("embedding no indices", lambda w: F.embedding(mg.tensor(np.zeros(0, np.int64)), w), [(5, 3)], (0, 3)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    y_shape, g_shapes = _fwd_bwd(fn, *shapes)
    assert y_shape == out
    assert g_shapes == [tuple(s) for s in shapes]


def test_linear_with_no_inputs_is_its_bias(kernel_set):
    y = F.linear(mg.tensor(np.ones((2, 0), np.float32)), mg.tensor(np.ones((3, 0), np.float32)),
                 mg.tensor(np.arange(3, dtype=np.float32)))
    assert np.array_equal(A(y), [[0, 1, 2], [0, 1, 2]])


def test_conv2d_over_no_channels_is_its_bias(kernel_set):
    y = F.conv2d(mg.tensor(np.ones((2, 0, 5, 5), np.float32)), mg.tensor(np.ones((4, 0, 2, 2), np.float32)),
                 mg.tensor(np.arange(4, dtype=np.float32)))
    assert y.shape == (2, 4, 4, 4) and np.array_equal(A(y)[0, :, 0, 0], [0, 1, 2, 3])


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_with_batch_0(kernel_set, cls):
    layer = getattr(nn, cls)(4, 5, batch_first=True)
    x = mg.tensor(np.ones((0, 3, 4), np.float32), requires_grad=True)
    y, _ = layer(x)
    y.sum().backward()
    assert y.shape == (0, 3, 5) and x.grad.shape == (0, 3, 4)


def test_multihead_attention_with_no_keys(kernel_set):
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = mg.tensor(np.ones((2, 3, 8), np.float32))
    k = mg.tensor(np.ones((2, 0, 8), np.float32))
    y, w = mha(q, k, k)
    assert y.shape == (2, 3, 8) and w.shape == (2, 3, 0)
    assert np.allclose(A(y), A(mha.out_proj.bias))  # attention over nothing is 0, then the bias


@pytest.mark.parametrize("fn, err", [("amax", RuntimeError), ("amin", RuntimeError)])
def test_amax_amin_of_empty_tensors_name_the_op(fn, err):
    x = mg.tensor(np.ones((0, 3), np.float32))
    with pytest.raises(err, match=fn):
        getattr(x, fn)()
    with pytest.raises(IndexError, match=fn):
        getattr(x, fn)(dim=0)
    assert getattr(x, fn)(dim=1).shape == (0,)


def test_unflatten_with_minus_one():
    x = mg.tensor(np.ones((2, 0), np.float32))
    assert x.unflatten(1, (-1, 3)).shape == (2, 0, 3)
    with pytest.raises(ValueError, match="unflatten"):
        x.unflatten(1, (0, -1))


# ----------------------------------------------------------------------------- errors name the op

def _x():
    return mg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))


ERRORS = [
    ("all", lambda: _x().all(dim=5), IndexError),
    ("any", lambda: _x().any(dim=5), IndexError),
    ("count_nonzero", lambda: mg.count_nonzero(_x(), dim=5), IndexError),
    ("flip", lambda: _x().flip((0, 0)), ValueError),
    ("index", lambda: _x()[::0], ValueError),
    ("repeat", lambda: _x().repeat(-1, 2), ValueError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, 5])), mg.ones(2)), IndexError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, -1])), mg.ones(2)), IndexError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, 1, 2])), mg.ones(2)), ValueError),
    ("scatter_add", lambda: mg.zeros(3, 2).scatter_add(0, mg.tensor(np.array([0, 1])), mg.ones(3, 2)), ValueError),
    ("batch_norm", lambda: F.batch_norm(_x(), mg.zeros(3), mg.ones(3), training=True, momentum=None), TypeError),
    ("batch_norm", lambda: F.batch_norm(_x(), None, None, training=True, eps=0), ValueError),
    ("conv2d", lambda: nn.Conv2d(3, 4, 0)(mg.ones(1, 3, 5, 5)), ValueError),
    ("conv2d", lambda: F.conv2d(mg.ones(1, 3, 5, 5), mg.ones(0, 3, 2, 2)), ValueError),
    ("std", lambda: _x().std(dim=5), IndexError),
    ("var", lambda: mg.tensor(np.arange(3)).var(), TypeError),
    ("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2)(*[mg.tensor(np.ones((2, 1, 4)))] * 3), TypeError),
    ("split", lambda: mg.ones(3).split([4, -1]), ValueError),
    ("index_select", lambda: mg.tensor(np.arange(3.0)).index_select(0, mg.tensor(np.array([-1]))), IndexError),
    ("pad", lambda: F.pad(mg.ones(2, 3), (1.5, 1)), TypeError),
    ("pad", lambda: F.pad(mg.ones(2, 3), (-2, -2)), ValueError),
    ("mse_loss", lambda: F.mse_loss(mg.tensor(np.array([True])), mg.tensor(np.array([False]))), TypeError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    with pytest.raises(err) as e:
        call()
    assert op.lower() in str(e.value).lower(), str(e.value)


def test_logsumexp_of_bool_and_int_like_pytorch():
    assert abs(float(mg.logsumexp(mg.tensor(np.array([True, False])), dim=0).item()) - 1.3132616) < 1e-6


def test_max_pool2d_of_integers_with_padding(kernel_set):
    y = F.max_pool2d(mg.tensor(np.arange(16).reshape(1, 1, 4, 4)), 2, padding=1)
    assert np.array_equal(np.asarray(y.array)[0, 0], [[0, 2, 3], [8, 10, 11], [12, 14, 15]])


def test_batch_norm_layer_with_momentum_none_keeps_a_cumulative_average():
    bn = nn.BatchNorm1d(3, momentum=None)
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    bn(mg.tensor(x))
    bn(mg.tensor(2 * x))
    assert np.allclose(A(bn.running_mean), (x.mean(0) + 2 * x.mean(0)) / 2, atol=1e-6)


# ----------------------------------------------------------------------------- PyTorch oracle

# Where minigrad knowingly differs from PyTorch on these values, and why.
NAN_DIFFERENCES = {
    "gelu": "PyTorch's exact gelu(+inf) is NaN and gelu(3e38) overflows to inf; minigrad gives x",
    "hardswish": "PyTorch computes x * (x + 3) / 6 and overflows to inf at 3e38; minigrad gives x",
    "sign": "PyTorch's sign(NaN) is 0; minigrad keeps the NaN (as NumPy)",
    "dropout": "random", "dropout2d": "random",
}


@pytest.mark.oracle
def test_nan_patterns_match_pytorch(kernel_set):
    """Every one-tensor public op that PyTorch also has, on NaN, +-inf, +-1e30, 3e38 and
    tiny values: NaN exactly where PyTorch has NaN, and the same values elsewhere."""
    torch = pytest.importorskip("torch")
    from test_public_api_sweep import FUNCTIONS, UNARY

    x = np.array([[0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, 1e-30, 0.5, -0.5]], np.float32)
    problems, compared = [], 0
    for name in UNARY:
        tfn = getattr(torch.nn.functional, name, None) or getattr(torch, name, None)
        if tfn is None or name in NAN_DIFFERENCES:
            continue
        try:
            t = tfn(torch.tensor(x))
        except (TypeError, RuntimeError):  # PyTorch needs more arguments: not comparable
            continue
        t = (t[0] if isinstance(t, tuple) else t).double().numpy()
        with np.errstate(all="ignore"):
            m = FUNCTIONS[name](mg.tensor(x))
        m = A(m[0] if isinstance(m, tuple) else m)
        compared += 1
        if m.shape != t.shape or not np.array_equal(np.isnan(m), np.isnan(t)) or \
                not np.allclose(m[~np.isnan(m)], t[~np.isnan(t)], rtol=1e-4, atol=1e-6):
            problems.append(f"{name}: minigrad {m.ravel()} torch {t.ravel()}")
    assert compared >= 30, compared
    assert not problems, "\n".join(problems)


@pytest.mark.oracle
def test_zero_size_shapes_match_pytorch(kernel_set):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    same = {  # name: (minigrad call, torch call, shapes)
        "conv2d batch 0": (F.conv2d, tF.conv2d, [(0, 3, 5, 5), (4, 3, 2, 2)]),
        "max_pool2d batch 0": (lambda x: F.max_pool2d(x, 2), lambda x: tF.max_pool2d(x, 2), [(0, 3, 6, 6)]),
        "softmax empty rows": (lambda x: F.softmax(x, -1), lambda x: tF.softmax(x, -1), [(3, 0)]),
        "layer_norm empty rows": (lambda x: F.layer_norm(x, (0,)), lambda x: tF.layer_norm(x, (0,)), [(3, 0)]),
        "linear 0 in": (F.linear, tF.linear, [(2, 0), (3, 0)]),
        "sdpa 0 keys": (F.scaled_dot_product_attention, tF.scaled_dot_product_attention,
                        [(1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)]),
    }
    for name, (mfn, tfn, shapes) in same.items():
        arrays = [np.ones(s, np.float32) for s in shapes]
        m = mfn(*[mg.tensor(a) for a in arrays])
        t = tfn(*[torch.tensor(a) for a in arrays])
        assert tuple(m.shape) == tuple(t.shape), name
        assert np.allclose(A(m), t.double().numpy()), name
