"""Reference LSTM and GRU layers over a whole sequence (readable NumPy, valid on CuPy).

One call runs ONE layer in ONE direction over a sequence of L steps: the forward
is the time loop, the backward is backpropagation through time, the same loop run
backwards. The equations (gates i, f, g, o of the LSTM; r, z, n of the GRU) and
their derivatives are written out in :mod:`minigrad.ops.rnn`, whose Functions
``LSTMLayer`` and ``GRULayer`` call these kernels. Arguments shared by all four:

    xw       (L, N, G*H), or (N, L, G*H) when ``batch_first``: x_t W_ih^T + b_ih for
             every step, computed before the loop by one matrix product (G gates of
             H columns each: G = 4 for the LSTM, 3 for the GRU)
    w_hh     (G*H, H);  b_hh (G*H,) or None
    h0, c0   (N, H) or None (zeros)
    reverse  run from t = L-1 down to 0 (the second direction of a bidirectional layer)

What the forward returns is what the backward takes back, so the two sets of
kernels (this one and the native one) save the same arrays, with the same meaning.

Per step, only ``h_{t-1} W_hh^T`` and the gates have to wait for the previous step.
Here they are a handful of whole-array calls on (N, G*H) slices, each a pass over
memory; the native kernels (``kernels/cpu/rnn.py``) do each step's gates in one.
Everything in the backward that does not depend on the recursion (the gates'
derivatives) is computed for all steps at once, before the loop.
"""
from .._arrays import array_module
from .._families import kernel_table


# ============================================================================ helpers

def time_major(a, batch_first):
    """A (L, N, ...) view of an array stored (L, N, ...) or, when batch_first, (N, L, ...)."""
    return a.swapaxes(0, 1) if batch_first else a


def steps(length, reverse):
    """The order in which a direction visits the time steps."""
    return range(length - 1, -1, -1) if reverse else range(length)


def previous_states(hs, h0, reverse, xp):
    """The state each step starts from, time-major: h_{t-1} for t = 1..L (forward
    direction) or h_{t+1} (reverse direction), with h0 where the sequence begins."""
    h0 = h0[None]
    return xp.concatenate([h0, hs[:-1]] if not reverse else [hs[1:], h0], axis=0)


def zeros_or(state, N, H, dtype, xp):
    """An initial state as given, or an (N, H) array of zeros when it is None."""
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


# ============================================================================ LSTM

def lstm_forward(xw, w_hh, b_hh, h0, c0, reverse=False, batch_first=False):
    """Returns ``(gates, out)``: ``gates`` (L, N, 4H) time-major, i, f, g, o after
    activation; ``out`` in xw's layout with the two states side by side at every
    step, ``out[..., :H] = h_t`` and ``out[..., H:] = c_t``."""
    xp = array_module(xw)
    X = time_major(xw, batch_first)
    L, N, GH = X.shape
    H, dt = GH // 4, xw.dtype
    # One tanh per step activates all four gates (see _sigmoid_halves): the i, f, o
    # columns of xw, b and the rows of W are halved once, before the loop.
    half, shift = _sigmoid_halves(xp, [(2 * H, True), (H, False), (H, True)], dt)
    X = X * half
    if b_hh is not None:
        X += b_hh * half
    w_t = (w_hh * half[:, None]).T
    gates = xp.empty((L, N, GH), dtype=dt)
    out = xp.empty(xw.shape[:-1] + (2 * H,), dtype=dt)
    Y = time_major(out, batch_first)
    h, c = zeros_or(h0, N, H, dt, xp), zeros_or(c0, N, H, dt, xp)
    for t in steps(L, reverse):
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
    return gates, out


def lstm_backward(gout, gates, out, w_hh, c0, reverse=False, batch_first=False, need_dh0=True):
    """Returns ``(dA, dh0, dc0)``: dA in xw's layout, the gradient of every step's gate
    pre-activations (= of xw_t, and of h_{t-1} W^T + b); dh0 = dA_1 W (None unless
    ``need_dh0``) and dc0 (N, H). ``gout`` has ``out``'s shape: the gradients arriving
    at [h_t | c_t]."""
    xp = array_module(out)
    Y, G = time_major(out, batch_first), time_major(gout, batch_first)
    L, N, GH = gates.shape
    H, dt = GH // 4, out.dtype
    i, f, g, o = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]
    cs = Y[..., H:]
    tc = xp.tanh(cs)
    c_prev = previous_states(cs, zeros_or(c0, N, H, dt, xp), reverse, xp)
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
    for t in steps(L, not reverse):
        dh += G[t, :, :H]
        dc += G[t, :, H:]
        dc += dh * P[t]
        xp.multiply(K[t, :, :3], dc[:, None, :], out=dA[t, :, :3])
        xp.multiply(K[t, :, 3], dh, out=dA[t, :, 3])
        dc *= f[t]
        dh = xp.matmul(dA[t].reshape(N, GH), w_hh)
    return time_major(dA.reshape(L, N, GH), batch_first), dh if need_dh0 else None, dc


# ============================================================================ GRU

def gru_forward(xw, w_hh, b_hh, h0, reverse=False, batch_first=False):
    """Returns ``(saved, out)``: ``saved`` (L, N, 4H) time-major holds r, z, n and
    u_n = h_{t-1} W_hn^T + b_hn of every step; ``out`` (xw's layout, H columns) the
    hidden states."""
    xp = array_module(xw)
    X = time_major(xw, batch_first)
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
    Y = time_major(out, batch_first)
    h = zeros_or(h0, N, H, dt, xp)
    for t in steps(L, reverse):
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
    return saved, out


def gru_backward(gout, saved, out, w_hh, h0, reverse=False, batch_first=False, need_dh0=True):
    """Returns ``(dX, dU, dh0)``: dX the gradient of xw, dU that of u_t = h_{t-1} W^T + b
    (both in xw's layout; they differ in the n block: du_n = dx_n * r), and dh0 (N, H),
    None unless ``need_dh0``."""
    xp = array_module(out)
    Y, G = time_major(out, batch_first), time_major(gout, batch_first)
    L, N, H = Y.shape
    dt = out.dtype
    r, z, n, un = saved[..., :H], saved[..., H:2 * H], saved[..., 2 * H:3 * H], saved[..., 3 * H:]
    h0 = zeros_or(h0, N, H, dt, xp)
    # Everything that does not depend on the recursion, for all steps at once:
    K_n = (1.0 - z) * (1.0 - n * n)                            # dx_n = dh * K_n
    K_z = (previous_states(Y, h0, reverse, xp) - n) * z * (1.0 - z)   # dx_z = dh * K_z
    K_r = un * r * (1.0 - r)                                   # dx_r = dx_n * K_r
    # Per step one row [dx_n | dx_r | dx_z | du_n]: then du = (dx_r, dx_z, du_n) is
    # its last 3H columns, ready for the matrix product, with no copy.
    D = xp.empty((L, N, 4 * H), dtype=dt)
    dh = xp.zeros((N, H), dtype=dt)
    for t in steps(L, not reverse):
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
    dX = xp.concatenate([D[..., H:3 * H], D[..., :H]], axis=-1)   # back to the order r, z, n
    return time_major(dX, batch_first), time_major(D[..., H:], batch_first), dh if need_dh0 else None


KERNELS = kernel_table("rnn", globals())   # op name -> the function of that name above
