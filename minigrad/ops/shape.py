"""Shape ops: reshape, transpose, expand, cat/stack, split, flip, repeat, pad...

These move or copy numbers without changing them, so every backward is another
shape op: the gradient of a reshape is a reshape back, the gradient of a
transpose is the inverse transpose, the gradient of ``expand`` is a sum over the
expanded axes (:func:`sum_to`, the one helper that undoes broadcasting).
"""
from __future__ import annotations

import numpy as np

from minigrad import _checks
from minigrad.autograd import Function
from minigrad.backend import xp_of
from minigrad.ops.index import getitem, index_select, narrow, select
from minigrad.tensor import Tensor


def _norm_dim(dim, ndim, op):
    """Turn a possibly negative dim into 0..ndim-1, or raise naming the op."""
    return _checks.dim(dim, ndim, op)


def _shape_arg(shape):
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


# ----------------------------------------------------------------------------- sum_to / expand

class SumTo(Function):
    """y = x summed over the axes broadcasting added or stretched to reach x.shape;
    dy/dx is a broadcast back: gx = expand(gy, x.shape)"""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        if lead:
            y = y.reshape(shape)
        return y

    @staticmethod
    def backward(ctx, gy):
        return expand(gy, ctx.in_shape)


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting ``shape`` to ``x.shape``)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != xs for s, xs in zip(shape, x.shape[lead:])):
        raise ValueError(f"sum_to: shape {x.shape} cannot be reduced to {shape}")
    return SumTo.apply(x, shape)


