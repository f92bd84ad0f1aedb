"""Recurrent layers as differentiable ops: one ``Function`` per (layer, direction)
that runs a whole sequence, with backpropagation through time written out by hand,
and the same one-step equations written with Tensor operations.

The layers (:mod:`minigrad.nn.rnn`: ``RNN``, ``LSTM``, ``GRU`` and their cells) hold
the weights, check the arguments and stack layers and directions; what they compute
lives here. The equations of the three kinds and their gate layouts are in
:mod:`minigrad.nn.rnn`'s docstring.

Why a recurrent layer is one Function
-------------------------------------
``x_t`` never depends on the state, so the input half of every pre-activation is
computed for all time steps at once: one big matrix product ``X W_ih^T + b_ih``
over the (L * N, input) matrix of the whole sequence (``_input_projection``).
Only ``h_{t-1} W_hh^T`` and the gates have to wait for the previous step.

That remaining loop is short arithmetic on small arrays, L times per layer, and
recording ~15 autograd nodes per step would cost more than the arithmetic. So each
(layer, direction) runs as ONE Function (``RNNLayer``, ``LSTMLayer``, ``GRULayer``)
whose forward is the time loop on arrays and whose backward is backpropagation
through time written out by hand: the same loop run backwards, then one matrix
product for the gradient of ``W_hh`` summed over all steps. The cells and a network
with ``fused = False`` run the Tensor-operation steps (``_rnn_step``, ``_lstm_step``,
``_gru_step``) instead: slower, but they can be differentiated twice, and the fused
Functions are tested against them.

Where the loops live
--------------------
The LSTM's and the GRU's time loops are kernels (``lstm_forward``, ``lstm_backward``,
``gru_forward``, ``gru_backward`` in the ``rnn`` family): a readable NumPy version in
``kernels/reference/rnn.py`` and, on the CPU, one that runs each step as one matrix
product and ONE compiled call for all the gates (``kernels/cpu/rnn.py``, where the
measurements are). The Functions here hold the maths in their docstrings, call the
two kernels and turn the per-step gradients into the gradients of the weights
(``_layer_grads``). The Elman RNN's step is one product and one tanh, nothing to
fuse, so its short loop stays here.
"""
from __future__ import annotations

from minigrad.autograd import Function, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.kernels.reference.rnn import steps as _steps, time_major as _time_major, zeros_or as _zeros_or
from minigrad.ops.matmul import linear

__all__ = ["RNNLayer", "LSTMLayer", "GRULayer"]


# ============================================================================ array helpers

def _previous_states(hs, h0, reverse, batch_first, xp):
    """The state each step starts from, in the layout of ``hs`` ((L, N, H), or (N, L, H)
    when batch_first): h_{t-1} at step t (forward direction) or h_{t+1} (reverse
    direction), with h0 where the sequence begins."""
    axis = 1 if batch_first else 0
    h0 = xp.expand_dims(h0, axis)
    rest = hs[:, 1:] if batch_first else hs[1:]
    head = hs[:, :-1] if batch_first else hs[:-1]
    return xp.concatenate([rest, h0] if reverse else [h0, head], axis=axis)


def _layer_grads(ctx, dX, dU, dh0, hs, h0, xp, mm, dc0=None):
    """The gradients every fused layer returns (as Tensors, first order only: see
    ``kernel_gradients``), from the per-step gradients its backward computed.

    dX: gradient of xw;  dU: gradient of u_t = h_{t-1} W^T + b (equal to dX except for
    the GRU);  hs: the hidden states h_1..h_L; all three in xw's layout.
    The weight gradient dW = sum_t du_t^T h_{t-1} is ONE matrix product over all L*N rows.
    """
    need_x, need_w, need_b, need_h0 = ctx.needs_input_grad[:4]
    rows, GH = dU.shape[0] * dU.shape[1], dU.shape[2]   # (not -1: a dim may be 0)
    dw = None
    if need_w:
        prev = _previous_states(hs, h0, ctx.reverse, ctx.batch_first, xp)
        dw = mm(dU.reshape(rows, GH).T, prev.reshape(rows, prev.shape[-1]))
    db = dU.sum(axis=(0, 1)) if need_b else None
    grads = (dX if need_x else None, dw, db, dh0 if need_h0 else None)
    if dc0 is not None:
        grads = grads + (dc0 if ctx.needs_input_grad[4] else None,)
    return kernel_gradients(ctx, *grads)


