"""Checking a backward rule against finite differences.

For a function f and inputs x, the backward pass computes vector-Jacobian
products u^T J. ``gradcheck`` picks a random vector u, runs backward once on
L = sum(u * f(x)) to get dL/dx analytically, and compares every element with the
central difference

    (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

in float64. A wrong backward rule makes the two disagree (for a random u, with
probability one); the error names the input, the worst element and both values.
"""
from __future__ import annotations

import numpy as np

from minigrad.autograd import enable_grad, grad
from minigrad.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = _as_tuple(out) if not isinstance(out, list) else tuple(out)
    return tuple(o for o in outs if isinstance(o, Tensor))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Compare ``fn``'s analytical gradients with central finite differences.

    ``inputs`` is a Tensor or a tuple of them (and other arguments passed through);
    tensors with ``requires_grad=True`` must be float64. Returns True, or raises
    :class:`GradcheckError` (returns False when ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs) if not isinstance(inputs, list) else tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite differences "
                             "need float64 (use .double())")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    diff_outs = [o for o in outs if o.requires_grad]
    us = [rng.uniform(0.5, 1.5, o.shape) * rng.choice([-1.0, 1.0], o.shape) for o in outs]

    def loss_value():
        vals = _outputs(fn, inputs)  # with grad on: fn may itself call grad()
        return float(sum(np.sum(np.asarray(v.array, dtype=np.float64) * u) for v, u in zip(vals, us)))

    # Analytical: one backward pass of L = sum(u * f).
    if diff_outs:
        grads = grad([o for o in outs if o.requires_grad],
                     [inputs[i] for i in wrt],
                     grad_outputs=[Tensor(u.astype(o.dtype)) for o, u in zip(outs, us) if o.requires_grad],
                     allow_unused=True)
    else:
        grads = [None] * len(wrt)

    for g, i in zip(grads, wrt):
        x = inputs[i]
        analytic = np.zeros(x.shape) if g is None else np.asarray(g.array, dtype=np.float64)
        if analytic.shape != x.shape:
            return _fail(raise_exception, f"gradcheck: the gradient of input {i} has shape {analytic.shape} "
                                          f"but the input has shape {x.shape}")
        numeric = np.zeros(x.shape)
        flat = x.array.reshape(-1)  # a view when contiguous
        if flat.size and not np.shares_memory(flat, x.array):
            raise ValueError(f"gradcheck: input {i} must be contiguous")
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            plus = loss_value()
            flat[k] = old - eps
            minus = loss_value()
            flat[k] = old
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and (np.max(err) > 0 or not np.all(np.isfinite(analytic))):
            bad = np.nan_to_num(err, nan=np.inf)
            idx = tuple(int(j) for j in np.unravel_index(int(np.argmax(bad)), x.shape))
            return _fail(raise_exception,
                         f"gradcheck: gradient mismatch for input {i} (shape {x.shape}) at index {idx}: "
                         f"analytical {analytic[idx]:.8g} vs numerical {numeric[idx]:.8g} "
                         f"(atol={atol}, rtol={rtol}); max abs difference "
                         f"{np.max(np.abs(analytic - numeric)):.3g}")
    return True


def _fail(raise_exception, msg):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0):
    """Check second derivatives: gradcheck the function (x, v) -> grad(fn(x), x, v,
    create_graph=True), i.e. differentiate the backward pass itself."""
    inputs = _as_tuple(inputs) if not isinstance(inputs, list) else tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    rng = np.random.default_rng(seed + 1)
    outs = [o for o in _outputs(fn, inputs) if o.requires_grad]
    if grad_outputs is None:
        grad_outputs = [Tensor(rng.uniform(-1, 1, o.shape), requires_grad=True) for o in outs]
    n_in = len(inputs)

    def first_grads(*args):
        xs, vs = args[:n_in], args[n_in:]
        with enable_grad():  # gradcheck evaluates us under no_grad; the inner backward needs a graph
            return _first(xs, vs)

    def _first(xs, vs):
        ys = [o for o in _outputs(fn, xs) if o.requires_grad]
        gs = grad(ys, [xs[i] for i in wrt], grad_outputs=list(vs), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None and g.requires_grad)

    return gradcheck(first_grads, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed)
