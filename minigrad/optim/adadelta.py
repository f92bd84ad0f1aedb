"""Adadelta: a step size made from the ratio of two running averages, no learning rate needed."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import ema_sq_
from minigrad.optim.optimizer import Optimizer, _refuse_differentiable

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at every step::

        g = -g                                   if maximize
        g = g + weight_decay * p                 if weight_decay != 0
        v = rho * v + (1 - rho) * g**2           running mean of the squared gradient
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2       running mean of the squared update
        p = p - lr * delta

    The step is the gradient scaled by "how big recent *updates* were" over "how big
    recent *gradients* were". The ratio has the units of the parameter (as a
    Newton step has), so the method works with ``lr=1`` for many problems; ``eps``
    is what makes the very first updates non-zero (``u`` starts at 0).

    State per parameter: ``step``, ``square_avg`` (v), ``acc_delta`` (u).

    Args:
        lr: a factor applied to ``delta`` (default 1.0).
        rho: decay rate of the two running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty added to the gradient (default 0).

    ``params``, ``maximize`` and ``foreach`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", ("rho", 1.0), "eps", "weight_decay")
    _state_arrays = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        _refuse_differentiable("Adadelta", differentiable)
        super().__init__(params, defaults)

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        rho, eps = group["rho"], group["eps"]
        v, u = state["square_avg"], state["acc_delta"]
        tmp = xp.empty_like(w)
        ema_sq_(xp, v, g, rho, tmp)                 # v = rho * v + (1 - rho) * g * g
        # delta = sqrt(u + eps) / sqrt(v + eps) * g
        std = xp.add(v, eps, out=xp.empty_like(w))
        xp.sqrt(std, out=std)
        delta = xp.add(u, eps, out=tmp)
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        ema_sq_(xp, u, delta, rho, std)             # u = rho * u + (1 - rho) * delta**2
        delta *= group["lr"]                        # p = p - lr * delta
        w -= delta
