"""NAdam: Adam with Nesterov momentum (look ahead along the running mean)."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim._moments import adam_moments_
from minigrad.optim.optimizer import Optimizer, _refuse_differentiable

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = -g                                     if maximize
        p = p * (1 - lr * weight_decay)            if decoupled_weight_decay
        g = g + weight_decay * p                   otherwise (L2 penalty)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))   momentum schedule
        P_t = mu_1 * mu_2 * ... * mu_t             (state "mu_product")
        m = beta1 * m + (1 - beta1) * g            as in Adam
        v = beta2 * v + (1 - beta2) * g**2
        d = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - P_t) * g / d
              - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

    Nesterov's trick is to take the gradient step from where momentum is about to
    carry the weights. Here that means: the step uses the *next* step's momentum
    coefficient ``mu_{t+1}`` on ``m`` and adds the current gradient separately,
    each with its own bias correction. ``mu_t`` starts a little below
    ``beta1/2`` and grows towards ``beta1`` (a momentum warm-up).

    State per parameter: ``step``, ``mu_product`` (a Python float), ``exp_avg``
    (m), ``exp_avg_sq`` (v).

    Args:
        lr: learning rate (default 2e-3).
        betas: decay rates of the two running averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay factor (default 0).
        momentum_decay: how fast ``mu_t`` approaches ``beta1`` (default 4e-3).
        decoupled_weight_decay: shrink the weights directly, as AdamW does, instead
            of adding an L2 term to the gradient (NAdamW).

    ``params``, ``maximize`` and ``foreach`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "eps", "betas", "weight_decay", "momentum_decay")
    _state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        _refuse_differentiable("NAdam", differentiable)
        super().__init__(params, defaults)

    def _new_state(self, group, w):
        return {"step": 0, "mu_product": 1.0, **super()._new_state(group, w)}

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        lr, (beta1, beta2), t = group["lr"], group["betas"], state["step"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * group["momentum_decay"]))
        mu_product = state["mu_product"] = float(state["mu_product"]) * mu
        mu_product_next = mu_product * mu_next

        tmp = xp.empty_like(w)
        m, v = adam_moments_(xp, state, g, (beta1, beta2), tmp)
        # d = sqrt(v / (1 - beta2**t)) + eps
        denom = xp.divide(v, 1 - beta2 ** t, out=xp.empty_like(w))
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        # p = p - lr (1 - mu) / (1 - P_t) * g / d - lr mu_next / (1 - P_t mu_next) * m / d
        xp.divide(g, denom, out=tmp)
        tmp *= -lr * (1.0 - mu) / (1.0 - mu_product)
        w += tmp
        xp.divide(m, denom, out=tmp)
        tmp *= (-lr * mu_next) / (1.0 - mu_product_next)
        w += tmp
