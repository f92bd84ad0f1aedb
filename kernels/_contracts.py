"""What each kernel may assume about its arguments, checked once at its entry.

A native kernel is compiled code without bounds checks: a class index past the end
of a row, a pooling index past the end of a plane or a gradient with more rows than
its indices makes it read or write outside its arrays, and the interpreter dies. The
ops never pass such arguments (they validate the user's input first), but the kernels
are a public surface too, so every kernel in a ``KERNELS`` table is wrapped by
:func:`checked`, which runs the kernel's *contract* first:

* the ranks and shapes the kernel relies on (``softmax_backward``: ``gy`` and ``y``
  have one shape; ``sdpa_backward``: ``lse`` has one entry per query row);
* the index ranges it relies on (class targets in ``0..C-1`` or ``ignore_index``,
  pooling indices inside their plane, embedding rows inside the table);
* the geometry numbers (kernel sizes and strides >= 1, padding >= 0).

A broken contract raises ValueError, TypeError or IndexError naming the kernel. The
checks read shapes and, for index arrays, one min and one max: a small fraction of
the kernel's own work, never inside its loops.

The same wrapper is where a kernel family meets *zero-size* arrays. Compiled loops
and the reshapes around them are written for at least one element; rather than
teach every kernel about emptiness, :func:`checked` answers an empty call itself
(an empty softmax, a convolution over zero input channels that is just its bias, an
attention over zero keys whose rows are zeros) in one place per family, for the
reference, CPU and GPU kernel sets alike.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._arrays import array_module as _xp

__all__ = ["checked", "check_matmul", "conv_output_size", "pool_output_size", "conv_geometry",
           "unfold_geometry", "fold_geometry", "pool_geometry", "sdpa_shapes", "sdpa_mask", "sdpa_backward_shapes",
           "ce_shapes", "ln_params", "max_pool_backward_shapes", "check_grad_shape", "check_approximate", "CONTRACTS"]


# ----------------------------------------------------------------------------- helpers

def _shape(a):
    return tuple(getattr(a, "shape", ()))


def _ndim(op, name, a, *ranks):
    if getattr(a, "ndim", None) not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{op}: {name} must be {want}, got shape {_shape(a)}")


def _same_shape(op, names, *arrays):
    shapes = [_shape(a) for a in arrays]
    if any(s != shapes[0] for s in shapes):
        got = ", ".join(f"{n} {s}" for n, s in zip(names, shapes))
        raise ValueError(f"{op}: {' and '.join(names)} must have the same shape, got {got}")


def check_grad_shape(op, gy, want):
    """The gradient a backward kernel receives has the forward output's shape ``want``."""
    if _shape(gy) != tuple(want):
        raise ValueError(f"{op}: gradient shape {_shape(gy)} does not match the output shape {tuple(want)}")


