"""nn.functional without an oracle: reference formulas, stability, and error messages."""
import warnings

import numpy as np
import pytest

import minigrad
from minigrad import nn
import minigrad.nn.functional as F


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
