"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from __future__ import annotations

import math

from minigrad.backend import xp_of
from minigrad.optim._moments import adam_moments_
from minigrad.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = -g                               if maximize
        p = p * (1 - lr * weight_decay)      if decoupled (AdamW)
        g = g + weight_decay * p             otherwise (L2 penalty, Adam)
        m = beta1 * m + (1 - beta1) * g      running mean of the gradient
        v = beta2 * v + (1 - beta2) * g**2   running mean of its square
        v_max = max(v_max, v)                if amsgrad, and v_max is used below instead of v
        m_hat = m / (1 - beta1**t)           bias corrections: m and v start at 0,
        v_hat = v / (1 - beta2**t)           so early averages are too small
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    Each weight gets its own step size: ``lr`` divided by the recent size of its
    gradient, so rarely-updated and often-updated weights move at similar speeds.
    The code computes ``lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``,
    the same expression arranged as PyTorch arranges it.

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    amsgrad, ``max_exp_avg_sq``.

    Args:
        lr: learning rate (default 1e-3).
        betas: decay rates of the two running averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0). See AdamW for
            the decoupled form, which usually works better with Adam.
        amsgrad: use the maximum of all ``v`` so far (AMSGrad variant).

    ``params`` and ``maximize`` are as for every optimizer (see :class:`Optimizer`).
    """

    _checked_options = ("lr", "eps", "betas", "weight_decay")
    _state_arrays = ("exp_avg", "exp_avg_sq")
    _optional_state = {"max_exp_avg_sq": "amsgrad"}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group, state, w, g):
        xp = xp_of(w)
        tmp = xp.empty_like(w)
        m, v = adam_moments_(xp, state, g, group["betas"], tmp, torch_rounding=False)
        if group["amsgrad"]:                                # v_max = max(v_max, v)
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        # p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
        beta1, beta2 = group["betas"]
        t = state["step"]
        denom = xp.sqrt(v, out=tmp)
        denom /= math.sqrt(1 - beta2 ** t)
        denom += group["eps"]
        xp.divide(m, denom, out=denom)
        denom *= group["lr"] / (1 - beta1 ** t)
        w -= denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's algorithm.

    Identical to :class:`Adam` except for weight decay: instead of adding
    ``weight_decay * p`` to the gradient (where Adam's per-weight scaling would
    shrink it for weights with large gradients), every weight is shrunk directly,
    ``p = p * (1 - lr * weight_decay)``, before the Adam step. Default
    ``weight_decay=1e-2``.
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
