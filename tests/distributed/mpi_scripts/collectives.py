"""Every collective of minigrad.distributed against NumPy on all ranks' inputs, the
hand-written ring against MPI's Allreduce, the mismatch errors and the
DistributedSampler. Run as ``mpiexec -n P python collectives.py``."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run_cases  # noqa: E402

import minigrad  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
from minigrad.data import DataLoader, DistributedSampler, TensorDataset  # noqa: E402
from minigrad.distributed.ring import ring_all_reduce  # noqa: E402

dist.init_process_group("mpi")
rank, p = dist.get_rank(), dist.get_world_size()
from mpi4py import MPI  # noqa: E402

comm = MPI.COMM_WORLD


def inputs(shape, dtype, seed=0):
    """Every rank's input (rank r's is row r): each rank computes all of them, so the
    expected result is plain NumPy on the stack."""
    rng = np.random.default_rng(1000 + seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal((p,) + shape).astype(dtype)
    return rng.integers(-50, 50, size=(p,) + shape).astype(dtype)


REDUCE = {"sum": lambda a: a.sum(0), "max": lambda a: a.max(0), "min": lambda a: a.min(0),
          "product": lambda a: a.prod(0), "avg": lambda a: a.sum(0) / p}


def close(got, want, dtype):
    if np.dtype(dtype).kind == "f":
        tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


def case_all_reduce():
    for dtype in (np.float32, np.float64):
        for shape in ((), (7,), (3, 5)):
            for name, op in [("sum", dist.ReduceOp.SUM), ("avg", dist.ReduceOp.AVG), ("max", dist.ReduceOp.MAX),
                             ("min", dist.ReduceOp.MIN), ("product", dist.ReduceOp.PRODUCT)]:
                x = inputs(shape, dtype, seed=len(shape))
                t = minigrad.tensor(x[rank].copy())
                dist.all_reduce(t, op=op)
                assert t.dtype == dtype and t.shape == shape
                close(t.array, REDUCE[name](x.astype(np.float64)).astype(dtype), dtype)
    x = inputs((4, 3), np.int64)
    t = minigrad.tensor(x[rank].copy())
    dist.all_reduce(t)  # SUM by default
    close(t.array, x.sum(0), np.int64)


def case_all_reduce_async_and_noncontiguous():
    x = inputs((6, 4), np.float32, seed=5)
    t = minigrad.tensor(x[rank].copy())
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    work.wait()
    assert work.is_completed()
    close(t.array, x.mean(0), np.float32)
    base = x[rank].T.copy().T        # a Fortran-ordered (non C-contiguous) array
    t = minigrad.Tensor(base)
    assert not t.array.flags.c_contiguous
    dist.all_reduce(t)
    close(t.array, x.sum(0), np.float32)


def case_broadcast():
    for src in range(p):
        x = inputs((2, 3), np.float64, seed=10 + src)
        t = minigrad.tensor(x[rank].copy())
        dist.broadcast(t, src=src)
        close(t.array, x[src], np.float64)


def case_all_gather():
    x = inputs((3, 2), np.float32, seed=20)
    outs = [minigrad.zeros(3, 2) for _ in range(p)]
    dist.all_gather(outs, minigrad.tensor(x[rank].copy()))
    for r in range(p):
        close(outs[r].array, x[r], np.float32)


def case_all_gather_object():
    got = [None] * p
    dist.all_gather_object(got, {"rank": rank, "name": f"r{rank}"})
    assert got == [{"rank": r, "name": f"r{r}"} for r in range(p)], got


def case_reduce_scatter():
    # rank r's input_list[i] is x[r, i]; rank i receives sum over r of x[r, i]
    for name, op in [("sum", dist.ReduceOp.SUM), ("avg", dist.ReduceOp.AVG), ("max", dist.ReduceOp.MAX)]:
        x = inputs((p, 5), np.float64, seed=30)
        out = minigrad.zeros(5, dtype=minigrad.float64)
        dist.reduce_scatter(out, [minigrad.tensor(x[rank, i].copy()) for i in range(p)], op=op)
        close(out.array, REDUCE[name](x[:, rank]), np.float64)


def case_barrier():
    dist.barrier()
    dist.barrier()


def case_ring_equals_allreduce():
    sizes = [1, p - 1, p, p + 1, 2 * p, 1000, 1001, 3 * 4096 + 1]
    for n in sizes:
        for dtype in (np.float32, np.float64):
            for op, mop in (("sum", MPI.SUM), ("max", MPI.MAX), ("min", MPI.MIN)):
                # integer-valued floats: every summation order gives the same bits
                x = np.random.default_rng(n * 7 + rank).integers(-1000, 1000, n).astype(dtype)
                ring, ref = x.copy(), x.copy()
                ring_all_reduce(ring, comm, op)
                comm.Allreduce(MPI.IN_PLACE, ref, op=mop)
                assert np.array_equal(ring, ref), (n, dtype, op)
            x = np.random.default_rng(n + rank).standard_normal(n).astype(dtype)
            ring, ref = x.copy(), x.copy()
            ring_all_reduce(ring, comm, "avg")
            comm.Allreduce(MPI.IN_PLACE, ref, op=MPI.SUM)
            np.testing.assert_allclose(ring, ref / p, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    x = np.arange(12.0).reshape(3, 4) + rank   # any shape: reduced as its flat view
    ring_all_reduce(x, comm, "sum")
    np.testing.assert_array_equal(x, p * np.arange(12.0).reshape(3, 4) + p * (p - 1) / 2)


def case_ring_backend():
    dist.destroy_process_group()
    dist.init_process_group("mpi", allreduce="ring")
    try:
        x = inputs((1001,), np.float64, seed=40)
        t = minigrad.tensor(x[rank].copy())
        dist.all_reduce(t)
        close(t.array, x.sum(0), np.float64)
        t = minigrad.tensor(x[rank].copy())
        dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True).wait()
        close(t.array, x.mean(0), np.float64)
    finally:
        dist.destroy_process_group()
        dist.init_process_group("mpi")


def expect_error(fn, *needles):
    try:
        fn()
    except RuntimeError as e:
        msg = str(e)
        for n in needles:
            assert n in msg, f"{n!r} not in {msg!r}"
        return msg
    raise AssertionError("no error raised")


def case_mismatched_shape():
    shape = (4,) if rank == 1 else (3,)
    msg = expect_error(lambda: dist.all_reduce(minigrad.zeros(*shape)), "all_reduce", "rank 1",
                       "(4,)", "(3,)")
    if rank == 0:
        print("message:", msg, flush=True)
    dtype = minigrad.float64 if rank == p - 1 else minigrad.float32
    expect_error(lambda: dist.broadcast(minigrad.zeros(2, dtype=dtype)), "broadcast", f"rank {p - 1}",
                 "float64", "float32")
    # different collectives on different ranks: caught too
    if rank == 0:
        expect_error(lambda: dist.all_reduce(minigrad.zeros(2)), "rank 1 called broadcast",
                     "rank 0 called all_reduce")
    else:
        expect_error(lambda: dist.broadcast(minigrad.zeros(2)), "rank 1 called broadcast")
    # and afterwards the ranks are still in step
    t = minigrad.ones(3)
    dist.all_reduce(t)
    close(t.array, np.full(3, p, np.float32), np.float32)


def case_distributed_sampler():
    for n in (12, 13, 2):
        for drop_last in (False, True):
            for shuffle in (False, True):
                s = DistributedSampler(range(n), shuffle=shuffle, seed=3, drop_last=drop_last)
                assert s.num_replicas == p and s.rank == rank
                for epoch in (0, 1):
                    s.set_epoch(epoch)
                    mine = list(s)
                    assert len(mine) == len(s)
                    everyone = [None] * p
                    dist.all_gather_object(everyone, mine)
                    assert len({len(e) for e in everyone}) == 1      # equal shares: equal step counts
                    flat = sorted(i for e in everyone for i in e)
                    if drop_last:
                        assert len(set(flat)) == len(flat) == (n // p) * p
                    else:
                        assert set(flat) == set(range(n)) and len(flat) == -(-n // p) * p
            s = DistributedSampler(range(n), shuffle=True, seed=3)
            orders = [s.indices().tolist() for s.epoch in (0, 1)]
            if n >= 12:
                assert orders[0] != orders[1]
    ds = TensorDataset(np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10))
    s = DistributedSampler(ds, shuffle=True, seed=0)
    got = [int(i) for _, yb in DataLoader(ds, batch_size=2, sampler=s) for i in yb.array]
    assert got == list(s)


run_cases_list = [(n[5:], f) for n, f in list(globals().items()) if n.startswith("case_")]
code = run_cases(run_cases_list, rank)
dist.barrier()
dist.destroy_process_group()
sys.exit(code)
