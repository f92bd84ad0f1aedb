"""Adamax: Adam with the infinity norm in place of the root mean square."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import check_betas, lerp_, refuse_differentiable
from minigrad.optim.optimizer import Optimizer, _check_value

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
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 2e-3).
        betas: decay rates of the mean and of the maximum (default (0.9, 0.999)).
        eps: added to ``|g|`` so that ``u`` is never 0 (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        foreach: accepted for PyTorch compatibility; minigrad always updates one
            parameter at a time.
        maximize: climb the objective instead of descending it.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        refuse_differentiable("Adamax", differentiable)
        super().__init__(params, defaults)

    def _check_options(self, o):
        name = self._name()
        _check_value(name, "learning rate", o["lr"])
        _check_value(name, "epsilon value", o["eps"])
        check_betas(name, o)
        _check_value(name, "weight_decay value", o["weight_decay"])

    def _step_group(self, group):
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        maximize = group["maximize"]
        for p, w, g in self._grads(group):
            xp = xp_of(w)
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(w),
                                      "exp_inf": xp.zeros_like(w)}
            t = st["step"] = st["step"] + 1
            if maximize:
                g = -g          # a new array: gradients are only read
            if weight_decay != 0:
                g = g + weight_decay * w

            m, u = st["exp_avg"], st["exp_inf"]
            tmp = xp.empty_like(w)
            lerp_(xp, m, g, 1 - beta1, tmp)
            # u = max(beta2 * u, |g| + eps)
            u *= beta2
            xp.abs(g, out=tmp)
            tmp += eps
            xp.maximum(u, tmp, out=u)
            # p = p - lr / (1 - beta1**t) * (m / u)
            clr = lr / (1 - beta1 ** t)
            xp.divide(m, u, out=tmp)
            tmp *= clr
            w -= tmp
            p._bump_version()
