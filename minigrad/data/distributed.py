"""DistributedSampler: each process of a data-parallel job gets its own share of a
data set, as ``torch.utils.data.DistributedSampler`` does.

With ``p`` processes, every epoch the indices ``0 .. n-1`` are put in one order -
the same on every rank, because every rank draws it from the same seed (``seed +
epoch``) - and rank ``r`` takes every ``p``-th index starting at ``r``. The shares
are disjoint and, together, cover the data set once::

    sampler = DistributedSampler(train_set, shuffle=True, seed=0)   # rank and size from minigrad.distributed
    loader = DataLoader(train_set, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)          # a new order each epoch, still the same on every rank
        for xb, yb in loader: ...

When ``n`` does not divide by ``p`` the shares must still be equal (each rank takes
the same number of steps, or the all-reduce of the last step would wait forever):
``drop_last=False`` repeats the first few indices of the order to fill the last
round, ``drop_last=True`` leaves the last ``n % p`` out.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad import _checks

__all__ = ["DistributedSampler"]


def _is_int(x):
    return not isinstance(x, (bool, np.bool_)) and isinstance(x, (int, np.integer))


class DistributedSampler:
    """The indices of ``dataset`` that this rank trains on, one epoch at a time.

    Args:
        dataset: anything with a length.
        num_replicas: the number of processes (default: the world size of
            :mod:`minigrad.distributed`, or 1 when it is not initialized).
        rank: this process's rank (default: from :mod:`minigrad.distributed`, or 0).
        shuffle: a new order every epoch (from ``seed + epoch``); False keeps ``0..n-1``.
        seed: the seed of the order; it must be the same on every rank.
        drop_last: drop the tail that does not divide by ``num_replicas`` (True), or
            repeat indices from the start to pad it (False).

    ``len(sampler)`` is the number of indices per rank; iterating gives them as ints.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        who = "DistributedSampler"
        if num_replicas is None or rank is None:
            from minigrad import distributed as dist

            initialized = dist.is_initialized()
            if num_replicas is None:
                num_replicas = dist.get_world_size() if initialized else 1
            if rank is None:
                rank = dist.get_rank() if initialized else 0
        _checks.count(num_replicas, who, "num_replicas")
        if not _is_int(rank) or not 0 <= rank < num_replicas:
            raise ValueError(f"{who}: rank must be an integer in [0, {num_replicas - 1}] for num_replicas="
                             f"{num_replicas}, got {rank!r}")
        if not _is_int(seed):
            raise TypeError(f"{who}: seed must be an integer (the same on every rank), got {seed!r}")
        try:
            n = len(dataset)
        except TypeError:
            raise TypeError(f"{who}: the dataset must have a length, got {type(dataset).__name__}") from None
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Use the order of epoch ``epoch`` (call it at the start of every epoch, with
        the same value on every rank; without it every epoch repeats the first order)."""
        if not _is_int(epoch) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def indices(self):
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:  # pad by repeating the order from its start (as often as needed)
            reps = math.ceil(self.total_size / max(n, 1))
            order = np.tile(order, reps)[:self.total_size]
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler({len(self.dataset)} samples, rank {self.rank} of {self.num_replicas}, "
                f"{self.num_samples} per rank, shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, "
                f"drop_last={self.drop_last})")
