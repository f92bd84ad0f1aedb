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
"""
from __future__ import annotations

from minigrad.autograd import Function, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.ops.shape import reshape

__all__ = ["RNNLayer", "LSTMLayer", "GRULayer"]


# ============================================================================ array helpers

def _time_major(a, batch_first):
    """A (L, N, ...) view of an array stored (L, N, ...) or, when batch_first, (N, L, ...)."""
    return a.swapaxes(0, 1) if batch_first else a


def _steps(length, reverse):
    """The order in which a direction visits the time steps."""
    return range(length - 1, -1, -1) if reverse else range(length)


def _previous_states(hs, h0, reverse, xp):
    """The state each step starts from, time-major: h_{t-1} for t = 1..L (forward
    direction) or h_{t+1} (reverse direction), with h0 where the sequence begins."""
    h0 = h0[None]
    return xp.concatenate([h0, hs[:-1]] if not reverse else [hs[1:], h0], axis=0)


def _zeros_or(state, N, H, dtype, xp):
    return xp.zeros((N, H), dtype=dtype) if state is None else state


def _sigmoid_halves(xp, sizes, dtype):
    """Per-column factors for activating several gates with ONE tanh call.

    sigmoid(a) = (1 + tanh(a / 2)) / 2, so after scaling a sigmoid gate's
    pre-activation by 1/2 (``half``), ``tanh(row) * half + shift`` gives sigmoid for
    those columns and plain tanh for the others (``shift`` is 1/2 or 0).
    ``sizes`` lists (columns, is_sigmoid) blocks."""
    half = xp.concatenate([xp.full(n, 0.5 if sig else 1.0, dtype=dtype) for n, sig in sizes])
    shift = xp.concatenate([xp.full(n, 0.5 if sig else 0.0, dtype=dtype) for n, sig in sizes])
    return half, shift


def _layer_grads(ctx, dX, dU, dh0, hs, h0, xp, mm, dc0=None):
    """The gradients every fused layer returns (as Tensors, first order only: see
    ``kernel_gradients``), from the per-step gradients it computed.

    dX: gradient of xw (time-major);  dU: gradient of u_t = h_{t-1} W^T + b (time-major;
    equal to dX except for the GRU);  hs: the hidden states h_1..h_L (time-major).
    The weight gradient dW = sum_t du_t^T h_{t-1} is ONE matrix product over all L*N rows.
    """
    need_x, need_w, need_b, need_h0 = ctx.needs_input_grad[:4]
    L, N, GH = dU.shape
    dxw = (dX.swapaxes(0, 1) if ctx.batch_first else dX) if need_x else None
    dw = None
    if need_w:
        prev = _previous_states(hs, h0, ctx.reverse, xp)
        dw = mm(dU.reshape(L * N, GH).T, prev.reshape(L * N, prev.shape[-1]))  # (not -1: N may be 0)
    db = dU.sum(axis=(0, 1)) if need_b else None
    grads = (dxw, dw, db, dh0 if need_h0 else None)
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
# The output keeps xw's layout. A Function has one output, so the LSTM returns its
# two states side by side: out[..., :H] = h_t and out[..., H:] = c_t at every step.
#
# Speed: per step only the matrix product h_{t-1} W^T and a few whole-array NumPy
# calls remain. Everything in the backward that does not depend on the recursion
# (the gates' derivatives) is computed for all steps at once before the loop.
# The per-step products are small (batch x hidden times hidden x gates*hidden) and
# there are L of them in a row, so what they cost is mostly the cost of a call: they
# use the array library's own matmul (BLAS, one thread under minigrad's threading
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
        dA = xp.empty((L, N, H), dtype=out.dtype)
        dh = xp.zeros((N, H), dtype=out.dtype)
        for t in _steps(L, not ctx.reverse):
            dh += G[t]
            xp.multiply(dh, deriv[t], out=dA[t])
            dh = xp.matmul(dA[t], w_hh)
        return _layer_grads(ctx, dA, dA, dh, Y, _zeros_or(h0, N, H, out.dtype, xp), xp, mm)


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
    """

    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, c0, reverse=False, batch_first=False):
        xp = xp_of(xw)
        X = _time_major(xw, batch_first)
        L, N, GH = X.shape
        H, dt = GH // 4, xw.dtype
        # One tanh per step activates all four gates (see _sigmoid_halves): the i, f, o
        # columns of xw, b and the rows of W are halved once, before the loop.
        half, shift = _sigmoid_halves(xp, [(2 * H, True), (H, False), (H, True)], dt)
        X = X * half
        if b_hh is not None:
            X += b_hh * half
        w_t = (w_hh * half[:, None]).T
        gates = xp.empty((L, N, GH), dtype=dt)               # i, f, g, o after activation
        out = xp.empty(xw.shape[:-1] + (2 * H,), dtype=dt)   # [h_t | c_t]
        Y = _time_major(out, batch_first)
        h, c = _zeros_or(h0, N, H, dt, xp), _zeros_or(c0, N, H, dt, xp)
        for t in _steps(L, reverse):
            a = gates[t]
            xp.add(X[t], xp.matmul(h, w_t), out=a)
            xp.tanh(a, out=a)
            a *= half
            a += shift
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            h_new, c_new = Y[t, :, :H], Y[t, :, H:]
            xp.multiply(f, c, out=c_new)
            c_new += i * g
            xp.tanh(c_new, out=h_new)
            h_new *= o
            h, c = h_new, c_new
        ctx.reverse, ctx.batch_first = reverse, batch_first
        ctx.save_for_backward(gates, out, w_hh, h0, c0)
        return out

    @staticmethod
    def backward(ctx, gout):
        gates, out, w_hh, h0, c0 = (None if t is None else t.array for t in ctx.saved_tensors)
        xp = xp_of(out)
        mm = get_kernel("matmul", device_of(out))
        Y, G = _time_major(out, ctx.batch_first), _time_major(gout.array, ctx.batch_first)
        L, N, GH = gates.shape
        H, dt = GH // 4, out.dtype
        i, f, g, o = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]
        hs, cs = Y[..., :H], Y[..., H:]
        tc = xp.tanh(cs)
        c_prev = _previous_states(cs, _zeros_or(c0, N, H, dt, xp), ctx.reverse, xp)
        # Everything that does not depend on the recursion, for all steps at once:
        # da_{i,f,g} = dc_t * K[:, :, 0:3],  da_o = dh_t * K[:, :, 3],  dc_t += dh_t * P
        K = xp.empty((L, N, 4, H), dtype=dt)
        xp.multiply(g, i * (1.0 - i), out=K[:, :, 0])
        xp.multiply(c_prev, f * (1.0 - f), out=K[:, :, 1])
        xp.multiply(i, 1.0 - g * g, out=K[:, :, 2])
        xp.multiply(tc, o * (1.0 - o), out=K[:, :, 3])
        P = o * (1.0 - tc * tc)
        dA = xp.empty((L, N, 4, H), dtype=dt)
        dh = xp.zeros((N, H), dtype=dt)
        dc = xp.zeros((N, H), dtype=dt)
        for t in _steps(L, not ctx.reverse):
            dh += G[t, :, :H]
            dc += G[t, :, H:]
            dc += dh * P[t]
            xp.multiply(K[t, :, :3], dc[:, None, :], out=dA[t, :, :3])
            xp.multiply(K[t, :, 3], dh, out=dA[t, :, 3])
            dc *= f[t]
            dh = xp.matmul(dA[t].reshape(N, GH), w_hh)
        dA = dA.reshape(L, N, GH)
        return _layer_grads(ctx, dA, dA, dh, hs, _zeros_or(h0, N, H, dt, xp), xp, mm, dc0=dc)


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
    """

    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, reverse=False, batch_first=False):
        xp = xp_of(xw)
        X = _time_major(xw, batch_first)
        L, N, GH = X.shape
        H, dt = GH // 3, xw.dtype
        # r and z are sigmoids: halve their columns once (see _sigmoid_halves)
        half, _ = _sigmoid_halves(xp, [(2 * H, True), (H, False)], dt)
        X = X * half
        b_n = None
        if b_hh is not None:
            X[..., :2 * H] += b_hh[:2 * H] * 0.5     # b_hr, b_hz simply add to the pre-activation
            b_n = b_hh[2 * H:]                       # b_hn sits inside r * (W_hn h + b_hn)
        w_t = (w_hh * half[:, None]).T
        saved = xp.empty((L, N, 4 * H), dtype=dt)    # r, z, n, u_n
        out = xp.empty(xw.shape[:-1] + (H,), dtype=dt)
        Y = _time_major(out, batch_first)
        h = _zeros_or(h0, N, H, dt, xp)
        for t in _steps(L, reverse):
            x, s = X[t], saved[t]
            u = xp.matmul(h, w_t)
            rz, n, un = s[:, :2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
            xp.add(x[:, :2 * H], u[:, :2 * H], out=rz)
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            if b_n is not None:
                xp.add(u[:, 2 * H:], b_n, out=un)
            else:
                un[...] = u[:, 2 * H:]
            xp.multiply(s[:, :H], un, out=n)         # r * u_n
            n += x[:, 2 * H:]
            xp.tanh(n, out=n)
            h_new = Y[t]
            xp.subtract(h, n, out=h_new)             # h_t = n + z * (h_{t-1} - n)
            h_new *= s[:, H:2 * H]
            h_new += n
            h = h_new
        ctx.reverse, ctx.batch_first = reverse, batch_first
        ctx.save_for_backward(saved, out, w_hh, h0)
        return out

    @staticmethod
    def backward(ctx, gout):
        saved, out, w_hh, h0 = (None if t is None else t.array for t in ctx.saved_tensors)
        xp = xp_of(out)
        mm = get_kernel("matmul", device_of(out))
        Y, G = _time_major(out, ctx.batch_first), _time_major(gout.array, ctx.batch_first)
        L, N, H = Y.shape
        dt = out.dtype
        r, z, n, un = saved[..., :H], saved[..., H:2 * H], saved[..., 2 * H:3 * H], saved[..., 3 * H:]
        h0 = _zeros_or(h0, N, H, dt, xp)
        # Everything that does not depend on the recursion, for all steps at once:
        K_n = (1.0 - z) * (1.0 - n * n)                            # dx_n = dh * K_n
        K_z = (_previous_states(Y, h0, ctx.reverse, xp) - n) * z * (1.0 - z)   # dx_z = dh * K_z
        K_r = un * r * (1.0 - r)                                   # dx_r = dx_n * K_r
        # Per step one row [dx_n | dx_r | dx_z | du_n]: then du = (dx_r, dx_z, du_n) is
        # its last 3H columns, ready for the matrix product, with no copy.
        D = xp.empty((L, N, 4 * H), dtype=dt)
        dh = xp.zeros((N, H), dtype=dt)
        for t in _steps(L, not ctx.reverse):
            dh += G[t]
            d = D[t]
            dxn = d[:, :H]
            xp.multiply(dh, K_n[t], out=dxn)
            xp.multiply(dxn, K_r[t], out=d[:, H:2 * H])
            xp.multiply(dh, K_z[t], out=d[:, 2 * H:3 * H])
            xp.multiply(dxn, r[t], out=d[:, 3 * H:])
            du_w = xp.matmul(d[:, H:], w_hh)
            dh *= z[t]
            dh += du_w
        dU = D[..., H:]
        dX = xp.concatenate([D[..., H:3 * H], D[..., :H]], axis=-1)   # back to the order r, z, n
        return _layer_grads(ctx, dX, dU, dh, Y, h0, xp, mm)


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
    """x W_ih^T + b_ih for every row of x (any leading dims), as one matrix product."""
    lead = x.shape[:-1]
    flat = reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
    xw = flat @ w_ih.T
    if b_ih is not None:
        xw = xw + b_ih
    return reshape(xw, lead + (w_ih.shape[0],)) if x.ndim != 2 else xw
