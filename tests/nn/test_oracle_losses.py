"""Losses against PyTorch: values and input gradients for every option and reduction."""
import numpy as np
import pytest

import minigrad
from minigrad import nn
import minigrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.oracle

REDUCTIONS = ["none", "mean", "sum"]
RTOL, ATOL = 1e-4, 1e-5


def _both(arr, grad=True):
    """The same float32 data as a minigrad tensor and a torch tensor."""
    a = np.ascontiguousarray(arr)
    return minigrad.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _check(ours, theirs, pairs):
    """Compare outputs, then backprop a random cotangent through both and compare grads."""
    o = ours.numpy()
    t = theirs.detach().numpy()
    assert o.shape == t.shape, (o.shape, t.shape)
    np.testing.assert_allclose(o, t, rtol=RTOL, atol=ATOL)
    g = np.random.default_rng(0).standard_normal(o.shape).astype(o.dtype)
    ours.backward(minigrad.tensor(g))
    theirs.backward(torch.tensor(g))
    for m, tt in pairs:
        assert m.grad is not None
        np.testing.assert_allclose(m.grad.numpy(), tt.grad.numpy(), rtol=RTOL, atol=ATOL)


rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses(name, reduction, weighted):
    x, xt = _both(randn(4, 5))
    y, yt = _both(randn(4, 5))
    kw = {}
    kwt = {}
    if weighted:
        w = rng.uniform(0.1, 2, (4, 5)).astype(np.float32)
        kw["weight"], kwt["weight"] = minigrad.tensor(w), torch.tensor(w)
    _check(getattr(F, name)(x, y, reduction=reduction, **kw), getattr(TF, name)(xt, yt, reduction=reduction, **kwt),
           [(x, xt), (y, yt)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_huber(reduction, delta, weighted):
    x, xt = _both(randn(6, 3) * 2)
    y, yt = _both(randn(6, 3))
    kw, kwt = {}, {}
    if weighted:
        w = rng.uniform(0.1, 2, (6, 3)).astype(np.float32)
        kw["weight"], kwt["weight"] = minigrad.tensor(w), torch.tensor(w)
    _check(F.huber_loss(x, y, reduction=reduction, delta=delta, **kw),
           TF.huber_loss(xt, yt, reduction=reduction, delta=delta, **kwt), [(x, xt), (y, yt)])
    m, mt = nn.HuberLoss(reduction=reduction, delta=delta), torch.nn.HuberLoss(reduction=reduction, delta=delta)
    x2, x2t = _both(randn(6, 3) * 2)
    _check(m(x2, y.detach()), mt(x2t, yt.detach()), [(x2, x2t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
def test_smooth_l1(reduction, beta):
    x, xt = _both(randn(5, 4) * 2)
    y, yt = _both(randn(5, 4))
    _check(F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
           TF.smooth_l1_loss(xt, yt, reduction=reduction, beta=beta), [(x, xt), (y, yt)])
    x2, x2t = _both(randn(5, 4) * 2)
    _check(nn.SmoothL1Loss(reduction, beta)(x2, y.detach()),
           torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(x2t, yt.detach()), [(x2, x2t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (2, 5, 3, 2), (5,)])
def test_cross_entropy_class_targets(reduction, weighted, ignore, smoothing, shape):
    c = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    x, xt = _both(randn(*shape) * 2)
    tgt = rng.integers(0, c, tshape)
    if ignore and tgt.size > 1:
        tgt.reshape(-1)[::3] = -1
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=-1 if ignore else -100)
    w = rng.uniform(0.2, 2, c).astype(np.float32) if weighted else None
    ours = F.cross_entropy(x, minigrad.tensor(tgt), weight=None if w is None else minigrad.tensor(w), **kw)
    theirs = TF.cross_entropy(xt, torch.tensor(tgt), weight=None if w is None else torch.tensor(w), **kw)
    _check(ours, theirs, [(x, xt)])
    # the module
    x2, x2t = _both(randn(*shape))
    m = nn.CrossEntropyLoss(weight=None if w is None else minigrad.tensor(w), **kw)
    mt = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w), **kw)
    _check(m(x2, minigrad.tensor(tgt)), mt(x2t, torch.tensor(tgt)), [(x2, x2t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_cross_entropy_prob_targets(reduction, weighted, smoothing, shape):
    x, xt = _both(randn(*shape))
    p = rng.uniform(0, 1, shape).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    y, yt = _both(p)
    c = shape[1]
    w = rng.uniform(0.2, 2, c).astype(np.float32) if weighted else None
    ours = F.cross_entropy(x, y, weight=None if w is None else minigrad.tensor(w), reduction=reduction,
                           label_smoothing=smoothing)
    theirs = TF.cross_entropy(xt, yt, weight=None if w is None else torch.tensor(w), reduction=reduction,
                              label_smoothing=smoothing)
    _check(ours, theirs, [(x, xt), (y, yt)])  # a target that requires grad: the composed path
    x2, x2t = _both(randn(*shape))  # a constant target: the fused op
    _check(F.cross_entropy(x2, y.detach(), weight=None if w is None else minigrad.tensor(w), reduction=reduction,
                           label_smoothing=smoothing),
           TF.cross_entropy(x2t, yt.detach(), weight=None if w is None else torch.tensor(w), reduction=reduction,
                            label_smoothing=smoothing), [(x2, x2t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (4,)])
def test_nll_loss(reduction, weighted, ignore, shape):
    c = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    x, xt = _both(randn(*shape))
    tgt = rng.integers(0, c, tshape)
    if ignore and tgt.size > 1:
        tgt.reshape(-1)[1::2] = 2
    w = rng.uniform(0.2, 2, c).astype(np.float32) if weighted else None
    kw = dict(reduction=reduction, ignore_index=2 if ignore else -100)
    _check(F.nll_loss(x, minigrad.tensor(tgt), weight=None if w is None else minigrad.tensor(w), **kw),
           TF.nll_loss(xt, torch.tensor(tgt), weight=None if w is None else torch.tensor(w), **kw), [(x, xt)])
    x2, x2t = _both(randn(*shape))
    _check(nn.NLLLoss(weight=None if w is None else minigrad.tensor(w), **kw)(x2, minigrad.tensor(tgt)),
           torch.nn.NLLLoss(weight=None if w is None else torch.tensor(w), **kw)(x2t, torch.tensor(tgt)), [(x2, x2t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    x, xt = _both(rng.uniform(0.02, 0.98, (5, 3)).astype(np.float32))
    y, yt = _both(rng.uniform(0, 1, (5, 3)).astype(np.float32))
    w = rng.uniform(0.2, 2, (5, 3)).astype(np.float32) if weighted else None
    _check(F.binary_cross_entropy(x, y, weight=None if w is None else minigrad.tensor(w), reduction=reduction),
           TF.binary_cross_entropy(xt, yt, weight=None if w is None else torch.tensor(w), reduction=reduction),
           [(x, xt), (y, yt)])
    x2, x2t = _both(rng.uniform(0.02, 0.98, (5, 3)).astype(np.float32))
    _check(nn.BCELoss(weight=None if w is None else minigrad.tensor(w), reduction=reduction)(x2, y.detach()),
           torch.nn.BCELoss(weight=None if w is None else torch.tensor(w), reduction=reduction)(x2t, yt.detach()),
           [(x2, x2t)])


def test_binary_cross_entropy_clamps_log_like_torch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    ours = F.binary_cross_entropy(minigrad.tensor(x), minigrad.tensor(y), reduction="none").numpy()
    theirs = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[0] == pytest.approx(100.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits(reduction, weighted, pos_weighted):
    x, xt = _both(randn(4, 3) * 3)
    y, yt = _both(rng.uniform(0, 1, (4, 3)).astype(np.float32))
    w = rng.uniform(0.2, 2, (4, 3)).astype(np.float32) if weighted else None
    pw = rng.uniform(0.5, 3, 3).astype(np.float32) if pos_weighted else None
    mg = lambda a: None if a is None else minigrad.tensor(a)  # noqa: E731
    th = lambda a: None if a is None else torch.tensor(a)  # noqa: E731
    _check(F.binary_cross_entropy_with_logits(x, y, weight=mg(w), reduction=reduction, pos_weight=mg(pw)),
           TF.binary_cross_entropy_with_logits(xt, yt, weight=th(w), reduction=reduction, pos_weight=th(pw)),
           [(x, xt), (y, yt)])
    x2, x2t = _both(randn(4, 3) * 3)
    _check(nn.BCEWithLogitsLoss(weight=mg(w), reduction=reduction, pos_weight=mg(pw))(x2, y.detach()),
           torch.nn.BCEWithLogitsLoss(weight=th(w), reduction=reduction, pos_weight=th(pw))(x2t, yt.detach()),
           [(x2, x2t)])


def test_bce_with_logits_large_logits_and_zero():
    x, xt = _both(np.array([-200.0, -50.0, 0.0, 0.0, 50.0, 200.0], np.float32))
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], np.float32)
    ours = F.binary_cross_entropy_with_logits(x, minigrad.tensor(y), reduction="none")
    theirs = TF.binary_cross_entropy_with_logits(xt, torch.tensor(y), reduction="none")
    assert np.all(np.isfinite(ours.numpy()))
    _check(ours, theirs, [(x, xt)])


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # torch's kl_div warning
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x, xt = _both(np.log(rng.dirichlet(np.ones(5), 4)).astype(np.float32))
    p = rng.dirichlet(np.ones(5), 4).astype(np.float32)
    p[0, 0] = 0.0  # a zero target contributes 0 (not nan)
    if log_target:
        p = np.log(p + 1e-3).astype(np.float32)
    y, yt = _both(p)
    _check(F.kl_div(x, y, reduction=reduction, log_target=log_target),
           TF.kl_div(xt, yt, reduction=reduction, log_target=log_target), [(x, xt)] + ([(y, yt)] if log_target else []))
    x2, x2t = _both(np.log(rng.dirichlet(np.ones(5), 4)).astype(np.float32))
    _check(nn.KLDivLoss(reduction=reduction, log_target=log_target)(x2, y.detach()),
           torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(x2t, yt.detach()), [(x2, x2t)])


def test_kl_div_target_gradient_positive_targets():
    x, xt = _both(np.log(rng.dirichlet(np.ones(4), 3)).astype(np.float32))
    y, yt = _both(rng.dirichlet(np.ones(4), 3).astype(np.float32))
    _check(F.kl_div(x, y, reduction="sum"), TF.kl_div(xt, yt, reduction="sum"), [(x, xt), (y, yt)])


@pytest.mark.parametrize("cls,kw", [
    ("MSELoss", {}), ("L1Loss", {"reduction": "sum"}), ("HuberLoss", {"delta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.3}), ("CrossEntropyLoss", {"label_smoothing": 0.1}),
    ("NLLLoss", {"ignore_index": 1}), ("BCELoss", {}), ("BCEWithLogitsLoss", {}),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}),
])
def test_loss_module_repr_and_defaults(cls, kw):
    ours, theirs = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    assert repr(ours) == repr(theirs)
    assert ours.reduction == theirs.reduction
    assert list(ours.state_dict()) == list(theirs.state_dict())
