"""Activation modules (minigrad/nn/activation.py): shapes and values, gradchecks, PyTorch as
an oracle (outputs, gradients, reprs), errors."""
import numpy as np
import pytest

import minigrad
import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import gradcheck

from _nn_helpers import compare, compare_with_repr, copy_weights, oracle, randn, rng, t64, torch


# ----------------------------------------------------------------------------- behaviour

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


# ----------------------------------------------------------------------------- gradcheck

ACTS = [nn.ReLU(), nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.GELU("tanh"),
        nn.SiLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.Softplus(2.0, 3.0), nn.LogSigmoid(), nn.Softmax(1),
        nn.LogSoftmax(-1), nn.Softmin(0), nn.Flatten(), nn.Unflatten(1, (2, 2)), nn.Identity()]


@pytest.mark.parametrize("act", ACTS, ids=lambda m: repr(m))
def test_gradcheck_activation_modules(act):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)) * 2
    x[np.abs(x) < 0.05] = 0.3  # stay away from kinks
    x[np.abs(np.abs(x) - 0.5) < 0.05] = 0.7
    gradcheck(lambda a: act(a), (t64(x),))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: F.prelu(mg.ones(2, 3), mg.ones(2)), ValueError, "prelu: weight of shape"),
    (lambda: nn.PReLU(0), ValueError, "PReLU: num_parameters"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("name,args", [("Mish", ()), ("Hardswish", ()), ("Hardsigmoid", ()), ("PReLU", ()),
                                       ("PReLU", (3, 0.1))])
def test_oracle_activations(name, args):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    copy_weights(ours, theirs)
    x = randn(2, 3, 4) * 3
    compare_with_repr(ours, theirs, x)
    assert F.__dict__[name.lower()] is not None


@pytest.mark.oracle
def test_oracle_prelu_init_and_functional():
    torch = pytest.importorskip("torch")
    assert nn.PReLU(5).weight.tolist() == torch.nn.PReLU(5).weight.tolist()
    x, w = randn(7), np.array([0.3], np.float32)
    np.testing.assert_allclose(F.prelu(mg.tensor(x), mg.tensor(w)).numpy(),
                               torch.nn.functional.prelu(torch.tensor(x), torch.tensor(w)).numpy())


ACTIVATIONS = [
    ("ReLU", {}), ("ReLU", {"inplace": True}), ("ReLU6", {}), ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("Sigmoid", {}), ("Tanh", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}),
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {}), ("ELU", {"alpha": 0.5}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 1.0}), ("LogSigmoid", {}),
    ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 1}), ("LogSoftmax", {"dim": 0}),
    ("Softmin", {"dim": 1}), ("Identity", {}),
]


@oracle
@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_modules(name, kw):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    x = randn(4, 5, 3) * 3
    compare(ours, theirs if not kw.get("inplace") else torch.nn.ReLU(), x)
    assert repr(ours) == repr(theirs)