def check_approximate(op, approximate):
    """GELU's ``approximate`` argument: "none" (the exact form) or "tanh"."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{op}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _pair(op, name, v, lo):
    v = tuple(int(x) for x in v)
    if len(v) != 2 or min(v) < lo:
        raise ValueError(f"{op}: {name} must be a pair of ints >= {lo}, got {v}")
    return v


def _integer_array(op, name, a):
    kind = getattr(getattr(a, "dtype", None), "kind", None)
    if kind not in ("i", "u"):
        raise TypeError(f"{op}: {name} must be an integer array, got dtype {getattr(a, 'dtype', type(a))}")


def _range(op, name, a, lo, hi, allowed=None):
    """Every entry of the integer array ``a`` in lo..hi-1 (or equal to ``allowed``)."""
    _integer_array(op, name, a)
    if a.size == 0 or (int(a.min()) >= lo and int(a.max()) < hi):  # the common case: two reductions
        return
    xp = _xp(a)
    bad = (a < lo) | (a >= hi)
    if allowed is not None:
        bad &= a != allowed
    if bool(bad.any()):
        first = int(a.reshape(-1)[xp.argmax(bad.reshape(-1))])
        also = f" or {allowed}" if allowed is not None else ""
        raise IndexError(f"{op}: {name} holds {first}, outside {lo}..{hi - 1}{also}")


# ----------------------------------------------------------------------------- geometry
# The shape checks of the convolution and pooling families, each written once. The
# contracts below call them, and so do the kernels of every set (reference, CPU, GPU),
# which are also called directly, outside the registry.

def conv_output_size(size, kernel, stride, padding, dilation):
    """Output length of a convolution along one axis (floor division, as PyTorch)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Output length of a pooling window along one axis (PyTorch's rule)."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the padding: drop it
    return out


def _pairs(op, kernel_size, stride, padding, dilation):
    """Each geometry argument a pair of ints, sizes, strides and dilations >= 1, padding >= 0."""
    return (_pair(op, "kernel_size", kernel_size, 1), _pair(op, "stride", stride, 1),
            _pair(op, "padding", padding, 0), _pair(op, "dilation", dilation, 1))


def conv_geometry(op, x_shape, w_shape, stride, padding, dilation, groups):
    """Check a convolution's shapes; return (N, C, H, W, C_out, kH, kW, H_out, W_out)."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and 4-D weight "
                         f"(C_out, C_in/groups, kH, kW), got {tuple(x_shape)} and {tuple(w_shape)}")
    N, C, H, W = x_shape
    C_out, C_g, kH, kW = w_shape
    if kH < 1 or kW < 1:
        raise ValueError(f"{op}: kernel size must be >= 1, got weight shape {tuple(w_shape)}")
    if C_out < 1:
        raise ValueError(f"{op}: weight {tuple(w_shape)} has no output channels")
    if groups < 1 or C % groups or C_out % groups:
        raise ValueError(f"{op}: groups={groups} must be >= 1 and divide both the input "
                         f"channels ({C}) and the output channels ({C_out})")
    if C_g * groups != C:
        raise ValueError(f"{op}: input has {C} channels but weight {tuple(w_shape)} expects "
                         f"{C_g * groups} (groups={groups})")
    _, stride, padding, dilation = _pairs(op, (kH, kW), stride, padding, dilation)
    H_out = conv_output_size(H, kH, stride[0], padding[0], dilation[0])
    W_out = conv_output_size(W, kW, stride[1], padding[1], dilation[1])
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} padded by {padding} is smaller than "
                         f"the dilated kernel ({dilation[0] * (kH - 1) + 1}, {dilation[1] * (kW - 1) + 1}); "
                         f"output would be {H_out}x{W_out}")
    return N, C, H, W, C_out, kH, kW, H_out, W_out


def unfold_geometry(op, x_shape, kernel_size, stride, padding, dilation):
    """Check unfold/fold geometry over the last two dims of ``x_shape``; return (H_out, W_out)."""
    kernel_size, stride, padding, dilation = _pairs(op, kernel_size, stride, padding, dilation)
    H, W = x_shape[-2:]
    H_out = conv_output_size(H, kernel_size[0], stride[0], padding[0], dilation[0])
    W_out = conv_output_size(W, kernel_size[1], stride[1], padding[1], dilation[1])
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: spatial size {(H, W)} padded by {padding} is smaller than "
                         f"the dilated kernel: {H_out}x{W_out} blocks")
    return H_out, W_out


def fold_geometry(cols_shape, output_size, kernel_size, stride, padding, dilation):
    """Check fold's (N, C*kH*kW, L) columns against its geometry; return (C, H_out, W_out)."""
    if len(cols_shape) != 3:
        raise ValueError(f"fold: expected 3-D columns (N, C*kH*kW, L), got shape {tuple(cols_shape)}")
    output_size = _pair("fold", "output_size", output_size, 0)
    H_out, W_out = unfold_geometry("fold", output_size, kernel_size, stride, padding, dilation)
    kk = int(kernel_size[0]) * int(kernel_size[1])
    N, CK, L = cols_shape
    if CK % kk or L != H_out * W_out:
        raise ValueError(f"fold: input of shape {tuple(cols_shape)} does not fit kernel {tuple(kernel_size)} "
                         f"and output size {output_size}: expected (N, C*{kk}, {H_out * W_out})")
    return CK // kk, H_out, W_out


def pool_geometry(op, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a pooling call's geometry; return (H_out, W_out)."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x_shape)}")
    kernel_size, stride, padding, dilation = _pairs(op, kernel_size, stride, padding, dilation)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel_size}")
    H_out, W_out = (pool_output_size(n, k, s, p, d, ceil_mode)
                    for n, k, s, p, d in zip(x_shape[2:], kernel_size, stride, padding, dilation))
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} is too small for kernel {kernel_size} "
                         f"(padding {padding}, dilation {dilation}): output would be {H_out}x{W_out}")
    return H_out, W_out


