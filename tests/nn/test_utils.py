"""nn.utils (minigrad/nn/utils.py): gradient clipping, parameters as one vector; PyTorch as an oracle."""
import math

import numpy as np
import pytest

import minigrad
import minigrad as mg
from minigrad import nn

from _nn_helpers import copy_weights, oracle, randn, torch
from _ops_helpers import A


# ----------------------------------------------------------------------------- behaviour

def _model_with_grads():
    minigrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    (m(minigrad.randn(5, 3)) * 10.0).sum().backward()
    return m


def test_clip_grad_norm_scales_to_max_norm():
    m = _model_with_grads()
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    ret = nn.utils.clip_grad_norm_(m.parameters(), max_norm=1.0)
    assert float(ret) == pytest.approx(total, rel=1e-5)
    new = [p.grad.numpy() for p in m.parameters()]
    assert np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in new)) == pytest.approx(1.0, rel=1e-4)
    for g, n in zip(grads, new):  # same direction
        np.testing.assert_allclose(n, g / total, rtol=1e-4, atol=1e-7)
    # below the threshold nothing changes
    before = [p.grad.numpy().copy() for p in m.parameters()]
    nn.utils.clip_grad_norm_(m.parameters(), max_norm=100.0)
    for b, p in zip(before, m.parameters()):
        np.testing.assert_array_equal(b, p.grad.numpy())


def test_clip_grad_norm_with_shared_and_broadcast_gradients():
    # sum() gives a broadcast (read-only) gradient; a + b gives the same gradient to both
    a = nn.Parameter(minigrad.ones(3))
    b = nn.Parameter(minigrad.ones(3))
    ((a + b) * 3.0).sum().backward()
    nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    expected = 3.0 / np.sqrt(2 * 3 * 9.0)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), expected, rtol=1e-5)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(minigrad.ones(2))
    assert float(nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no gradients
    p.grad = minigrad.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = minigrad.tensor([3.0, -4.0])
    assert float(nn.utils.clip_grad_norm_(p, 10.0, norm_type="inf")) == 4.0


def test_clip_grad_value():
    p = nn.Parameter(minigrad.zeros(3))
    p.grad = minigrad.tensor([-5.0, 0.5, 7.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])


def test_parameters_vector_round_trip():
    m = nn.Linear(3, 2)
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (8,)
    np.testing.assert_array_equal(v.numpy()[:6], m.weight.numpy().ravel())
    nn.utils.vector_to_parameters(v * 0.0 + 1.0, m.parameters())
    assert np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 1)
    with pytest.raises(ValueError, match="9 elements"):
        nn.utils.vector_to_parameters(minigrad.zeros(9), m.parameters())


# ----------------------------------------------------------------------------- hostile inputs

def test_clip_grad_norm_with_a_nan_gradient_makes_every_gradient_nan():
    a, b = nn.Parameter(mg.tensor([1.0, 2.0])), nn.Parameter(mg.tensor([3.0, 4.0]))
    a.grad, b.grad = mg.tensor([np.nan, 1.0]), mg.tensor([3.0, 4.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert math.isnan(float(total.item()))
    assert np.isnan(A(a.grad)).all() and np.isnan(A(b.grad)).all()


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    copy_weights(ours, theirs)
    x = randn(6, 4)
    (ours(minigrad.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    n = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    assert float(n) == pytest.approx(float(tn), rel=1e-5)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


@oracle
def test_clip_grad_value_matches_torch():
    ours, theirs = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    copy_weights(ours, theirs)
    x = randn(6, 4) * 5
    (ours(minigrad.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    nn.utils.clip_grad_value_(ours.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.5)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
