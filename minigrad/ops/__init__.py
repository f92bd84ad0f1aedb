"""Every differentiable op, one file per family (forward and backward side by side).

:class:`~minigrad.tensor.Tensor`'s methods and operators (``x.exp()``, ``x + y``,
``x[0]``) are one-line calls into these functions, defined in the class itself.
"""
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
from minigrad.ops.elementwise import nan_to_num, lerp, logaddexp  # noqa: F401
from minigrad.ops.shape import roll  # noqa: F401
from minigrad.ops.scan import cumprod, logcumsumexp, diff  # noqa: F401
from minigrad.ops.sort import sort, argsort, topk, searchsorted, bucketize, isin  # noqa: F401
from minigrad.ops.matrix import einsum, addmm, baddbmm, cdist, tril, triu  # noqa: F401
from minigrad.creation import multinomial  # noqa: F401
# Families whose ops sit on native kernels.
from minigrad.ops.softmax import softmax, log_softmax  # noqa: F401
from minigrad.ops.loss import cross_entropy  # noqa: F401
from minigrad.ops.normalization import layer_norm  # noqa: F401
from minigrad.ops.embedding import embedding  # noqa: F401
from minigrad.ops.attention import scaled_dot_product_attention  # noqa: F401
from minigrad.ops.conv import conv1d, conv2d, conv_transpose2d, unfold, fold  # noqa: F401
from minigrad.ops.pool import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,  # noqa: F401
                               adaptive_avg_pool2d)

abs = abs_

# Every public op names itself in the errors that escape it (see minigrad._checks).
from minigrad import _checks  # noqa: E402

_checks.name_errors_in(globals())


def is_tensor(obj):
    """True when ``obj`` is a minigrad Tensor (Parameters included)."""
    return isinstance(obj, Tensor)


def numel(input):
    """The number of elements of ``input`` (the product of its shape)."""
    return input.numel()
