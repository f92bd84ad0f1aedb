"""nn.functional (minigrad/nn/functional.py): reference formulas, stability and error messages;
gradchecks (float64, hypothesis-drawn shapes) of every loss and function; PyTorch as an oracle
for every loss option and reduction."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import gradcheck

from _nn_helpers import ATOL, FAST, REDUCTIONS, RTOL, classes, dims, oracle, randn, rng, seeds, t64, torch
from _ops_helpers import A, _x, check_raises_naming
from strategies import arrays, tensor

TF = None if torch is None else torch.nn.functional


def test_reduction_is_validated_everywhere():
    x, y = minigrad.randn(3), minigrad.randn(3)
    for fn in (F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss, F.kl_div):
        with pytest.raises(ValueError, match="reduction must be"):
            fn(x, y, reduction="avg")
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(minigrad.randn(2, 3), minigrad.tensor([0, 1]), reduction="batchmean")
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="average")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


def test_mse_reference_and_shape_warning():
    x, y = np.array([1.0, 2.0, 4.0], np.float32), np.array([0.0, 2.0, 2.0], np.float32)
    assert F.mse_loss(minigrad.tensor(x), minigrad.tensor(y)).item() == pytest.approx(5 / 3)
    assert F.mse_loss(minigrad.tensor(x), minigrad.tensor(y), reduction="sum").item() == pytest.approx(5)
    with pytest.warns(UserWarning, match="differs from the input's shape"):
        out = F.mse_loss(minigrad.zeros(3, 1), minigrad.zeros(3), reduction="none")
    assert out.shape == (3, 3)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        F.l1_loss(minigrad.zeros(3), minigrad.zeros(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # integer targets take the input's dtype (no float64 promotion, no warning)
        assert F.mse_loss(minigrad.zeros(2), minigrad.tensor([1, 2])).dtype == np.float32


def test_huber_and_smooth_l1_reference():
    d = np.array([-3.0, -0.5, 0.2, 2.0], np.float32)
    x, y = minigrad.tensor(d), minigrad.zeros(4)
    huber = np.where(np.abs(d) < 1.5, 0.5 * d ** 2, 1.5 * (np.abs(d) - 0.75))
    np.testing.assert_allclose(F.huber_loss(x, y, reduction="none", delta=1.5).numpy(), huber, rtol=1e-6)
    sl1 = np.where(np.abs(d) < 0.8, 0.5 * d ** 2 / 0.8, np.abs(d) - 0.4)
    np.testing.assert_allclose(F.smooth_l1_loss(x, y, reduction="none", beta=0.8).numpy(), sl1, rtol=1e-6)
    np.testing.assert_allclose(F.smooth_l1_loss(x, y, reduction="none", beta=0.0).numpy(), np.abs(d))
    with pytest.raises(ValueError, match="delta must be positive"):
        F.huber_loss(x, y, delta=0)


def test_cross_entropy_reference_and_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], np.float32)
    target = np.array([1, 2])
    x = minigrad.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, minigrad.tensor(target), reduction="none")
    row2 = -(3.0 - np.log(np.exp([1.0, 2.0, 3.0]).sum()))
    np.testing.assert_allclose(loss.numpy(), [1000.0, row2], rtol=1e-5)
    loss.sum().backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-6)  # softmax - onehot sums to 0


def test_cross_entropy_and_nll_errors():
    x = minigrad.randn(3, 4)
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x, minigrad.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="out of bounds"):
        F.nll_loss(x, minigrad.tensor([0, -3, 1]))
    with pytest.raises(ValueError, match="does not match input of shape"):
        F.nll_loss(x, minigrad.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(x, minigrad.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, minigrad.tensor([0, 1, 2]), weight=minigrad.ones(3))
    with pytest.raises(ValueError, match="probability target must have the input.s shape"):
        F.cross_entropy(x, minigrad.zeros(3, 3))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, minigrad.tensor([0, 1, 2]), label_smoothing=1.5)


def test_all_targets_ignored_gives_nan_and_zero_gradient():
    x = minigrad.randn(2, 3, requires_grad=True)
    loss = F.cross_entropy(x, minigrad.tensor([-100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    assert np.all(x.grad.numpy() == 0)


def test_ignored_targets_get_no_gradient():
    x = minigrad.randn(3, 4, requires_grad=True)
    F.cross_entropy(x, minigrad.tensor([1, 7, 2]), ignore_index=7).backward()
    assert not x.grad.numpy()[1].any() and x.grad.numpy()[0].any()


def test_bce_errors_and_clamp():
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(minigrad.tensor([1.5]), minigrad.tensor([1.0]))
    with pytest.raises(ValueError, match="same shape"):
        F.binary_cross_entropy(minigrad.tensor([0.5, 0.5]), minigrad.tensor([1.0]))
    with pytest.raises(ValueError, match="same shape"):
        F.binary_cross_entropy_with_logits(minigrad.zeros(2, 1), minigrad.zeros(2))
    x = minigrad.tensor([0.0, 1.0], requires_grad=True)
    loss = F.binary_cross_entropy(x, minigrad.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0])
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_bce_with_logits_equals_bce_of_sigmoid_and_is_stable():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(4, 3)).astype(np.float32), rng.uniform(size=(4, 3)).astype(np.float32)
    a = F.binary_cross_entropy_with_logits(minigrad.tensor(z), minigrad.tensor(y)).item()
    b = F.binary_cross_entropy(minigrad.tensor(z).sigmoid(), minigrad.tensor(y)).item()
    assert a == pytest.approx(b, rel=1e-5)
    big = F.binary_cross_entropy_with_logits(minigrad.tensor([1e4, -1e4]), minigrad.tensor([0.0, 1.0]),
                                             reduction="none")
    np.testing.assert_allclose(big.numpy(), [1e4, 1e4])
    x0 = minigrad.zeros(1, requires_grad=True)  # the gradient at a zero logit is sigmoid(0) - y
    F.binary_cross_entropy_with_logits(x0, minigrad.ones(1)).backward()
    assert x0.grad.item() == pytest.approx(-0.5)


def test_kl_div_reference():
    p = np.array([[0.5, 0.5, 0.0]], np.float32)
    q = np.array([[0.25, 0.25, 0.5]], np.float32)
    out = F.kl_div(minigrad.tensor(np.log(q)), minigrad.tensor(p), reduction="batchmean").item()
    assert out == pytest.approx(np.sum(p[:, :2] * np.log(p[:, :2] / q[:, :2])))
    out_log = F.kl_div(minigrad.tensor(np.log(q)), minigrad.tensor(np.log(p + 1e-30)), reduction="sum",
                       log_target=True).item()
    assert out_log == pytest.approx(out, rel=1e-5)


def test_softmax_log_softmax_stable():
    x = minigrad.tensor([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])
    s = F.softmax(x, dim=1).numpy()
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(1), 1, rtol=1e-6)
    ls = F.log_softmax(x, dim=1).numpy()
    np.testing.assert_allclose(ls[0], np.log(np.exp([0.0, 1, 2]) / np.exp([0.0, 1, 2]).sum()), atol=2e-4)  # float32 at 1e3
    assert F.log_softmax(x, dim=1, dtype=np.float64).dtype == np.float64


def test_layer_norm_and_batch_norm_functional_errors():
    with pytest.raises(ValueError, match="must match the last dimensions"):
        F.layer_norm(minigrad.zeros(2, 3), (2,))
    with pytest.raises(ValueError, match=r"weight must have shape normalized_shape \(3,\), got \(2,\)"):
        F.layer_norm(minigrad.zeros(2, 3), 3, weight=minigrad.ones(2))
    with pytest.raises(ValueError, match="running_mean has shape"):
        F.batch_norm(minigrad.zeros(4, 3), minigrad.zeros(2), minigrad.ones(3))
    with pytest.raises(ValueError, match="must be given when training=False"):
        F.batch_norm(minigrad.zeros(4, 3), None, None)


def test_embedding_and_normalize():
    w = minigrad.randn(5, 3, requires_grad=True)
    idx = minigrad.tensor([[0, 2], [2, 4]])
    out = F.embedding(idx, w, padding_idx=4)
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx.numpy()])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1, 0, 2, 0, 0])  # row 2 twice, padding row none
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(minigrad.tensor([5]), w)
    v = F.normalize(minigrad.tensor([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(v.numpy(), [[0.6, 0.8], [0.0, 0.0]])


def test_linear_functional_errors():
    with pytest.raises(ValueError, match="linear"):
        F.linear(minigrad.zeros(2, 3), minigrad.zeros(4, 2))


def test_l1_l2_penalty_example_from_the_docs():
    minigrad.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = minigrad.randn(8, 3), minigrad.randn(8, 1)
    l2 = sum((p ** 2).sum() for p in model.parameters())
    l1 = sum(p.abs().sum() for p in model.parameters())
    loss = F.mse_loss(model(x), y) + 1e-2 * l2 + 1e-3 * l1
    loss.backward()
    base = nn.Linear(3, 1)
    base.load_state_dict(model.state_dict())
    F.mse_loss(base(x), y).backward()
    w = model.weight.numpy()
    expected = base.weight.grad.numpy() + 2e-2 * w + 1e-3 * np.sign(w)
    np.testing.assert_allclose(model.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- hostile inputs

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


# ----------------------------------------------------------------------------- errors name the op

ERRORS = [
    ("batch_norm", lambda: F.batch_norm(_x(), mg.zeros(3), mg.ones(3), training=True, momentum=None), TypeError),
    ("batch_norm", lambda: F.batch_norm(_x(), None, None, training=True, eps=0), ValueError),
    ("mse_loss", lambda: F.mse_loss(mg.tensor(np.array([True])), mg.tensor(np.array([False]))), TypeError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)


# ----------------------------------------------------------------------------- gradcheck

@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS),
       name=st.sampled_from(["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"]),
       param=st.sampled_from([0.5, 1.0, 2.0]), weighted=st.booleans())
def test_gradcheck_regression_losses(n, m, seed, reduction, name, param, weighted):
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
def test_gradcheck_cross_entropy_class_targets(n, c, extra, seed, reduction, weighted, smoothing, ignore):
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
def test_gradcheck_cross_entropy_prob_targets(n, c, seed, reduction, weighted, smoothing):
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, c)))
    y = t64(rng.dirichlet(np.ones(c), n))
    w = t64(rng.uniform(0.2, 2, c), grad=False) if weighted else None
    gradcheck(lambda a, b: F.cross_entropy(a, b, weight=w, reduction=reduction, label_smoothing=smoothing), (x, y))


@FAST
@given(n=dims, c=classes, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_gradcheck_nll_loss(n, c, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, c)))
    tgt = minigrad.tensor(rng.integers(0, c, n))
    w = t64(rng.uniform(0.2, 2, c), grad=False) if weighted else None
    gradcheck(lambda a: F.nll_loss(a, tgt, weight=w, reduction=reduction), (x,))


@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_gradcheck_binary_cross_entropy(n, m, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    x, y = t64(rng.uniform(0.05, 0.95, (n, m))), t64(rng.uniform(0, 1, (n, m)))
    w = t64(rng.uniform(0.2, 2, (n, m)), grad=False) if weighted else None
    gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), (x, y))


@FAST
@given(n=dims, m=dims, seed=seeds, reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans(),
       pos=st.booleans())
def test_gradcheck_bce_with_logits(n, m, seed, reduction, weighted, pos):
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
def test_gradcheck_kl_div(n, c, seed, reduction, log_target):
    rng = np.random.default_rng(seed)
    x = t64(np.log(rng.dirichlet(np.ones(c), n)))
    p = rng.dirichlet(np.ones(c), n) + 0.01
    y = t64(np.log(p) if log_target else p)
    gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), (x, y))


def test_dropout_with_a_fixed_mask():
    x = t64(np.random.default_rng(0).normal(size=(4, 5)))

    def fn(a):
        minigrad.manual_seed(0)  # the same mask on every call
        return F.dropout(a, 0.4, training=True)

    gradcheck(fn, (x,))


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


@given(data=st.data())
def test_gradcheck_group_norm_rms_norm(data):
    n, g, per, hw = (data.draw(st.integers(1, 3)) for _ in range(4))
    c = g * per
    x = tensor(data.draw(arrays((n, c, hw))))
    w, b = tensor(data.draw(arrays((c,)))), tensor(data.draw(arrays((c,))))
    if c * hw > 1:  # one element per group has variance 0: the normalisation is flat there
        mg.gradcheck(lambda t, ww, bb: F.group_norm(t, g, ww, bb, eps=1e-3), (x, w, b))
    shape = data.draw(st.sampled_from([(3,), (2, 3)]))
    x2 = tensor(data.draw(arrays((2,) + shape)))
    w2 = tensor(data.draw(arrays(shape)))
    mg.gradcheck(lambda t, ww: F.rms_norm(t, shape, ww, eps=1e-3), (x2, w2))


@given(data=st.data())
def test_gradcheck_activations(data):
    shape = data.draw(st.sampled_from([(5,), (2, 3), (2, 3, 4)]))
    x = tensor(data.draw(arrays(shape, -5.0, 5.0, away_from=[-3.0, 0.0, 3.0], margin=0.05)))
    mg.gradcheck(F.mish, (x,))
    mg.gradcheck(F.hardswish, (x,))
    mg.gradcheck(F.hardsigmoid, (x,))
    k = shape[1] if len(shape) > 1 and data.draw(st.booleans()) else 1
    w = tensor(data.draw(arrays((k,), 0.05, 0.5)))
    mg.gradcheck(F.prelu, (x, w))


@given(data=st.data())
def test_gradcheck_pixel_shuffle_and_distances(data):
    r = data.draw(st.integers(1, 2))
    c, h, w = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = tensor(data.draw(arrays((2, c * r * r, h, w))))
    mg.gradcheck(lambda t: F.pixel_shuffle(t, r), (x,))
    mg.gradcheck(lambda t: F.pixel_unshuffle(F.pixel_shuffle(t, r) * 2.0, r), (x,))
    n, d = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    a, p, q = (tensor(data.draw(arrays((n, d)))) for _ in range(3))
    mg.gradcheck(lambda u, v: F.cosine_similarity(u + 3.0, v - 3.0, dim=1), (a, p))
    mg.gradcheck(lambda u, v: F.pairwise_distance(u, v + 5.0), (a, p))
    swap = data.draw(st.booleans())
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    mg.gradcheck(lambda u, v, z: F.triplet_margin_loss(u, v + 1.0, z - 1.0, margin=20.0, swap=swap,
                                                       reduction=reduction), (a, p, q))


@given(data=st.data())
def test_gradcheck_embedding_bag(data):
    num, dim = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 3))
    weight = tensor(data.draw(arrays((num, dim))))
    ids = data.draw(st.lists(st.integers(0, num - 1), min_size=0, max_size=7))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ids)), min_size=0, max_size=3)))
    offsets = mg.tensor([0] + cuts, dtype=mg.int64)
    mode = data.draw(st.sampled_from(["sum", "mean"]))
    inp = mg.tensor(ids, dtype=mg.int64)
    mg.gradcheck(lambda w: F.embedding_bag(inp, w, offsets, mode=mode), (weight,))
    psw = tensor(data.draw(arrays((len(ids),))))
    mg.gradcheck(lambda w, s: F.embedding_bag(inp, w, offsets, mode="sum", per_sample_weights=s), (weight, psw))
    distinct = tensor(data.draw(arrays((num, dim))) + np.arange(num * dim).reshape(num, dim) * 0.5)
    mg.gradcheck(lambda w: F.embedding_bag(inp, w, offsets, mode="max"), (distinct,))


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
def test_functional_linear_and_dropout_eval_match():
    x, w, b = randn(2, 3, 4), randn(5, 4), randn(5)
    np.testing.assert_allclose(F.linear(minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b)).numpy(),
                               torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy(),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(F.dropout(minigrad.tensor(x), 0.3, training=False).numpy(), x)


@oracle
@pytest.mark.parametrize("name,kw", [("conv2d", {"padding": 1, "stride": 2}), ("max_pool2d", {"kernel_size": 2}),
                                     ("avg_pool2d", {"kernel_size": 3, "stride": 1, "padding": 1})])
def test_functional_reexports_conv_and_pool_under_torch_names(name, kw):
    if not hasattr(F, name):
        pytest.skip(f"ops providing F.{name} not present")
    x = randn(2, 3, 6, 5)
    args, targs = (), ()
    if name == "conv2d":
        w = randn(4, 3, 3, 3)
        args, targs = (minigrad.tensor(w),), (torch.tensor(w),)
    out = getattr(F, name)(minigrad.tensor(x), *args, **kw)
    ref = getattr(torch.nn.functional, name)(torch.tensor(x), *targs, **kw)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- PyTorch oracle: losses

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


@oracle
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


@oracle
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


@oracle
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


@oracle
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


@oracle
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


@oracle
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


@oracle
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


@oracle
def test_binary_cross_entropy_clamps_log_like_torch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    ours = F.binary_cross_entropy(minigrad.tensor(x), minigrad.tensor(y), reduction="none").numpy()
    theirs = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[0] == pytest.approx(100.0)


@oracle
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


@oracle
def test_bce_with_logits_large_logits_and_zero():
    x, xt = _both(np.array([-200.0, -50.0, 0.0, 0.0, 50.0, 200.0], np.float32))
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], np.float32)
    ours = F.binary_cross_entropy_with_logits(x, minigrad.tensor(y), reduction="none")
    theirs = TF.binary_cross_entropy_with_logits(xt, torch.tensor(y), reduction="none")
    assert np.all(np.isfinite(ours.numpy()))
    _check(ours, theirs, [(x, xt)])


@oracle
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


@oracle
def test_kl_div_target_gradient_positive_targets():
    x, xt = _both(np.log(rng.dirichlet(np.ones(4), 3)).astype(np.float32))
    y, yt = _both(rng.dirichlet(np.ones(4), 3).astype(np.float32))
    _check(F.kl_div(x, y, reduction="sum"), TF.kl_div(xt, yt, reduction="sum"), [(x, xt), (y, yt)])
