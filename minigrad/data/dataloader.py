"""DataLoader: turn a dataset into an iterable of mini-batches.

One epoch of ``for xb, yb in loader`` does three things:

1. order the indices ``0 .. len(dataset)-1`` - shuffled once per epoch if
   ``shuffle=True`` (drawn from ``generator``, or from minigrad's global generator
   so that ``minigrad.manual_seed`` makes it repeatable);
2. cut them into chunks of ``batch_size`` (the last one smaller, or dropped with
   ``drop_last=True``);
3. for each chunk, fetch the samples and ``collate`` them into one batch.

Step 3 is where time goes. Fetching 128 samples one ``dataset[i]`` at a time and
stacking them costs a Python call per sample; when the dataset is a
:class:`TensorDataset` (or a :class:`Subset` of one) the loader instead indexes each
whole array with the chunk's index array, ``X[idx]``, which NumPy does in one call.
That path gives the same batches as the per-sample path (tests check it), only faster.

``DataLoader(..., device="cuda")`` copies each batch to a device as it is yielded
(data sets stay in host memory; only the current batch lives on the GPU), and
:func:`to_device` does the same for any batch: ``xb, yb = to_device(batch, "cuda")``.
"""
from __future__ import annotations

import collections.abc
import math

import numpy as np

from . import _tensors
from ._random import as_generator
from .dataset import Subset, TensorDataset
from minigrad import _checks

__all__ = ["DataLoader", "default_collate", "to_device"]


def _stack(arrays):
    xp = np
    if not isinstance(arrays[0], np.ndarray):
        from minigrad.backend import xp_of
        xp = xp_of(arrays[0])
    return xp.stack(arrays)


def default_collate(batch):
    """Merge a list of samples into a batch, the way ``torch.utils.data.default_collate`` does.

    * Tensors and NumPy arrays -> one Tensor, stacked along a new first axis (dtype kept);
    * Python ints -> an int64 Tensor; Python floats -> minigrad's default float
      dtype (float32; PyTorch uses float64 here, which then clashes with float32
      model outputs); bools -> bool; NumPy scalars keep their dtype;
    * strings -> a list of strings;
    * dicts -> a dict with each key collated; tuples/lists/namedtuples -> the same
      kind of container with each position collated (so ``(x, y)`` samples give
      an ``(xb, yb)`` batch).
    """
    if len(batch) == 0:
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    if _tensors.is_tensor(elem):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: cannot stack Tensors of different shapes {sorted(shapes)}")
        return _tensors.wrap(_stack([b.array for b in batch]))
    if isinstance(elem, np.ndarray) or hasattr(elem, "__cuda_array_interface__"):
        if elem.dtype.kind in "OUSV":
            raise TypeError(f"default_collate: cannot batch arrays of dtype {elem.dtype} "
                            f"into a Tensor; use a custom collate_fn")
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: cannot stack arrays of different shapes {sorted(shapes)}; "
                             f"pad them or pass a collate_fn")
        return _tensors.wrap(_stack(list(batch)))
    if isinstance(elem, (bool, np.bool_)):
        return _tensors.wrap(np.array(batch, dtype=bool))
    if isinstance(elem, np.generic):
        return _tensors.wrap(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, int):
        return _tensors.wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _tensors.wrap(np.array(batch, dtype=_tensors.default_float_dtype()))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        lengths = {len(b) for b in batch}
        if len(lengths) > 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(lengths)}")
        columns = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(columns) if isinstance(elem, tuple) else columns
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(elem).__name__}; "
                    f"samples may be Tensors, NumPy arrays, numbers, strings, or dicts/tuples/lists "
                    f"of those - or pass a collate_fn")


