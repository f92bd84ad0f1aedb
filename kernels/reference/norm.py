"""Reference layer normalisation over the last axis (readable NumPy, valid on CuPy).

The op flattens ``normalized_shape`` into the last axis, so here x is (N, D) or any
(..., D). For one row x (D values)::

    mean = sum(x) / D
    var  = sum((x - mean)**2) / D          (biased, as in PyTorch)
    rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd
    y    = xhat * w + b

Backward, with g the incoming gradient of y (one row) and gh = g * w::

    gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
    gw = sum over rows of g * xhat,    gb = sum over rows of g

(the two means come from differentiating through ``mean`` and ``rstd``: moving one x
moves every xhat of its row). ``mean`` and ``rstd`` are returned by the forward
(shape ``x.shape[:-1]``) so the backward does not recompute them.
"""
from .._arrays import array_module
from .._families import kernel_table


def layer_norm_forward(x, weight, bias, eps):
    """Returns ``(y, mean, rstd)``; ``weight``/``bias`` are (D,) arrays or None."""
    xp = array_module(x)
    mean = xp.mean(x, axis=-1, keepdims=True)
    xc = x - mean
    var = xp.mean(xc * xc, axis=-1, keepdims=True)
    rstd = 1 / xp.sqrt(var + eps)
    y = xc * rstd
    wide = ~xp.isfinite(var[..., 0])
    if bool(wide.any()):  # rows whose sums overflowed (|x| ~ 1e19+ in float32)
        mean, rstd, y = _wide_rows(x, eps, wide, mean, rstd, y, xp)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False), mean[..., 0], rstd[..., 0].astype(x.dtype, copy=False)


def _wide_rows(x, eps, wide, mean, rstd, y, xp):
    """Redo the rows flagged ``wide`` on x / s, s = max |x| of the row: layer norm does
    not change when a row is scaled (eps is scaled with it), and the scaled sums cannot
    overflow. Rows holding inf or NaN are left as they are (NaN, as they should be)."""
    s = xp.max(xp.abs(x), axis=-1, keepdims=True)
    ok = wide & xp.isfinite(s[..., 0]) & (s[..., 0] > 0)
    s = xp.where(ok[..., None], s, 1)
    xs = x / s
    ms = xp.mean(xs, axis=-1, keepdims=True)
    xcs = xs - ms
    rs = 1 / xp.sqrt(xp.mean(xcs * xcs, axis=-1, keepdims=True) + eps / s / s)
    keep = ok[..., None]
    return (xp.where(keep, ms * s, mean), xp.where(keep, rs / s, rstd), xp.where(keep, xcs * rs, y))


def layer_norm_backward(gy, x, weight, mean, rstd):
    """Returns ``(gx, gw, gb)``; gw and gb are (D,) sums over all rows (computed even
    when the op has no weight or bias: it simply does not use them)."""
    xp = array_module(x)
    mean = mean[..., None]
    rstd = rstd[..., None]
    xhat = (x - mean) * rstd
    gh = gy if weight is None else gy * weight
    gx = rstd * (gh - xp.mean(gh, axis=-1, keepdims=True)
                 - xhat * xp.mean(gh * xhat, axis=-1, keepdims=True))
    D = x.shape[-1]
    gw = xp.sum((gy * xhat).reshape(-1, D), axis=0)
    gb = xp.sum(gy.reshape(-1, D), axis=0)
    return gx.astype(x.dtype, copy=False), gw, gb


KERNELS = kernel_table("norm", globals())   # op name -> the function of that name above
