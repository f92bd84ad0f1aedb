"""Gradient utilities: clipping, and flattening parameters to one vector.

Gradient clipping keeps one bad batch from taking a huge step: after
``loss.backward()`` and before ``optimizer.step()``,

    total_norm = || concat(all gradients) ||      (2-norm by default)
    if total_norm > max_norm: every gradient *= max_norm / total_norm

which shrinks the step without changing its direction.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.autograd import no_grad
from minigrad.backend import to_device, xp_of
from minigrad.tensor import Tensor
from minigrad.ops.shape import cat, reshape

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _param_list(parameters, op):
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        return list(parameters)
    except TypeError:
        raise TypeError(f"{op}: expected a Tensor or an iterable of Tensors, got {type(parameters).__name__}") from None


def _set_grad(p, arr):
    # Rebind instead of writing in place: a .grad array may be a read-only broadcast
    # view, or shared between two parameters' gradients.
    p.grad = Tensor(arr)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint ``norm_type``-norm is at most
    ``max_norm``. Returns the total norm *before* clipping (a 0-d Tensor)."""
    params = [p for p in _param_list(parameters, "clip_grad_norm_") if p.grad is not None]
    norm_type = float(norm_type)
    if not params:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    grads = [p.grad.array for p in params]
    xp = xp_of(grads[0])
    if math.isinf(norm_type):
        per = [float(xp.abs(g).max()) if g.size else 0.0 for g in grads]
        total = math.nan if any(math.isnan(v) for v in per) else max(per)
    else:
        per = [float((xp.abs(g.astype(np.float64)) ** norm_type).sum()) for g in grads]
        total = sum(per) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
                           "set error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # NaN too: a NaN norm makes every gradient NaN (as PyTorch), not none
        with no_grad():
            for p, g in zip(params, grads):
                _set_grad(p, g * np.asarray(coef, dtype=g.dtype))
    return Tensor(np.asarray(total, dtype=params[0].grad.dtype))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _param_list(parameters, "clip_grad_value_"):
        if p.grad is not None:
            g = p.grad.array
            _set_grad(p, xp_of(g).clip(g, -clip_value, clip_value))


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D tensor (part of the graph)."""
    params = _param_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return cat([reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place."""
    params = _param_list(parameters, "vector_to_parameters")
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got "
                        f"{type(vec).__name__}{' of shape ' + str(vec.shape) if isinstance(vec, Tensor) else ''}")
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vector has {vec.numel()} elements, the parameters need {total}")
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.array[...] = to_device(vec.array[start:start + n].reshape(p.shape), p.device)
            p._bump_version()
            start += n
