"""Native GELU forward and backward (Numba): one pass over memory instead of eight.

Same signatures and maths as :mod:`minigrad.kernels.reference.activation` (the
formulas are in its docstring). Written with array operations, the exact GELU costs
a multiply, an erf, an add and two more multiplies forward, and about twice that
backward: each a full pass over a (batch, seq, 4 d_model) array with a temporary.
Here each element is read once and written once.

The one hard part is erf itself. ``math.erf`` inside a Numba loop is a call to the C
library for every element (measured 10 ns per float32 element, 40x NumPy's
vectorised exp) and it stops LLVM from vectorising the loop. For float32 we
therefore compute the normal CDF from the complementary error function with a
Chebyshev-fitted formula (W. H. Press et al., *Numerical Recipes*, section 6.2:
``erfc(z) = t exp(-z^2 - 1.26551223 + t (1.00002368 + ...))``, ``t = 1 / (1 + z/2)``,
fractional error below 1.2e-7 for every z >= 0), whose only transcendental part is
an exp that :func:`~minigrad.kernels.cpu.softmax.fast_exp` computes with vectorisable
arithmetic. Working from erfc keeps the *relative* error small in the left tail,
where Phi(x) is tiny (a formula for erf would lose it in ``1 + erf``). Measured
against float64 ``math.erf``: max relative error of GELU and its derivative about
1e-6 for |x| < 3 and 2e-5 for |x| < 7 (the float32 rounding of z^2 in the
exponent), at about 0.5 ns per element. float64 keeps ``math.erf`` (exact to
double precision; float64 is what gradcheck uses, not what models train in).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _runtime  # noqa: F401  (configures threads before Numba kernels run)
from .softmax import FASTMATH, fast_exp, serial_below
from ..reference import activation as _ref
from .._contracts import check_approximate
from .._families import native_tables

__all__ = ["gelu", "gelu_backward", "KERNELS", "PREFERRED", "warmup"]

# error_model="numpy": a float division by zero gives inf/nan instead of raising
# ZeroDivisionError. The Python error model puts a zero test and a branch before every
# division, which stops LLVM from vectorising the loop (measured 12x slower here).
_JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
_CHUNK = 8192          # elements per parallel task
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_C = 0.044715
_NONE, _TANH = 0, 1


@njit(inline="always", **_JIT)
def _cdf_pdf_f32(x):
    f = np.float32
    z = abs(x) * f(_SQRT_HALF)
    t = f(1.0) / (f(1.0) + f(0.5) * z)
    p = f(0.17087277)
    p = p * t + f(-0.82215223)
    p = p * t + f(1.48851587)
    p = p * t + f(-1.13520398)
    p = p * t + f(0.27886807)
    p = p * t + f(-0.18628806)
    p = p * t + f(0.09678418)
    p = p * t + f(0.37409196)
    p = p * t + f(1.00002368)
    p = p * t + f(-1.26551223)
    half_erfc = f(0.5) * t * fast_exp(p - z * z)          # Phi(-|x|)
    cdf = half_erfc if x < f(0.0) else f(1.0) - half_erfc
    pdf = fast_exp(f(-0.5) * x * x) * f(_INV_SQRT_2PI)
    return cdf, pdf


@njit(inline="always", **_JIT)
def _cdf_pdf_f64(x):
    return 0.5 * math.erfc(-x * _SQRT_HALF), math.exp(-0.5 * x * x) * _INV_SQRT_2PI


@njit(inline="always", **_JIT)
def _tanh_s(x):
    """(s, du/dx) with s = (1 + tanh(u)) / 2 = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).

    Written as 1 / (1 + e) or e / (1 + e) with e = exp(-2|u|) <= 1, so neither tail
    cancels (1 + tanh(u) for u << 0 would)."""
    x2 = x * x
    u = (x + x * x2 * _C) * _SQRT_2_OVER_PI
    e = fast_exp(-2 * abs(u))
    one = e - e + 1  # 1 of e's type (from e, not x: x - x is NaN at x = +-inf)
    s = (e if u < 0 else one) / (one + e)
    return s, (one + x2 * (3 * _C)) * _SQRT_2_OVER_PI


# One kernel per (direction, dtype): each calls its CDF function by name, so Numba
# inlines it into the loop and LLVM vectorises the whole body. (Passing the CDF
# function as an argument, or dispatching on the type with ``@overload``, leaves a
# call per element or compiles the body with Python's error model: 15x slower.)

@njit(parallel=True, **_JIT)
def _gelu_fwd_f32(x, y):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        a = x[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        b = y[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        for i in range(a.shape[0]):
            cdf, _ = _cdf_pdf_f32(a[i])
            b[i] = a[i] * cdf


@njit(parallel=True, **_JIT)
def _gelu_fwd_f64(x, y):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        a = x[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        b = y[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        for i in range(a.shape[0]):
            cdf, _ = _cdf_pdf_f64(a[i])
            b[i] = a[i] * cdf


@njit(parallel=True, **_JIT)
def _gelu_bwd_f32(x, g, out):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        a, gg, o = x[lo:hi], g[lo:hi], out[lo:hi]
        for i in range(a.shape[0]):
            cdf, pdf = _cdf_pdf_f32(a[i])
            o[i] = gg[i] * (cdf + a[i] * pdf)


@njit(parallel=True, **_JIT)
def _gelu_bwd_f64(x, g, out):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        a, gg, o = x[lo:hi], g[lo:hi], out[lo:hi]
        for i in range(a.shape[0]):
            cdf, pdf = _cdf_pdf_f64(a[i])
            o[i] = gg[i] * (cdf + a[i] * pdf)


@njit(parallel=True, **_JIT)
def _gelu_tanh_fwd(x, y):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        a = x[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        b = y[c * _CHUNK:min(n, (c + 1) * _CHUNK)]
        for i in range(a.shape[0]):
            sg, _ = _tanh_s(a[i])
            b[i] = a[i] * sg


@njit(parallel=True, **_JIT)
def _gelu_tanh_bwd(x, g, out):
    n = x.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
        a, gg, o = x[lo:hi], g[lo:hi], out[lo:hi]
        for i in range(a.shape[0]):
            v = a[i]
            sg, du = _tanh_s(v)
            o[i] = gg[i] * (sg + v * 2 * sg * (1 - sg) * du)  # (1 - t^2) / 2 = 2 s (1 - s)


_FWD = {(_NONE, np.float32): _gelu_fwd_f32, (_NONE, np.float64): _gelu_fwd_f64,
        (_TANH, np.float32): _gelu_tanh_fwd, (_TANH, np.float64): _gelu_tanh_fwd}
_BWD = {(_NONE, np.float32): _gelu_bwd_f32, (_NONE, np.float64): _gelu_bwd_f64,
        (_TANH, np.float32): _gelu_tanh_bwd, (_TANH, np.float64): _gelu_tanh_bwd}


def _mode(op, approximate):
    check_approximate(op, approximate)
    return _TANH if approximate == "tanh" else _NONE


def gelu(x, approximate="none"):
    """y = GELU(x) elementwise (float32/float64; other dtypes use the reference)."""
    mode = _mode("gelu", approximate)
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        return _ref.gelu(x, approximate)
    xc = np.ascontiguousarray(x)
    y = np.empty_like(xc)
    with serial_below(xc.size):
        _FWD[mode, xc.dtype.type](xc.reshape(-1), y.reshape(-1))
    return y


def gelu_backward(x, gy, approximate="none"):
    """gx = gy * GELU'(x) elementwise; ``gy`` is broadcast to ``x``'s shape if needed."""
    mode = _mode("gelu_backward", approximate)
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        return _ref.gelu_backward(x, gy, approximate)
    xc = np.ascontiguousarray(x)
    g = np.ascontiguousarray(np.broadcast_to(np.asarray(gy, dtype=x.dtype), x.shape))
    out = np.empty_like(xc)
    with serial_below(xc.size):
        _BWD[mode, xc.dtype.type](xc.reshape(-1), g.reshape(-1), out.reshape(-1))
    return out


KERNELS, PREFERRED = native_tables("activation", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) the GELU kernels (exact and tanh forms, forward
    and backward) on tiny inputs of each of ``dtypes``."""
    for dt in dtypes:
        z = np.zeros(3, dt)
        for a in ("none", "tanh"):
            gelu(z, a)
            gelu_backward(z, z, a)
