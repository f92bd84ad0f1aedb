"""Hostile inputs with a known right answer for layers, losses and utilities (NaN/inf, zero-size
dimensions, arguments that must be refused with the user's op named), and two sweeps over every
public op compared with PyTorch: NaN patterns and zero-size shapes. Each case runs in both kernel
sets. The single ops' cases are in tests/ops/test_<family>.py."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from _ops_helpers import check_raises_naming


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def A(t):
    return np.asarray(t.array, dtype=np.float64)


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


# ----------------------------------------------------------------------------- errors name the op

def _x():
    return mg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))


ERRORS = [
    ("batch_norm", lambda: F.batch_norm(_x(), mg.zeros(3), mg.ones(3), training=True, momentum=None), TypeError),
    ("batch_norm", lambda: F.batch_norm(_x(), None, None, training=True, eps=0), ValueError),
    ("conv2d", lambda: nn.Conv2d(3, 4, 0)(mg.ones(1, 3, 5, 5)), ValueError),
    ("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2)(*[mg.tensor(np.ones((2, 1, 4)))] * 3), TypeError),
    ("mse_loss", lambda: F.mse_loss(mg.tensor(np.array([True])), mg.tensor(np.array([False]))), TypeError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)


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
