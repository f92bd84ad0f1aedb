"""Helpers shared by the tests of minigrad.nn's modules (tests/nn/test_<module>.py):
PyTorch as an oracle (weights copied through NumPy, outputs and every gradient
compared) and float64 gradchecks on hypothesis-drawn sizes."""
import numpy as np
import pytest
from hypothesis import settings, strategies as st

import minigrad
import minigrad as mg

try:
    import torch
except ImportError:  # the oracle tests skip
    torch = None

# ----------------------------------------------------------------------------- PyTorch oracle

RTOL, ATOL = 1e-4, 1e-5
rng = np.random.default_rng(99)


def oracle(test):
    """Mark ``test`` as a PyTorch-oracle test (``-m oracle``), skipped without PyTorch."""
    test = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")(test)
    return pytest.mark.oracle(test)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def copy_weights(ours, theirs):
    """torch -> minigrad through NumPy; also checks names and shapes agree."""
    sd = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k
    ours.load_state_dict(sd)


def _compare_gradients(ours, theirs, out, tout, mins, tins, same_names=False):
    """Backprop the same random cotangent through both outputs: the float inputs' and
    every parameter's gradients must agree (and, with ``same_names``, the parameters' names)."""
    g = randn(*out.shape)
    out.backward(minigrad.tensor(g))
    tout.backward(torch.tensor(g))
    for m, t in zip(mins, tins):
        if t.requires_grad:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=RTOL, atol=ATOL)
    tparams = dict(theirs.named_parameters())
    if same_names:
        assert [n for n, _ in ours.named_parameters()] == list(tparams)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=name)


def compare(ours, theirs, *inputs, train=True):
    """Run both modules on the same inputs, backprop the same cotangent, compare
    outputs, input gradients and parameter gradients."""
    ours.train(train)
    theirs.train(train)
    mins = [minigrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tins = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out, tout = ours(*mins), theirs(*tins)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    _compare_gradients(ours, theirs, out, tout, mins, tins)
    return out, tout


def compare_with_repr(ours, theirs, *inputs, **kwargs):
    """Same inputs and cotangent into both: outputs, float input gradients and parameter
    gradients must agree; reprs too."""
    import torch

    assert repr(ours) == repr(theirs)
    mins = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tins = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out = ours(*mins, **{k: mg.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in kwargs.items()})
    tkw = {k: torch.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in kwargs.items()}
    tout = theirs(*tins, **tkw)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    _compare_gradients(ours, theirs, out, tout, mins, tins, same_names=True)
    return out


# ----------------------------------------------------------------------------- gradcheck

REDUCTIONS = ["none", "mean", "sum"]
FAST = settings(max_examples=6, deadline=None)

dims = st.integers(1, 4)
classes = st.integers(2, 4)
seeds = st.integers(0, 2 ** 16)


def t64(arr, grad=True):
    return minigrad.tensor(np.asarray(arr, dtype=np.float64), requires_grad=grad)
