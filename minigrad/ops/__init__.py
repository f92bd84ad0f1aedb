"""Every differentiable op, one file per family (forward and backward side by side).

This package also attaches the ops to :class:`~minigrad.tensor.Tensor` as methods
and operators (``x.exp()``, ``x + y``, ``x[0]``), at the bottom of this file.
"""
import importlib

from minigrad.tensor import Tensor
from minigrad.ops.elementwise import (  # noqa: F401
    add, sub, mul, div, neg, pow, abs_, exp, log, log1p, sqrt, rsqrt, sin, cos, tanh, sigmoid,
    relu, leaky_relu, elu, gelu, silu, softplus, erf, clamp, clip, maximum, minimum, where,
    eq, ne, lt, le, gt, ge, logical_not, logical_and, logical_or, isnan, isinf, isfinite, sign,
    allclose, equal,
)
from minigrad.ops.reduce import (  # noqa: F401
    sum, mean, prod, max, min, amax, amin, argmax, argmin, var, std, var_mean, logsumexp, cumsum,
    norm, all, any, count_nonzero,
)
from minigrad.ops.shape import (  # noqa: F401
    sum_to, expand, broadcast_to, broadcast_tensors, reshape, view, flatten, unflatten, squeeze,
    unsqueeze, permute, transpose, swapaxes, swapdims, t, movedim, cat, concat, concatenate, stack,
    split, chunk, unbind, flip, repeat, tile, repeat_interleave, pad,
)
from minigrad.ops.index import (  # noqa: F401
    getitem, narrow, select, index_select, gather, scatter_add, masked_fill, one_hot,
)
from minigrad.ops.matmul import matmul, mm, bmm, dot, outer, linear  # noqa: F401
from minigrad.ops.convert import clone, cast, to_device  # noqa: F401
from minigrad.ops.elementwise import nan_to_num, lerp  # noqa: F401
from minigrad.ops.shape import roll  # noqa: F401
from minigrad.ops.scan import cumprod, logcumsumexp, diff  # noqa: F401
from minigrad.ops.sort import sort, argsort, topk, searchsorted, bucketize, isin  # noqa: F401
from minigrad.ops.matrix import einsum, addmm, baddbmm, cdist, tril, triu  # noqa: F401
from minigrad.creation import (multinomial, new_zeros as _new_zeros, new_ones as _new_ones,  # noqa: F401
                               new_empty as _new_empty, new_full as _new_full, new_tensor as _new_tensor)

abs = abs_

# Families whose ops sit on native kernels; each may define __all__.
_OPTIONAL = ("softmax", "loss", "norm", "embedding", "attention", "conv", "pool")
for _name in _OPTIONAL:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    for _k in getattr(_mod, "__all__", ()):
        globals()[_k] = getattr(_mod, _k)

# Importing the submodule minigrad.ops.norm set the package attribute ``norm`` to that
# module; the name belongs to the vector norm reduction.
from minigrad.ops.reduce import norm  # noqa: E402,F811


# Every public op names itself in the errors that escape it (see minigrad._checks).
from minigrad import _checks  # noqa: E402

_checks.name_errors_in(globals())


# ----------------------------------------------------------------------------- Tensor methods

def _r(fn):
    """Reflected operator: ``2 - x`` calls ``sub(2, x)``."""
    return lambda self, other: fn(other, self)


def _getitem(self, key):
    return getitem(self, key)


def _size_args(fn):
    return lambda self, *shape: fn(self, *shape)


def _sum_to_size(self, *size):
    """Sum this tensor down to ``size`` (``t.sum_to_size(1, 3)`` or ``t.sum_to_size((1, 3))``):
    the reverse of broadcasting, e.g. ``(4, 3)`` -> ``(1, 3)``; ``size`` must broadcast
    to this tensor's shape."""
    return sum_to(self, size[0] if len(size) == 1 and isinstance(size[0], tuple) else size)


def _expand_as(self, other):
    """This tensor broadcast to the shape of ``other`` (no copy; as ``expand(other.shape)``)."""
    return expand(self, other.shape)


