"""Running averages the adaptive optimizers share, updated in place on raw arrays.

A private helper module: each update rule lives in its own file; what is here is
the arithmetic several of them have in common. Each function writes its result
into its first array, reads ``g`` only, and uses ``tmp`` (an array of the same
shape and dtype) as scratch space. Arrays written with ``out=`` are made with
``empty_like`` by the callers: arithmetic on 0-d arrays returns NumPy scalars,
which cannot be written into.

Two orders of rounding are kept, because they give last-bit different results
and each optimizer keeps the one it has always had: PyTorch's (``lerp`` and
``addcmul``), used by Adadelta, Adamax, NAdam and RAdam, so that their float32
results agree with PyTorch's to the last bit in almost every element; and the
plain formulas written out, used by Adam and RMSprop.
"""
from __future__ import annotations

__all__ = ["ema_", "ema_sq_", "adam_moments_"]


def ema_(xp, m, g, beta, tmp, *, lerp=True):
    """``m <- beta * m + (1 - beta) * g`` in place (a running mean of ``g``), computed
    as ``m + (1 - beta) * (g - m)``.

    With ``lerp=True`` and ``1 - beta >= 0.5`` the same value is computed from the
    other end, ``g - (g - m) * beta``, which rounds better when ``m`` moves most of
    the way to ``g`` (PyTorch's ``lerp`` chooses the same way).
    """
    weight = 1 - beta
    xp.subtract(g, m, out=tmp)
    if not lerp or abs(weight) < 0.5:
        tmp *= weight
        m += tmp
    else:
        tmp *= 1 - weight
        xp.subtract(g, tmp, out=m)
    return m


def ema_sq_(xp, v, g, beta, tmp, *, square_first=False):
    """``v <- beta * v + (1 - beta) * g * g`` in place (a running mean of ``g**2``).

    The new term is rounded as ``(g * (1 - beta)) * g`` (PyTorch's ``addcmul``), or
    as ``(g * g) * (1 - beta)`` with ``square_first=True``.
    """
    if square_first:
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta
    else:
        xp.multiply(g, 1 - beta, out=tmp)
        tmp *= g
    v *= beta
    v += tmp
    return v


def adam_moments_(xp, state, g, betas, tmp, *, torch_rounding=True):
    """Adam's two running means, updated in place and returned: ``m = state["exp_avg"]``
    and ``v = state["exp_avg_sq"]``, with ``betas = (beta1, beta2)``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2

    ``torch_rounding=False`` gives the plain formulas' rounding (Adam's own).
    """
    beta1, beta2 = betas
    m = ema_(xp, state["exp_avg"], g, beta1, tmp, lerp=torch_rounding)
    v = ema_sq_(xp, state["exp_avg_sq"], g, beta2, tmp, square_first=not torch_rounding)
    return m, v
