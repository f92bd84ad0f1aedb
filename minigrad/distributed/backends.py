"""The process groups behind :mod:`minigrad.distributed`: who moves the bytes.

A process group knows its rank and size and runs collectives on raw arrays, in
place. Three of them:

* :class:`SingleProcessGroup` - a world of one process, no MPI needed: every
  collective is the identity (a sum over one rank is the value itself).
* :class:`MPIProcessGroup` - MPI through ``mpi4py``: CPU arrays, MPI's own
  ``Allreduce`` (or the hand-written ring of :mod:`minigrad.distributed.ring`),
  nonblocking ``Iallreduce`` for overlapping communication with computation.
* :class:`~minigrad.distributed.nccl.NCCLProcessGroup` - NCCL through CuPy for GPU
  arrays, with MPI for starting up (see :mod:`minigrad.distributed.nccl`).

The collectives of :mod:`minigrad.distributed` validate their arguments and then
call these; :class:`~minigrad.nn.parallel.DistributedDataParallel` calls them
directly (it checks its buckets once, when it is built).
"""
from __future__ import annotations

import numpy as np

from minigrad.distributed.ring import ring_all_reduce

__all__ = ["Work", "SingleProcessGroup", "MPIProcessGroup", "mpi_op"]


class Work:
    """A handle on a collective that may still be running (``async_op=True``), as in
    PyTorch: ``wait()`` blocks until it has finished, ``is_completed()`` asks without
    blocking. ``then`` (optional) runs once, after completion (e.g. dividing by the
    world size for an average)."""

    def __init__(self, request=None, then=None):
        self._request = request
        self._then = then
        self._done = request is None
        if self._done and then is not None:
            then()
            self._then = None

    def is_completed(self) -> bool:
        """True once the collective has finished (also lets MPI make progress)."""
        if not self._done and self._request.Test():
            self._finish()
        return self._done

    def wait(self) -> bool:
        """Block until the collective has finished; returns True."""
        if not self._done:
            self._request.Wait()
            self._finish()
        return True

    def _finish(self):
        self._done = True
        if self._then is not None:
            then, self._then = self._then, None
            then()


def _divide(array, p):
    if array.dtype.kind in "fc":
        array /= p
    else:
        array //= p


class SingleProcessGroup:
    """The world of one process (``init_process_group`` without ``mpiexec``): rank 0 of
    1, every collective leaves its data as it is. Needs no MPI."""

    backend = "single"
    allreduce_algorithm = "none"

    def __init__(self):
        self.rank = 0
        self.size = 1

    def allreduce(self, array, op):
        """In place; a reduction over one rank is the value itself."""
        return array

    def iallreduce(self, array, op):
        """:meth:`allreduce` behind a :class:`Work` that is already complete."""
        return Work()

    def broadcast(self, array, src):
        """Nothing to send."""
        return array

    def allgather(self, array, out):
        """``out`` (shape ``(1, *array.shape)``) gets ``array``."""
        out[0] = array

    def reduce_scatter(self, out, stacked, op):
        """``out`` gets the one row of ``stacked``."""
        out[...] = stacked[0]

    def allgather_object(self, obj):
        """``[obj]``."""
        return [obj]

    def barrier(self):
        """Nothing to wait for."""

    def abort(self, code=1):
        """Exit the process."""
        raise SystemExit(code)

    def close(self):
        """Nothing to release."""


def mpi_op(MPI, op):
    """The MPI reduction of a :class:`~minigrad.distributed.ReduceOp` name."""
    return {"sum": MPI.SUM, "avg": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "product": MPI.PROD}[op]


class MPIProcessGroup:
    """Collectives over an MPI communicator (``mpi4py``) on NumPy arrays.

    ``algorithm="mpi"`` uses MPI's ``Allreduce`` / ``Iallreduce`` (the library picks
    its algorithm by message size); ``algorithm="ring"`` runs every all-reduce through
    :func:`~minigrad.distributed.ring.ring_all_reduce`, the one written by hand on
    point-to-point messages (blocking: its nonblocking form completes at once).
    """

    backend = "mpi"

    def __init__(self, comm, MPI, algorithm="mpi"):
        self.comm = comm
        self.MPI = MPI
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.allreduce_algorithm = algorithm

    def allreduce(self, array, op):
        """Reduce ``array`` (C-contiguous) over all ranks, in place."""
        if self.allreduce_algorithm == "ring":
            return ring_all_reduce(array, self.comm, op)
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=mpi_op(self.MPI, op))
        if op == "avg":
            _divide(array, self.size)
        return array

    def iallreduce(self, array, op):
        """Start reducing ``array`` in place; returns a :class:`Work`. With the MPI
        algorithm this is ``Iallreduce``: the call returns at once and the reduction
        proceeds while the caller computes (MPI advances it inside later MPI calls,
        such as ``Work.is_completed``)."""
        then = (lambda: _divide(array, self.size)) if op == "avg" else None
        if self.allreduce_algorithm == "ring":
            ring_all_reduce(array, self.comm, op)
            return Work()
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=mpi_op(self.MPI, op))
        return Work(request, then)

    def broadcast(self, array, src):
        """``array`` on every rank becomes rank ``src``'s, in place."""
        self.comm.Bcast(array, root=src)
        return array

    def allgather(self, array, out):
        """``out[i]`` (``out`` has shape ``(size, *array.shape)``) gets rank ``i``'s ``array``."""
        self.comm.Allgather(np.ascontiguousarray(array), out)

    def reduce_scatter(self, out, stacked, op):
        """``out`` on rank ``i`` gets the reduction over ranks of ``stacked[i]``."""
        self.comm.Reduce_scatter_block(np.ascontiguousarray(stacked), out, op=mpi_op(self.MPI, op))
        if op == "avg":
            _divide(out, self.size)

    def allgather_object(self, obj):
        """Every rank's ``obj`` (any picklable value), in rank order."""
        return self.comm.allgather(obj)

    def barrier(self):
        """Wait until every rank has called it."""
        self.comm.Barrier()

    def abort(self, code=1):
        """End every process of the job now (``MPI_Abort``)."""
        self.comm.Abort(code)

    def close(self):
        """Release the communicator (a duplicate of ``COMM_WORLD``)."""
        if self.comm is not None and self.comm != self.MPI.COMM_WORLD:
            self.comm.Free()
        self.comm = None