class Expand(Function):
    """y = x broadcast to a larger shape (a view, no copy);  gx = sum_to(gy, x.shape)"""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return xp_of(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return sum_to(gy, ctx.in_shape)


def expand(input, *sizes):
    """Broadcast to a larger shape without copying; -1 keeps a dimension's size."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: the target {sizes} has fewer dimensions than the tensor {input.shape}")
    shape = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for a new leading dimension (in {sizes})")
            s = input.shape[i - lead]
        elif i >= lead and input.shape[i - lead] not in (1, s):
            raise ValueError(f"expand: cannot expand shape {input.shape} to {sizes} (dim {i}: "
                             f"{input.shape[i - lead]} -> {s}; only size-1 dims can grow)")
        shape.append(s)
    shape = tuple(shape)
    if shape == input.shape:
        return input
    return Expand.apply(input, shape)


def broadcast_to(input, shape):
    """Broadcast ``input`` to ``shape`` (NumPy rules)."""
    return expand(input, tuple(shape))


def broadcast_tensors(*tensors):
    """Expand every tensor to their common broadcast shape (views, differentiable); returns a
    tuple."""
    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


# ----------------------------------------------------------------------------- reshape family

class Reshape(Function):
    """y = x with a new shape (same elements in row-major order);  gx = reshape(gy, x.shape)"""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return reshape(gy, ctx.in_shape)


def reshape(input, *shape):
    """Same elements, new shape; one dimension may be -1 (inferred)."""
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    n = input.array.size
    known = 1
    infer = [i for i, s in enumerate(shape) if s == -1]
    for s in shape:
        if s != -1:
            if not isinstance(s, (int, np.integer)) or s < 0:
                raise ValueError(f"reshape: invalid size {s!r} in shape {shape}")
            known *= s
    if len(infer) > 1 or (not infer and known != n) or (infer and (known == 0 or n % known)):
        raise ValueError(f"reshape: shape {shape} is invalid for input of shape {input.shape} "
                         f"({n} elements)")
    return Reshape.apply(input, shape)


def view(input, *shape):
    """Like :func:`reshape` (minigrad copies when a view is impossible)."""
    return reshape(input, *shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one."""
    if input.ndim == 0:
        return reshape(input, (1,))
    s = _norm_dim(start_dim, input.ndim, "flatten")
    e = _norm_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
    shape = input.shape[:s] + (int(np.prod(input.shape[s:e + 1])),) + input.shape[e + 1:]
    return reshape(input, shape)


def unflatten(input, dim, sizes):
    """Split dimension ``dim`` into ``sizes`` (one may be -1)."""
    d = _norm_dim(dim, input.ndim, "unflatten")
    sizes = _checks.sizes(sizes, "unflatten", allow_inferred=True)
    n = input.shape[d]
    if -1 in sizes:
        known = int(np.prod([s for s in sizes if s != -1]))
        if known == 0:
            raise ValueError(f"unflatten: sizes {sizes} leave the -1 undetermined (the other sizes "
                             f"multiply to 0); give every size for dim {dim} of size {n}")
        if n % known:
            raise ValueError(f"unflatten: sizes {sizes} do not multiply to dim {dim}'s size {n}")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    if int(np.prod(sizes)) != n:
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to dim {dim}'s size {n}")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


class Squeeze(Function):
    """Remove size-1 dims;  gx = reshape(gy, x.shape)"""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.in_shape = x.shape
        return x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        return reshape(gy, ctx.in_shape)


def squeeze(input, dim=None):
    """Drop dimensions of size 1 (all of them, or the given dim(s) if they are size 1)."""
    if dim is None:
        axes = tuple(i for i, s in enumerate(input.shape) if s == 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(d for d in (_norm_dim(d, input.ndim, "squeeze") for d in dims) if input.shape[d] == 1)
    if not axes:
        return input
    return Squeeze.apply(input, axes)


def unsqueeze(input, dim):
    """Insert a size-1 dimension at ``dim``."""
    d = _norm_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


class Permute(Function):
    """y = x with its axes reordered (a view);  gx = permute(gy, inverse order)"""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        return permute(gy, tuple(np.argsort(ctx.dims)))


def permute(input, *dims):
    """Reorder the dimensions."""
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {input.ndim} dimensions")
    dims = tuple(_norm_dim(d, input.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(input.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of 0..{input.ndim - 1}")
    if dims == tuple(range(input.ndim)):
        return input
    return Permute.apply(input, dims)


def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    n = input.ndim
    d0, d1 = _norm_dim(dim0, n, "transpose"), _norm_dim(dim1, n, "transpose")
    if d0 == d1:
        return input
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, tuple(dims))


swapaxes = transpose
swapdims = transpose


def t(input):
    """Transpose a 2-D tensor (0-D and 1-D are returned as they are)."""
    if input.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got {input.ndim}")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def movedim(input, source, destination):
    """Move dimension ``source`` to position ``destination``, keeping the order of the others."""
    s = _norm_dim(source, input.ndim, "movedim")
    d = _norm_dim(destination, input.ndim, "movedim")
    order = [i for i in range(input.ndim) if i != s]
    order.insert(d, s)
    return permute(input, tuple(order))


# ----------------------------------------------------------------------------- cat / stack / split

class Cat(Function):
    """y = the inputs joined along ``dim``;  each gx_i is its slice of gy"""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        out = []
        start = 0
        idx = [slice(None)] * gy.ndim
        for n, need in zip(ctx.sizes, ctx.needs_input_grad):
            if need:
                idx[ctx.dim] = slice(start, start + n)
                out.append(gy[tuple(idx)])
            else:
                out.append(None)
            start += n
        return tuple(out)


def cat(tensors, dim=0):
    """Join tensors along an existing dimension (all other dims must match)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    _checks.same_device("cat", *tensors)
    ref = tensors[0]
    if ref.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = _norm_dim(dim, ref.ndim, "cat")
    for i, x in enumerate(tensors):
        if x.ndim != ref.ndim or x.shape[:d] + x.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {x.shape}, which does not match tensor 0's "
                             f"shape {ref.shape} outside dim {dim}")
    dt = np.result_type(*[t.array.dtype for t in tensors])
    tensors = [t if t.dtype == dt else t.to(dt) for t in tensors]
    return Cat.apply(*tensors, dim=d)


concat = cat
concatenate = cat


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {x.shape} but tensor 0 has {tensors[0].shape}; "
                             "all must have the same shape")
    d = _norm_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(x, d) for x in tensors], dim=d)


def split(tensor, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = _norm_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = _checks.integer(split_size_or_sections, "split", "split_size")
        if s <= 0:
            raise ValueError(f"split: split_size must be positive, got {s}")
        sizes = [min(s, n - i) for i in range(0, n, s)] or [0]
    else:
        sizes = list(_checks.sizes(split_size_or_sections, "split", "split sizes"))
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} has size {n}")
    out = []
    start = 0
    for s in sizes:
        out.append(narrow(tensor, d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` pieces of (almost) equal size."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = _norm_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    size = -(-n // chunks) if n else 1
    return split(input, max(size, 1), d)


def unbind(input, dim=0):
    """The slices along ``dim`` as a tuple of tensors with that dim removed."""
    d = _norm_dim(dim, input.ndim, "unbind")
    return tuple(select(input, d, i) for i in range(input.shape[d]))


# ----------------------------------------------------------------------------- flip / repeat / tile

class Flip(Function):
    """y = x reversed along ``dims``;  gx = flip(gy, dims)"""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return xp_of(x).flip(x, axis=dims).copy()

    @staticmethod
    def backward(ctx, gy):
        return Flip.apply(gy, ctx.dims)


def flip(input, dims):
    """Reverse the order of elements along the given dimension(s)."""
    return Flip.apply(input, _checks.dims(dims, input.ndim, "flip"))


class Tile(Function):
    """y = x repeated ``reps`` times along each dim (torch.repeat / np.tile);
    gx = the sum of the copies: reshape gy to (r0, s0, r1, s1, ...) and sum the r axes
    (``sum_to`` the shape (1, s0, 1, s1, ...))"""

    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape = x.shape
        ctx.reps = reps
        return xp_of(x).tile(x, reps)

    @staticmethod
    def backward(ctx, gy):
        reps, shape = ctx.reps, ctx.in_shape
        lead = len(reps) - len(shape)
        full = (1,) * lead + tuple(shape)
        inter, summed = [], []
        for r, s in zip(reps, full):
            inter += [r, s]
            summed += [1, s]
        g = sum_to(reshape(gy, tuple(inter)), tuple(summed))
        return reshape(g, shape)


def repeat(input, *sizes):
    """Tile the tensor: ``x.repeat(2, 3)`` (PyTorch semantics, like ``np.tile``)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: number of repeats ({len(sizes)}) must be >= the number of "
                         f"dimensions ({input.ndim})")
    return Tile.apply(input, _checks.sizes(sizes, "repeat", "repeats"))


def tile(input, dims):
    """Like :func:`repeat`, but fewer reps than dims pad with leading 1s (torch.tile)."""
    dims = tuple(dims)
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times along ``dim`` (flattened when dim is None):
    ``repeats`` is an int or a tensor with one count per element along ``dim``.
    ``repeat_interleave(counts)`` alone gives ``0`` counts[0] times, ``1`` counts[1] times...
    The gradient of each copy flows back to its source (an ``index_select``)."""
    if repeats is None:  # repeat_interleave(repeats): the indices, each repeated
        counts = input
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise ValueError(f"repeat_interleave: repeats must be a 1-D integer tensor, got shape {counts.shape} "
                             f"dtype {counts.dtype}")
        input, repeats, dim = Tensor(xp_of(counts.array).arange(counts.shape[0])), counts, 0
    if dim is None:
        input, dim = flatten(input), 0
    d = _norm_dim(dim, max(input.ndim, 1), "repeat_interleave")
    if input.ndim == 0:
        input = reshape(input, (1,))
    n = input.shape[d]
    reps = np.asarray(repeats.array.get() if hasattr(repeats.array, "get") else repeats.array) \
        if isinstance(repeats, Tensor) else np.asarray(repeats)
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps.ndim == 1 and reps.shape[0] not in (1, n)):
        raise ValueError(f"repeat_interleave: repeats must be an int or a 1-D integer tensor of length 1 or "
                         f"{n} (the size of dim {dim}), got shape {reps.shape} dtype {reps.dtype}")
    if (reps < 0).any():
        raise ValueError(f"repeat_interleave: repeats must be non-negative, got {reps.tolist()}")
    idx = np.repeat(np.arange(n), reps.reshape(-1) if reps.ndim else int(reps))
    if output_size is not None and output_size != idx.shape[0]:
        raise ValueError(f"repeat_interleave: output_size={output_size} but the repeats add up to {idx.shape[0]}")
    return index_select(input, d, Tensor(idx.astype(np.int64)))


# ----------------------------------------------------------------------------- pad

class PadConstant(Function):
    """y = x surrounded by ``value``;  gx = the interior slice of gy"""

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.widths = widths
        return xp_of(x).pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, gy):
        idx = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(ctx.widths))
        return getitem(gy, idx)


def pad(input, pad, mode="constant", value=0.0):
    """Pad like ``torch.nn.functional.pad``: ``pad`` lists (left, right) pairs starting
    from the LAST dimension. Modes: constant, reflect, replicate, circular."""
    pad = _checks.padding(pad, "pad")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {pad} must have an even length of at most 2 * ndim "
                         f"({2 * input.ndim})")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            for i, (lo, hi) in enumerate(widths):
                if input.shape[i] + min(lo, 0) + min(hi, 0) < 0:
                    raise ValueError(f"pad: padding ({lo}, {hi}) of dim {i} would remove more than its "
                                     f"{input.shape[i]} elements (input shape {input.shape})")

            crop = tuple(slice(max(-lo, 0), input.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths))
            input = getitem(input, crop)
            widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        return PadConstant.apply(input, tuple(widths), value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be constant, reflect, replicate or circular, got {mode!r}")
    # Non-constant modes gather existing elements: build an index per padded dim and
    # let index_select (whose backward scatter-adds) do the work.
    out = input
    for d, (lo, hi) in enumerate(widths):
        if lo == 0 and hi == 0:
            continue
        n = input.shape[d]
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than dim {d}'s size {n}")
            period = 2 * (n - 1) if n > 1 else 1
            pos = np.abs(pos) % period
            pos = np.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            if lo > n or hi > n:
                raise ValueError(f"pad: circular padding ({lo}, {hi}) must be at most dim {d}'s size {n}")
            pos = pos % n
        out = index_select(out, d, Tensor(pos.astype(np.int64)))
    return out


# ----------------------------------------------------------------------------- roll

class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``dims`` (what falls off one end comes
    back at the other);  gx = gy rolled back by ``-shifts``"""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return xp_of(x).roll(x, shifts, axis=dims)

    @staticmethod
    def backward(ctx, gy):
        return Roll.apply(gy, tuple(-s for s in ctx.shifts), ctx.dims)


def roll(input, shifts, dims=None):
    """Shift elements cyclically: ``roll(x, 1)`` moves every element one place on (the last
    wraps round to the front). ``shifts`` and ``dims`` are ints or tuples of one length;
    without ``dims`` the tensor is rolled as if flattened, then given its shape back."""
    shifts_t = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts_t) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        flat = reshape(input, (-1,))
        return reshape(Roll.apply(flat, (int(shifts_t[0]),), (0,)), input.shape)
    dims_t = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts_t) != len(dims_t):
        raise ValueError(f"roll: shifts and dims must align, got {len(shifts_t)} shift(s) and {len(dims_t)} dim(s)")
    dims_t = tuple(_norm_dim(int(d), input.ndim, "roll") for d in dims_t)
    return Roll.apply(input, tuple(int(s) for s in shifts_t), dims_t)
