"""Datasets: anything with ``len(ds)`` and ``ds[i]``, as in ``torch.utils.data``.

* :class:`Dataset` - the base class: subclass it and write ``__len__`` and ``__getitem__``.
* :class:`TensorDataset` - a few arrays (or Tensors) that share their first axis;
  ``ds[i]`` is the tuple of their i-th rows. The DataLoader knows this class and
  slices whole batches out of the arrays at once instead of sample by sample.
* :class:`Subset` - a view of some indices of another dataset.
* :class:`ConcatDataset` - several datasets one after the other.
* :func:`random_split` - shuffle the indices once and cut them into Subsets.
"""
from __future__ import annotations

import bisect
import math
from typing import Sequence

import numpy as np

from . import _tensors
from ._random import as_generator

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: ``__len__`` and ``__getitem__(index)``."""

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _check_index(index, n, who):
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{who}: index must be an integer, got {type(index).__name__}")
    i = int(index)
    if i < -n or i >= n:
        raise IndexError(f"{who}: index {i} is out of range for a dataset of length {n}")
    return i + n if i < 0 else i


class TensorDataset(Dataset):
    """Arrays (or Tensors) that share their first dimension; sample ``i`` is the tuple
    of their ``i``-th rows.

    ``TensorDataset(X, y)`` with ``X`` of shape (N, ...) and ``y`` of shape (N,).
    Samples come back as the type that went in: NumPy arrays (and NumPy scalars for
    1-D inputs) for arrays, Tensors for Tensors. Batches from a DataLoader are
    always Tensors.

    ``transform`` (keyword only, minigrad-specific): applied to the first array's
    sample (e.g. augmentation of images). If it has an ``apply_batch`` method - all
    of :mod:`minigrad.data.transforms` do - the DataLoader calls that on whole
    batches, keeping the fast path.
    """

    def __init__(self, *tensors, transform=None):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one array or Tensor")
        self.is_tensor = [_tensors.is_tensor(t) for t in tensors]
        self.arrays = [_tensors.to_array(t) for t in tensors]
        n = self.arrays[0].shape[0] if self.arrays[0].ndim else None
        for a in self.arrays:
            if a.ndim == 0 or a.shape[0] != n:
                shapes = ", ".join(str(tuple(x.shape)) for x in self.arrays)
                raise ValueError(f"TensorDataset: all arrays must have the same first dimension "
                                 f"(the number of samples); got shapes {shapes}")
        self.transform = transform

    @property
    def tensors(self):
        """The stored data as given (arrays stay arrays, Tensors become Tensors again)."""
        return tuple(_tensors.wrap(a) if t else a for a, t in zip(self.arrays, self.is_tensor))

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        i = _check_index(index, len(self), "TensorDataset")
        out = []
        for k, (a, t) in enumerate(zip(self.arrays, self.is_tensor)):
            x = a[i]
            if k == 0 and self.transform is not None:
                x = self.transform(x)
            if t:
                x = _tensors.wrap(np.asarray(x) if isinstance(x, np.generic) else x)
            out.append(x)
        return tuple(out)

    def __repr__(self):
        shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"Subset: indices must be a 1-D sequence of integers, got "
                            f"array of shape {idx.shape} and dtype {idx.dtype}")
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"Subset: index {int(bad)} is out of range for a dataset of length {n}")
        self.indices = np.where(idx < 0, idx + n, idx).astype(np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        i = _check_index(index, len(self), "Subset")
        return self.dataset[int(self.indices[i])]

    def __repr__(self):
        return f"Subset({self.dataset!r}, {len(self)} samples)"


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        i = _check_index(index, len(self), "ConcatDataset")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][i - start]


def random_split(dataset, lengths: Sequence, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    ``lengths`` are either counts that add up to ``len(dataset)`` or fractions that
    add up to 1 (``[0.8, 0.2]``); with fractions, each part gets ``floor(f * n)``
    and the leftover samples go one each to the first parts, as in PyTorch.
    ``generator``: None (the global generator, seeded by ``minigrad.manual_seed``),
    an int seed, a :class:`minigrad.Generator` or a ``numpy.random.Generator``.
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(x, (float, np.floating)) for x in lengths) and math.isclose(sum(lengths), 1.0):
        if any(x < 0 for x in lengths):
            raise ValueError(f"random_split: fractions must be >= 0, got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, (float, np.floating)) for x in lengths):
        raise ValueError(f"random_split: lengths must be integers adding up to {n} "
                         f"or fractions adding up to 1, got {lengths}")
    if any(x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} add up to {sum(lengths)}, but the "
                         f"dataset has {n} samples")
    perm = as_generator(generator, "random_split").permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out
