"""Adamax: Adam with the infinity norm in place of the root mean square."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import ema_
from minigrad.optim.optimizer import Optimizer, _refuse_differentiable

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7.1), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = -g                                   if maximize
        g = g + weight_decay * p                 if weight_decay != 0
        m = beta1 * m + (1 - beta1) * g          running mean of the gradient
        u = max(beta2 * u, |g| + eps)            decaying maximum of its size
        p = p - lr / (1 - beta1**t) * m / u

    Adam divides by the root of a running mean of ``g**2`` (an L2 norm over time);
    Adamax lets the exponent go to infinity, which turns the mean into a decaying
    maximum. ``u`` needs no bias correction: a maximum is not pulled towards the
    zeros it starts from the way an average is.

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_inf`` (u).

    Args:
        lr: learning rate (default 2e-3).
        betas: decay rates of the mean and of the maximum (default (0.9, 0.999)).
        eps: added to ``|g|`` so that ``u`` is never 0 (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).

    ``params``, ``maximize`` and ``foreach`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "eps", "betas", "weight_decay")
    _state_arrays = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        _refuse_differentiable("Adamax", differentiable)
        super().__init__(params, defaults)

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        beta1, beta2 = group["betas"]
        m, u = state["exp_avg"], state["exp_inf"]
        tmp = xp.empty_like(w)
        ema_(xp, m, g, beta1, tmp)                  # m = beta1 * m + (1 - beta1) * g
        u *= beta2                                  # u = max(beta2 * u, |g| + eps)
        xp.abs(g, out=tmp)
        tmp += group["eps"]
        xp.maximum(u, tmp, out=u)
        xp.divide(m, u, out=tmp)                    # p = p - lr / (1 - beta1**t) * (m / u)
        tmp *= group["lr"] / (1 - beta1 ** state["step"])
        w -= tmp
