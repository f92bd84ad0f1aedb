"""RMSprop: divide each step by a running average of the gradient's recent size."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import ema_, ema_sq_
from minigrad.optim.optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture notes, 2012), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at every step::

        g = -g                                  if maximize
        g = g + weight_decay * p                if weight_decay != 0
        v = alpha * v + (1 - alpha) * g**2      running mean of the squared gradient
        if centered:
            a = alpha * a + (1 - alpha) * g     running mean of the gradient
            r = sqrt(v - a**2) + eps            (an estimate of the gradient's std)
        else:
            r = sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / r
            p = p - lr * b
        else:
            p = p - lr * g / r

    Like Adagrad but with a *forgetting* average: the step size follows the recent
    gradient scale instead of the whole history.

    State per parameter: ``step``, ``square_avg`` (v), ``grad_avg`` (a, when
    centered) and ``momentum_buffer`` (b, when momentum > 0).

    Args:
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the averages (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the raw second moment.

    ``params`` and ``maximize`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "eps", "momentum", "weight_decay", ("alpha", 1.0))
    _state_arrays = ("square_avg",)
    _optional_state = {"momentum_buffer": "momentum", "grad_avg": "centered"}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        alpha, momentum = group["alpha"], group["momentum"]
        v = state["square_avg"]
        tmp = xp.empty_like(w)
        ema_sq_(xp, v, g, alpha, tmp, square_first=True)    # v = alpha v + (1 - alpha) g**2
        if group["centered"]:                               # r = sqrt(v - a**2) + eps
            a = ema_(xp, state["grad_avg"], g, alpha, tmp, lerp=False)
            xp.multiply(a, a, out=tmp)
            r = xp.sqrt(xp.subtract(v, tmp, out=tmp), out=tmp)
        else:                                               # r = sqrt(v) + eps
            r = xp.sqrt(v, out=tmp)
        r += group["eps"]
        step = xp.divide(g, r, out=r)                       # g / r
        if momentum > 0:                                    # b = momentum b + g / r
            b = state["momentum_buffer"]
            b *= momentum
            b += step
            w -= group["lr"] * b
        else:
            step *= group["lr"]
            w -= step
