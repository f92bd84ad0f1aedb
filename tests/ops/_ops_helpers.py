"""Shared by the tests of minigrad.ops: the two kernel sets, float64 leaf tensors, PyTorch as
an oracle (one seeded generator, a minigrad/torch pair of leaf tensors, the comparison of
outputs and gradients), and the hostile-input helpers (a result as float64, forward and
backward on tensors of ones, a small float32 matrix)."""
import numpy as np
import pytest

import minigrad as mg

MODES = ["reference", "native"]


def t64(a, requires_grad=True):
    return mg.tensor(np.ascontiguousarray(a), dtype=mg.float64, requires_grad=requires_grad)


rng = np.random.default_rng(7)


def _pair(a, requires_grad=True):
    import torch

    return mg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _check(ours, theirs, m_in, t_in, atol=1e-5):
    """Compare outputs, then the gradients of sum(out * u) for a random cotangent u."""
    import torch

    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=atol)
    if not theirs.requires_grad:
        return
    u = rng.standard_normal(theirs.shape).astype(np.float32)
    ours.backward(mg.tensor(u))
    theirs.backward(torch.tensor(u))
    for m, t in zip(m_in, t_in):
        if t.grad is not None:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=atol)


def check_unary_against_torch(name, shape, args):
    """``minigrad.<name>(x, *args)`` and ``x.<name>(*args)`` against PyTorch's (values, gradients)."""
    torch = pytest.importorskip("torch")
    a = rng.standard_normal(shape).astype(np.float32)
    m, t = _pair(a)
    _check(getattr(mg, name)(m, *args), getattr(torch, name)(t, *args), [m], [t])
    m2, t2 = _pair(a)
    _check(getattr(m2, name)(*args), getattr(t2, name)(*args), [m2], [t2])


def A(t):
    return np.asarray(t.array, dtype=np.float64)


def _fwd_bwd(fn, *shapes, dtype=np.float32):
    xs = [mg.tensor(np.ones(s, dtype), requires_grad=True) for s in shapes]
    y = fn(*xs)
    y = y[0] if isinstance(y, tuple) else y
    y.sum().backward()
    return tuple(y.shape), [tuple(x.grad.shape) for x in xs]


def _x():
    return mg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))


def check_zero_size(fn, shapes, out):
    """``fn`` on tensors of ones of ``shapes`` gives shape ``out``, and backward gives each
    input a gradient of its own shape."""
    y_shape, g_shapes = _fwd_bwd(fn, *shapes)
    assert y_shape == out
    assert g_shapes == [tuple(s) for s in shapes]


def check_raises_naming(op, call, err):
    """``call()`` raises ``err`` with a message that names ``op``."""
    with pytest.raises(err) as e:
        call()
    assert op.lower() in str(e.value).lower(), str(e.value)