# ----------------------------------------------------------------------------- contracts
# Each contract takes the kernel's arguments. It raises on a broken contract and returns
# None to run the kernel, or returns ``(result,)`` to answer the call itself (the
# zero-size paths).

def check_matmul(a, b, op="matmul"):
    """The shapes ``a @ b`` accepts, by NumPy's rules (arrays or Tensors alike).

    Both operands have at least one dim; a's last dim equals b's rows (its only dim
    when 1-D); the batch dims in front of the last two broadcast. The one matmul
    shape check: the op and every matmul kernel (reference, CPU, GPU) call it first
    thing, so it has no entry in ``CONTRACTS``.
    """
    if getattr(a, "ndim", 0) == 0 or getattr(b, "ndim", 0) == 0:
        raise ValueError(f"{op}: both arguments need at least 1 dimension, got shapes "
                         f"{_shape(a)} and {_shape(b)}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(f"{op}: shapes {_shape(a)} and {_shape(b)} cannot be multiplied ({k_a} != {k_b})")
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(_shape(a)[:-2], _shape(b)[:-2])
        except ValueError:
            raise ValueError(f"{op}: batch dimensions of {_shape(a)} and {_shape(b)} "
                             "cannot be broadcast together") from None


# -- softmax family

def _softmax(x):
    if x.size == 0:
        return (_xp(x).empty_like(x),)


def _softmax_backward(op):
    def check(gy, y):
        check_grad_shape(op, gy, _shape(y))
        if y.size == 0:
            return (_xp(y).empty_like(y),)
    return check


def ce_shapes(op, logits, target, weight):
    """Check cross-entropy's shapes: logits (N, C), target (N,) class indices or (N, C)
    probabilities, weight (C,) or None; return (N, C)."""
    _ndim(op, "logits", logits, 2)
    N, C = logits.shape
    if getattr(target, "ndim", None) == 2:
        if _shape(target) != (N, C):
            raise ValueError(f"{op}: probability targets must have the logits' shape {(N, C)}, got {_shape(target)}")
    else:
        _ndim(op, "target", target, 1)
        if target.shape[0] != N:
            raise ValueError(f"{op}: target has {target.shape[0]} entries for {N} rows of logits")
    if weight is not None and _shape(weight) != (C,):
        raise ValueError(f"{op}: weight must have shape ({C},), got {_shape(weight)}")
    return N, C


def _ce_common(op, logits, target, weight, ignore_index):
    N, C = ce_shapes(op, logits, target, weight)
    if getattr(target, "ndim", None) != 2:
        _range(op, "target", target, 0, C, allowed=int(ignore_index))
    return N, C


def _ce_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    N, C = _ce_common("cross_entropy_forward", logits, target, weight, ignore_index)
    if N == 0:
        xp = _xp(logits)
        return ((xp.zeros(0, logits.dtype), xp.zeros(0, xp.float64)),)
    if C == 0:
        raise ValueError(f"cross_entropy_forward: logits {_shape(logits)} have no classes")


def _ce_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse):
    op = "cross_entropy_backward"
    N, C = _ce_common(op, logits, target, weight, ignore_index)
    if _shape(lse) != (N,):
        raise ValueError(f"{op}: lse must have shape ({N},), one entry per row, got {_shape(lse)}")
    if _shape(grad_loss) not in ((), (1,), (N,)):
        raise ValueError(f"{op}: grad_loss must be a scalar or have shape ({N},), got {_shape(grad_loss)}")
    if logits.size == 0:
        return (_xp(logits).zeros_like(logits),)