# ============================================================================ fused layers
#
# Each Function below runs ONE layer in ONE direction over a whole sequence: the
# forward is the time loop on arrays, the backward is backpropagation through time
# written out (the same loop run backwards). Shared arguments:
#   xw      (L, N, G*H), or (N, L, G*H) when batch_first: x_t W_ih^T + b_ih for every
#           step, already computed by one matrix product (G gates of H columns each)
#   w_hh    (G*H, H) and b_hh (G*H,) or None
#   h0      (N, H) or None (zeros)
#   reverse run from t = L-1 down to 0 (the backward direction of a bidirectional layer)
# The output and the gradient of xw keep xw's layout. A Function has one output, so
# the LSTM returns its two states side by side: out[..., :H] = h_t, out[..., H:] = c_t.
#
# Speed: per step only the matrix product h_{t-1} W^T and the gates remain. The
# per-step products are small (batch x hidden times hidden x gates*hidden) and there
# are L of them in a row, so what they cost is mostly the cost of a call: they use
# the array library's own matmul (BLAS, one thread under minigrad's threading
# policy), which measured 20-30% faster than the registry's Numba GEMM at the seed
# model's sizes, and 5-8x faster for tiny sizes on a busy 2-core machine, where every
# parallel launch waits for a second thread. The few large products (the input projection,
# dW summed over all steps) go through the registry's matmul kernel as usual.

class RNNLayer(Function):
    """Elman RNN over a sequence:  a_t = xw_t + h_{t-1} W^T + b,  h_t = act(a_t).

    Backpropagation through time, with gh_t the gradient arriving at h_t from the
    output and dh_t the total gradient of h_t (from the output and from step t+1):

        dh_t = gh_t + da_{t+1} W            (da_{L+1} = 0)
        da_t = dh_t * act'(a_t)             tanh: 1 - h_t^2;  relu: [h_t > 0]
        d xw_t = da_t,   dW = sum_t da_t^T h_{t-1},   db = sum_t da_t,   dh0 = da_1 W
    """

    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, reverse=False, batch_first=False, nonlinearity="tanh"):
        xp = xp_of(xw)
        X = _time_major(xw, batch_first)
        L, N, H = X.shape
        if b_hh is not None:  # b_hh adds to every step: add it once to the whole sequence
            X = X + b_hh
        out = xp.empty(xw.shape, dtype=xw.dtype)
        Y = _time_major(out, batch_first)
        h = _zeros_or(h0, N, H, xw.dtype, xp)
        w_t = w_hh.T
        for t in _steps(L, reverse):
            a = Y[t]
            xp.add(X[t], xp.matmul(h, w_t), out=a)
            if nonlinearity == "tanh":
                xp.tanh(a, out=a)
            else:
                xp.maximum(a, 0, out=a)
            h = a
        ctx.reverse, ctx.batch_first, ctx.nonlinearity = reverse, batch_first, nonlinearity
        ctx.save_for_backward(out, w_hh, h0)
        return out

    @staticmethod
    def backward(ctx, gout):
        out, w_hh, h0 = (None if t is None else t.array for t in ctx.saved_tensors)
        xp = xp_of(out)
        mm = get_kernel("matmul", device_of(out))
        G, Y = _time_major(gout.array, ctx.batch_first), _time_major(out, ctx.batch_first)
        L, N, H = Y.shape
        # act'(a_t) for all steps at once, from the output: tanh' = 1 - h^2, relu' = [h > 0]
        deriv = 1.0 - Y * Y if ctx.nonlinearity == "tanh" else (Y > 0).astype(Y.dtype)
        dA = xp.empty(out.shape, dtype=out.dtype)           # in xw's layout
        DA = _time_major(dA, ctx.batch_first)
        dh = xp.zeros((N, H), dtype=out.dtype)
        for t in _steps(L, not ctx.reverse):
            dh += G[t]
            xp.multiply(dh, deriv[t], out=DA[t])
            dh = xp.matmul(DA[t], w_hh)
        return _layer_grads(ctx, dA, dA, dh, out, _zeros_or(h0, N, H, out.dtype, xp), xp, mm)


