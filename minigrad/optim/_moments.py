"""Running averages shared by the Adam family, updated in place on raw arrays.

A private helper module: each update rule lives in its own file (``adamax.py``,
``nadam.py``, ``radam.py``); what is here is the arithmetic they have in common,
arranged as PyTorch arranges it, so that float32 results agree with PyTorch's to
the last bit in almost every element.
"""
from __future__ import annotations

from minigrad.optim.optimizer import _check_value

__all__ = ["lerp_", "ema_sq_", "check_betas", "refuse_differentiable"]


def lerp_(xp, m, g, weight, tmp):
    """``m <- m + weight * (g - m)`` in place: the running mean ``beta*m + (1-beta)*g``
    with ``weight = 1 - beta``.

    For ``weight >= 0.5`` the same value is computed from the other end,
    ``g - (g - m) * (1 - weight)``, which rounds better when ``m`` moves most of
    the way to ``g`` (PyTorch's ``lerp`` chooses the same way). ``tmp`` is scratch
    space of ``m``'s shape and dtype; ``g`` is only read.
    """
    xp.subtract(g, m, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        m += tmp
    else:
        tmp *= 1 - weight
        xp.subtract(g, tmp, out=m)
    return m


def ema_sq_(xp, v, g, beta, tmp):
    """``v <- beta * v + (1 - beta) * g * g`` in place (a running mean of ``g**2``).

    ``tmp`` is scratch space of ``v``'s shape and dtype; ``g`` is only read.
    """
    xp.multiply(g, 1 - beta, out=tmp)
    tmp *= g
    v *= beta
    v += tmp
    return v


def check_betas(name, o):
    """The checks every optimizer with ``betas=(beta1, beta2)`` makes (PyTorch's)."""
    betas = o["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
    _check_value(name, "beta parameter at index 0", betas[0], 0.0, 1.0)
    _check_value(name, "beta parameter at index 1", betas[1], 0.0, 1.0)


def refuse_differentiable(name, differentiable):
    """PyTorch's ``differentiable=True`` records the update in the autograd graph;
    minigrad's updates work on raw arrays, so it is refused rather than ignored.
    (``foreach`` and ``capturable`` only choose how the same update runs, and are
    accepted and ignored.)"""
    if differentiable:
        raise ValueError(f"{name}: differentiable=True (backpropagating through the optimizer "
                         f"step) is not supported; minigrad's optimizers update raw arrays "
                         f"outside autograd")
