"""RMSprop: divide each step by a running average of the gradient's recent size."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim.optimizer import Optimizer, _check_value

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
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the averages (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the raw second moment.
        maximize: climb the objective instead of descending it.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, o):
        _check_value("RMSprop", "learning rate", o["lr"])
        _check_value("RMSprop", "epsilon value", o["eps"])
        _check_value("RMSprop", "momentum value", o["momentum"])
        _check_value("RMSprop", "weight_decay value", o["weight_decay"])
        _check_value("RMSprop", "alpha value", o["alpha"], 0.0, 1.0, high_inclusive=True)

    def _step_group(self, group):
        lr = group["lr"]
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        state = self.state
        for p, w, g in self._grads(group):
            xp = xp_of(w)
            st = state.get(p)
            if st is None:
                st = state[p] = {"step": 0, "square_avg": xp.zeros_like(w)}
                if momentum > 0:
                    st["momentum_buffer"] = xp.zeros_like(w)
                if centered:
                    st["grad_avg"] = xp.zeros_like(w)
            st["step"] += 1

            if maximize:
                g = -g
            if weight_decay != 0:
                g = g + weight_decay * w

            v = st["square_avg"]
            tmp = xp.multiply(g, g, out=xp.empty_like(w))  # (empty_like: see Adam)
            tmp *= 1 - alpha
            v *= alpha
            v += tmp

            if centered:
                a = st.get("grad_avg")
                if a is None:  # centered switched on after the first step
                    a = st["grad_avg"] = xp.zeros_like(w)
                # a = alpha * a + (1 - alpha) * g, written as a += (1 - alpha) * (g - a)
                xp.subtract(g, a, out=tmp)
                tmp *= 1 - alpha
                a += tmp
                xp.multiply(a, a, out=tmp)
                xp.subtract(v, tmp, out=tmp)
                r = xp.sqrt(tmp, out=tmp)
            else:
                r = xp.sqrt(v, out=tmp)
            r += eps

            if momentum > 0:
                b = st.get("momentum_buffer")
                if b is None:  # momentum switched on after the first step
                    b = st["momentum_buffer"] = xp.zeros_like(w)
                b *= momentum
                xp.divide(g, r, out=r)
                b += r
                w -= lr * b
            else:
                xp.divide(g, r, out=r)
                r *= lr
                w -= r
            p._bump_version()
