"""The GPU backend: NCCL collectives on CuPy arrays (``init_process_group("nccl")``).

One process per GPU, launched by ``mpiexec`` like the CPU backend. MPI does the
start-up; NCCL moves the gradients GPU to GPU (NVLink, PCIe or the network):

1. MPI gives every process its rank and the world size, and the rank *within its
   machine* (``local_rank``), which picks the GPU: ``cupy.cuda.Device(local_rank)``.
2. Rank 0 asks NCCL for a unique id (``nccl.get_unique_id()``, 128 bytes naming the
   new communicator) and broadcasts it to everyone over MPI - NCCL has no launcher of
   its own, so it needs some other channel for this one message.
3. Every rank builds ``NcclCommunicator(world_size, unique_id, rank)``; from then on
   collectives take device pointers and a CUDA stream and never touch the CPU.

Collectives are enqueued on a side stream after the current stream's work (so the
gradient is complete before it is sent); ``Work.wait`` makes the current stream wait
for them. Objects (metadata checks, ``all_gather_object``) and ``barrier`` still go
through MPI.

Status: this backend is tested without a GPU only (its start-up, the unique-id
broadcast and the mapping of dtypes and reductions to NCCL's, against a stand-in for
``cupy.cuda.nccl``); it has not yet been run on a GPU.
"""
from __future__ import annotations

__all__ = ["NCCLProcessGroup", "nccl_dtype", "nccl_op", "exchange_unique_id"]

