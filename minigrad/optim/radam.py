"""RAdam: Adam whose adaptive step is switched on gradually, as its variance estimate becomes reliable."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import adam_moments_
from minigrad.optim.optimizer import Optimizer, _refuse_differentiable

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam, rectified Adam (Liu et al., 2020), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = -g                                     if maximize
        p = p * (1 - lr * weight_decay)            if decoupled_weight_decay
        g = g + weight_decay * p                   otherwise (L2 penalty)
        m = beta1 * m + (1 - beta1) * g            as in Adam
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:                              the variance of v is trustworthy:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            p = p - lr * m_hat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        else:                                      too few steps: plain momentum SGD
            p = p - lr * m_hat

    In its first steps Adam divides by ``sqrt(v)`` estimated from a handful of
    gradients, and the resulting step sizes vary wildly (the reason Adam usually
    needs a learning-rate warm-up). ``rho_t`` is the effective number of samples
    in ``v``; RAdam takes SGD-with-momentum steps until ``rho_t > 5`` (six steps
    with ``beta2=0.999``) and then scales the adaptive step by ``r``, which rises
    from about 0 to 1 as ``rho_t`` grows to ``rho_inf``: a built-in warm-up.

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v).

    Args:
        lr: learning rate (default 1e-3).
        betas: decay rates of the two running averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay factor (default 0).
        decoupled_weight_decay: shrink the weights directly, as AdamW does, instead
            of adding an L2 term to the gradient (RAdamW).

    ``params``, ``maximize`` and ``foreach`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "eps", "betas", "weight_decay")
    _state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        _refuse_differentiable("RAdam", differentiable)
        super().__init__(params, defaults)

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        tmp = xp.empty_like(w)
        m, v = adam_moments_(xp, state, g, group["betas"], tmp)

        beta1, beta2 = group["betas"]
        t = state["step"]
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias_correction2

        # step = m_hat * lr [* sqrt(bc2) / (sqrt(v) + eps) * r], in PyTorch's order
        update = xp.divide(m, bias_correction1, out=xp.empty_like(w))
        update *= group["lr"]
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            xp.sqrt(v, out=tmp)
            tmp += group["eps"]
            xp.divide(bias_correction2 ** 0.5, tmp, out=tmp)
            update *= tmp
            update *= rect
        w -= update
