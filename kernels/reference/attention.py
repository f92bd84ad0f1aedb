"""Reference scaled dot-product attention (readable NumPy, valid on CuPy).

Shapes: q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv); the op layer reshapes
other batch layouts into these four axes (the reference itself works with any
leading axes). For every (batch, head) and query row i::

    s_ij  = scale * q_i . k_j + mask_ij       (scores; mask_ij = -inf forbids a pair)
    lse_i = log sum_j exp(s_ij)               (log of the softmax normaliser)
    p_ij  = exp(s_ij - lse_i)                 (attention weights, each row sums to 1)
    out_i = sum_j p_ij v_j

Mask representation (shared by every attention kernel)
------------------------------------------------------
``mask`` is None or an **additive** float array broadcastable to (B, H, Tq, Tk):
0 where a pair may attend, -inf where it may not, any other value biases the score.
A boolean "allowed" mask (True = take part, PyTorch's convention) is converted by
:func:`additive_mask`; the kernels accept one too and convert it the same way.
``is_causal=True`` also forbids j > i (the top-left aligned causal mask
``tril(ones(Tq, Tk))``, as PyTorch); both may be given together.

Fully masked rows
-----------------
A query row that may attend to nothing has lse = -inf. PyTorch returns NaN there;
minigrad returns an output row of **zeros**, lse = -inf, and zero gradients for that
row, which keeps padded positions from poisoning a whole batch with NaN.

Backward, recomputing p from the saved lse (nothing of size Tq x Tk is kept)::

    gv_j  = sum_i p_ij gout_i
    dp_ij = gout_i . v_j
    D_i   = sum_j p_ij dp_ij = gout_i . out_i
    ds_ij = p_ij (dp_ij - D_i)                (softmax backward, row by row)
    gq_i  = scale * sum_j ds_ij k_j,    gk_j = scale * sum_i ds_ij q_i

This reference materialises the whole (Tq, Tk) score matrix per head; the native
kernels walk it block by block instead (see ``docs/kernels-attention.md``).
"""
import math

from .._arrays import array_module
from .._families import kernel_table


def default_scale(d):
    """PyTorch's default softmax temperature, 1 / sqrt(head dimension)."""
    return 1.0 / math.sqrt(d)


def additive_mask(mask, dtype):
    """Turn a mask into the additive form: bool True -> 0, False -> -inf; floats cast to ``dtype``."""
    if mask is None:
        return None
    xp = array_module(mask)
    if mask.dtype == bool:
        return xp.where(mask, 0.0, -xp.inf).astype(dtype)
    return mask.astype(dtype, copy=False)


def _scores(q, k, mask, is_causal, scale):
    """s = scale * q @ k^T + mask, with -inf above the diagonal when causal."""
    xp = array_module(q)
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * q.dtype.type(scale)
    if mask is not None:
        s = s + additive_mask(mask, q.dtype)
    if is_causal:
        Tq, Tk = s.shape[-2:]
        allowed = xp.tril(xp.ones((Tq, Tk), dtype=bool))
        s = xp.where(allowed, s, -xp.inf)
    return s


def _probabilities(s, lse, xp):
    """p = exp(s - lse), with p = 0 on fully masked rows (lse = -inf); a NaN lse (a row
    with a NaN or inf score) gives NaN, so its gradients are NaN too."""
    masked = (lse == -xp.inf)[..., None]
    shift = xp.where(masked, 0, lse[..., None])
    return xp.where(masked, 0, xp.exp(s - shift))


def sdpa_forward(q, k, v, mask=None, is_causal=False, scale=None):
    """Returns ``(out (B, H, Tq, dv), lse (B, H, Tq))``."""
    xp = array_module(q)
    if scale is None:
        scale = default_scale(q.shape[-1])
    s = _scores(q, k, mask, is_causal, scale)
    m = xp.max(s, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)           # fully masked row: keep exp() NaN-free
    e = xp.exp(s - m)
    total = xp.sum(e, axis=-1, keepdims=True)
    with _quiet(xp):
        lse = (xp.log(total) + m)[..., 0]        # log(0) = -inf on fully masked rows
    p = e / xp.where(total > 0, total, 1)
    out = xp.matmul(p, v)
    return out.astype(q.dtype, copy=False), lse.astype(q.dtype, copy=False)


def sdpa_backward(gout, q, k, v, out, lse, mask=None, is_causal=False, scale=None):
    """Returns ``(gq, gk, gv)`` for the gradient ``gout`` of ``out``."""
    xp = array_module(q)
    if scale is None:
        scale = default_scale(q.shape[-1])
    s = _scores(q, k, mask, is_causal, scale)
    p = _probabilities(s, lse, xp)
    gv = xp.matmul(xp.swapaxes(p, -1, -2), gout)
    dp = xp.matmul(gout, xp.swapaxes(v, -1, -2))
    D = xp.sum(gout * out, axis=-1, keepdims=True)
    ds = p * (dp - D) * q.dtype.type(scale)
    gq = xp.matmul(ds, k)
    gk = xp.matmul(xp.swapaxes(ds, -1, -2), q)
    dt = q.dtype
    return gq.astype(dt, copy=False), gk.astype(dt, copy=False), gv.astype(dt, copy=False)


class _quiet:
    """Silence NumPy's divide-by-zero warning for log(0) (CuPy does not warn)."""

    def __init__(self, xp):
        self.xp = xp
        self.old = None

    def __enter__(self):
        if hasattr(self.xp, "seterr"):
            self.old = self.xp.seterr(divide="ignore")

    def __exit__(self, *exc):
        if self.old is not None:
            self.xp.seterr(**self.old)
        return False


KERNELS = kernel_table("attention", globals())   # op name -> the function of that name above
