"""Sorting and searching: sort, argsort, topk, searchsorted, bucketize, isin.

Sorting moves numbers without changing them, so the differentiable part of ``sort``
and ``topk`` is a :func:`~minigrad.ops.index.gather`: the values are the input read
at the sorted positions, and the gradient of each value goes back to the position it
came from (gather's backward, a scatter-add). The positions themselves (``indices``,
``argsort``, ``searchsorted``...) are integers and carry no gradient.

Ties keep their original order (a stable sort) and NaN counts as larger than every
number, as in PyTorch: it comes last in an ascending sort and first in a descending one.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from minigrad.backend import xp_of
from minigrad.tensor import Tensor
from minigrad.ops.shape import _norm_dim
from minigrad.ops.index import gather

__all__ = ["sort", "argsort", "topk", "searchsorted", "bucketize", "isin"]

_Sorted = namedtuple("sort", ["values", "indices"])
_TopK = namedtuple("topk", ["values", "indices"])


def _order(a, axis, descending):
    """Positions that sort the array ``a`` along ``axis`` (stable; NaN largest)."""
    xp = xp_of(a)
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    # A stable descending order: sort the reversed array ascending, then read that
    # order backwards (equal elements then keep their original order).
    n = a.shape[axis]
    rev = xp.flip(a, axis=axis)
    idx = xp.flip(xp.argsort(rev, axis=axis, kind="stable"), axis=axis)
    return (n - 1) - idx


def _sort_dim(input, dim, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    return 0 if input.ndim == 0 else _norm_dim(dim, input.ndim, op)


def argsort(input, dim=-1, descending=False, stable=False):
    """The int64 indices that sort ``input`` along ``dim`` (ascending unless
    ``descending``). The sort is always stable: equal elements keep their order."""
    d = _sort_dim(input, dim, "argsort")
    a = input.array
    if a.ndim == 0:
        return Tensor(xp_of(a).zeros((), dtype=np.int64))
    return Tensor(_order(a, d, descending).astype(np.int64, copy=False))


def sort(input, dim=-1, descending=False, stable=False):
    """Sort along ``dim``: a ``(values, indices)`` pair, ``values = gather(input, dim, indices)``.

    Differentiable in ``values`` (the gradient flows back to where each value came from)."""
    d = _sort_dim(input, dim, "sort")
    if input.ndim == 0:
        return _Sorted(input * 1, Tensor(xp_of(input.array).zeros((), dtype=np.int64)))
    idx = argsort(input, d, descending)
    return _Sorted(gather(input, d, idx), idx)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or, with ``largest=False``, smallest) elements along ``dim``:
    a ``(values, indices)`` pair, best first. Differentiable in ``values``."""
    d = _sort_dim(input, dim, "topk")
    n = 1 if input.ndim == 0 else input.shape[d]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}")
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size {n} (valid: 0..{n})")
    if input.ndim == 0:
        return _TopK(input * 1, Tensor(xp_of(input.array).zeros((), dtype=np.int64)))
    order = _order(input.array, d, largest)
    key = (slice(None),) * d + (slice(0, int(k)),)
    idx = Tensor(order[key].astype(np.int64, copy=False))
    return _TopK(gather(input, d, idx), idx)


def _array_of(x, op, name):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, (int, float, bool, np.number, np.bool_)):
        return None
    raise TypeError(f"{op}: {name} must be a Tensor or a number, got {type(x).__name__}")


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value of ``input``, the index where it would be inserted into
    ``sorted_sequence`` (sorted along its last dim) to keep it sorted.

    ``right=False`` (``side="left"``) gives the first such index, ``right=True`` the
    last. A 1-D ``sorted_sequence`` serves every value; an N-D one must share its leading
    dims with ``input`` (each row is searched for the values of the matching row).
    ``sorter``: indices that sort an unsorted ``sorted_sequence``. int64 result (int32
    with ``out_int32``)."""
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted: side='left' and right=True contradict each other")
        right = side == "right"
    if not isinstance(sorted_sequence, Tensor):
        raise TypeError(f"searchsorted: sorted_sequence must be a Tensor, got {type(sorted_sequence).__name__}")
    seq = sorted_sequence.array
    xp = xp_of(seq)
    if seq.ndim == 0:
        raise RuntimeError("searchsorted: sorted_sequence must have at least 1 dimension, got a 0-d tensor")
    values = _array_of(input, "searchsorted", "input")
    scalar = values is None
    if scalar:
        if seq.ndim != 1:
            raise RuntimeError(f"searchsorted: a scalar input needs a 1-D sorted_sequence, got shape {seq.shape}")
        values = xp.asarray(input)
    if sorter is not None:
        order = sorter.array if isinstance(sorter, Tensor) else xp.asarray(sorter)
        if order.shape != seq.shape or order.dtype.kind not in "iu":
            raise RuntimeError(f"searchsorted: sorter must be an integer tensor of shape {seq.shape}, got "
                               f"shape {order.shape} dtype {order.dtype}")
        seq = xp.take_along_axis(seq, order, axis=-1)
    sd = "right" if right else "left"
    if seq.ndim == 1:
        out = xp.searchsorted(seq, values, side=sd)
    else:
        if values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(f"searchsorted: boundaries of shape {seq.shape} and input of shape {values.shape} "
                               "must have the same leading dims (all but the last), or boundaries must be 1-D")
        rows_s = seq.reshape(-1, seq.shape[-1])
        rows_v = values.reshape(-1, values.shape[-1])
        out = xp.stack([xp.searchsorted(s, v, side=sd) for s, v in zip(rows_s, rows_v)]).reshape(values.shape)
    return Tensor(xp.asarray(out).astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value of ``input`` given the sorted 1-D ``boundaries``: index
    ``i`` such that ``boundaries[i-1] < x <= boundaries[i]`` (``right=False``) or
    ``boundaries[i-1] <= x < boundaries[i]`` (``right=True``)."""
    if not isinstance(boundaries, Tensor) or boundaries.ndim != 1:
        shape = boundaries.shape if isinstance(boundaries, Tensor) else type(boundaries).__name__
        raise RuntimeError(f"bucketize: boundaries must be a 1-D tensor, got {shape}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """A bool tensor of ``elements``' shape: True where the element occurs in
    ``test_elements`` (False there with ``invert=True``). Either may be a number."""
    a = _array_of(elements, "isin", "elements")
    b = _array_of(test_elements, "isin", "test_elements")
    if a is None and b is None:
        raise TypeError("isin: at least one of elements and test_elements must be a Tensor")
    xp = xp_of(a if a is not None else b)
    a = xp.asarray(elements) if a is None else a
    b = xp.asarray(test_elements) if b is None else b
    return Tensor(xp.asarray(xp.isin(a, b, assume_unique=assume_unique, invert=invert)))