_DTYPES = {
    "float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
    "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
}
_OPS = {"sum": "NCCL_SUM", "avg": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN", "product": "NCCL_PROD"}


def nccl_dtype(nccl, dtype):
    """NCCL's constant for a NumPy/CuPy dtype; a clear TypeError for one NCCL lacks."""
    name = _DTYPES.get(str(dtype))
    if name is None:
        raise TypeError(f"nccl backend: dtype {dtype} cannot be communicated; NCCL supports "
                        f"{', '.join(_DTYPES)}")
    return getattr(nccl, name)


def nccl_op(nccl, op):
    """NCCL's constant for a reduction name (``avg`` is a sum, divided afterwards)."""
    return getattr(nccl, _OPS[op])


def exchange_unique_id(nccl, comm):
    """Rank 0 makes the NCCL unique id and broadcasts it over the MPI communicator
    ``comm``; every rank returns the same id."""
    uid = nccl.get_unique_id() if comm.Get_rank() == 0 else None
    return comm.bcast(uid, root=0)


def local_rank(comm, MPI):
    """This process's rank among the processes of its own machine (picks its GPU)."""
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return node.Get_rank()
    finally:
        node.Free()


class _EventRequest:
    """An MPI-request-like wrapper (``Test``/``Wait``) around a CUDA event recorded on
    the communication stream after a collective."""

    def __init__(self, cupy, event):
        self.cupy = cupy
        self.event = event

    def Test(self):
        return self.event.done

    def Wait(self):
        self.cupy.cuda.get_current_stream().wait_event(self.event)


class NCCLProcessGroup:
    """Collectives on CuPy arrays through an NCCL communicator; MPI (``comm``) for
    start-up, objects and barriers. ``cupy`` and ``nccl`` are the modules (passed in
    so that tests can give stand-ins)."""

    backend = "nccl"
    allreduce_algorithm = "nccl"

    def __init__(self, comm, MPI, cupy, nccl):
        from minigrad.distributed.backends import Work

        self._Work = Work
        self.comm, self.MPI, self.cupy, self.nccl = comm, MPI, cupy, nccl
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        n_gpus = cupy.cuda.runtime.getDeviceCount()
        if n_gpus < 1:
            raise RuntimeError("init_process_group('nccl'): this machine has no CUDA GPU; use the 'mpi' "
                               "backend for CPU training")
        self.local_rank = local_rank(comm, MPI)
        self.device = cupy.cuda.Device(self.local_rank % n_gpus)
        self.device.use()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        uid = exchange_unique_id(nccl, comm)
        self.nccl_comm = nccl.NcclCommunicator(self.size, uid, self.rank)

    def _check(self, array, who):
        if not hasattr(array, "__cuda_array_interface__"):
            raise TypeError(f"{who}: the nccl backend communicates GPU tensors; got a "
                            f"{type(array).__name__} (move the tensor with .to('cuda'), or use the "
                            f"'mpi' backend for CPU tensors)")

    def _launch(self, fn):
        """Run ``fn(stream_ptr)`` on the side stream after the current stream's work;
        return an event recorded after it."""
        cur = self.cupy.cuda.get_current_stream()
        self.stream.wait_event(cur.record())
        fn(self.stream.ptr)
        return self.stream.record()

    def _finish_avg(self, array, op):
        if op == "avg":
            if array.dtype.kind in "fc":
                array /= self.size
            else:
                array //= self.size

    def iallreduce(self, array, op):
        """Enqueue the all-reduce of ``array`` (in place); a :class:`Work` to wait on."""
        self._check(array, "all_reduce")
        nccl = self.nccl
        event = self._launch(lambda s: self.nccl_comm.allReduce(
            array.data.ptr, array.data.ptr, array.size, nccl_dtype(nccl, array.dtype), nccl_op(nccl, op), s))
        return self._Work(_EventRequest(self.cupy, event), lambda: self._finish_avg(array, op))

    def allreduce(self, array, op):
        """All-reduce ``array`` in place (ordered before later work on the current stream)."""
        self.iallreduce(array, op).wait()
        return array

    def broadcast(self, array, src):
        """``array`` becomes rank ``src``'s, in place."""
        self._check(array, "broadcast")
        nccl = self.nccl
        event = self._launch(lambda s: self.nccl_comm.bcast(
            array.data.ptr, array.size, nccl_dtype(nccl, array.dtype), src, s))
        _EventRequest(self.cupy, event).Wait()
        return array

    def allgather(self, array, out):
        """``out[i]`` gets rank ``i``'s ``array``."""
        self._check(array, "all_gather")
        nccl = self.nccl
        array = self.cupy.ascontiguousarray(array)
        event = self._launch(lambda s: self.nccl_comm.allGather(
            array.data.ptr, out.data.ptr, array.size, nccl_dtype(nccl, array.dtype), s))
        _EventRequest(self.cupy, event).Wait()

    def reduce_scatter(self, out, stacked, op):
        """``out`` on rank ``i`` gets the reduction of ``stacked[i]`` over ranks."""
        self._check(out, "reduce_scatter")
        nccl = self.nccl
        stacked = self.cupy.ascontiguousarray(stacked)
        event = self._launch(lambda s: self.nccl_comm.reduceScatter(
            stacked.data.ptr, out.data.ptr, out.size, nccl_dtype(nccl, out.dtype), nccl_op(nccl, op), s))
        _EventRequest(self.cupy, event).Wait()
        self._finish_avg(out, op)

    def allgather_object(self, obj):
        """Every rank's ``obj``, in rank order (over MPI)."""
        return self.comm.allgather(obj)

    def barrier(self):
        """Wait for this rank's GPU work, then for every rank (MPI barrier)."""
        self.cupy.cuda.get_current_stream().synchronize()
        self.comm.Barrier()

    def abort(self, code=1):
        """Abort the NCCL communicator, then the whole MPI job."""
        try:
            self.nccl_comm.abort()
        finally:
            self.comm.Abort(code)

    def close(self):
        """Destroy the NCCL communicator and free the MPI one."""
        if self.nccl_comm is not None:
            self.nccl_comm.destroy()
            self.nccl_comm = None
        if self.comm is not None and self.comm != self.MPI.COMM_WORLD:
            self.comm.Free()
        self.comm = None
