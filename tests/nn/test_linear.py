"""Linear layers (minigrad/nn/linear.py): Identity, Linear, Bilinear, Flatten, Unflatten:
shapes, layout, initialisation, errors; gradchecks; PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
from minigrad import nn
from minigrad import gradcheck

from _nn_helpers import FAST, compare, copy_weights, dims, oracle, randn, rng, seeds, t64, torch


# ----------------------------------------------------------------------------- behaviour

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


def test_flatten_unflatten_identity():
    x = minigrad.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Identity(1, 2, key=3)(x) is x


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


# ----------------------------------------------------------------------------- gradcheck

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


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear(bias, shape):
    ours, theirs = nn.Linear(3, 6, bias=bias), torch.nn.Linear(3, 6, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(*shape))
    assert repr(ours) == repr(theirs)


@oracle
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(bias):
    ours, theirs = nn.Bilinear(3, 4, 5, bias=bias), torch.nn.Bilinear(3, 4, 5, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(6, 3), randn(6, 4))
    compare(ours, theirs, randn(2, 3, 3), randn(2, 3, 4))
    assert repr(ours) == repr(theirs)


@oracle
@pytest.mark.parametrize("module,args", [("Flatten", ()), ("Flatten", (0, 1)), ("Flatten", (1, 2)),
                                         ("Unflatten", (1, (2, 3))), ("Unflatten", (-1, (2, 2)))])
def test_shape_modules(module, args):
    ours, theirs = getattr(nn, module)(*args), getattr(torch.nn, module)(*args)
    x = randn(2, 6, 4) if module == "Flatten" or args[0] == 1 else randn(3, 2, 4)
    compare(ours, theirs, x)
    assert repr(ours) == repr(theirs)


@oracle
@pytest.mark.parametrize("size", [(64, 300), (300, 64), (16, 8, 3)])
def test_default_init_distribution_matches_torch(size):
    """Both draw every parameter from U(-b, b) with b = 1/sqrt(fan_in)."""
    torch.manual_seed(0)
    minigrad.manual_seed(0)
    if len(size) == 2:
        ours, theirs = nn.Linear(size[1], size[0]), torch.nn.Linear(size[1], size[0])
    else:
        ours = nn.Bilinear(size[1], size[2], size[0])
        theirs = torch.nn.Bilinear(size[1], size[2], size[0])
    bound = 1 / np.sqrt(size[1])
    for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        a, b = p.numpy(), tp.detach().numpy()
        assert n == tn and a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound, n
        if a.size >= 300:  # large samples reach the bound and have the uniform's std b/sqrt(3)
            assert np.abs(a).max() > 0.97 * bound, n
            assert a.std() == pytest.approx(bound / np.sqrt(3), rel=0.08), n
            assert b.std() == pytest.approx(bound / np.sqrt(3), rel=0.08), n
