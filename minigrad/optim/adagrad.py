"""Adagrad: per-weight step sizes that shrink with the sum of all past squared gradients."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim.optimizer import Optimizer, _check_value

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
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of ``s`` (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: climb the objective instead of descending it.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, o):
        _check_value("Adagrad", "learning rate", o["lr"])
        _check_value("Adagrad", "lr_decay value", o["lr_decay"])
        _check_value("Adagrad", "weight_decay value", o["weight_decay"])
        _check_value("Adagrad", "initial_accumulator_value value", o["initial_accumulator_value"])
        _check_value("Adagrad", "epsilon value", o["eps"])

    def _step_group(self, group):
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        weight_decay = group["weight_decay"]
        eps = group["eps"]
        maximize = group["maximize"]
        state = self.state
        for p, w, g in self._grads(group):
            xp = xp_of(w)
            st = state.get(p)
            if st is None:
                st = state[p] = {"step": 0,
                                 "sum": xp.full_like(w, group["initial_accumulator_value"])}
            t = st["step"] = st["step"] + 1

            if maximize:
                g = -g
            if weight_decay != 0:
                g = g + weight_decay * w
            clr = lr / (1 + (t - 1) * lr_decay)

            s = st["sum"]
            tmp = xp.multiply(g, g, out=xp.empty_like(w))  # (empty_like: see Adam)
            s += tmp
            std = xp.sqrt(s, out=tmp)
            std += eps
            xp.divide(g, std, out=std)
            std *= clr
            w -= std
            p._bump_version()
