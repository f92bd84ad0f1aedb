"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from minigrad.backend import xp_of
from minigrad.optim.optimizer import Optimizer, _is_real

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), PyTorch's algorithm.

    For each parameter ``p`` with gradient ``g``, at every step::

        g = -g                        if maximize
        g = g + weight_decay * p      if weight_decay != 0      (L2 penalty)
        if momentum != 0:
            b = g                                      on the first step
            b = momentum * b + (1 - dampening) * g     afterwards
            g = g + momentum * b      if nesterov
            g = b                     otherwise
        p = p - lr * g

    Momentum keeps a running direction ``b`` (``state[p]["momentum_buffer"]``): steps
    along directions the gradient keeps pointing to grow up to ``1 / (1 - momentum)``
    times, while directions where it flips sign cancel out. Nesterov's variant looks
    one step ahead along ``b``.

    Args:
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0: plain SGD).
        dampening: how much of the new gradient is damped when added to the buffer.
        weight_decay: L2 penalty coefficient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).

    ``params`` and ``maximize`` are as for every optimizer (see :class:`Optimizer`).

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    _checked_options = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, o):
        super()._check_options(o)
        if not _is_real(o["dampening"]):
            raise ValueError(f"SGD: invalid dampening value: {o['dampening']!r} (must be a number)")
        if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                f"(got momentum={o['momentum']}, dampening={o['dampening']})")

    def _new_state(self, group, w):
        return {} if group["momentum"] != 0 else None   # plain SGD keeps no state

    def _update(self, group, state, w, g):
        momentum, dampening = group["momentum"], group["dampening"]
        if momentum != 0:
            b = state.get("momentum_buffer")
            if b is None:                                   # b = g on the first step
                b = state["momentum_buffer"] = xp_of(w).array(g, copy=True)
            else:                                           # b = momentum b + (1 - dampening) g
                b *= momentum
                b += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * b if group["nesterov"] else b
        w -= group["lr"] * g
