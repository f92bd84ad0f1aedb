"""Native LSTM and GRU layers (Numba for the gates, BLAS for h W^T): one fused kernel per step.

Same signatures, same saved arrays and same maths as
:mod:`minigrad.kernels.reference.rnn` (the equations are in :mod:`minigrad.ops.rnn`).

Where the time goes
-------------------
A step of a recurrent layer is one small matrix product, ``h_{t-1} W_hh^T``
((batch, H) times (H, G*H)), and then the gates: a few sigmoids and tanhs and
products on (batch, H) blocks. Written with whole-array NumPy calls, the gates are
about ten passes over small arrays per step (add, tanh, scale, shift, f*c, i*g,
add, tanh, multiply...), each paying a call and a trip through memory; in the
backward the same again, plus the gates' derivatives for all steps at once. At the
seed LSTM's sizes (batch 64, H = 128, 8 steps, float32) we measured per layer:
forward 1.64 ms of which the 8 matrix products 0.75-0.9 ms; backward 2.0 ms of
which 0.8 ms matrix products, 0.66 ms the dW product, 0.29 ms the derivatives
precomputed for all steps and 0.22 ms the per-step elementwise calls.

Here each step is ONE matrix product (NumPy's BLAS, into a reused buffer) and ONE
compiled call that reads each pre-activation once and writes each result once: the
forward goes from ``h_{t-1} W^T`` to i, f, g, o, c_t and h_t; the backward from the
incoming dh, dc to the gradient of the pre-activations and the next dc. The backward
recomputes tanh(c_t) rather than saving it (one cheap pass per step), so the saved
arrays are the reference's.

Measured on an AMD EPYC (Zen 4, AVX-512, 2 cores shared with other work, one
thread), the same seed sizes:

* one layer, reference -> native kernels alone, hot caches: LSTM forward
  1.54-1.61 -> 0.99-1.09 ms, backward 1.37-1.41 -> 0.86 ms; GRU forward 1.39-1.43
  -> 0.70-0.77 ms, backward 1.07-1.33 -> 0.67-0.69 ms. What is left is mostly BLAS:
  88-101 us per (64 x 128) @ (128 x 512) product;
* one fused step: LSTM forward 32 us, backward 14 us with the arrays in cache; in a
  training step 39-47 us each, because the arrays they read and write come from the
  L3 cache or memory (with every array evicted first: 57-95 us);
* the whole seed LSTM training step, PyTorch's time = 1, the step of
  ``benchmarks/steps.py`` alternating both kernel sets in one process: 1.28-1.36 with
  the reference kernels, 0.99-1.06 with these (0.94-1.08 from ``python
  benchmarks/steps.py --quick --threads 1 --only lstm,gru``); the GRU 1.01-1.14 ->
  0.76-0.85. With AVX2 code generation emulated on the same CPU: 1.20 -> 0.96 (LSTM),
  0.97 -> 0.75 (GRU).

Details that were measured:

* ``W^T`` is made contiguous once per call (a 64 K-element copy, ~40 us): BLAS on the
  transposed view ``W.T`` was 18% slower per step (110 vs 93 us).
* ``1 - i`` with a literal integer 1 is computed in float64 (Numba's rule for an
  int64 and a float32), which halves the vector width and adds conversions: the
  LSTM backward step took 24 us with it and 14 us with ``one = dtype(1)``.
* Products known in advance are skipped: with h0 = None the first step's h W^T is
  zero, and dh0 = dA_1 W is computed only when h0 wants a gradient (4 of the 32
  products of a seed LSTM step).
* The compiled loops take whole C-contiguous arrays and a time index, and index
  every row slice from 0, so each row is a contiguous 1-D array that LLVM
  vectorises (``_row``); Numba types a strided (N, ...) slice as an array whose
  inner stride is not known when compiling.

Several threads: the batch split by rows
----------------------------------------
The per-step loop above gives each step's product to BLAS, on one thread under
minigrad's thread policy. With more Numba threads (and 12 or more float32 rows) the
LSTM instead splits the batch: each task takes its rows through all the steps
(:func:`_lstm_forward_split`, :func:`_lstm_backward_split`), the products on the packed
GEMM's tile (``_gemm.rows_times_packed``). Seed LSTM step on two threads: 7.5-7.7 ->
5.9-6.1 ms (see docs/rnn.md).

Sigmoid and tanh without SVML
-----------------------------
Inside a Numba loop ``math.tanh`` and ``math.exp`` are scalar C-library calls (no
SVML here) that stop vectorisation. For float32 the gates therefore use
:func:`~minigrad.kernels.cpu.softmax.fast_exp` (vectorisable arithmetic):
``sigmoid(x) = 1 / (1 + exp(-x))`` (no cancellation anywhere), and for tanh
``(1 - e) / (1 + e)``, e = exp(-2|x|), where |x| >= 0.5 (there 1 - e >= 0.63, so no
cancellation either), and its Taylor series up to x^15 below 0.5 (truncation error
below 1e-8 relative). Both are within 2-3 float32 ulps of the exact values; inf gives
0/1 or -1/1 and NaN stays NaN. float64 (what gradcheck uses) keeps ``math.tanh``
and the float64 ``fast_exp`` (accurate to 2e-16).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.core import types
from numba.extending import overload

from . import _gemm, _runtime
from .softmax import FASTMATH, fast_exp
from ..reference import rnn as _ref
from .._families import native_tables

__all__ = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "KERNELS", "PREFERRED", "warmup"]

# error_model="numpy": a division is a plain division (no zero test and branch, which
# would stop LLVM from vectorising the loop)
_JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")

# tanh(x) = x (1 + T1 x^2 + T2 x^4 + ... + T7 x^14) + O(x^17): its Taylor series
# (coefficients 2^2k (2^2k - 1) B_2k / (2k)! with B the Bernoulli numbers)
_T1, _T2, _T3, _T4 = -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0
_T5, _T6, _T7 = -1382.0 / 155925.0, 21844.0 / 6081075.0, -929569.0 / 638512875.0


# ============================================================================ activations

@njit(inline="always", **_JIT)
def _tanh_f32(x):
    f = np.float32
    a = abs(x)
    e = fast_exp(f(-2.0) * a)
    far = (f(1.0) - e) / (f(1.0) + e)                  # |x| >= 0.5: no cancellation
    s = a * a
    p = f(_T7)
    p = p * s + f(_T6)
    p = p * s + f(_T5)
    p = p * s + f(_T4)
    p = p * s + f(_T3)
    p = p * s + f(_T2)
    p = p * s + f(_T1)
    near = a + a * (p * s)                             # |x| < 0.5: the Taylor series
    return math.copysign(near if a < f(0.5) else far, x)


@njit(inline="always", **_JIT)
def _sigmoid_f32(x):
    return np.float32(1.0) / (np.float32(1.0) + fast_exp(-x))


@njit(inline="always", **_JIT)
def _tanh_f64(x):
    return math.tanh(x)


@njit(inline="always", **_JIT)
def _sigmoid_f64(x):
    return 1.0 / (1.0 + fast_exp(-x))


def sigmoid(x):
    """1 / (1 + exp(-x)) of a float; inside ``@njit`` code the float32 or float64 version."""
    return 1.0 / (1.0 + math.exp(-x))


def tanh(x):
    """tanh of a float; inside ``@njit`` code the float32 or float64 version."""
    return math.tanh(x)


@overload(sigmoid)
def _sigmoid_overload(x):
    if isinstance(x, types.Float):
        return (lambda x: _sigmoid_f32(x)) if x.bitwidth == 32 else (lambda x: _sigmoid_f64(x))
    return None


@overload(tanh)
def _tanh_overload(x):
    if isinstance(x, types.Float):
        return (lambda x: _tanh_f32(x)) if x.bitwidth == 32 else (lambda x: _tanh_f64(x))
    return None


@njit(**_JIT)
def _activations(x, out_sigmoid, out_tanh):
    """Elementwise sigmoid and tanh of a 1-D array (used by the tests)."""
    for k in range(x.shape[0]):
        out_sigmoid[k] = sigmoid(x[k])
        out_tanh[k] = tanh(x[k])


def activations(x):
    """(sigmoid(x), tanh(x)) as the compiled gates compute them (for tests and readers)."""
    x = np.ascontiguousarray(x)
    s, t = np.empty_like(x), np.empty_like(x)
    _activations(x.reshape(-1), s.reshape(-1), t.reshape(-1))
    return s, t


# ============================================================================ one LSTM step

@njit(**_JIT)
def _row(a, t, n, batch_first):
    """Row (t, n) of a C-contiguous array stored (L, N, ...) or, batch_first, (N, L, ...)."""
    return a[n, t] if batch_first else a[t, n]


@njit(**_JIT)
def _lstm_step(u, xw, b, t, batch_first, h, c, gates, out):
    """Step t forward. u (N, 4H) = h_{t-1} W^T; h, c (N, H): the states, updated in place;
    writes gates[t] (i, f, g, o) and row t of out ([h_t | c_t])."""
    _lstm_rows(u, xw, b, t, batch_first, h, c, gates, out, 0, h.shape[0])


@njit(**_JIT)
def _lstm_rows(u, xw, b, t, batch_first, h, c, gates, out, lo, hi):
    """:func:`_lstm_step` for the batch rows lo..hi-1 only."""
    H = h.shape[1]
    for n in range(lo, hi):
        x, y, ur, gr = _row(xw, t, n, batch_first), _row(out, t, n, batch_first), u[n], gates[t, n]
        hr, cr = h[n], c[n]
        ui, uf, ug, uo = ur[:H], ur[H:2 * H], ur[2 * H:3 * H], ur[3 * H:]
        xi, xf, xg, xo = x[:H], x[H:2 * H], x[2 * H:3 * H], x[3 * H:]
        bi, bf, bg, bo = b[:H], b[H:2 * H], b[2 * H:3 * H], b[3 * H:]
        gi, gf, gg, go = gr[:H], gr[H:2 * H], gr[2 * H:3 * H], gr[3 * H:]
        yh, yc = y[:H], y[H:]
        for j in range(H):
            i = sigmoid(ui[j] + xi[j] + bi[j])
            f = sigmoid(uf[j] + xf[j] + bf[j])
            g = tanh(ug[j] + xg[j] + bg[j])
            o = sigmoid(uo[j] + xo[j] + bo[j])
            cn = f * cr[j] + i * g
            hn = o * tanh(cn)
            gi[j], gf[j], gg[j], go[j] = i, f, g, o
            cr[j], hr[j], yh[j], yc[j] = cn, hn, hn, cn


@njit(**_JIT)
def _lstm_step_back(dh_next, gout, gates, out, c0, t, tp, batch_first, dc, dA):
    """Step t backward. dh_next (N, H) = dA_{t+1} W (zeros at the last step); dc (N, H)
    = dc_{t+1} * f_{t+1}, updated in place to dc_t * f_t; writes row t of dA. c_{t-1}
    is row tp of out's c half, or c0 when tp < 0."""
    _lstm_back_rows(dh_next, gout, gates, out, c0, t, tp, batch_first, dc, dA, 0, dc.shape[0])