# -- layer norm

def ln_params(op, x_shape, weight, bias=None):
    """Layer norm's weight and bias (each optional) have one element per entry of the last dim."""
    D = x_shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.size != D:
            raise ValueError(f"{op}: {name} must have {D} elements (the last dim of x {tuple(x_shape)}), "
                             f"got shape {_shape(p)}")


def _ln_forward(x, weight, bias, eps):
    op = "layer_norm_forward"
    if getattr(x, "ndim", 0) < 1:
        raise ValueError(f"{op}: x must have at least 1 dim (..., D), got shape {_shape(x)}")
    ln_params(op, _shape(x), weight, bias)
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps!r}")
    if x.size == 0:   # no rows, or rows of nothing: an empty y, and statistics of nothing
        xp = _xp(x)
        mean = xp.zeros(x.shape[:-1], x.dtype)
        rstd = xp.full(x.shape[:-1], 1.0 / math.sqrt(eps) if eps > 0 else math.inf, x.dtype)
        return ((xp.empty_like(x), mean, rstd),)


def _ln_backward(gy, x, weight, mean, rstd):
    op = "layer_norm_backward"
    check_grad_shape(op, gy, _shape(x))
    rows = _shape(x)[:-1]
    for name, a in (("mean", mean), ("rstd", rstd)):
        if a.size != math.prod(rows):
            raise ValueError(f"{op}: {name} must have one entry per row of x {_shape(x)} "
                             f"({math.prod(rows)}), got shape {_shape(a)}")
    ln_params(op, _shape(x), weight)
    D = x.shape[-1]
    if x.size == 0:
        xp = _xp(x)
        return ((xp.zeros_like(x), xp.zeros(D, x.dtype), xp.zeros(D, x.dtype)),)


# -- embedding

def _emb_forward(weight, indices):
    op = "embedding_forward"
    _ndim(op, "weight", weight, 2)
    _range(op, "indices", indices, 0, weight.shape[0])


def _emb_backward(gy, indices, num_embeddings, padding_idx=None):
    op = "embedding_backward"
    _range(op, "indices", indices, 0, int(num_embeddings))
    if getattr(gy, "ndim", 0) < 1 or _shape(gy)[:-1] != _shape(indices):
        raise ValueError(f"{op}: gy must have shape indices.shape + (D,) = {_shape(indices)} + (D,), "
                         f"got {_shape(gy)}")
    if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
        raise IndexError(f"{op}: padding_idx {padding_idx} is outside a table of {num_embeddings} rows")


# -- attention

def sdpa_shapes(op, q, k, v):
    """Check attention's q, k, v; return (B, H, Tq, Tk, dv)."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        _ndim(op, name, a, 4)
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    if k.shape[:2] != (B, H) or v.shape[:3] != (B, H, Tk) or k.shape[3] != d:
        raise ValueError(f"{op}: shapes q {_shape(q)}, k {_shape(k)}, v {_shape(v)} do not match "
                         "(need q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv))")
    return B, H, Tq, Tk, v.shape[3]


def sdpa_mask(op, mask, full):
    """Check that an attention mask (or None) broadcasts to the scores' shape ``full``."""
    if mask is None:
        return
    try:
        ok = mask.ndim <= 4 and np.broadcast_shapes(mask.shape, full) == full
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: mask of shape {_shape(mask)} cannot be broadcast to (B, H, Tq, Tk) = {full}")


