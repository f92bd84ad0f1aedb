"""Softmax cross-entropy as one fused op.

For logits x of one sample (C classes) and a target class y:

    loss = -log softmax(x)_y = logsumexp(x) - x_y
    dloss/dx = softmax(x) - onehot(y)

Computing ``log_softmax`` and then picking ``-logp[y]`` (two ops) gives the same
numbers but stores a (N, C) intermediate and runs two backward passes; the fused
kernel reads each row of logits once forward and once backward, and keeps only
the log-sum-exp of each row for the backward. With class weights w, label
smoothing eps and probability targets the formulas grow a little; they are spelled
out in ``minigrad/kernels/reference/softmax.py``.

Reductions follow PyTorch exactly:

* ``"none"``: one loss per sample (0 where the target is ``ignore_index``);
* ``"sum"``: their sum;
* ``"mean"``, class-index targets: the sum divided by the total weight of the
  targets that are not ignored, ``sum_n w[y_n]`` (the count of non-ignored targets
  without weights); NaN when every target is ignored;
* ``"mean"``, probability targets: the sum divided by the number of samples.

Double backward is not supported (the backward is a kernel); the engine raises a
clear error under ``create_graph=True``. Compose ``log_softmax`` and
``gather`` yourself if you need it.
"""
from __future__ import annotations

import numpy as np

from minigrad.autograd import Function, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.ops.shape import movedim, reshape
from minigrad.tensor import Tensor

__all__ = ["cross_entropy"]

_REDUCTIONS = ("none", "mean", "sum")


class CrossEntropy(Function):
    """loss_n = -sum_c w_c t_nc log softmax(x_n)_c, reduced;  dx_n = g_n (softmax(x_n) * sum_c w_c t_nc - w t_n)

    (t the one-hot, smoothed or given target distribution; see the module docstring).
    Forward arguments: logits (N, C); the rest are arrays and options, not differentiated.
    """

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        dev = device_of(x)
        xp = xp_of(x)
        loss, lse = get_kernel("cross_entropy_forward", dev)(x, target, weight, ignore_index, label_smoothing)
        ctx.save_for_backward(x, target, weight, lse)
        ctx.ignore_index, ctx.label_smoothing, ctx.reduction = ignore_index, label_smoothing, reduction
        N = x.shape[0]
        if reduction == "none":
            return loss
        total = xp.sum(loss)
        if reduction == "sum":
            return xp.asarray(total, dtype=x.dtype)
        # mean: divide by the total weight of the targets that count
        if target.ndim == 2:
            denom = N
        else:
            keep = target != ignore_index
            if weight is None:
                denom = xp.sum(keep)
            else:
                denom = xp.sum(weight[xp.where(keep, target, 0)] * keep)
        ctx.denom = denom  # a number (the total weight), not an array
        with np.errstate(invalid="ignore", divide="ignore"):
            return xp.asarray(total / denom, dtype=x.dtype)   # 0 / 0 = NaN if every target is ignored

    @staticmethod
    def backward(ctx, g):
        xa, target, weight, lse = (None if t is None else t.array for t in ctx.saved_tensors)
        xp = xp_of(xa)
        N = xa.shape[0]
        ga = g.array
        if ctx.reduction == "none":
            grad_loss = ga
        elif ctx.reduction == "sum":
            grad_loss = xp.broadcast_to(ga, (N,))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                grad_loss = xp.broadcast_to(ga / ctx.denom, (N,))
        dx = get_kernel("cross_entropy_backward", device_of(xa))(
            grad_loss.astype(xa.dtype), xa, target, weight, ctx.ignore_index, ctx.label_smoothing, lse)
        return kernel_gradients(ctx, dx)


def _array(t):
    return t.array if isinstance(t, Tensor) else np.asarray(t)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between softmax(input) and a target, as ``torch.nn.functional.cross_entropy``.

    ``input``: logits (N, C), (N, C, d1, d2, ...) or (C,). ``target``: class indices
    (integers) of shape (N,) / (N, d1, ...) / (), or class probabilities (floats) of
    the input's shape. ``weight``: optional (C,) class weights. Targets equal to
    ``ignore_index`` contribute nothing (index targets only). ``label_smoothing``
    in [0, 1] mixes the target with the uniform distribution: (1 - eps) t + eps / C.
    Gradients flow into ``input`` only (target and weight are constants).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(input, Tensor):
        raise TypeError(f"cross_entropy: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must be floating point (logits), got dtype {input.dtype}")
    xp = xp_of(input.array)
    t = _array(target)
    if xp is not np and isinstance(t, np.ndarray):
        t = xp.asarray(t)
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have a class dimension, got a 0-d tensor")
    unbatched = input.ndim == 1
    x = reshape(input, (1,) + input.shape) if unbatched else input
    C = x.shape[1]
    soft = t.dtype.kind == "f"
    if soft:
        want = input.shape
        if t.shape != want:
            raise ValueError(f"cross_entropy: probability target must have the input's shape {tuple(want)}, "
                             f"got {tuple(t.shape)}")
        t = t.astype(x.dtype, copy=False)
        if unbatched:
            t = t.reshape((1,) + t.shape)
    else:
        if t.dtype.kind not in "iu":
            raise TypeError(f"cross_entropy: target must hold class indices (integers) or class probabilities "
                            f"(floats), got dtype {t.dtype}")
        want = input.shape[:1] + input.shape[2:] if not unbatched else ()
        if t.shape != want:
            raise ValueError(f"cross_entropy: index target must have shape {tuple(want)} for input of shape "
                             f"{tuple(input.shape)}, got {tuple(t.shape)}")
        t = t.astype(np.int64, copy=False)
        if unbatched:
            t = t.reshape(1)
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
        if bool(bad.any()):
            v = int(t[bad].reshape(-1)[0])
            raise IndexError(f"cross_entropy: target {v} is out of bounds for {C} classes "
                             f"(valid: 0..{C - 1}, or ignore_index={ignore_index})")
    w = None
    if weight is not None:
        w = _array(weight)
        if xp is not np and isinstance(w, np.ndarray):
            w = xp.asarray(w)
        if w.shape != (C,):
            raise ValueError(f"cross_entropy: weight must have shape ({C},) (one per class), got {tuple(w.shape)}")
        w = w.astype(x.dtype, copy=False)
    # (N, C, d1, ...) -> rows (N * d1 * ..., C); targets likewise
    spatial = x.shape[2:]
    if spatial:
        x = movedim(x, 1, -1)
        if soft:
            t = xp.moveaxis(t, 1, -1)
    x2 = reshape(x, (-1, C))
    t2 = t.reshape(-1, C) if soft else t.reshape(-1)
    out = CrossEntropy.apply(x2, xp.ascontiguousarray(t2), w, int(ignore_index), reduction, float(label_smoothing))
    if reduction == "none":
        if unbatched:
            return reshape(out, ())
        return reshape(out, input.shape[:1] + spatial)
    return out
