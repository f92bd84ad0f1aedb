"""Native softmax, log-softmax and fused softmax-cross-entropy (Numba), plus ``fast_exp``.

Same signatures and maths as :mod:`minigrad.kernels.reference.softmax`; the
formulas are in that module's docstring. Every kernel here works row by row over
the last axis: one ``prange`` task per row (rows are independent), and each row is
read from memory once and then reused from the L1 cache for its second and third
sweep (max, then sum of exponentials, then the output).

Why a hand-written exp
----------------------
NumPy's ``np.exp`` is vectorised (SIMD) inside NumPy, but inside a Numba loop
``np.exp``/``math.exp`` is a call to the C library's scalar ``exp`` unless Intel's
SVML is installed, and a scalar call in a loop stops LLVM from vectorising it
(measured: 3.1 ns per float32 element vs 0.8 ns for the version below). So
:func:`fast_exp` computes exp with plain arithmetic that LLVM *can* vectorise:

1. range reduction: write x = n ln2 + r with n = round(x / ln2) an integer and
   |r| <= ln2 / 2 (ln2 is split in a high and a low part so n ln2 is exact enough);
2. exp(r) by its Taylor polynomial: degree 7 for float32 (error ~1e-9, below the
   float32 rounding of ~6e-8) and 13 for float64 (~4e-18, below 1.1e-16);
3. exp(x) = 2^n exp(r), where 2^n is built directly from its bit pattern: the
   integer (n + bias) shifted into the exponent field, reinterpreted as a float.

Step 3 needs a bit cast from integer to float that Numba has no function for, so
two tiny ``@intrinsic``s emit the single LLVM ``bitcast`` instruction. Measured
accuracy: max relative error 1.0e-7 (float32) and 2.3e-16 (float64) over the range
that does not underflow; inputs whose result would be subnormal return 0, results
past the largest float are inf, NaN stays NaN. (In a thin band just below overflow,
x in (88.3, 88.72] for float32 and (709, 709.78] for float64, the result saturates
at exp(88.3) / exp(709); softmax only ever calls it with x <= 0.)

Fast-math, and why sums are written by hand
-------------------------------------------
LLVM vectorises a sum ``s += x[i]`` only if it may *reassociate* it (add the
elements in another order). Numba's ``fastmath={"reassoc"}`` allows that, but it
applies to every floating-point operation of the function **and of every jitted
helper first compiled from it**; we measured both harms: it rewrote
``(x - m) - ls`` as ``x - (m + ls)`` (a relative error of 2e-4 in log-softmax of
float32 logits near 1e4) and merged the two-part ln2 of the exp range reduction
(float64 exp error 2e-14 instead of 2e-16). So every kernel here (and in
``attention.py`` and ``norm.py``) uses only ``FASTMATH = {"contract", "nsz",
"arcp"}`` (fused multiply-adds allowed; the order of operations is exactly the
written one), and the sums that need speed are written in a vector-friendly order
by hand: :func:`lane_sum` and :func:`lane_dot` keep 16 partial sums side by side
(one vector register), which LLVM vectorises without reordering anything.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from . import _runtime
from ..reference import softmax as _ref
from .._contracts import ce_shapes
from .._families import native_tables

__all__ = ["serial_below", "fast_exp", "fmaximum", "stack_empty", "lane_sum", "lane_dot",
           "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
           "cross_entropy_forward", "cross_entropy_backward", "KERNELS", "PREFERRED", "warmup"]

_JIT = dict(cache=True, nogil=True)
# Fused multiply-adds, no signed zeros, reciprocals: yes. Reassociation: no (see the
# module docstring). No flags that assume no inf/NaN: -inf is how masks are written.
FASTMATH = {"contract", "nsz", "arcp"}
LANES = 16  # partial sums in lane_sum / lane_dot: one 512-bit register of float32


# ----------------------------------------------------------------------------- fast exp

@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (LLVM ``bitcast``)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], sig.args[0], types.int32)
        return builder.bitcast(v, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret a 64-bit integer as a float64 (LLVM ``bitcast``)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], sig.args[0], types.int64)
        return builder.bitcast(v, ir.DoubleType())

    return types.float64(bits), codegen


@intrinsic
def stack_empty(typingctx, rows, cols, dtype):
    """``stack_empty(R, C, dtype)``: an uninitialised (R, C) C-contiguous array on the stack.

    R and C must be compile-time constants (literals or module-level ints). The
    memory is an LLVM ``alloca`` in the function's entry block, so it lives until
    the function returns and must never be returned or stored. Because LLVM can see
    every access to it, it can keep the whole array in registers, which is the point:
    the same loops over ``np.empty`` (heap) arrays keep them in memory (measured 3x
    slower for the attention kernel's register tile).
    """
    if not (isinstance(rows, types.IntegerLiteral) and isinstance(cols, types.IntegerLiteral)):
        return None
    if isinstance(dtype, types.NumberClass):
        ty = dtype.instance_type
    elif isinstance(dtype, types.DType):
        ty = dtype.dtype
    else:
        return None
    nr, nc = rows.literal_value, cols.literal_value
    arrty = types.Array(ty, 2, "C")

    def codegen(context, builder, sig, args):
        llty = context.get_data_type(ty)
        ptr = cgutils.alloca_once(builder, llty, size=nr * nc)
        ary = make_array(arrty)(context, builder)
        item = context.get_abi_sizeof(llty)

        def intp(v):
            return context.get_constant(types.intp, v)

        populate_array(ary, data=ptr, shape=[intp(nr), intp(nc)], strides=[intp(nc * item), intp(item)],
                       itemsize=intp(item), meminfo=None)
        return ary._getvalue()

    return arrty(rows, cols, dtype), codegen


@intrinsic
def fmaximum(typingctx, a, b):
    """maximum(a, b) of two floats of one type, NaN if either is NaN (LLVM ``llvm.maximum``).

    Python's ``max()`` compiles to a compare and a branch-like select that LLVM does
    not turn into vector instructions inside a reduction loop; the ``llvm.maximum``
    intrinsic it does (measured: 0.34 vs 0.11 ns per element for a row max).
    """
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(sig.args[0])
        fn = builder.module.declare_intrinsic("llvm.maximum", [llty], ir.FunctionType(llty, [llty, llty]))
        return builder.call(fn, args)

    return a(a, b), codegen


@njit(**_JIT)
def _exp_f32(x):
    f = np.float32
    t = min(max(x, f(-87.0)), f(88.3))                # 2^n stays a normal float32
    n = np.floor(t * f(1.4426950408889634) + f(0.5))  # round(t / ln2)
    r = t - n * f(0.693145751953125)                  # ln2, high part (exact product)
    r = r - n * f(1.428606765330187e-06)              # ln2, low part
    p = f(1 / 5040)                                   # Taylor, Horner form
    p = p * r + f(1 / 720)
    p = p * r + f(1 / 120)
    p = p * r + f(1 / 24)
    p = p * r + f(1 / 6)
    p = p * r + f(0.5)
    p = p * r + f(1.0)
    p = p * r + f(1.0)
    y = p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    y = f(0.0) if x < f(-87.0) else y
    y = f(np.inf) if x > f(88.72) else y             # exp(x) > largest float32
    return x if x != x else y                         # NaN stays NaN


@njit(**_JIT)
def _exp_f64(x):
    t = min(max(x, -708.0), 709.0)
    n = np.floor(t * 1.4426950408889634 + 0.5)
    r = t - n * 0.6931471803691238                    # ln2 = hi + lo, hi has 32 bits
    r = r - n * 1.9082149292705877e-10
    p = 1 / 6227020800.0                              # 1/13!
    p = p * r + 1 / 479001600.0
    p = p * r + 1 / 39916800.0
    p = p * r + 1 / 3628800.0
    p = p * r + 1 / 362880.0
    p = p * r + 1 / 40320.0
    p = p * r + 1 / 5040.0
    p = p * r + 1 / 720.0
    p = p * r + 1 / 120.0
    p = p * r + 1 / 24.0
    p = p * r + 1 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * _float64_from_bits((np.int64(n) + np.int64(1023)) << np.int64(52))
    y = 0.0 if x < -708.0 else y
    y = np.inf if x > 709.78 else y
    return x if x != x else y


class serial_below:
    """Run the native kernels of a ``with`` block on one thread when ``work < limit``.

    Starting a parallel loop costs a few microseconds on an idle machine, but when
    the cores are busy the second thread may only be scheduled at the next time
    slice: we measured 20 ms (!) per call of a tiny parallel kernel on a loaded
    2-core machine, and 18 us with one thread. Small inputs (gradcheck's, a
    batch of one) therefore run serially; ``numba.set_num_threads`` is per calling
    thread and cheap, so this is safe to use anywhere.
    """

    def __init__(self, work, limit=32768):
        self.serial = work < limit
        self.old = None

    def __enter__(self):
        if self.serial:
            self.old = numba.get_num_threads()
            if self.old != 1:
                numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.old is not None and self.old != 1:
            numba.set_num_threads(self.old)
        return False


def fast_exp(x):
    """exp(x) that LLVM can vectorise inside Numba loops (float32 or float64 scalar).

    Called from Python it is just ``math.exp``; inside ``@njit`` code the overload
    below picks :func:`_exp_f32` or :func:`_exp_f64` by the argument's type.
    """
    return math.exp(x)


@overload(fast_exp)
def _fast_exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _exp_f32(x)
    if isinstance(x, types.Float):
        return lambda x: _exp_f64(x)
    return None


@njit(**_JIT)
def _exp_array(x, out):
    """out = fast_exp(x), elementwise over 1-D arrays (used by the tests)."""
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])


def exp(x):
    """Elementwise :func:`fast_exp` of a float32/float64 array (for tests and curious readers)."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _exp_array(x.reshape(-1), out.reshape(-1))
    return out


# ----------------------------------------------------------------------------- row helpers

@njit(fastmath=FASTMATH, **_JIT)
def _fold_lanes(acc):
    """acc[0] + ... + acc[15] as a tree (8 + 4 + 2 + 1 vector adds): 4 dependent steps
    instead of a chain of 16 (measured: 65 -> 25 ns for four 64-wide row sums)."""
    for lane in range(8):
        acc[lane] += acc[lane + 8]
    for lane in range(4):
        acc[lane] += acc[lane + 4]
    for lane in range(2):
        acc[lane] += acc[lane + 2]
    return acc[0] + acc[1]


@njit(fastmath=FASTMATH, **_JIT)
def lane_sum(x):
    """sum(x) of a 1-D array as 16 interleaved partial sums (x[0::16], x[1::16], ...)
    folded at the end: a fixed order that LLVM turns into one vector add per 16 values."""
    acc = stack_empty(1, LANES, x.dtype)[0]
    for lane in range(LANES):
        acc[lane] = 0
    n = x.shape[0] - x.shape[0] % LANES
    for j0 in range(0, n, LANES):
        blk = x[j0:j0 + LANES]
        for lane in range(LANES):
            acc[lane] += blk[lane]
    for j in range(n, x.shape[0]):
        acc[j - n] += x[j]
    return _fold_lanes(acc)


@njit(fastmath=FASTMATH, **_JIT)
def lane_dot(x, y):
    """sum(x * y) of two 1-D arrays, in the order of :func:`lane_sum`."""
    acc = stack_empty(1, LANES, x.dtype)[0]
    for lane in range(LANES):
        acc[lane] = 0
    n = x.shape[0] - x.shape[0] % LANES
    for j0 in range(0, n, LANES):
        bx = x[j0:j0 + LANES]
        by = y[j0:j0 + LANES]
        for lane in range(LANES):
            acc[lane] += bx[lane] * by[lane]
    for j in range(n, x.shape[0]):
        acc[j - n] += x[j] * y[j]
    return _fold_lanes(acc)


@njit(fastmath=FASTMATH, **_JIT)
def _row_max(row):
    """max of a row; 0 if it is not finite (all -inf, an inf, NaN), as in the reference,
    so that row - max stays NaN-free exactly where NumPy's does."""
    m = row[0]
    for c in range(1, row.shape[0]):
        m = fmaximum(m, row[c])
    if not np.isfinite(m):
        m = row.dtype.type(0.0)
    return m


@njit(fastmath=FASTMATH, **_JIT)
def _shift_exp(row, m, z, e):
    """z = row - m (exact) and e = exp(z); returns log(sum(e))."""
    for c in range(row.shape[0]):
        zc = row[c] - m
        z[c] = zc
        e[c] = fast_exp(zc)
    return np.log(lane_sum(e))


def _rows(x):
    """View ``x`` as C-contiguous (rows, last axis) for the kernels."""
    x = np.ascontiguousarray(x)
    C = x.shape[-1] if x.ndim else 1
    return x.reshape(-1, C)


# ----------------------------------------------------------------------------- softmax

@njit(parallel=True, fastmath=FASTMATH, **_JIT)
def _softmax_rows(x, y, log, chunk):
    N, C = x.shape
    for k in prange((N + chunk - 1) // chunk):
        z = np.empty(C, x.dtype)           # scratch, one per task
        for n in range(k * chunk, min(N, (k + 1) * chunk)):
            row = x[n]
            out = y[n]
            m = _row_max(row)
            if log:   # (x - m) - log(sum(exp(x - m))): x - m is exact, no rounded lse
                ls = _shift_exp(row, m, out, z)
                for c in range(C):
                    out[c] = out[c] - ls
            else:     # exp(x - m) / sum(exp(x - m))
                _shift_exp(row, m, z, out)
                inv = x.dtype.type(1.0) / lane_sum(out)
                for c in range(C):
                    out[c] *= inv


@njit(parallel=True, fastmath=FASTMATH, **_JIT)
def _softmax_backward_rows(gy, y, gx, log, chunk):
    N, C = y.shape
    for k in prange((N + chunk - 1) // chunk):
        for n in range(k * chunk, min(N, (k + 1) * chunk)):
            g = gy[n]
            yr = y[n]
            out = gx[n]
            if log:   # gx = g - softmax * sum(g), softmax = exp(y)
                s = lane_sum(g)
                for c in range(C):
                    out[c] = g[c] - fast_exp(yr[c]) * s
            else:     # gx = y * (g - sum(g * y))
                s = lane_dot(g, yr)
                for c in range(C):
                    out[c] = yr[c] * (g[c] - s)


def _chunk(N, C):
    """Rows per parallel task: about 16K elements, so tiny rows are not one task each."""
    return max(1, min(N, 16384 // max(C, 1)))


def _native_dtype(*arrays):
    """True when every array is float32/float64 (others, e.g. float16, use the reference)."""
    return all(a.dtype in (np.float32, np.float64) for a in arrays)


def _softmax_impl(x, log):
    _runtime.configure()
    if not _native_dtype(x):
        return (_ref.log_softmax if log else _ref.softmax)(x)
    x2 = _rows(x)
    y = np.empty_like(x2)
    if x2.size:
        with serial_below(x2.size):
            _softmax_rows(x2, y, log, _chunk(*x2.shape))
    return y.reshape(np.shape(x))


def softmax(x):
    """exp(x - logsumexp(x)) over the last axis."""
    return _softmax_impl(x, False)


def log_softmax(x):
    """x - logsumexp(x) over the last axis."""
    return _softmax_impl(x, True)


def _softmax_backward_impl(gy, y, log):
    _runtime.configure()
    if not _native_dtype(y):
        return (_ref.log_softmax_backward if log else _ref.softmax_backward)(gy, y)
    y2 = _rows(y)
    gy2 = _rows(gy.astype(y.dtype, copy=False))
    gx = np.empty_like(y2)
    if y2.size:
        with serial_below(y2.size):
            _softmax_backward_rows(gy2, y2, gx, log, _chunk(*y2.shape))
    return gx.reshape(np.shape(y))


def softmax_backward(gy, y):
    """y * (gy - sum(gy * y)) over the last axis."""
    return _softmax_backward_impl(gy, y, False)


def log_softmax_backward(gy, y):
    """gy - exp(y) * sum(gy) over the last axis."""
    return _softmax_backward_impl(gy, y, True)


# ----------------------------------------------------------------------------- cross-entropy

@njit(parallel=True, fastmath=FASTMATH, **_JIT)
def _ce_forward(x, target, t, w, soft, ignore_index, eps, loss, lse, chunk):
    """Per-row loss (index targets in ``target``, or probabilities in ``t`` if ``soft``)."""
    N, C = x.shape
    dt = x.dtype.type
    keep = dt(1.0) - dt(eps)
    smooth = dt(eps / C)
    for k in prange((N + chunk - 1) // chunk):
        z = np.empty(C, x.dtype)           # x - m, exact
        e = np.empty(C, x.dtype)           # exp(x - m), then other per-class terms
        for n in range(k * chunk, min(N, (k + 1) * chunk)):
            row = x[n]
            m = _row_max(row)
            ls = _shift_exp(row, m, z, e)  # log p_c = z_c - ls
            lse[n] = np.float64(m) + np.float64(ls)
            if soft:        # sum_c w_c t~_c (ls - z_c)
                tr = t[n]
                for c in range(C):
                    e[c] = w[c] * (keep * tr[c] + smooth)
                loss[n] = ls * lane_sum(e) - lane_dot(e, z)
                continue
            y = target[n]
            if y == ignore_index:
                loss[n] = 0
                continue
            v = keep * w[y] * (ls - z[y])                  # -(1 - eps) w_y log p_y
            if eps != 0.0:                                  # -(eps / C) sum_c w_c log p_c
                for c in range(C):
                    e[c] = ls - z[c]
                v += smooth * lane_dot(w, e)
            loss[n] = v


@njit(parallel=True, fastmath=FASTMATH, **_JIT)
def _ce_backward(g, x, target, t, w, soft, ignore_index, eps, lse, dx, chunk):
    N, C = x.shape
    dt = x.dtype.type
    keep = dt(1.0) - dt(eps)
    smooth = dt(eps / C)
    wsum = lane_sum(w)
    for k in prange((N + chunk - 1) // chunk):
        wt = np.empty(C, x.dtype)
        for n in range(k * chunk, min(N, (k + 1) * chunk)):
            row = x[n]
            out = dx[n]
            l = lse[n]                     # float64: row[c] - l is taken in float64
            gn = g[n]
            if soft:        # g (softmax * sum_c w_c t~_c - w t~)
                tr = t[n]
                for c in range(C):
                    wt[c] = w[c] * (keep * tr[c] + smooth)
                a = gn * lane_sum(wt)
                for c in range(C):
                    out[c] = a * fast_exp(dt(row[c] - l)) - gn * wt[c]
                continue
            y = target[n]
            if y == ignore_index:
                for c in range(C):
                    out[c] = 0
                continue
            a = gn * keep * w[y]           # weight of (p - onehot)
            b = gn * smooth                # weight of (W p - w)
            for c in range(C):
                p = fast_exp(dt(row[c] - l))
                out[c] = a * p + b * (wsum * p - w[c])
            out[y] -= a


def _ce_args(op, logits, target, weight):
    ce_shapes(op, logits, target, weight)
    x = np.ascontiguousarray(logits)
    N, C = x.shape
    w = np.ones(C, x.dtype) if weight is None else np.ascontiguousarray(weight, dtype=x.dtype)
    if target.ndim == 2:
        t = np.ascontiguousarray(target, dtype=x.dtype)
    else:
        t = np.ascontiguousarray(target, dtype=np.int64)
    return x, t, w


def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-sample softmax cross-entropy; returns ``(loss (N,), lse (N,))``."""
    _runtime.configure()
    if not _native_dtype(logits):
        return _ref.cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing)
    x, t, w = _ce_args("cross_entropy_forward", logits, target, weight)
    N = x.shape[0]
    loss = np.empty(N, x.dtype)
    lse = np.empty(N, np.float64)   # float64 even for float32 logits (see the reference)
    if N == 0:
        return loss, lse
    soft = t.ndim == 2
    idx = np.zeros(1, np.int64) if soft else t
    probs = t if soft else np.zeros((1, 1), x.dtype)
    with serial_below(x.size):
        _ce_forward(x, idx, probs, w, soft, int(ignore_index), float(label_smoothing), loss, lse,
                    _chunk(*x.shape))
    return loss, lse


def cross_entropy_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse):
    """d(sum_n grad_loss_n * loss_n) / d logits, shape (N, C)."""
    _runtime.configure()
    if not _native_dtype(logits):
        return _ref.cross_entropy_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse)
    x, t, w = _ce_args("cross_entropy_backward", logits, target, weight)
    g = np.ascontiguousarray(np.broadcast_to(grad_loss, (x.shape[0],)), dtype=x.dtype)
    lse = np.ascontiguousarray(lse, dtype=np.float64)
    dx = np.empty_like(x)
    if x.size == 0:
        return dx
    soft = t.ndim == 2
    idx = np.zeros(1, np.int64) if soft else t
    probs = t if soft else np.zeros((1, 1), x.dtype)
    with serial_below(x.size):
        _ce_backward(g, x, idx, probs, w, soft, int(ignore_index), float(label_smoothing), lse, dx,
                     _chunk(*x.shape))
    return dx


# Measured with benchmarks/_bench_attention.py (see docs/kernels-attention.md).
KERNELS, PREFERRED = native_tables("softmax", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from cache) every kernel above for each of ``dtypes``."""
    for dt in dtypes:
        x = np.zeros((2, 3), dt)
        y = softmax(x)
        log_softmax(x)
        softmax_backward(x, y)
        log_softmax_backward(x, np.log(y))
        exp(np.zeros(2, dt))
        for t in (np.array([0, 1]), np.full((2, 3), 1 / 3, dt)):
            loss, lse = cross_entropy_forward(x, t, None, -100, 0.1)
            cross_entropy_backward(np.ones(2, dt), x, t, None, -100, 0.1, lse)
