"""Layer behaviour that needs no oracle: shapes, train/eval, running statistics, errors."""
import numpy as np
import pytest

import minigrad
from minigrad import nn
import minigrad.nn.functional as F


def test_linear_shapes_layout_and_errors():
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    x = minigrad.randn(4, 5)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5,
                               atol=1e-6)
    assert lin(minigrad.randn(2, 7, 5)).shape == (2, 7, 3)
    assert nn.Linear(5, 3, bias=False).bias is None
    assert list(nn.Linear(5, 3, bias=False).state_dict()) == ["weight"]
    assert nn.Linear(2, 2, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match=r"linear: input of shape \(4, 4\)"):
        lin(minigrad.randn(4, 4))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)


def test_linear_init_bounds():
    minigrad.manual_seed(0)
    lin = nn.Linear(100, 400)
    bound = 1 / np.sqrt(100)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)
    assert abs(w.mean()) < 0.01 * bound * 10


def test_init_is_reproducible_with_manual_seed():
    minigrad.manual_seed(7)
    a = nn.Linear(4, 4)
    minigrad.manual_seed(7)
    b = nn.Linear(4, 4)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


def test_dropout_train_eval_and_statistics():
    minigrad.manual_seed(0)
    d = nn.Dropout(0.25)
    x = minigrad.ones(200, 100)
    y = d(x).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation
    d.eval()
    assert d(x) is x
    assert not F.dropout(x, 1.0).numpy().any()
    # gradient flows only through kept elements, scaled the same way
    xr = minigrad.ones(10, 10, requires_grad=True)
    d.train()
    out = d(xr)
    out.sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), out.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)


def test_dropout_uses_the_global_generator():
    x = minigrad.ones(5, 5)
    minigrad.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    minigrad.manual_seed(3)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_batchnorm_running_stats_by_hand():
    bn = nn.BatchNorm1d(3, momentum=0.1)
    xs = [np.random.default_rng(i).normal(i, 2.0, (8, 3)).astype(np.float32) for i in range(3)]
    rm, rv = np.zeros(3), np.ones(3)
    for x in xs:
        y = bn(minigrad.tensor(x)).numpy()
        mu, var = x.mean(0), x.var(0)
        np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
        rm = 0.9 * rm + 0.1 * mu
        rv = 0.9 * rv + 0.1 * x.var(0, ddof=1)  # unbiased in the running estimate
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    bn.eval()
    x = xs[0]
    np.testing.assert_allclose(bn(minigrad.tensor(x)).numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 3  # eval does not count batches


def test_batchnorm_cumulative_average_when_momentum_none():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [np.random.default_rng(i).normal(size=(6, 2)).astype(np.float32) for i in range(4)]
    for x in xs:
        bn(minigrad.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5,
                               atol=1e-6)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(0).normal(3, 2, (10, 2)).astype(np.float32)
    np.testing.assert_allclose(bn(minigrad.tensor(x)).numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="expected 2D or 3D input, got 4D"):
        bn(minigrad.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected 3 channels"):
        bn(minigrad.zeros(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(minigrad.zeros(1, 3))
    bn.eval()
    assert bn(minigrad.zeros(1, 3)).shape == (1, 3)  # fine in eval
    with pytest.raises(ValueError, match="expected 4D"):
        nn.BatchNorm2d(3)(minigrad.zeros(2, 3))


def test_batchnorm_in_eval_is_an_affine_map_with_gradients():
    bn = nn.BatchNorm1d(2).eval()
    x = minigrad.randn(4, 2, requires_grad=True)
    bn(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((4, 2), 1 / np.sqrt(1 + 1e-5)), rtol=1e-6)


def test_layernorm_normalises_each_sample():
    ln = nn.LayerNorm((2, 3))
    x = minigrad.randn(4, 2, 3) * 5.0 + 3.0
    y = ln(x).numpy().reshape(4, -1)
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1, rtol=1e-3)
    with pytest.raises(ValueError, match="must match the last dimensions"):
        ln(minigrad.randn(4, 3, 2))
    assert nn.LayerNorm(3, elementwise_affine=False).weight is None


def test_flatten_unflatten_identity():
    x = minigrad.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Identity(1, 2, key=3)(x) is x


def test_activations_shapes_and_values():
    x = minigrad.tensor([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), [[0, 0.5, 3]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).numpy(), [[-0.2, 0.5, 3]], rtol=1e-6)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=1)(x).numpy()), nn.Softmax(dim=1)(x).numpy(), rtol=1e-5)
    np.testing.assert_allclose(nn.ReLU6()(x * 3.0).numpy(), [[0, 1.5, 6]])
    with pytest.warns(UserWarning, match="implicit dimension"):
        nn.Softmax()(x)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


def test_bilinear_matches_einsum():
    bl = nn.Bilinear(3, 4, 2)
    a, b = minigrad.randn(5, 3), minigrad.randn(5, 4)
    ref = np.einsum("ni,oij,nj->no", a.numpy(), bl.weight.numpy(), b.numpy()) + bl.bias.numpy()
    np.testing.assert_allclose(bl(a, b).numpy(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="bilinear"):
        bl(b, a)


def test_a_small_mlp_learns():
    minigrad.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = minigrad.tensor(x), minigrad.tensor(y)
    first = None
    for _ in range(40):
        model.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        first = loss.item() if first is None else first
        with minigrad.no_grad():
            for p in model.parameters():
                p.array -= 1.0 * p.grad.array
    assert loss.item() < 0.8 * first