class LSTMLayer(Function):
    """LSTM over a sequence. Per step (gates i, f, g, o in blocks of H columns):

        a_t = xw_t + h_{t-1} W^T + b
        i, f, o = sigmoid(a_i, a_f, a_o),   g = tanh(a_g)
        c_t = f * c_{t-1} + i * g,          h_t = o * tanh(c_t)

    Backpropagation through time, with gh_t, gc_t the gradients arriving from the
    output and dh_t, dc_t the total gradients of the two states:

        dh_t = gh_t + da_{t+1} W
        dc_t = gc_t + dc_{t+1} * f_{t+1} + dh_t * o * (1 - tanh(c_t)^2)
        da_i = dc_t * g * i (1 - i)            da_f = dc_t * c_{t-1} * f (1 - f)
        da_g = dc_t * i * (1 - g^2)            da_o = dh_t * tanh(c_t) * o (1 - o)
        d xw_t = da_t,  dW = sum_t da_t^T h_{t-1},  db = sum_t da_t,
        dh0 = da_1 W,   dc0 = dc_1 * f_1

    The two loops are the kernels ``lstm_forward`` and ``lstm_backward``
    (``kernels/reference/rnn.py`` in NumPy, ``kernels/cpu/rnn.py`` one fused call per step).
    """

    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, c0, reverse=False, batch_first=False):
        gates, out = get_kernel("lstm_forward", device_of(xw))(xw, w_hh, b_hh, h0, c0, reverse, batch_first)
        ctx.reverse, ctx.batch_first = reverse, batch_first
        ctx.save_for_backward(gates, out, w_hh, h0, c0)
        return out

    @staticmethod
    def backward(ctx, gout):
        gates, out, w_hh, h0, c0 = (None if t is None else t.array for t in ctx.saved_tensors)
        xp, dev = xp_of(out), device_of(out)
        dA, dh0, dc0 = get_kernel("lstm_backward", dev)(gout.array, gates, out, w_hh, c0, ctx.reverse,
                                                         ctx.batch_first, ctx.needs_input_grad[3])
        L, N, GH = gates.shape
        h0 = _zeros_or(h0, N, GH // 4, out.dtype, xp)
        return _layer_grads(ctx, dA, dA, dh0, out[..., :GH // 4], h0, xp, get_kernel("matmul", dev), dc0=dc0)


class GRULayer(Function):
    """GRU over a sequence. Per step (gates r, z, n in blocks of H columns; the input
    part xw = (x_r, x_z, x_n) and the hidden part u = h_{t-1} W^T + b = (u_r, u_z, u_n)):

        r = sigmoid(x_r + u_r),  z = sigmoid(x_z + u_z),  n = tanh(x_n + r * u_n)
        h_t = (1 - z) * n + z * h_{t-1}

    Backpropagation through time, with dh_t the total gradient of h_t:

        dh_t  = gh_t + dh_{t+1} * z_{t+1} + du_{t+1} W
        dx_n  = dh_t * (1 - z) * (1 - n^2),          du_n = dx_n * r
        dx_z  = du_z = dh_t * (h_{t-1} - n) * z (1 - z)
        dx_r  = du_r = dx_n * u_n * r (1 - r)
        dW = sum_t du_t^T h_{t-1},  db = sum_t du_t,  dh0 = dh_1 * z_1 + du_1 W

    The two loops are the kernels ``gru_forward`` and ``gru_backward``
    (``kernels/reference/rnn.py`` in NumPy, ``kernels/cpu/rnn.py`` one fused call per step).
    """

    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, reverse=False, batch_first=False):
        saved, out = get_kernel("gru_forward", device_of(xw))(xw, w_hh, b_hh, h0, reverse, batch_first)
        ctx.reverse, ctx.batch_first = reverse, batch_first
        ctx.save_for_backward(saved, out, w_hh, h0)
        return out

    @staticmethod
    def backward(ctx, gout):
        saved, out, w_hh, h0 = (None if t is None else t.array for t in ctx.saved_tensors)
        xp, dev = xp_of(out), device_of(out)
        dX, dU, dh0 = get_kernel("gru_backward", dev)(gout.array, saved, out, w_hh, h0, ctx.reverse,
                                                       ctx.batch_first, ctx.needs_input_grad[3])
        L, N, H4 = saved.shape
        h0 = _zeros_or(h0, N, H4 // 4, out.dtype, xp)
        return _layer_grads(ctx, dX, dU, dh0, out, h0, xp, get_kernel("matmul", dev))


# ============================================================================ one step, with Tensor ops
#
# The same equations written with ordinary Tensor operations: what the cells run,
# and what a network runs with ``fused = False``. ``xw`` is x W_ih^T + b_ih.

def _rnn_step(xw, h, w_hh, b_hh, nonlinearity):
    a = xw + h @ w_hh.T
    if b_hh is not None:
        a = a + b_hh
    return a.tanh() if nonlinearity == "tanh" else a.relu()


def _lstm_step(xw, h, c, w_hh, b_hh):
    a = xw + h @ w_hh.T
    if b_hh is not None:
        a = a + b_hh
    i, f, g, o = a.chunk(4, dim=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = f * c + i * g
    h = o * c.tanh()
    return h, c


def _gru_step(xw, h, w_hh, b_hh):
    u = h @ w_hh.T
    if b_hh is not None:
        u = u + b_hh
    x_r, x_z, x_n = xw.chunk(3, dim=-1)
    u_r, u_z, u_n = u.chunk(3, dim=-1)
    r = (x_r + u_r).sigmoid()
    z = (x_z + u_z).sigmoid()
    n = (x_n + r * u_n).tanh()
    return n + z * (h - n)


def _input_projection(x, w_ih, b_ih):
    """x W_ih^T + b_ih for every row of x (any leading dims): ONE ``Linear`` node, whose
    backward gives the gradients of x, W_ih and b_ih from three array operations."""
    return linear(x, w_ih, b_ih)