@njit(**_JIT)
def _lstm_back_rows(dh_next, gout, gates, out, c0, t, tp, batch_first, dc, dA, lo, hi):
    """:func:`_lstm_step_back` for the batch rows lo..hi-1 only."""
    H = dc.shape[1]
    one = dc.dtype.type(1.0)     # (a literal 1 would make every product below float64)
    for n in range(lo, hi):
        g_row, y, da = _row(gout, t, n, batch_first), _row(out, t, n, batch_first), _row(dA, t, n, batch_first)
        gr = gates[t, n]
        cp = c0[n] if tp < 0 else _row(out, tp, n, batch_first)[H:]
        gh, gc, cs, dhn, dcr = g_row[:H], g_row[H:], y[H:], dh_next[n], dc[n]
        gi, gf, gg, go = gr[:H], gr[H:2 * H], gr[2 * H:3 * H], gr[3 * H:]
        di, df, dg, do = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
        for j in range(H):
            i, f, g, o = gi[j], gf[j], gg[j], go[j]
            tc = tanh(cs[j])
            dh = dhn[j] + gh[j]
            d = dcr[j] + gc[j] + dh * o * (one - tc * tc)
            di[j] = d * g * i * (one - i)
            df[j] = d * cp[j] * f * (one - f)
            dg[j] = d * i * (one - g * g)
            do[j] = dh * tc * o * (one - o)
            dcr[j] = d * f