def _sdpa_forward(q, k, v, mask=None, is_causal=False, scale=None):
    op = "sdpa_forward"
    B, H, Tq, Tk, dv = sdpa_shapes(op, q, k, v)
    sdpa_mask(op, mask, (B, H, Tq, Tk))
    if Tk == 0 or q.size == 0 or v.size == 0:  # nothing to attend to: zero rows, lse = -inf
        xp = _xp(q)
        return ((xp.zeros((B, H, Tq, dv), q.dtype), xp.full((B, H, Tq), -xp.inf, q.dtype)),)


def sdpa_backward_shapes(gout, out, lse, want):
    """Check the forward results given to attention's backward: gout and out (B, H, Tq, dv)
    = ``want``, lse (B, H, Tq)."""
    op = "sdpa_backward"
    for name, a in (("gout", gout), ("out", out)):
        if _shape(a) != tuple(want):
            raise ValueError(f"{op}: {name} must have shape (B, H, Tq, dv) = {tuple(want)}, got {_shape(a)}")
    if _shape(lse) != tuple(want[:3]):
        raise ValueError(f"{op}: lse must have shape (B, H, Tq) = {tuple(want[:3])}, got {_shape(lse)}")


def _sdpa_backward(gout, q, k, v, out, lse, mask=None, is_causal=False, scale=None):
    op = "sdpa_backward"
    B, H, Tq, Tk, dv = sdpa_shapes(op, q, k, v)
    sdpa_mask(op, mask, (B, H, Tq, Tk))
    sdpa_backward_shapes(gout, out, lse, (B, H, Tq, dv))
    if Tk == 0 or q.size == 0 or v.size == 0:
        xp = _xp(q)
        return ((xp.zeros_like(q), xp.zeros_like(k), xp.zeros_like(v)),)


# -- convolution

def _conv_forward(x, w, b, stride, padding, dilation, groups):
    op = "conv2d_forward"
    N, C, _, _, C_out, _, _, H_out, W_out = conv_geometry(op, _shape(x), _shape(w), stride, padding,
                                                          dilation, groups)
    if b is not None and _shape(b) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), got {_shape(b)}")
    if N == 0 or C == 0:  # no samples, or a sum over no input channels: the bias alone
        xp = _xp(x)
        y = xp.zeros((N, C_out, H_out, W_out), x.dtype)
        if b is not None:
            y += b.reshape(1, C_out, 1, 1).astype(x.dtype, copy=False)
        return (y,)


def _conv_grad_input(gy, w, x_shape, stride, padding, dilation, groups):
    op = "conv2d_grad_input"
    N, C, _, _, C_out, _, _, H_out, W_out = conv_geometry(op, tuple(x_shape), _shape(w), stride, padding,
                                                          dilation, groups)
    check_grad_shape(op, gy, (N, C_out, H_out, W_out))
    if N == 0 or C == 0:
        return (_xp(gy).zeros(tuple(x_shape), gy.dtype),)


def _conv_grad_weight(gy, x, w_shape, stride, padding, dilation, groups):
    op = "conv2d_grad_weight"
    N, C, _, _, C_out, _, _, H_out, W_out = conv_geometry(op, _shape(x), tuple(w_shape), stride, padding,
                                                          dilation, groups)
    check_grad_shape(op, gy, (N, C_out, H_out, W_out))
    if N == 0 or C == 0:
        return (_xp(gy).zeros(tuple(w_shape), gy.dtype),)


def _conv_grad_bias(gy):
    _ndim("conv2d_grad_bias", "gy", gy, 4)
    if gy.size == 0:
        return (_xp(gy).zeros(gy.shape[1], gy.dtype),)


def _unfold(x, kernel_size, stride, padding, dilation):
    op = "unfold"
    _ndim(op, "x", x, 4)
    H_out, W_out = unfold_geometry(op, x.shape, kernel_size, stride, padding, dilation)
    if x.size == 0:
        N, C = x.shape[:2]
        kk = int(kernel_size[0]) * int(kernel_size[1])
        return (_xp(x).zeros((N, C * kk, H_out * W_out), x.dtype),)


