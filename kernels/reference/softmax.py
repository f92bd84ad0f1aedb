"""Reference softmax, log-softmax and softmax-cross-entropy (readable NumPy, valid on CuPy).

All reductions run over the **last axis**; the op layer moves any other axis there.

Softmax and its log
-------------------
For one row x (C values)::

    m       = max_c x_c                      (subtracted first: exp never overflows)
    lse     = m + log(sum_c exp(x_c - m))    (the log-sum-exp, log of the normaliser)
    softmax = exp(x - m) / sum_c exp(x_c - m)  = exp(x - lse)
    log_softmax = (x - m) - log(sum_c exp(x_c - m))  = x - lse

Subtracting the row max is exact algebra (it cancels between numerator and
denominator) and makes the largest exponent exp(0) = 1, so logits of 1e4 are fine.

Backward, with y the forward output and g the incoming gradient (one row)::

    softmax:      gx = y * (g - sum_c g_c y_c)          (Jacobian diag(y) - y y^T)
    log_softmax:  gx = g - exp(y) * sum_c g_c           (Jacobian I - 1 softmax^T)

Cross-entropy
-------------
``cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing)``
takes logits (N, C) and either class indices (N,) or class probabilities (N, C),
and returns ``(loss, lse)``: the per-sample loss (what PyTorch returns with
``reduction="none"``) and the log-sum-exp of each row, which the backward reuses
to recompute the softmax. ``lse`` is float64 even for float32 logits: the backward
computes exp(x - lse), and a float32 lse of logits near 1e4 would be off by up to
5e-4 (float32's spacing there), an error every probability would inherit.
With log-probabilities ``lp_c = x_c - lse``, class weights ``w`` (all ones when
``weight`` is None) and smoothing ``eps``::

    index target y:   loss = -(1 - eps) * w_y * lp_y  -  (eps / C) * sum_c w_c lp_c
                      (0 for rows whose target is ignore_index)
    soft target t:    loss = -sum_c w_c * t~_c * lp_c,   t~ = (1 - eps) * t + eps / C

Backward (``cross_entropy_backward``), with p = softmax(x) = exp(x - lse) and g the
gradient of each row's loss::

    index target y:   dx_c = g * [(1 - eps) * w_y * (p_c - [c == y]) + (eps / C) * (W * p_c - w_c)],
                      W = sum_c w_c
    soft target t:    dx_c = g * [(sum_k w_k t~_k) * p_c - w_c * t~_c]

Each is "softmax minus target", weighted: the classic reason to fuse the two.
Reducing the per-sample losses (mean, sum) is the op's job.
"""
from .._arrays import array_module
from .._families import kernel_table


def _shift_logsum(x, xp):
    """(m, log(sum(exp(x - m)))) over the last axis, keepdims; m is the row max
    (0 for rows without a finite max, so that x - m stays NaN-free)."""
    m = xp.max(x, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    return m, xp.log(xp.sum(xp.exp(x - m), axis=-1, keepdims=True))


def softmax(x):
    """exp(x - m) / sum(exp(x - m)) over the last axis, m = the row max."""
    xp = array_module(x)
    m = xp.max(x, axis=-1, keepdims=True)
    e = xp.exp(x - xp.where(xp.isfinite(m), m, 0))
    return e / xp.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    """(x - m) - log(sum(exp(x - m))) over the last axis.

    Written this way, not as x - logsumexp(x): x - m is exact, while logsumexp(x)
    of logits near 1e4 is rounded to float32's spacing there (1e-3), an error that
    x - logsumexp(x) would carry into every result."""
    xp = array_module(x)
    m, ls = _shift_logsum(x, xp)
    return (x - m) - ls


def softmax_backward(gy, y):
    """Gradient of softmax: y * (gy - sum(gy * y)) over the last axis."""
    xp = array_module(y)
    return y * (gy - xp.sum(gy * y, axis=-1, keepdims=True))


def log_softmax_backward(gy, y):
    """Gradient of log_softmax: gy - exp(y) * sum(gy) over the last axis."""
    xp = array_module(y)
    return gy - xp.exp(y) * xp.sum(gy, axis=-1, keepdims=True)


def _class_weights(weight, C, dtype, xp):
    return xp.ones(C, dtype=dtype) if weight is None else weight.astype(dtype, copy=False)


def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-sample softmax cross-entropy; returns ``(loss (N,), lse (N,))``.

    ``target`` is integer class indices (N,) or float class probabilities (N, C).
    ``weight`` is None or (C,) class weights. Indices are assumed valid
    (in [0, C) or equal to ``ignore_index``); the op checks them.
    """
    xp = array_module(logits)
    N, C = logits.shape
    eps = float(label_smoothing)
    w = _class_weights(weight, C, logits.dtype, xp)
    m, ls = _shift_logsum(logits, xp)
    logp = (logits - m) - ls                # log-probabilities
    lse = m.astype(xp.float64) + ls         # kept in float64: see the module docstring
    if target.ndim == 2:                    # probabilities
        t = target.astype(logits.dtype, copy=False)
        if eps:
            t = (1 - eps) * t + eps / C
        loss = -xp.sum(w * t * logp, axis=-1)
    else:
        keep = target != ignore_index
        y = xp.where(keep, target, 0).astype(xp.int64)
        logp_y = xp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
        loss = -(1 - eps) * w[y] * logp_y
        if eps:
            loss = loss - (eps / C) * xp.sum(w * logp, axis=-1)
        loss = xp.where(keep, loss, 0)
    return loss.astype(logits.dtype, copy=False), lse[:, 0].astype(xp.float64)


def cross_entropy_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse):
    """d(sum_n grad_loss_n * loss_n) / d logits, shape (N, C); ``lse`` from the forward."""
    xp = array_module(logits)
    N, C = logits.shape
    eps = float(label_smoothing)
    w = _class_weights(weight, C, logits.dtype, xp)
    # softmax, recomputed from the saved lse (the difference taken in float64)
    p = xp.exp(logits.astype(xp.float64) - lse[:, None]).astype(logits.dtype)
    g = grad_loss[:, None]
    if target.ndim == 2:
        t = target.astype(logits.dtype, copy=False)
        if eps:
            t = (1 - eps) * t + eps / C
        wt = w * t
        return (g * (xp.sum(wt, axis=-1, keepdims=True) * p - wt)).astype(logits.dtype, copy=False)
    keep = target != ignore_index
    y = xp.where(keep, target, 0).astype(xp.int64)
    onehot = xp.arange(C)[None, :] == y[:, None]
    dx = (1 - eps) * w[y][:, None] * (p - onehot)
    if eps:
        dx = dx + (eps / C) * (xp.sum(w) * p - w)
    dx = xp.where(keep[:, None], g * dx, 0)
    return dx.astype(logits.dtype, copy=False)


KERNELS = kernel_table("softmax", globals())   # op name -> the function of that name above