# ============================================================================ LSTM layers split by batch rows

@njit(parallel=True, **_JIT)
def _lstm_forward_split(xw, bp, kcb, b, order, batch_first, h, c, gates, out, u, skip_first, chunks, apw, bufw):
    """Every step of a layer, each of ``chunks`` tasks owning a range of batch rows.

    A batch row's recurrence never reads another row, so each task takes its rows
    through all the steps on its own: their share of ``h_{t-1} W^T`` on the packed
    GEMM's register tile (W^T packed once, in ``bp``, read by every task), then their
    gates. The threads meet once per layer instead of once per step, and both cores
    do the products, where the BLAS call in :func:`lstm_forward`'s per-step loop runs
    on one (minigrad's thread policy gives BLAS one thread). Python threads calling
    BLAS per row range instead gained nothing (concurrent calls into OpenBLAS did not
    overlap)."""
    N, H = h.shape
    GH = u.shape[1]
    hf = h.reshape(-1)
    uf = u.reshape(-1)
    for ch in prange(chunks):
        lo, hi = _runtime.thread_share(N, chunks, ch)
        for k in range(order.shape[0]):
            t = order[k]
            if k > 0 or not skip_first:
                _gemm.rows_times_packed(hf, lo * H, H, 1, hi - lo, H, kcb, bp, GH, uf, lo * GH, GH,
                                        apw[ch], bufw[ch])
            _lstm_rows(u, xw, b, t, batch_first, h, c, gates, out, lo, hi)


