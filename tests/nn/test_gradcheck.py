"""Finite-difference gradient checks (float64) of every functional loss and layer,
on shapes drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import gradcheck

REDUCTIONS = ["none", "mean", "sum"]
FAST = settings(max_examples=6, deadline=None)

dims = st.integers(1, 4)
classes = st.integers(2, 4)
seeds = st.integers(0, 2 ** 16)


def t64(arr, grad=True):
    return minigrad.tensor(np.asarray(arr, dtype=np.float64), requires_grad=grad)


@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS),
       name=st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"]),
       param=st.sampled_from([0.5, 1.0, 2.0]), weighted=st.booleans())
def test_regression_losses(n, m, seed, reduction, name, param, weighted):
    rng = np.random.default_rng(seed)
    x, y = t64(rng.normal(size=(n, m)) * 2), t64(rng.normal(size=(n, m)))
    kw = {"reduction": reduction}
    if name == "huber_loss":
        kw["delta"] = param
    if name == "smooth_l1_loss":
        kw["beta"] = param
    if weighted and name != "smooth_l1_loss":
        kw["weight"] = t64(rng.uniform(0.1, 2, (n, m)), grad=False)
    gradcheck(lambda a, b: getattr(F, name)(a, b, **kw), (x, y))


@FAST
@given(n=dims, c=classes, extra=st.sampled_from([(), (2,), (1, 3)]), seed=seeds,
       reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.2]),
       ignore=st.booleans())
def test_cross_entropy_class_targets(n, c, extra, seed, reduction, weighted, smoothing, ignore):
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, c) + extra))
    tgt = rng.integers(0, c, (n,) + extra)
    if ignore:
        tgt.reshape(-1)[0] = -100
        if tgt.size == 1 and reduction == "mean":
            tgt.reshape(-1)[0] = 0  # all-ignored mean is nan by definition
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = t64(rng.uniform(0.2, 2, c), grad=False)
    gradcheck(lambda a: F.cross_entropy(a, minigrad.tensor(tgt), **kw), (x,))


@FAST
@given(n=dims, c=classes, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.3]))
def test_cross_entropy_prob_targets(n, c, seed, reduction, weighted, smoothing):
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, c)))
    y = t64(rng.dirichlet(np.ones(c), n))
    w = t64(rng.uniform(0.2, 2, c), grad=False) if weighted else None
    gradcheck(lambda a, b: F.cross_entropy(a, b, weight=w, reduction=reduction, label_smoothing=smoothing), (x, y))


@FAST
@given(n=dims, c=classes, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_nll_loss(n, c, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, c)))
    tgt = minigrad.tensor(rng.integers(0, c, n))
    w = t64(rng.uniform(0.2, 2, c), grad=False) if weighted else None
    gradcheck(lambda a: F.nll_loss(a, tgt, weight=w, reduction=reduction), (x,))


@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_binary_cross_entropy(n, m, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    x, y = t64(rng.uniform(0.05, 0.95, (n, m))), t64(rng.uniform(0, 1, (n, m)))
    w = t64(rng.uniform(0.2, 2, (n, m)), grad=False) if weighted else None
    gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), (x, y))


@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       pos=st.booleans())
def test_bce_with_logits(n, m, seed, reduction, weighted, pos):
    rng = np.random.default_rng(seed)
    x, y = t64(rng.normal(size=(n, m)) * 3), t64(rng.uniform(0, 1, (n, m)))
    w = t64(rng.uniform(0.2, 2, (n, m)), grad=False) if weighted else None
    pw = t64(rng.uniform(0.5, 3, m)) if pos else None
    args = (x, y) + ((pw,) if pos else ())
    gradcheck(lambda a, b, *p: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction,
                                                                  pos_weight=p[0] if p else None), args)


@FAST
@given(n=dims, c=classes, seed=seeds, reduction=st.sampled_from(REDUCTIONS + ["batchmean"]),
       log_target=st.booleans())
def test_kl_div(n, c, seed, reduction, log_target):
    rng = np.random.default_rng(seed)
    x = t64(np.log(rng.dirichlet(np.ones(c), n)))
    p = rng.dirichlet(np.ones(c), n) + 0.01
    y = t64(np.log(p) if log_target else p)
    gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), (x, y))


# ---------------------------------------------------------------------------- layers

@FAST
@given(lead=st.sampled_from([(), (2,), (2, 3)]), i=dims, o=dims, seed=seeds, bias=st.booleans())
def test_linear_module(lead, i, o, seed, bias):
    minigrad.manual_seed(seed)
    lin = nn.Linear(i, o, bias=bias).double()
    x = t64(np.random.default_rng(seed).normal(size=lead + (i,)))
    gradcheck(lambda a, *params: lin(a), (x, *lin.parameters()))


@FAST
@given(n=dims, i1=dims, i2=dims, o=dims, seed=seeds)
def test_bilinear_module(n, i1, i2, o, seed):
    minigrad.manual_seed(seed)
    bl = nn.Bilinear(i1, i2, o).double()
    rng = np.random.default_rng(seed)
    x1, x2 = t64(rng.normal(size=(n, i1))), t64(rng.normal(size=(n, i2)))
    gradcheck(lambda a, b, *params: bl(a, b), (x1, x2, *bl.parameters()))


@FAST
@given(n=st.integers(2, 4), c=dims, length=st.sampled_from([None, 1, 3]), seed=seeds, train=st.booleans())
def test_batchnorm1d_module(n, c, length, seed, train):
    bn = nn.BatchNorm1d(c).double().train(train)
    rng = np.random.default_rng(seed)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -1, 1)
    if not train:
        nn.init.uniform_(bn.running_var, 0.5, 2)
        nn.init.normal_(bn.running_mean)
    shape = (n, c) if length is None else (n, c, length)
    x = t64(rng.normal(size=shape) * 2)
    gradcheck(lambda a, *params: bn(a), (x, *bn.parameters()))


@FAST
@given(lead=st.sampled_from([(1,), (3,), (2, 2)]), norm=st.sampled_from([(2,), (3,), (2, 3)]), seed=seeds,
       affine=st.booleans())
def test_layernorm_module(lead, norm, seed, affine):
    ln = nn.LayerNorm(norm, elementwise_affine=affine).double()
    rng = np.random.default_rng(seed)
    for p in ln.parameters():
        nn.init.uniform_(p, -1, 1)
    x = t64(rng.normal(size=lead + norm))
    gradcheck(lambda a, *params: ln(a), (x, *ln.parameters()))


ACTS = [nn.ReLU(), nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.GELU("tanh"),
        nn.SiLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.Softplus(2.0, 3.0), nn.LogSigmoid(), nn.Softmax(1),
        nn.LogSoftmax(-1), nn.Softmin(0), nn.Flatten(), nn.Unflatten(1, (2, 2)), nn.Identity()]


@pytest.mark.parametrize("act", ACTS, ids=lambda m: repr(m))
def test_activation_modules(act):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)) * 2
    x[np.abs(x) < 0.05] = 0.3  # stay away from kinks
    x[np.abs(np.abs(x) - 0.5) < 0.05] = 0.7
    gradcheck(lambda a: act(a), (t64(x),))


def test_dropout_with_a_fixed_mask():
    x = t64(np.random.default_rng(0).normal(size=(4, 5)))

    def fn(a):
        minigrad.manual_seed(0)  # the same mask on every call
        return F.dropout(a, 0.4, training=True)

    gradcheck(fn, (x,))


def test_second_order_through_a_small_model():
    """Gradient penalties need double backward: check it through Linear + Tanh + MSE."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = t64(np.random.default_rng(1).normal(size=(2, 3)))
    target = t64(np.zeros((2, 1)), grad=False)
    minigrad.gradgradcheck(lambda a: F.mse_loss(model(a), target), (x,))


@FAST
@given(n=dims, m=st.integers(2, 4), seed=seeds, p=st.sampled_from([1.0, 2.0, 3.0]))
def test_normalize(n, m, seed, p):
    x = t64(np.random.default_rng(seed).normal(size=(n, m)) + 0.1)
    gradcheck(lambda a: F.normalize(a, p=p, dim=1), (x,))


@FAST
@given(rows=st.integers(2, 5), d=dims, seed=seeds, padding=st.booleans())
def test_embedding(rows, d, seed, padding):
    rng = np.random.default_rng(seed)
    w = t64(rng.normal(size=(rows, d)))
    # the padding row gets no gradient by definition, so it is not looked up here
    # (that it stays zero is checked in test_functional.py)
    idx = minigrad.tensor(rng.integers(1 if padding else 0, rows, (3, 2)))
    gradcheck(lambda table: F.embedding(idx, table, padding_idx=0 if padding else None), (w,))
