"""Native embedding gather and scatter-add (Numba).

Same signatures and maths as :mod:`minigrad.kernels.reference.embedding`.

* Forward is a gather: each output row is a copy of one table row, rows are
  independent, so ``prange`` runs over them.
* Backward is a scatter-add, and repeated indices make it a *race*: two threads
  adding into the same table row at the same time would lose updates. The kernel
  avoids locks by splitting the **columns** instead of the rows: each task owns a
  band of columns of the whole gradient table and walks every index, so no two
  tasks ever write the same element. (When the table has fewer than 2 bands of
  columns it runs on one thread.)
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import _runtime
from .softmax import serial_below
from .._families import native_tables

__all__ = ["embedding_forward", "embedding_backward", "KERNELS", "PREFERRED", "warmup"]

_JIT = dict(cache=True, nogil=True)
BAND = 64  # columns per backward task


@njit(parallel=True, **_JIT)
def _gather(weight, idx, out):
    for n in prange(idx.shape[0]):
        src = weight[idx[n]]
        dst = out[n]
        for c in range(src.shape[0]):
            dst[c] = src[c]


@njit(parallel=True, **_JIT)
def _scatter_add(gy, idx, gw, padding_idx):
    N, D = gy.shape
    bands = (D + BAND - 1) // BAND
    for k in prange(bands):
        c0 = k * BAND
        c1 = min(D, c0 + BAND)
        for n in range(N):
            i = idx[n]
            if i == padding_idx:
                continue
            src = gy[n, c0:c1]
            dst = gw[i, c0:c1]
            for c in range(c1 - c0):
                dst[c] += src[c]


def _indices(indices, num_embeddings, op):
    idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        bad = idx[(idx < 0) | (idx >= num_embeddings)][0]
        raise IndexError(f"{op}: index {bad} is out of range for a table of {num_embeddings} rows")
    return idx


def embedding_forward(weight, indices):
    """``weight[indices]``: shape indices.shape + (D,)."""
    _runtime.configure()
    if weight.dtype not in (np.float32, np.float64):
        return np.take(weight, indices, axis=0)
    w = np.ascontiguousarray(weight)
    idx = _indices(indices, w.shape[0], "embedding_forward")
    out = np.empty((idx.shape[0], w.shape[1]), w.dtype)
    if out.size:
        with serial_below(out.size, 65536):
            _gather(w, idx, out)
    return out.reshape(tuple(np.shape(indices)) + (w.shape[1],))


def embedding_backward(gy, indices, num_embeddings, padding_idx=None):
    """Scatter-add ``gy`` into a (num_embeddings, D) gradient; row ``padding_idx`` stays 0."""
    _runtime.configure()
    D = gy.shape[-1]
    idx = _indices(indices, num_embeddings, "embedding_backward")
    g = np.ascontiguousarray(gy).reshape(-1, D)
    if g.dtype not in (np.float32, np.float64):
        g = g.astype(np.float64)
    gw = np.zeros((num_embeddings, D), g.dtype)
    if g.size:
        with serial_below(g.size, 65536):
            _scatter_add(g, idx, gw, -1 if padding_idx is None else int(padding_idx))
    return gw


KERNELS, PREFERRED = native_tables("embedding", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) the embedding kernels by calling each once on
    tiny inputs of each of ``dtypes``, so the first real call is not slowed by compilation."""
    idx = np.array([0, 1, 1])
    for dt in dtypes:
        w = np.zeros((3, 2), dt)
        out = embedding_forward(w, idx)
        embedding_backward(out, idx, 3, None)