@njit(parallel=True, **_JIT)
def _lstm_backward_split(gout, gates, out, c0, bp, kcb, order, batch_first, dA, dh, dc, need_dh0, reverse,
                         chunks, apw, bufw):
    """The backward of :func:`_lstm_forward_split`, split by batch rows the same way:
    per step, the gates' gradients of a task's rows, then their ``dA_t W`` (W packed
    once in ``bp``)."""
    N, H = dc.shape
    L = gates.shape[0]
    GH = 4 * H
    dAf = dA.reshape(-1)
    dhf = dh.reshape(-1)
    sam = L * GH if batch_first else GH
    for ch in prange(chunks):
        lo, hi = _runtime.thread_share(N, chunks, ch)
        for k in range(order.shape[0]):
            t = order[k]
            tp = t + 1 if reverse else t - 1
            _lstm_back_rows(dh, gout, gates, out, c0, t, tp if 0 <= tp < L else -1, batch_first, dc, dA, lo, hi)
            if need_dh0 or 0 <= tp < L:
                pa = ((lo * L + t) if batch_first else (t * N + lo)) * GH
                _gemm.rows_times_packed(dAf, pa, sam, 1, hi - lo, GH, kcb, bp, H, dhf, lo * H, H,
                                        apw[ch], bufw[ch])