def _reshape_as(self, other):
    """This tensor with the shape of ``other`` (same number of elements; as ``reshape(other.shape)``)."""
    return reshape(self, other.shape)


def _view_as(self, other):
    """This tensor with the shape of ``other`` (same number of elements). Like
    :func:`~minigrad.ops.shape.view`, it is ``reshape``: minigrad copies when a view is impossible."""
    return reshape(self, other.shape)


def is_tensor(obj):
    """True when ``obj`` is a minigrad Tensor (Parameters included)."""
    return isinstance(obj, Tensor)


def numel(input):
    """The number of elements of ``input`` (the product of its shape)."""
    return input.numel()


def _where(self, condition, other):
    """Elements of this tensor where ``condition`` is True, of ``other`` elsewhere
    (all three broadcast together): ``where(condition, self, other)``."""
    return where(condition, self, other)


_METHODS = {
    "__add__": add, "__radd__": _r(add), "__sub__": sub, "__rsub__": _r(sub),
    "__mul__": mul, "__rmul__": _r(mul), "__truediv__": div, "__rtruediv__": _r(div),
    "__pow__": pow, "__rpow__": _r(pow), "__matmul__": matmul, "__rmatmul__": _r(matmul),
    "__neg__": neg, "__abs__": abs_, "__getitem__": _getitem,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__invert__": logical_not, "__and__": logical_and, "__or__": logical_or,
    "add": add, "sub": sub, "mul": mul, "div": div, "neg": neg, "pow": pow, "abs": abs_,
    "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt, "rsqrt": rsqrt, "sin": sin, "cos": cos,
    "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "erf": erf, "clamp": clamp, "clip": clip,
    "maximum": maximum, "minimum": minimum, "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt,
    "ge": ge, "logical_not": logical_not, "isnan": isnan, "isinf": isinf, "isfinite": isfinite,
    "sign": sign, "allclose": allclose, "equal": equal,
    "sum": sum, "mean": mean, "prod": prod, "max": max, "min": min, "amax": amax, "amin": amin,
    "argmax": argmax, "argmin": argmin, "var": var, "std": std, "logsumexp": logsumexp,
    "cumsum": cumsum, "norm": norm, "all": all, "any": any, "count_nonzero": count_nonzero,
    "sum_to_size": _sum_to_size,
    "expand": expand, "expand_as": _expand_as,
    "broadcast_to": broadcast_to, "reshape": reshape, "view": view,
    "reshape_as": _reshape_as, "view_as": _view_as,
    "flatten": flatten, "unflatten": unflatten, "squeeze": squeeze, "unsqueeze": unsqueeze,
    "permute": permute, "transpose": transpose, "swapaxes": swapaxes, "swapdims": swapdims,
    "t": t, "movedim": movedim, "split": split, "chunk": chunk, "unbind": unbind, "flip": flip,
    "repeat": repeat, "tile": tile, "repeat_interleave": repeat_interleave,
    "narrow": narrow, "select": select, "index_select": index_select, "gather": gather,
    "scatter_add": scatter_add, "masked_fill": masked_fill,
    "matmul": matmul, "mm": mm, "bmm": bmm, "dot": dot, "outer": outer,
    "where": _where,
    "tril": tril, "triu": triu, "topk": topk, "sort": sort, "argsort": argsort, "multinomial": multinomial,
    "cumprod": cumprod, "logcumsumexp": logcumsumexp, "lerp": lerp, "addmm": addmm, "baddbmm": baddbmm,
    "diff": diff, "roll": roll, "nan_to_num": nan_to_num,
    "new_zeros": _new_zeros, "new_ones": _new_ones, "new_empty": _new_empty, "new_full": _new_full,
    "new_tensor": _new_tensor,
}
for _name in ("softmax", "log_softmax", "leaky_relu", "gelu", "silu", "elu", "softplus"):
    if _name in globals() and _name not in _METHODS:
        _METHODS[_name] = globals()[_name]

for _k, _v in _METHODS.items():
    setattr(Tensor, _k, _v)
