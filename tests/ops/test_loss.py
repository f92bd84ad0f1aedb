"""minigrad.ops.loss: cross_entropy gradcheck (float64, hypothesis-drawn, both kernel sets), huge
logits, weights and ignored targets, errors, and PyTorch as an oracle for values and gradients of
every option."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.loss import cross_entropy
from _ops_helpers import check_zero_size, MODES, t64


# ----------------------------------------------------------------------------- cross-entropy

@st.composite
def ce_cases(draw):
    N = draw(st.integers(1, 5))
    C = draw(st.integers(1, 6))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    soft = draw(st.booleans())
    weighted = draw(st.booleans())
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    eps = draw(st.sampled_from([0.0, 0.25]))
    seed = draw(st.integers(0, 2 ** 31))
    return N, C, spatial, soft, weighted, reduction, eps, seed


def _ce_data(case):
    N, C, spatial, soft, weighted, reduction, eps, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + spatial) * 2
    if soft:
        t = rng.random((N, C) + spatial)
        t = t / t.sum(1, keepdims=True)
    else:
        t = rng.integers(0, C, (N,) + spatial)
        t.reshape(-1)[0] = -100 if t.size > 1 else t.reshape(-1)[0]   # one ignored target
    w = rng.uniform(0.3, 2.0, C) if weighted else None
    return x, t, w, reduction, eps


@pytest.mark.parametrize("mode", MODES)
@given(case=ce_cases())
def test_cross_entropy_gradcheck(mode, case):
    x, t, w, reduction, eps = _ce_data(case)
    wt = None if w is None else t64(w, False)
    with mg.kernels.use(mode):
        mg.gradcheck(lambda z: cross_entropy(z, mg.tensor(t), weight=wt, reduction=reduction, label_smoothing=eps),
                     (t64(x),))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
def test_cross_entropy_finite_for_huge_logits(mode, dtype):
    x = mg.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4 - 1]], dtype=dtype, requires_grad=True)
    with mg.kernels.use(mode):
        loss = cross_entropy(x, mg.tensor([0, 2]), label_smoothing=0.1)
        loss.backward()
    assert np.isfinite(loss.item())
    # row 0: p(class 0) = 1; row 1: -log p(class 2) = log(1 + e)
    row0 = 0.9 * 0 + 0.1 / 3 * (2e4 + 1e4)
    row1 = 0.9 * np.log1p(np.e) + 0.1 / 3 * (2e4 + np.log1p(np.e) + 2 * np.log1p(np.exp(-1)))
    expect = (row0 + row1) / 2
    np.testing.assert_allclose(loss.item(), expect, rtol=1e-4)
    assert np.all(np.isfinite(x.grad.array))
    np.testing.assert_allclose(x.grad.array.sum(1), 0, atol=1e-5)


def test_cross_entropy_mean_over_weights_and_all_ignored():
    x = mg.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=mg.float64)
    t = mg.tensor([1, -100, 0])
    w = mg.tensor([2.0, 0.5], dtype=mg.float64)
    per = cross_entropy(x, t, weight=w, reduction="none").array
    assert per[1] == 0
    np.testing.assert_allclose(cross_entropy(x, t, weight=w).item(), per.sum() / (0.5 + 2.0), rtol=1e-14)
    np.testing.assert_allclose(cross_entropy(x, t, weight=w, reduction="sum").item(), per.sum(), rtol=1e-14)
    assert np.isnan(cross_entropy(x, mg.tensor([-100, -100, -100])).item())


def test_cross_entropy_unbatched_and_errors():
    x = mg.tensor([1.0, 2.0, 0.5], requires_grad=True)
    loss = cross_entropy(x, mg.tensor(1))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), np.log(np.exp(x.array).sum()) - 2.0, rtol=1e-6)
    assert cross_entropy(x, mg.tensor(1), reduction="none").shape == ()
    with pytest.raises(IndexError, match="out of bounds"):
        cross_entropy(mg.tensor([[1.0, 2.0]]), mg.tensor([2]))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(mg.tensor([[1.0, 2.0]]), mg.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(mg.tensor([[1.0, 2.0]]), mg.tensor([0]), reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        cross_entropy(mg.tensor([[1.0, 2.0]]), mg.tensor([0]), weight=mg.tensor([1.0]))
    with pytest.raises(TypeError, match="target"):
        cross_entropy(mg.tensor([[1.0, 2.0]]), mg.tensor([True]))


def test_cross_entropy_double_backward_raises_clearly():
    x = mg.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=mg.float64, requires_grad=True)
    loss = cross_entropy(x, mg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="double backward"):
        mg.grad(loss, x, create_graph=True)


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("soft", [False, True], ids=["index", "probs"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("spatial", [(), (3, 2)], ids=["2d", "4d"])
def test_cross_entropy_against_torch(mode, soft, weighted, reduction, eps, spatial):
    torch = pytest.importorskip("torch")
    x, t, w, _, _ = _ce_data((4, 5, spatial, soft, weighted, reduction, eps, 7))
    ignore = -100                     # PyTorch refuses any other ignore_index with probabilities
    if not soft:
        ignore = 3                    # ignore a real class, and use it for the -100 entry too
        t[t == -100] = 3
        t.reshape(-1)[1] = 3
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                           ignore_index=ignore, reduction=reduction, label_smoothing=eps)
    g = np.random.default_rng(8).standard_normal(tl.shape)
    tl.backward(torch.tensor(g))
    mx = t64(x)
    with mg.kernels.use(mode):
        loss = cross_entropy(mx, mg.tensor(t), weight=None if w is None else t64(w, False), ignore_index=ignore,
                             reduction=reduction, label_smoothing=eps)
        loss.backward(mg.tensor(g))
    np.testing.assert_allclose(loss.array, tl.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.oracle
def test_cross_entropy_float32_against_torch_large_batch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((256, 10)) * 5).astype(np.float32)
    t = rng.integers(0, 10, 256)
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t))
    tl.backward()
    mx = mg.tensor(x, requires_grad=True)
    loss = cross_entropy(mx, mg.tensor(t))
    loss.backward()
    assert loss.dtype == mg.float32 and mx.grad.dtype == mg.float32
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-5)
    np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("cross_entropy batch 0", lambda x: F.cross_entropy(x, mg.tensor(np.zeros(0, np.int64)), reduction="sum"),
     [(0, 3)], ()),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)
