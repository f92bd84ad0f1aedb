"""Seed system: the seed CNN trained data-parallel, one process per core.

``mpiexec -n 2 python -m minigrad demo --distributed`` runs :func:`run_demo` in two
processes: each holds the whole :class:`~minigrad.examples.cnn.SeedCNN`, wrapped in
:class:`~minigrad.nn.parallel.DistributedDataParallel`, and trains on its half of
every batch of the shipped MNIST digits (:func:`~minigrad.train.fit` shards the data
with a :class:`~minigrad.data.DistributedSampler`); the gradients are averaged across
the processes during ``backward``, so both copies take the same Adam steps. The recipe
is :func:`~minigrad.examples.cnn.mnist_cnn`'s, with ``data_parallel=True``: the same
global batch, epochs and accuracy target as the single-process demo, and the same
results table.

Started without ``mpiexec`` it runs as a job of one process.
"""
from __future__ import annotations

import time

from minigrad.examples.cnn import mnist_cnn

__all__ = ["run_demo"]


def run_demo(level="default", progress=True, seed=0):
    """What ``python -m minigrad demo --distributed`` runs in every process: the
    data-parallel seed CNN; rank 0 prints the demo's results table. Returns the exit
    status (0 when the target accuracy was reached), the same on every rank.

    An exception on any rank ends the whole job with that rank's traceback
    (``init_process_group`` installs the hook that does it)."""
    import sys

    import minigrad.distributed as dist
    from minigrad.__main__ import format_table

    dist.init_process_group("mpi")
    p, rank = dist.get_world_size(), dist.get_rank()
    if p == 1 and progress:
        hint = "" if dist.is_available() else f" (after {dist.INSTALL_HINT})"
        print("minigrad demo --distributed: one process; launch several with\n"
              f"    mpiexec -n 2 python -m minigrad demo --distributed{hint}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    r = mnist_cnn(progress=progress, seed=seed, level=level, data_parallel=True)
    total = time.perf_counter() - t0
    if rank == 0:
        print()
        print(f"minigrad demo --distributed ({level}): 1 system trained by {p} process{'es' if p > 1 else ''} "
              f"in {total:.1f} s")
        print()
        print(format_table([r]))
        if r.get("passed") is False:
            print()
            print(f"did not reach the target: {r['name']}")
        sys.stdout.flush()
    dist.destroy_process_group()
    return 1 if r.get("passed") is False else 0
