"""minigrad/distributed/nccl.py: the NCCL backend's start-up and calls against stand-ins
for mpi4py, CuPy and ``cupy.cuda.nccl`` (no GPU needed)."""
import sys
import types

import numpy as np
import pytest

import minigrad.distributed as dist
from minigrad.distributed import nccl as nccl_backend

pytestmark = pytest.mark.distributed


def _fake_mpi_module(rank, size):
    class Comm:
        def Get_rank(self):
            return rank

        def Get_size(self):
            return size

        def Dup(self):
            return self

        def Free(self):
            pass

        def Split_type(self, kind, key=0):
            return self

        def bcast(self, obj, root=0):
            Comm.bcast_calls.append((rank, obj, root))
            return obj if rank == root else Comm.root_value

        def allgather(self, obj):
            return [obj] * size

        def Barrier(self):
            pass

        def Abort(self, code):
            raise SystemExit(code)

    Comm.bcast_calls = []
    Comm.root_value = None
    return types.SimpleNamespace(COMM_WORLD=Comm(), COMM_TYPE_SHARED=1, Comm=Comm)


class _FakeArray(np.ndarray):
    """A NumPy array that looks like a CuPy one to the backend (a device pointer)."""

    @property
    def __cuda_array_interface__(self):
        return {}

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


def _fake_cupy_and_nccl(n_gpus=2):
    calls = []

    class Event:
        done = True

    class Stream:
        def __init__(self, non_blocking=False):
            self.ptr = 1234

        def record(self):
            return Event()

        def wait_event(self, e):
            calls.append(("wait_event",))

        def synchronize(self):
            pass

    current = Stream()

    class Device:
        def __init__(self, i):
            self.id = i

        def use(self):
            calls.append(("use", self.id))

    class Comm:
        def __init__(self, ndev, uid, rank):
            calls.append(("NcclCommunicator", ndev, uid, rank))

        def allReduce(self, send, recv, count, dtype, op, stream):
            calls.append(("allReduce", send, recv, count, dtype, op, stream))

        def bcast(self, buf, count, dtype, root, stream):
            calls.append(("bcast", buf, count, dtype, root, stream))

        def destroy(self):
            calls.append(("destroy",))

    nccl = types.SimpleNamespace(
        get_unique_id=lambda: calls.append(("get_unique_id",)) or tuple(range(128)), NcclCommunicator=Comm,
        NCCL_FLOAT16=6, NCCL_FLOAT32=7, NCCL_FLOAT64=8, NCCL_INT8=0, NCCL_UINT8=1, NCCL_INT32=2, NCCL_INT64=4,
        NCCL_SUM=0, NCCL_PROD=1, NCCL_MAX=2, NCCL_MIN=3)
    cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: n_gpus), Device=Device,
                                 Stream=Stream, get_current_stream=lambda: current)
    cupy = types.SimpleNamespace(cuda=cuda, ascontiguousarray=np.ascontiguousarray)
    return cupy, nccl, calls


def test_nccl_without_cupy_says_what_to_install(no_mpi, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "1")
    fake_mpi = _fake_mpi_module(rank=0, size=1)
    monkeypatch.setitem(sys.modules, "mpi4py", types.SimpleNamespace(MPI=fake_mpi))
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", fake_mpi)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"CuPy built with NCCL.*minigrad\[cuda12\]"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_nccl_unique_id_is_made_on_rank_0_and_broadcast_over_mpi():
    for rank in (0, 1, 2):
        MPI = _fake_mpi_module(rank, 3)
        MPI.Comm.root_value = "uid-from-rank-0"
        cupy, nccl, calls = _fake_cupy_and_nccl()
        got = nccl_backend.exchange_unique_id(nccl, MPI.COMM_WORLD)
        assert (("get_unique_id",) in calls) == (rank == 0)
        assert MPI.Comm.bcast_calls[0][2] == 0
        if rank > 0:
            assert got == "uid-from-rank-0"


def test_nccl_group_start_up_and_all_reduce_calls():
    MPI = _fake_mpi_module(rank=1, size=2)
    MPI.Comm.root_value = tuple(range(128))
    cupy, nccl, calls = _fake_cupy_and_nccl(n_gpus=2)
    g = nccl_backend.NCCLProcessGroup(MPI.COMM_WORLD, MPI, cupy, nccl)
    assert (g.rank, g.size, g.local_rank) == (1, 2, 1)
    assert ("use", 1) in calls                                     # the GPU of this rank
    assert ("NcclCommunicator", 2, tuple(range(128)), 1) in calls  # built from rank 0's id
    a = np.arange(6, dtype=np.float32).view(_FakeArray)
    work = g.iallreduce(a, "avg")
    op = [c for c in calls if c[0] == "allReduce"][-1]
    assert op[1:] == ("allReduce", a.ctypes.data, a.ctypes.data, 6, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, 1234)[1:]
    work.wait()
    np.testing.assert_array_equal(a, np.arange(6, dtype=np.float32) / 2)   # avg = sum / world size
    b = np.zeros(3, dtype=np.float64).view(_FakeArray)
    g.broadcast(b, 0)
    assert [c for c in calls if c[0] == "bcast"][-1][1:] == (b.ctypes.data, 3, nccl.NCCL_FLOAT64, 0, 1234)
    g.allreduce(np.zeros(2, dtype=np.int64).view(_FakeArray), "max")
    assert [c for c in calls if c[0] == "allReduce"][-1][4:6] == (nccl.NCCL_INT64, nccl.NCCL_MAX)
    with pytest.raises(TypeError, match="GPU tensors"):
        g.allreduce(np.zeros(2, dtype=np.float32), "sum")
    with pytest.raises(TypeError, match="cannot be communicated"):
        g.allreduce(np.zeros(2, dtype=np.complex64).view(_FakeArray), "sum")
    g.close()
    assert ("destroy",) in calls


def test_nccl_group_needs_a_gpu():
    MPI = _fake_mpi_module(rank=0, size=1)
    cupy, nccl, _ = _fake_cupy_and_nccl(n_gpus=0)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        nccl_backend.NCCLProcessGroup(MPI.COMM_WORLD, MPI, cupy, nccl)


def test_init_process_group_nccl_with_stand_ins(no_mpi, monkeypatch):
    """init_process_group("nccl") wires MPI, CuPy and NCCL together (all stand-ins here)."""
    monkeypatch.setenv("PMI_SIZE", "1")
    MPI = _fake_mpi_module(rank=0, size=1)
    cupy, nccl, calls = _fake_cupy_and_nccl(n_gpus=1)
    monkeypatch.setitem(sys.modules, "mpi4py", types.SimpleNamespace(MPI=MPI))
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", MPI)
    cupy.cuda.nccl = nccl
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cupy.cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)
    dist.init_process_group("nccl")
    assert dist.get_backend() == "nccl" and dist.get_world_size() == 1 and dist.get_rank() == 0
    assert ("get_unique_id",) in calls and ("NcclCommunicator", 1, tuple(range(128)), 0) in calls
    with pytest.raises(ValueError, match="ring"):
        dist.destroy_process_group()
        dist.init_process_group("nccl", allreduce="ring")