def _split(N, dtype):
    """Tasks for a layer split by batch rows: one per Numba thread while each gets 6 rows
    (a register tile's) or more; 1 means the per-step loop (one thread, a small batch,
    or float64: the split kernels take 12 s to compile per dtype, and float64 is for
    gradient checks, not speed)."""
    if dtype != np.float32:
        return 1
    return max(1, min(_runtime.get_num_threads(), N // SPLIT_ROWS))


SPLIT_ROWS = 6


def _split_work(dt, K, chunks):
    """Each task's scratch for rows_times_packed: packed rows of A (MC x kcb), an edge tile."""
    NR = _gemm.tile_width(dt)
    _, kcb = _gemm.k_blocks(K)
    apw = _runtime.workspace("rnn_split_a", chunks * _gemm.MC * kcb, dt).reshape(chunks, _gemm.MC * kcb)
    bufw = _runtime.workspace("rnn_split_tile", chunks * _gemm.MR * NR, dt).reshape(chunks, _gemm.MR * NR)
    return apw, bufw


def _work(dt):
    return lambda name, n: _runtime.workspace(name, n, dt)


# ============================================================================ one GRU step

@njit(**_JIT)
def _gru_step(u, xw, b, t, batch_first, h, saved, out):
    """Step t forward. u (N, 3H) = h_{t-1} W^T; h (N, H) updated in place; writes
    saved[t] (r, z, n, u_n + b_n) and row t of out (h_t)."""
    N, H = h.shape
    for n in range(N):
        x, y, ur, s, hr = _row(xw, t, n, batch_first), _row(out, t, n, batch_first), u[n], saved[t, n], h[n]
        ur_, uz, un = ur[:H], ur[H:2 * H], ur[2 * H:]
        xr, xz, xn = x[:H], x[H:2 * H], x[2 * H:]
        br, bz, bn = b[:H], b[H:2 * H], b[2 * H:]
        sr, sz, sn, su = s[:H], s[H:2 * H], s[2 * H:3 * H], s[3 * H:]
        for j in range(H):
            r = sigmoid(xr[j] + ur_[j] + br[j])
            z = sigmoid(xz[j] + uz[j] + bz[j])
            u_n = un[j] + bn[j]
            nn = tanh(xn[j] + r * u_n)
            hn = nn + z * (hr[j] - nn)
            sr[j], sz[j], sn[j], su[j] = r, z, nn, u_n
            hr[j], y[j] = hn, hn


@njit(**_JIT)
def _gru_step_back(duw, gout, saved, out, h0, t, tp, batch_first, dh, dX, dU):
    """Step t backward. duw (N, H) = dU_{t+1} W (zeros at the last step); dh (N, H)
    = dh_{t+1} * z_{t+1}, updated in place to dh_t * z_t; writes row t of dX and dU.
    h_{t-1} is row tp of out, or h0 when tp < 0."""
    N, H = dh.shape
    one = dh.dtype.type(1.0)
    for n in range(N):
        g, s, hp = _row(gout, t, n, batch_first), saved[t, n], h0[n] if tp < 0 else _row(out, tp, n, batch_first)
        dwr, dhr, dx, du = duw[n], dh[n], _row(dX, t, n, batch_first), _row(dU, t, n, batch_first)
        sr, sz, sn, su = s[:H], s[H:2 * H], s[2 * H:3 * H], s[3 * H:]
        dxr, dxz, dxn, dur, duz, dun = dx[:H], dx[H:2 * H], dx[2 * H:], du[:H], du[H:2 * H], du[2 * H:]
        for j in range(H):
            r, z, nn = sr[j], sz[j], sn[j]
            d = dhr[j] + dwr[j] + g[j]
            d_n = d * (one - z) * (one - nn * nn)
            d_r = d_n * su[j] * r * (one - r)
            d_z = d * (hp[j] - nn) * z * (one - z)
            dxr[j], dxz[j], dxn[j] = d_r, d_z, d_n
            dur[j], duz[j], dun[j] = d_r, d_z, d_n * r
            dhr[j] = d * z


# ============================================================================ the layers

def _setup(xw, w_hh, b_hh, G):
    """The arrays the GRU forward needs: xw C-contiguous, W^T contiguous, b (zeros if None)."""
    _runtime.configure()
    xw = np.ascontiguousarray(xw)
    dt = xw.dtype
    GH = xw.shape[-1]
    b = np.zeros(GH, dt) if b_hh is None else np.ascontiguousarray(b_hh, dtype=dt)
    return xw, np.ascontiguousarray(w_hh.T, dtype=dt), b, GH // G, dt


def _state(s, N, H, dt):
    """A fresh C-contiguous copy of an initial state (it is updated in place), or zeros."""
    return np.zeros((N, H), dt) if s is None else np.array(s, dtype=dt, order="C")


def _time_steps(xw, batch_first):
    return (xw.shape[1], xw.shape[0]) if batch_first else xw.shape[:2]


def lstm_forward(xw, w_hh, b_hh, h0, c0, reverse=False, batch_first=False):
    """Returns ``(gates, out)`` as the reference does; one GEMM and one fused call per step
    (or, with several threads and enough float32 rows, the batch split by rows)."""
    if xw.dtype not in (np.float32, np.float64):
        return _ref.lstm_forward(xw, w_hh, b_hh, h0, c0, reverse, batch_first)
    N = xw.shape[0] if batch_first else xw.shape[1]
    return _lstm_forward(xw, w_hh, b_hh, h0, c0, reverse, batch_first, _split(N, xw.dtype))


def _lstm_forward(xw, w_hh, b_hh, h0, c0, reverse, batch_first, chunks):
    """:func:`lstm_forward` in ``chunks`` tasks split by batch rows (1: the per-step loop)."""
    _runtime.configure()
    xw = np.ascontiguousarray(xw)
    dt = xw.dtype
    H = xw.shape[-1] // 4
    b = np.zeros(4 * H, dt) if b_hh is None else np.ascontiguousarray(b_hh, dtype=dt)
    L, N = _time_steps(xw, batch_first)
    gates = np.empty((L, N, 4 * H), dt)
    out = np.empty(xw.shape[:-1] + (2 * H,), dt)
    h, c, u = _state(h0, N, H, dt), _state(c0, N, H, dt), np.zeros((N, 4 * H), dt)
    if chunks > 1:
        # W^T (k, j) = w_hh[j, k]: packed straight from w_hh
        w = np.ascontiguousarray(w_hh, dtype=dt)
        bp, kcb = _gemm.pack_b_whole(w.reshape(-1), 0, H, 1, 4 * H, H, dt, _work(dt))
        apw, bufw = _split_work(dt, H, chunks)
        order = np.array(list(_ref.steps(L, reverse)), dtype=np.int64)
        _lstm_forward_split(xw, bp, kcb, b, order, batch_first, h, c, gates, out, u, h0 is None, chunks, apw, bufw)
        return gates, out
    w_t = np.ascontiguousarray(w_hh.T, dtype=dt)
    for k, t in enumerate(_ref.steps(L, reverse)):
        if k or h0 is not None:          # h0 = None is zeros: its product is zero
            np.matmul(h, w_t, out=u)
        _lstm_step(u, xw, b, t, batch_first, h, c, gates, out)
    return gates, out


def lstm_backward(gout, gates, out, w_hh, c0, reverse=False, batch_first=False, need_dh0=True):
    """Returns ``(dA, dh0, dc0)`` as the reference does; one fused call and one GEMM per
    step (without ``need_dh0`` none for the first step: dh0 = dA_1 W is only for h0), or
    the batch split by rows as in :func:`lstm_forward`."""
    if out.dtype not in (np.float32, np.float64):
        return _ref.lstm_backward(gout, gates, out, w_hh, c0, reverse, batch_first, need_dh0)
    return _lstm_backward(gout, gates, out, w_hh, c0, reverse, batch_first, need_dh0,
                          _split(gates.shape[1], out.dtype))


def _lstm_backward(gout, gates, out, w_hh, c0, reverse, batch_first, need_dh0, chunks):
    """:func:`lstm_backward` in ``chunks`` tasks split by batch rows (1: the per-step loop)."""
    _runtime.configure()
    dt = out.dtype
    gout, gates, out = (np.ascontiguousarray(a, dtype=dt) for a in (gout, gates, out))
    w = np.ascontiguousarray(w_hh, dtype=dt)
    L, N, GH = gates.shape
    H = GH // 4
    c0 = np.zeros((N, H), dt) if c0 is None else np.ascontiguousarray(c0, dtype=dt)
    dA = np.empty(out.shape[:-1] + (GH,), dt)          # in xw's layout
    DA = _ref.time_major(dA, batch_first)
    dh, dc = np.zeros((N, H), dt), np.zeros((N, H), dt)
    if chunks > 1:
        bp, kcb = _gemm.pack_b_whole(w.reshape(-1), 0, 1, H, H, GH, dt, _work(dt))
        apw, bufw = _split_work(dt, GH, chunks)
        order = np.array(list(_ref.steps(L, not reverse)), dtype=np.int64)
        _lstm_backward_split(gout, gates, out, c0, bp, kcb, order, batch_first, dA, dh, dc, need_dh0, reverse,
                             chunks, apw, bufw)
        return dA, dh if need_dh0 else None, dc
    for t in _ref.steps(L, not reverse):
        tp = t + 1 if reverse else t - 1
        _lstm_step_back(dh, gout, gates, out, c0, t, tp if 0 <= tp < L else -1, batch_first, dc, dA)
        if need_dh0 or 0 <= tp < L:
            np.matmul(DA[t], w, out=dh)
    return dA, dh if need_dh0 else None, dc


def gru_forward(xw, w_hh, b_hh, h0, reverse=False, batch_first=False):
    """Returns ``(saved, out)`` as the reference does; one GEMM and one fused call per step."""
    if xw.dtype not in (np.float32, np.float64):
        return _ref.gru_forward(xw, w_hh, b_hh, h0, reverse, batch_first)
    xw, w_t, b, H, dt = _setup(xw, w_hh, b_hh, 3)
    L, N = _time_steps(xw, batch_first)
    saved = np.empty((L, N, 4 * H), dt)
    out = np.empty(xw.shape[:-1] + (H,), dt)
    h, u = _state(h0, N, H, dt), np.zeros((N, 3 * H), dt)
    for k, t in enumerate(_ref.steps(L, reverse)):
        if k or h0 is not None:          # h0 = None is zeros: its product is zero
            np.matmul(h, w_t, out=u)
        _gru_step(u, xw, b, t, batch_first, h, saved, out)
    return saved, out


def gru_backward(gout, saved, out, w_hh, h0, reverse=False, batch_first=False, need_dh0=True):
    """Returns ``(dX, dU, dh0)`` as the reference does; one fused call and one GEMM per
    step (without ``need_dh0`` none for the first step: dU_1 W is only for h0)."""
    if out.dtype not in (np.float32, np.float64):
        return _ref.gru_backward(gout, saved, out, w_hh, h0, reverse, batch_first, need_dh0)
    _runtime.configure()
    dt = out.dtype
    gout, saved, out = (np.ascontiguousarray(a, dtype=dt) for a in (gout, saved, out))
    w = np.ascontiguousarray(w_hh, dtype=dt)
    L, N, H4 = saved.shape
    H = H4 // 4
    h0 = np.zeros((N, H), dt) if h0 is None else np.ascontiguousarray(h0, dtype=dt)
    dX, dU = np.empty(out.shape[:-1] + (3 * H,), dt), np.empty(out.shape[:-1] + (3 * H,), dt)
    DU = _ref.time_major(dU, batch_first)
    dh, duw = np.zeros((N, H), dt), np.zeros((N, H), dt)
    for t in _ref.steps(L, not reverse):
        tp = t + 1 if reverse else t - 1
        _gru_step_back(duw, gout, saved, out, h0, t, tp if 0 <= tp < L else -1, batch_first, dh, dX, dU)
        if need_dh0 or 0 <= tp < L:
            np.matmul(DU[t], w, out=duw)
    dh += duw
    return dX, dU, dh if need_dh0 else None


KERNELS, PREFERRED = native_tables("rnn", globals())   # every op above; native (measured faster)


def _warm_split(x, w):
    """The batch-row split of the LSTM once, two tasks (with one Numba thread they run one
    after the other), so that it is compiled."""
    gates, out = _lstm_forward(x, w, None, None, None, False, False, 2)
    _lstm_backward(out, gates, out, w, None, False, False, True, 2)


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) the LSTM and GRU step kernels, forward and
    backward, on tiny inputs of each of ``dtypes`` (the layout and the direction are
    arguments of the compiled code, not separate compilations)."""
    for dt in dtypes:
        activations(np.zeros(2, dt))
        x, w = np.zeros((2, 3, 8), dt), np.zeros((8, 2), dt)
        gates, out = lstm_forward(x, w, None, None, None)
        lstm_backward(out, gates, out, w, None)
        if dt == np.float32:
            _warm_split(np.zeros((2, 2 * SPLIT_ROWS, 8), dt), w)
        x, w = np.zeros((2, 3, 6), dt), np.zeros((6, 2), dt)
        saved, out = gru_forward(x, w, None, None)
        gru_backward(out, saved, out, w, None)
