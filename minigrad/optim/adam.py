"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from __future__ import annotations

import math

from minigrad.backend import xp_of
from minigrad.optim.optimizer import Optimizer, _check_value

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
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the two running averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0). See AdamW for
            the decoupled form, which usually works better with Adam.
        amsgrad: use the maximum of all ``v`` so far (AMSGrad variant).
        maximize: climb the objective instead of descending it.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, o):
        name = self._name()
        _check_value(name, "learning rate", o["lr"])
        _check_value(name, "epsilon value", o["eps"])
        betas = o["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_value(name, "beta parameter at index 0", betas[0], 0.0, 1.0)
        _check_value(name, "beta parameter at index 1", betas[1], 0.0, 1.0)
        _check_value(name, "weight_decay value", o["weight_decay"])

    def _step_group(self, group):
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = self._decoupled
        state = self.state
        for p, w, g in self._grads(group):
            xp = xp_of(w)
            st = state.get(p)
            if st is None:
                st = state[p] = {"step": 0, "exp_avg": xp.zeros_like(w),
                                 "exp_avg_sq": xp.zeros_like(w)}
                if amsgrad:
                    st["max_exp_avg_sq"] = xp.zeros_like(w)
            t = st["step"] = st["step"] + 1

            # The gradient array is read, never written: -g and g + wd * w are new arrays.
            if maximize:
                g = -g
            if weight_decay != 0:
                if decoupled:
                    w *= 1 - lr * weight_decay
                else:
                    g = g + weight_decay * w

            m = st["exp_avg"]
            v = st["exp_avg_sq"]
            # m = beta1 * m + (1 - beta1) * g, written as m += (1 - beta1) * (g - m)
            # (Arrays written with out= are made with empty_like: arithmetic on 0-d
            # arrays returns NumPy scalars, which cannot be written into.)
            tmp = xp.empty_like(w)
            xp.subtract(g, m, out=tmp)
            tmp *= 1 - beta1
            m += tmp
            # v = beta2 * v + (1 - beta2) * g * g
            xp.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v *= beta2
            v += tmp

            if amsgrad:
                v_max = st.get("max_exp_avg_sq")
                if v_max is None:  # amsgrad switched on after the first step
                    v_max = st["max_exp_avg_sq"] = xp.zeros_like(w)
                xp.maximum(v_max, v, out=v_max)
                v = v_max

            step_size = lr / (1 - beta1 ** t)
            denom = xp.sqrt(v, out=tmp)
            denom /= math.sqrt(1 - beta2 ** t)
            denom += eps
            xp.divide(m, denom, out=denom)
            denom *= step_size
            w -= denom
            p._bump_version()


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's algorithm.

    Identical to :class:`Adam` except for weight decay: instead of adding
    ``weight_decay * p`` to the gradient (where Adam's per-weight scaling would
    shrink it for weights with large gradients), every weight is shrunk directly,
    ``p = p * (1 - lr * weight_decay)``, before the Adam step. Default
    ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
