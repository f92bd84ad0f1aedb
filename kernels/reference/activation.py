"""Activation functions as kernels (reference versions): GELU forward and backward.

GELU(x) = x Phi(x), with Phi the standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2.
Its derivative is

    d/dx GELU(x) = Phi(x) + x phi(x),     phi(x) = exp(-x^2 / 2) / sqrt(2 pi),

the normal density. The "tanh" approximation (Hendrycks & Gimpel) replaces Phi by
(1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3), whose derivative is

    d/dx = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2),   t = tanh(u).

Composed of array operations (NumPy or CuPy, picked from the argument), so this is
readable and exact to the precision of ``erf``; the native kernel fuses all of it
into one pass over memory.
"""
import math

from .._arrays import array_module
from .._contracts import check_approximate
from .special import erf as _erf
from .._families import kernel_table

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_C = 0.044715


def gelu(x, approximate="none"):
    """y = x Phi(x) elementwise, same shape and dtype as ``x`` (a float array)."""
    check_approximate("gelu", approximate)
    xp = array_module(x)
    if approximate == "tanh":
        u = (x + _C * x * x * x) * _SQRT_2_OVER_PI
        return (0.5 * x * (1.0 + xp.tanh(u))).astype(x.dtype, copy=False)
    return (0.5 * x * (1.0 + _erf(x * _SQRT_HALF))).astype(x.dtype, copy=False)


def gelu_backward(x, gy, approximate="none"):
    """gx = gy * GELU'(x), elementwise; ``x`` is the forward input, ``gy`` the output's gradient."""
    check_approximate("gelu_backward", approximate)
    xp = array_module(x)
    if approximate == "tanh":
        t = xp.tanh((x + _C * x * x * x) * _SQRT_2_OVER_PI)
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _C * x * x)
    else:
        cdf = 0.5 * (1.0 + _erf(x * _SQRT_HALF))
        d = cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return (gy * d).astype(x.dtype, copy=False)


KERNELS = kernel_table("activation", globals())   # op name -> the function of that name above
