"""minigrad.distributed inside one process: a world of one without MPI, the errors
that say what to install and how to launch, the ring's plan, DistributedSampler,
and the NCCL backend's start-up and calls against a stand-in for ``cupy.cuda.nccl``
(no GPU needed)."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import minigrad
import minigrad.distributed as dist
from minigrad import nn
from minigrad.data import DataLoader, DistributedSampler, TensorDataset
from minigrad.distributed import nccl as nccl_backend
from minigrad.distributed.ring import chunk_bounds, ring_schedule

pytestmark = pytest.mark.distributed

LAUNCH_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
               "PMIX_RANK")


@pytest.fixture
def no_mpi(monkeypatch):
    """This process as if mpi4py were not installed and no launcher had started it."""
    for v in LAUNCH_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    yield
    dist.destroy_process_group()


def test_a_world_of_one_needs_no_mpi(no_mpi):
    assert not dist.is_initialized()
    dist.init_process_group("mpi")
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "single"
    t = minigrad.tensor([1.0, -2.0, 3.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
    assert dist.all_reduce(t, async_op=True).wait()
    dist.broadcast(t, src=0)
    outs = [minigrad.zeros(3)]
    dist.all_gather(outs, t)
    out = minigrad.zeros(3)
    dist.reduce_scatter(out, [t])
    dist.barrier()
    np.testing.assert_array_equal(t.array, [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(outs[0].array, t.array)
    np.testing.assert_array_equal(out.array, t.array)
    # DDP on one process is the plain model
    model = nn.Linear(3, 2)
    w = model.weight.array.copy()
    ddp = nn.DistributedDataParallel(model)
    ddp(minigrad.randn(4, 3)).sum().backward()
    np.testing.assert_array_equal(model.weight.array, w)
    assert model.weight.grad is not None
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group("mpi")


def test_launched_by_mpiexec_without_mpi4py_says_what_to_install(no_mpi, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError) as e:
        dist.init_process_group("mpi")
    msg = str(e.value)
    assert 'pip install "minigrad[mpi]"' in msg and "mpi4py mpich" in msg and "mpiexec -n" in msg
    assert not dist.is_initialized()


def test_asking_for_more_processes_outside_mpiexec_says_how_to_launch(no_mpi):
    with pytest.raises(RuntimeError) as e:
        dist.init_process_group("mpi", world_size=4)
    msg = str(e.value)
    assert "mpiexec -n 4" in msg and "minigrad[mpi]" in msg
    assert not dist.is_initialized()


def test_collectives_before_init_and_bad_arguments(no_mpi):
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(minigrad.ones(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend must be"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="allreduce must be"):
        dist.init_process_group("mpi", allreduce="tree")
    dist.init_process_group("mpi")
    with pytest.raises(ValueError, match="ReduceOp"):
        dist.all_reduce(minigrad.ones(2), op="mean")
    with pytest.raises(TypeError, match="minigrad Tensor"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match=r"src must be a rank in \[0, 1\)"):
        dist.broadcast(minigrad.ones(2), src=1)
    with pytest.raises(ValueError, match="list of 1 tensors"):
        dist.all_gather([minigrad.ones(2), minigrad.ones(2)], minigrad.ones(2))
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        nn.DistributedDataParallel(nn.Linear(2, 2), bucket_cap_mb=0)


def test_nccl_without_cupy_says_what_to_install(no_mpi, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "1")
    fake_mpi = _fake_mpi_module(rank=0, size=1)
    monkeypatch.setitem(sys.modules, "mpi4py", types.SimpleNamespace(MPI=fake_mpi))
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", fake_mpi)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"CuPy built with NCCL.*minigrad\[cuda12\]"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_outside_mpiexec_with_mpi4py_is_a_world_of_one():
    """mpi4py installed, no mpiexec: MPI starts as a singleton (in a subprocess, so that
    MPI is not initialized inside the test process)."""
    pytest.importorskip("mpi4py")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    code = ("import minigrad, minigrad.distributed as d; d.init_process_group(); t = minigrad.ones(2); "
            "d.all_reduce(t); print(d.get_backend(), d.get_world_size(), t.array.tolist())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["mpi", "1", "[1.0,", "1.0]"]


# ----------------------------------------------------------------------------- the ring's plan

@pytest.mark.parametrize("n", [0, 1, 5, 6, 7, 1001])
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_chunks_cover_the_array(n, p):
    bounds = chunk_bounds(n, p)
    assert len(bounds) == p and bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("p", [2, 3, 5])
def test_ring_schedule_simulated(p):
    """Play the schedule on p simulated ranks: every rank ends with the full sum, and
    each sends 2 (p - 1) chunks."""
    n = 2 * p + 1
    bounds = chunk_bounds(n, p)
    data = [np.arange(n, dtype=np.float64) * (r + 1) for r in range(p)]
    want = sum(data)
    plans = [ring_schedule(r, p) for r in range(p)]
    assert all(len(plan) == 2 * (p - 1) for plan in plans)
    for step in range(2 * (p - 1)):
        sent = [data[r][slice(*bounds[plans[r][step][1]])].copy() for r in range(p)]
        for r in range(p):
            phase, _, recv = plans[r][step]
            left = (r - 1) % p
            assert plans[left][step][1] == recv   # the left neighbour sends what r expects
            sl = slice(*bounds[recv])
            data[r][sl] = data[r][sl] + sent[left] if phase == "reduce-scatter" else sent[left]
    for r in range(p):
        np.testing.assert_array_equal(data[r], want)


# ----------------------------------------------------------------------------- DistributedSampler

@pytest.mark.parametrize("n", [10, 11, 3])
@pytest.mark.parametrize("p", [1, 2, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shares(n, p, drop_last):
    shares = [list(DistributedSampler(range(n), p, r, shuffle=True, seed=5, drop_last=drop_last))
              for r in range(p)]
    assert len({len(s) for s in shares}) == 1
    flat = [i for s in shares for i in s]
    if drop_last:
        assert len(flat) == len(set(flat)) == (n // p) * p
    else:
        assert set(flat) == set(range(n)) and len(flat) == -(-n // p) * p
    assert all(0 <= i < n for i in flat)


def test_sampler_epochs_and_errors():
    s = DistributedSampler(range(100), 2, 1, seed=0)
    first = list(s)
    assert list(s) == first                 # same epoch, same order
    s.set_epoch(1)
    assert list(s) != first
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]
    with pytest.raises(ValueError, match="rank must be"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(ValueError, match="epoch"):
        s.set_epoch(-1)
    with pytest.raises(TypeError, match="length"):
        DistributedSampler(iter(range(4)), 2, 0)
    assert "rank 1 of 2" in repr(s)


def test_dataloader_with_a_sampler():
    ds = TensorDataset(np.arange(14, dtype=np.float32).reshape(7, 2), np.arange(7))
    s = DistributedSampler(ds, 2, 0, shuffle=True, seed=1)
    loader = DataLoader(ds, batch_size=3, sampler=s)
    assert len(loader) == 2
    ys = [int(v) for _, yb in loader for v in yb.array]
    assert ys == list(s)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=s, shuffle=True)


# ----------------------------------------------------------------------------- NCCL with stand-ins

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
