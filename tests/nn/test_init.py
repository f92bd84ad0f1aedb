"""nn.init: gains, fans, bounds and statistics, reproducibility, in-place semantics."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.nn import init

from _nn_helpers import oracle, torch


def test_calculate_gain_values_and_errors():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(minigrad.zeros(3, 4)) == (4, 3)
    assert init._calculate_fan_in_and_fan_out(minigrad.zeros(8, 2, 3, 3)) == (18, 72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(minigrad.zeros(5))
    with pytest.raises(ValueError, match="fan_in' or 'fan_out"):
        init.kaiming_normal_(minigrad.zeros(2, 2), mode="fan_avg")


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("linear", 0)])
def test_kaiming_uniform_bounds_and_std(mode, nonlinearity, a):
    w = minigrad.zeros(200, 300)
    init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 300 if mode == "fan_in" else 200
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3) * std
    arr = w.numpy()
    assert np.abs(arr).max() <= bound and np.abs(arr).max() > 0.99 * bound
    assert arr.std() == pytest.approx(std, rel=0.02)


def test_kaiming_normal_and_xavier_statistics():
    w = minigrad.zeros(300, 400)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert abs(w.numpy().mean()) < 0.002
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 700)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_normal_(w)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)


def test_uniform_normal_constant_zeros_ones_eye():
    t = minigrad.zeros(100, 100)
    init.uniform_(t, -2.0, 3.0)
    assert t.numpy().min() >= -2.0 and t.numpy().max() < 3.0 and t.numpy().mean() == pytest.approx(0.5, abs=0.05)
    init.normal_(t, 1.0, 0.5)
    assert t.numpy().mean() == pytest.approx(1.0, abs=0.02) and t.numpy().std() == pytest.approx(0.5, rel=0.03)
    init.constant_(t, 0.25)
    assert np.all(t.numpy() == 0.25)
    init.zeros_(t)
    assert not t.numpy().any()
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    init.eye_(t)
    np.testing.assert_array_equal(t.numpy(), np.eye(100))


def test_trunc_normal_stays_inside():
    t = minigrad.zeros(200, 50)
    init.trunc_normal_(t, mean=0.5, std=1.0, a=-0.5, b=1.0)
    assert t.numpy().min() >= -0.5 and t.numpy().max() <= 1.0
    with pytest.raises(ValueError, match="smaller than b"):
        init.trunc_normal_(t, a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 2, 2)])
def test_orthogonal(shape):
    t = minigrad.zeros(*shape)
    init.orthogonal_(t, gain=2.0)
    m = t.numpy().reshape(shape[0], -1) / 2.0
    if m.shape[0] <= m.shape[1]:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)


def test_in_place_on_parameters_keeps_identity_and_no_graph():
    lin = nn.Linear(3, 3)
    w = lin.weight
    v0 = w._version[0]
    out = init.kaiming_normal_(lin.weight)
    assert out is w and lin.weight is w and w.requires_grad and w.grad_fn is None
    assert w._version[0] > v0


def test_generators_reproducible():
    minigrad.manual_seed(11)
    a = init.normal_(minigrad.zeros(5))
    minigrad.manual_seed(11)
    b = init.normal_(minigrad.zeros(5))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(init.uniform_(minigrad.zeros(4), generator=g1).numpy(),
                                  init.uniform_(minigrad.zeros(4), generator=g2).numpy())


def test_zero_element_tensors_are_a_no_op():
    t = minigrad.zeros(0, 3)
    assert init.kaiming_uniform_(t) is t
    assert init.normal_(t) is t


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
@pytest.mark.parametrize("fn,kw", [
    ("xavier_uniform_", {}), ("xavier_normal_", {"gain": 2.0}), ("kaiming_uniform_", {}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform_", {"a": 0.2, "nonlinearity": "leaky_relu"}),
])
def test_init_std_matches_torch(fn, kw):
    t = torch.empty(400, 50, 3)
    getattr(torch.nn.init, fn)(t, **kw)
    m = minigrad.zeros(400, 50, 3)
    getattr(nn.init, fn)(m, **kw)
    assert m.numpy().std() == pytest.approx(t.numpy().std(), rel=0.03)
    assert np.abs(m.numpy()).max() <= np.abs(t.numpy()).max() * 1.3


@oracle
@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3), ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))