def to_device(batch, device):
    """``batch`` with every Tensor (and NumPy/CuPy array) copied to ``device``.

    Works through tuples, lists, namedtuples and dicts, like :func:`default_collate`;
    strings and numbers pass through. Arrays become arrays on the device, Tensors
    Tensors (``t.to(device)``: no copy when a tensor is already there).

    >>> xb, yb = to_device(next(iter(loader)), "cuda")
    """
    from minigrad import backend

    if _tensors.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, np.ndarray) or hasattr(batch, "__cuda_array_interface__"):
        return backend.to_device(batch, device)
    if isinstance(batch, collections.abc.Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _fast_source(dataset):
    """(TensorDataset, index map or None) if batches can be sliced from whole arrays."""
    index_map = None
    while isinstance(dataset, Subset):
        index_map = dataset.indices if index_map is None else dataset.indices[index_map]
        dataset = dataset.dataset
    if type(dataset) is TensorDataset:
        return dataset, index_map
    return None, None


def _take(array, idx):
    if isinstance(array, np.ndarray):
        return array[idx]
    from minigrad.backend import xp_of
    return array[xp_of(array).asarray(idx)]


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    ``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False,
    collate_fn=None, generator=None)``, as in PyTorch:

    * ``shuffle``: a new random order every epoch (every ``iter(loader)``);
    * ``generator``: where the order comes from - None (minigrad's global generator,
      so ``minigrad.manual_seed`` makes it reproducible), an int seed (a private
      generator made once, so epochs differ but a rerun repeats them), or a
      :class:`minigrad.Generator` / ``numpy.random.Generator`` (re-seeding it
      restarts the order);
    * ``sampler``: an iterable of indices giving the order instead (e.g. a
      :class:`~minigrad.data.DistributedSampler`: this process's share of the data);
      it excludes ``shuffle``, and ``len(sampler)`` samples make an epoch;
    * ``collate_fn``: merges a list of samples into a batch (default:
      :func:`default_collate`, which makes Tensors);
    * ``len(loader)`` is the number of batches per epoch.

    * ``device``: where batches are delivered (None: left where collate made them,
      the CPU for in-memory data); ``device="cuda"`` copies each batch to the GPU with
      :func:`to_device` as it is yielded.

    ``num_workers`` is accepted for compatibility and must be 0: minigrad loads in
    the main process (for in-memory data the fast path is quicker than workers).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False,
                 collate_fn=None, generator=None, num_workers=0, device=None, sampler=None):
        _checks.count(batch_size, "DataLoader", "batch_size")
        if num_workers != 0:
            raise ValueError(f"DataLoader: num_workers={num_workers!r} is not supported; minigrad "
                             f"loads batches in the main process (use num_workers=0)")
        try:
            len(dataset)
        except TypeError:
            raise TypeError(f"DataLoader: the dataset must have a length (__len__) and items "
                            f"(__getitem__); got {type(dataset).__name__}") from None
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler "
                             "decides the order; e.g. DistributedSampler(..., shuffle=True))")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        # an int seed becomes one generator now: successive epochs differ, reruns repeat
        self.generator = as_generator(generator, "DataLoader") if generator is not None else None
        self.device = None
        if device is not None:
            from minigrad import backend

            try:
                self.device = backend.device(device)
            except (TypeError, ValueError) as e:
                raise ValueError(f"DataLoader: invalid device {device!r}: {e}") from None
            backend.array_module(self.device)  # a GPU that is not there fails here, not mid-epoch

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.int64)
        n = len(self.dataset)
        if self.shuffle:
            gen = self.generator if self.generator is not None else as_generator(None)
            return gen.permutation(n)
        return np.arange(n)

    def __iter__(self):
        if self.device is None:
            return self._batches()
        return (to_device(b, self.device) for b in self._batches())

    def _batches(self):
        order = self._order()
        n_batches = len(self)
        source, index_map = (None, None) if self.collate_fn is not None else _fast_source(self.dataset)
        for b in range(n_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if source is not None:
                yield self._fast_batch(source, idx if index_map is None else index_map[idx])
            else:
                samples = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or default_collate)(samples)

    @staticmethod
    def _fast_batch(ds, idx):
        columns = []
        for k, a in enumerate(ds.arrays):
            x = _take(a, idx)  # fancy indexing copies: the batch owns its memory
            if k == 0 and ds.transform is not None:
                if hasattr(ds.transform, "apply_batch"):
                    x = ds.transform.apply_batch(x)
                else:
                    x = _stack([_tensors.to_array(ds.transform(row)) for row in x])
            columns.append(_tensors.wrap(x))
        return tuple(columns)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, "
                + (f"device='{self.device}', " if self.device is not None else "") + f"{len(self)} batches)")
