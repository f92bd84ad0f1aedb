"""Adagrad: per-weight step sizes that shrink with the sum of all past squared gradients."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim.optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = -g                                if maximize
        g = g + weight_decay * p              if weight_decay != 0
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2                          s starts at initial_accumulator_value
        p = p - lr_t * g / (sqrt(s) + eps)

    Weights whose gradients have been large take small steps, rarely-touched weights
    keep large ones. Because ``s`` only grows, the steps shrink for ever: good for
    sparse problems, too cautious for long training (RMSprop and Adam forget old
    gradients instead).

    State per parameter: ``step`` and ``sum`` (s).

    Args:
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of ``s`` (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).

    ``params`` and ``maximize`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _new_state(self, group, w):
        return {"step": 0, "sum": xp_of(w).full_like(w, group["initial_accumulator_value"])}

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        s = state["sum"]
        tmp = xp.multiply(g, g, out=xp.empty_like(w))
        s += tmp                                            # s = s + g**2
        std = xp.sqrt(s, out=tmp)
        std += group["eps"]
        xp.divide(g, std, out=std)                          # p = p - lr_t * g / (sqrt(s) + eps)
        std *= group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        w -= std