def _fold(cols, output_size, kernel_size, stride, padding, dilation):
    C, _, _ = fold_geometry(_shape(cols), output_size, kernel_size, stride, padding, dilation)
    if cols.size == 0:
        return (_xp(cols).zeros((cols.shape[0], C) + tuple(int(v) for v in output_size), cols.dtype),)


# -- pooling

def _max_pool_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    op = "max_pool2d_forward"
    H_out, W_out = pool_geometry(op, _shape(x), kernel_size, stride, padding, dilation, ceil_mode)
    if x.size == 0:
        xp = _xp(x)
        N, C = x.shape[:2]
        return ((xp.zeros((N, C, H_out, W_out), x.dtype), xp.zeros((N, C, H_out, W_out), xp.int64)),)


def max_pool_backward_shapes(gy, indices, x_shape):
    """Check max pooling's backward shapes: gy and indices (N, C, H_out, W_out) for an
    input of x_shape (N, C, H, W)."""
    op = "max_pool2d_backward"
    if len(tuple(x_shape)) != 4:
        raise ValueError(f"{op}: x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    _ndim(op, "gy", gy, 4)
    _same_shape(op, ("gy", "indices"), gy, indices)
    if gy.shape[:2] != tuple(x_shape[:2]):
        raise ValueError(f"{op}: gy {_shape(gy)} and x_shape {tuple(x_shape)} disagree on (N, C)")


def _max_pool_backward(gy, indices, x_shape):
    op = "max_pool2d_backward"
    max_pool_backward_shapes(gy, indices, x_shape)
    N, C, H, W = x_shape
    _range(op, "indices", indices, -1, H * W)   # -1: a window that saw no input element
    if gy.size == 0 or H * W == 0:
        return (_xp(gy).zeros(tuple(x_shape), gy.dtype),)


def _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    H_out, W_out = pool_geometry("avg_pool2d_forward", _shape(x), kernel_size, stride, padding, (1, 1),
                                  ceil_mode)
    if x.size == 0:
        N, C = x.shape[:2]
        return (_xp(x).zeros((N, C, H_out, W_out), x.dtype),)


def _avg_pool_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
    op = "avg_pool2d_backward"
    H_out, W_out = pool_geometry(op, tuple(x_shape), kernel_size, stride, padding, (1, 1), ceil_mode)
    check_grad_shape(op, gy, tuple(x_shape[:2]) + (H_out, W_out))
    if gy.size == 0:
        return (_xp(gy).zeros(tuple(x_shape), gy.dtype),)


# -- int8: the quant kernels of every set check their arguments first thing with the
# reference's _check_qmatmul / _check_qconv (int8 dtypes, the exact-accumulation limit),
# so they have no contract here.

# -- elementwise

def _gelu_backward(x, gy, approximate="none"):
    op = "gelu_backward"
    try:
        ok = np.broadcast_shapes(_shape(gy), _shape(x)) == _shape(x)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: gy of shape {_shape(gy)} cannot be broadcast to x's shape {_shape(x)}")


# -- recurrent layers: G gates of H columns (LSTM: G = 4, GRU: G = 3)

def _rnn_params(op, G, H, N, w_hh, b_hh, states):
    """w_hh is (G*H, H), b_hh (G*H,) or None, each named state (N, H) or None."""
    if _shape(w_hh) != (G * H, H):
        raise ValueError(f"{op}: w_hh must have shape {(G * H, H)} ({G} gates of hidden size {H}), "
                         f"got {_shape(w_hh)}")
    if b_hh is not None and _shape(b_hh) != (G * H,):
        raise ValueError(f"{op}: b_hh must have shape {(G * H,)}, got {_shape(b_hh)}")
    for name, s in states.items():
        if s is not None and _shape(s) != (N, H):
            raise ValueError(f"{op}: {name} must have shape {(N, H)} (batch, hidden), got {_shape(s)}")


def _rnn_input(op, G, xw, w_hh, b_hh, batch_first, **states):
    """A layer's forward: xw (L, N, G*H), or (N, L, G*H) when batch_first."""
    _ndim(op, "xw", xw, 3)
    if xw.shape[2] % G:
        raise ValueError(f"{op}: xw's last dim must be {G} * hidden_size, got shape {_shape(xw)}")
    _rnn_params(op, G, xw.shape[2] // G, xw.shape[0] if batch_first else xw.shape[1], w_hh, b_hh, states)


def _rnn_saved(op, G, width, gout, saved, out, w_hh, batch_first, **states):
    """A layer's backward: what its forward returned, saved (L, N, 4H) and out (L, N,
    width*H) or (N, L, width*H); gout of out's shape."""
    _ndim(op, "the saved array", saved, 3)
    L, N, S = saved.shape
    H = S // 4
    want = (N, L, width * H) if batch_first else (L, N, width * H)
    if S % 4 or _shape(out) != want:
        raise ValueError(f"{op}: the forward's arrays do not match: saved {_shape(saved)}, out {_shape(out)}")
    check_grad_shape(op, gout, want)
    _rnn_params(op, G, H, N, w_hh, None, states)


def _lstm_forward(xw, w_hh, b_hh, h0, c0, reverse=False, batch_first=False):
    _rnn_input("lstm_forward", 4, xw, w_hh, b_hh, batch_first, h0=h0, c0=c0)


def _lstm_backward(gout, gates, out, w_hh, c0, reverse=False, batch_first=False, need_dh0=True):
    _rnn_saved("lstm_backward", 4, 2, gout, gates, out, w_hh, batch_first, c0=c0)


def _gru_forward(xw, w_hh, b_hh, h0, reverse=False, batch_first=False):
    _rnn_input("gru_forward", 3, xw, w_hh, b_hh, batch_first, h0=h0)


def _gru_backward(gout, saved, out, w_hh, h0, reverse=False, batch_first=False, need_dh0=True):
    _rnn_saved("gru_backward", 3, 1, gout, saved, out, w_hh, batch_first, h0=h0)


CONTRACTS = {
    "softmax": _softmax,
    "log_softmax": _softmax,
    "softmax_backward": _softmax_backward("softmax_backward"),
    "log_softmax_backward": _softmax_backward("log_softmax_backward"),
    "cross_entropy_forward": _ce_forward,
    "cross_entropy_backward": _ce_backward,
    "layer_norm_forward": _ln_forward,
    "layer_norm_backward": _ln_backward,
    "embedding_forward": _emb_forward,
    "embedding_backward": _emb_backward,
    "sdpa_forward": _sdpa_forward,
    "sdpa_backward": _sdpa_backward,
    "conv2d_forward": _conv_forward,
    "conv2d_grad_input": _conv_grad_input,
    "conv2d_grad_weight": _conv_grad_weight,
    "conv2d_grad_bias": _conv_grad_bias,
    "unfold": _unfold,
    "fold": _fold,
    "max_pool2d_forward": _max_pool_forward,
    "max_pool2d_backward": _max_pool_backward,
    "avg_pool2d_forward": _avg_pool_forward,
    "avg_pool2d_backward": _avg_pool_backward,
    "gelu_backward": _gelu_backward,
    "lstm_forward": _lstm_forward,
    "lstm_backward": _lstm_backward,
    "gru_forward": _gru_forward,
    "gru_backward": _gru_backward,
}


def checked(name, kernel):
    """``kernel`` behind the contract of ``name`` (the kernel itself when it has none)."""
    contract = CONTRACTS.get(name)
    if contract is None or getattr(kernel, "_contract_checked", False):
        return kernel

    @functools.wraps(kernel)
    def run(*args, **kwargs):
        answer = contract(*args, **kwargs)
        if answer is not None:
            return answer[0]
        return kernel(*args, **kwargs)

    run._contract_checked = True
    return run

