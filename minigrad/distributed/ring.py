"""The ring all-reduce, written by hand on MPI point-to-point messages.

This is the algorithm behind NCCL's and Horovod's all-reduce, small enough to read
in one sitting. ``p`` processes stand in a ring: rank ``r`` sends to ``r + 1`` and
receives from ``r - 1`` (mod ``p``). The array is cut into ``p`` chunks.

1. **Reduce-scatter** (``p - 1`` steps). At step ``s`` every rank sends chunk
   ``r - s`` to its right neighbour and receives chunk ``r - s - 1`` from its left
   one, which it adds into its own copy. A chunk travels once around the ring
   collecting every rank's contribution; after ``p - 1`` steps rank ``r`` holds the
   complete sum of chunk ``r + 1``.
2. **All-gather** (``p - 1`` more steps). The same ring passes the finished chunks
   along: at step ``s`` rank ``r`` sends chunk ``r + 1 - s`` and receives chunk
   ``r - s``, which it stores. Afterwards every rank has every finished chunk.

Each rank sends ``2 (p - 1)`` chunks of ``n / p`` elements: ``2 (p - 1) / p`` of the
array, nearly ``2 n`` however many ranks there are. That is why the ring is
*bandwidth-optimal*: the time is set by the bytes each link carries, not by ``p``.
(The price is ``2 (p - 1)`` message latencies, which dominate for small arrays:
MPI libraries switch to tree algorithms there.)

:func:`ring_all_reduce` works on NumPy arrays with any size, divisible by ``p`` or
not (chunks differ by at most one element). Select it for every all-reduce of the
CPU backend with ``init_process_group("mpi", allreduce="ring")``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ring_all_reduce", "chunk_bounds", "ring_schedule"]

_COMBINE = {
    "sum": np.add,
    "avg": np.add,       # summed here, divided by p at the end
    "max": np.maximum,
    "min": np.minimum,
    "product": np.multiply,
}


def chunk_bounds(n, p):
    """``(start, stop)`` of each of the ``p`` chunks of ``n`` elements: the first
    ``n % p`` chunks get one element more, so sizes differ by at most one."""
    base, extra = divmod(n, p)
    bounds, start = [], 0
    for i in range(p):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def ring_schedule(rank, p):
    """The ring's plan for one rank: a list of ``(phase, send_chunk, recv_chunk)``
    per step, ``phase`` being ``"reduce-scatter"`` or ``"all-gather"``. The same
    plan drives :func:`ring_all_reduce` and the notebook's picture."""
    steps = []
    for s in range(p - 1):
        steps.append(("reduce-scatter", (rank - s) % p, (rank - s - 1) % p))
    for s in range(p - 1):
        steps.append(("all-gather", (rank + 1 - s) % p, (rank - s) % p))
    return steps


def ring_all_reduce(array, comm, op="sum"):
    """All-reduce ``array`` (a contiguous NumPy array, changed in place) over the MPI
    communicator ``comm`` with the ring algorithm; returns ``array``.

    ``op``: ``"sum"``, ``"avg"``, ``"max"``, ``"min"`` or ``"product"``. Every rank must
    call it with the same shape and dtype (the collectives of
    :mod:`minigrad.distributed` check that before calling it).
    """
    combine = _COMBINE.get(op)
    if combine is None:
        raise ValueError(f"ring_all_reduce: op must be one of {', '.join(_COMBINE)}, got {op!r}")
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise ValueError("ring_all_reduce: needs a C-contiguous NumPy array (it reduces in place)")
    p, rank = comm.Get_size(), comm.Get_rank()
    if p == 1:
        return array
    flat = array.reshape(-1)
    bounds = chunk_bounds(flat.size, p)
    right, left = (rank + 1) % p, (rank - 1) % p
    scratch = np.empty(max(b - a for a, b in bounds), dtype=flat.dtype)
    for phase, send, recv in ring_schedule(rank, p):
        (s0, s1), (r0, r1) = bounds[send], bounds[recv]
        if phase == "reduce-scatter":
            incoming = scratch[:r1 - r0]
            comm.Sendrecv(flat[s0:s1], dest=right, sendtag=send, recvbuf=incoming, source=left, recvtag=recv)
            combine(flat[r0:r1], incoming, out=flat[r0:r1])
        else:  # all-gather: the received chunk is final, store it
            comm.Sendrecv(flat[s0:s1], dest=right, sendtag=send, recvbuf=flat[r0:r1], source=left, recvtag=recv)
    if op == "avg":
        if flat.dtype.kind == "f":
            flat /= p
        else:
            flat //= p
    return array
