"""Data-parallel training across processes and machines, with PyTorch's names.

Every process runs the same script on its own slice of the data; gradients are
summed across processes before each optimizer step, so every copy of the model
takes the same step. The processes are started by MPI's launcher::

    mpiexec -n 4 python train.py                     # 4 processes on this machine
    mpiexec -f hosts -n 8 python train.py             # 8 processes on the machines in 'hosts'

and find each other through MPI (``mpi4py``; ``pip install "minigrad[mpi]"`` installs
it with the MPICH library and its ``mpiexec``). In the script::

    import minigrad.distributed as dist
    dist.init_process_group("mpi")          # or "nccl": one process per GPU
    rank, world = dist.get_rank(), dist.get_world_size()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # t (a Tensor) becomes the sum over ranks, in place

Collectives (``all_reduce``, ``broadcast``, ``all_gather``, ``reduce_scatter``,
``barrier``) are called by every rank, in the same order, with tensors of the same
shape and dtype; each checks that first (one small message) and raises an error
naming the operation, the ranks and both shapes when they differ, on every rank, so
the job fails instead of hanging. After ``init_process_group`` an exception that
nobody catches on one rank prints that rank's traceback and ends the whole job
(``MPI_Abort``) at once, instead of leaving the other ranks waiting forever.

A script started without ``mpiexec`` is a world of one process: every collective
returns its input, and no MPI needs to be installed. That is how the same script
runs on a laptop and on a cluster.

:class:`~minigrad.nn.parallel.DistributedDataParallel` builds data-parallel training
on these collectives; :class:`~minigrad.data.DistributedSampler` gives each rank its
share of a data set; :mod:`minigrad.distributed.ring` is the ring all-reduce written
by hand (``init_process_group("mpi", allreduce="ring")`` selects it).
"""
from __future__ import annotations

import enum
import os
import sys
import threading
import traceback

import numpy as np

from minigrad.distributed.backends import MPIProcessGroup, SingleProcessGroup, Work

__all__ = [
    "ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "is_nccl_available", "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce", "broadcast",
    "all_gather", "reduce_scatter", "all_gather_object", "launched_by_mpi", "mpiexec_command", "INSTALL_HINT",
    "LAUNCH_HINT",
]

INSTALL_HINT = 'pip install "minigrad[mpi]"   (that is: pip install mpi4py mpich)'
LAUNCH_HINT = "mpiexec -n 2 python your_script.py"


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` and :func:`reduce_scatter` combine the ranks' values:
    ``SUM``, ``AVG`` (the sum divided by the world size; integer tensors round down),
    ``MAX``, ``MIN``, ``PRODUCT``."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


_group = None           # the default process group once initialized
_saved_hooks = None     # (sys.excepthook, threading.excepthook) to restore


# ----------------------------------------------------------------------------- start and stop

def is_available() -> bool:
    """True when ``mpi4py`` can be imported (a world of one process needs nothing)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_nccl_available() -> bool:
    """True when CuPy with NCCL can be imported (GPU training across processes)."""
    try:
        from cupy.cuda import nccl  # noqa: F401
    except Exception:
        return False
    return True


def launched_by_mpi() -> int | None:
    """The number of processes ``mpiexec`` (MPICH, Open MPI, Intel MPI, Slurm's PMI)
    started this job with, read from the launcher's environment variables; None
    when this process was not started by an MPI launcher."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    if os.environ.get("PMIX_RANK") is not None:
        return -1  # PMIx without a size variable: launched, size unknown until MPI starts
    return None


def mpiexec_command(n, *args):
    """The command line that starts ``n`` processes running ``args`` (a list for
    ``subprocess``): the ``mpiexec`` installed next to this Python (the ``mpich``
    wheel's) or the first one on the PATH, with the flags Open MPI needs to run as
    root. ``mpiexec_command(2, sys.executable, "train.py")``."""
    import shutil

    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.access(exe, os.X_OK):
        exe = shutil.which("mpiexec")
    if exe is None:
        raise RuntimeError(f"mpiexec_command: no mpiexec found; install MPI with\n    {INSTALL_HINT}")
    import subprocess

    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    flags = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    return [exe, *flags, "-n", str(int(n)), *map(str, args)]


def _import_mpi(who):
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            f"{who}: this process was started by mpiexec but mpi4py cannot be imported ({e}). "
            f"Install MPI for Python with\n    {INSTALL_HINT}\nand launch with\n    {LAUNCH_HINT}") from None
    return MPI


def init_process_group(backend="mpi", *, allreduce=None, world_size=None, rank=None):
    """Join the job's processes into the default process group.

    Args:
        backend: ``"mpi"`` (CPU tensors, through ``mpi4py``) or ``"nccl"`` (GPU
            tensors through NCCL, one process per GPU, MPI for start-up).
        allreduce: the CPU backend's all-reduce: ``"mpi"`` (MPI's ``Allreduce``,
            the default) or ``"ring"`` (:func:`~minigrad.distributed.ring.ring_all_reduce`,
            written by hand on point-to-point messages). The environment variable
            ``MINIGRAD_ALLREDUCE`` sets the default.
        world_size: optional check, as in PyTorch's signature: the number of processes
            MPI reports must equal it (with ``world_size > 1`` outside ``mpiexec`` the
            error says how to launch).
        rank: optional check: the rank MPI gives this process must equal it.

    Rank and world size come from MPI. Started without ``mpiexec`` (and with no
    ``world_size`` asked for) the process is a world of one, and MPI is not needed.
    With more than one process, an exception nobody catches on any rank aborts the
    whole job (its traceback is printed with the rank first).
    """
    global _group
    who = "init_process_group"
    if _group is not None:
        raise RuntimeError(f"{who}: the default process group is already initialized "
                           f"(rank {_group.rank} of {_group.size}); call destroy_process_group() first")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"{who}: backend must be 'mpi' (CPU) or 'nccl' (GPU), got {backend!r}")
    if allreduce is None:
        allreduce = os.environ.get("MINIGRAD_ALLREDUCE", "mpi")
    if allreduce not in ("mpi", "ring"):
        raise ValueError(f"{who}: allreduce must be 'mpi' (MPI's Allreduce) or 'ring' (the hand-written "
                         f"ring), got {allreduce!r}")
    if backend == "nccl" and allreduce == "ring":
        raise ValueError(f"{who}: allreduce='ring' is the CPU backend's teaching version; the 'nccl' backend "
                         f"uses NCCL's own all-reduce")
    launched = launched_by_mpi()
    if launched is None and backend == "mpi" and not is_available():
        if world_size not in (None, 1):
            raise RuntimeError(
                f"{who}: world_size={world_size} asked for, but this process was not started by mpiexec "
                f"and mpi4py is not installed. Install MPI with\n    {INSTALL_HINT}\nand launch "
                f"{world_size} processes with\n    mpiexec -n {world_size} python your_script.py")
        group = SingleProcessGroup()
    else:
        MPI = _import_mpi(who)
        comm = MPI.COMM_WORLD.Dup()  # a private communicator: user MPI traffic cannot interfere
        if backend == "nccl":
            from minigrad.distributed.nccl import NCCLProcessGroup

            try:
                import cupy
                from cupy.cuda import nccl
            except Exception as e:
                comm.Free()
                raise RuntimeError(
                    f"{who}('nccl'): needs CuPy built with NCCL ({type(e).__name__}: {e}); install it with "
                    f"`pip install \"minigrad[cuda12]\"` (or cuda13) - or use backend='mpi' for CPU "
                    f"training") from None
            group = NCCLProcessGroup(comm, MPI, cupy, nccl)
        else:
            group = MPIProcessGroup(comm, MPI, algorithm=allreduce)
    if world_size is not None and world_size != group.size:
        group.close()
        how = (f"launch it with\n    mpiexec -n {world_size} python your_script.py"
               if group.size == 1 else f"this job was launched with {group.size} processes")
        raise RuntimeError(f"{who}: world_size={world_size} asked for, but the job has {group.size} "
                           f"process{'es' if group.size != 1 else ''}; {how}"
                           + ("" if is_available() else f"\n(MPI is not installed: {INSTALL_HINT})"))
    if rank is not None and rank != group.rank:
        group.close()
        raise RuntimeError(f"{who}: rank={rank} asked for, but MPI gave this process rank {group.rank}")
    _group = group
    if group.size > 1:
        _install_abort_hooks(group)
        if backend == "mpi":
            _share_cores(comm, MPI)


def _share_cores(comm, MPI):
    """Give each process of this machine its share of the cores for the native kernels
    (like torchrun's one thread per process): two processes that each start a thread per
    core fight over the cores, which made the data-parallel demo 5x slower on 2 cores.
    A thread count the user set (``NUMBA_NUM_THREADS`` or ``OMP_NUM_THREADS``) is kept."""
    if os.environ.get("NUMBA_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        per_process = max(1, (os.cpu_count() or 1) // local.Get_size())
    finally:
        local.Free()
    try:
        from minigrad.kernels.cpu import _runtime
    except ImportError:  # Numba is missing: nothing to share
        return
    _runtime.set_num_threads(min(per_process, _runtime.numba.config.NUMBA_NUM_THREADS))


def destroy_process_group():
    """Leave the default process group (free its communicators, restore the
    exception hooks). :func:`init_process_group` may be called again afterwards."""
    global _group, _saved_hooks
    if _group is None:
        return
    group, _group = _group, None
    if _saved_hooks is not None:
        sys.excepthook, threading.excepthook = _saved_hooks
        _saved_hooks = None
    group.close()


def _install_abort_hooks(group):
    """An uncaught exception on one rank prints that rank's traceback and aborts
    every process of the job (otherwise the others would wait in their next
    collective for a message that never comes)."""
    global _saved_hooks
    _saved_hooks = (sys.excepthook, threading.excepthook)
    rank, size = group.rank, group.size

    def report_and_abort(exc_type, exc, tb, where=""):
        try:
            sys.stdout.flush()
            msg = "".join(traceback.format_exception(exc_type, exc, tb))
            sys.stderr.write(f"[rank {rank}/{size}] uncaught {exc_type.__name__}{where}; aborting the job:\n"
                             + "".join(f"[rank {rank}] {line}\n" for line in msg.rstrip("\n").split("\n")))
            sys.stderr.flush()
        finally:
            group.abort(1)

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            _saved_hooks[0](exc_type, exc, tb)
            group.abort(130)
        report_and_abort(exc_type, exc, tb)

    def thread_excepthook(args):
        if args.exc_type is SystemExit:
            return
        report_and_abort(args.exc_type, args.exc_value, args.exc_traceback,
                         f" in thread {getattr(args.thread, 'name', '?')}")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


# ----------------------------------------------------------------------------- who am I

def _need_group(who):
    if _group is None:
        raise RuntimeError(f"{who}: the default process group is not initialized; call "
                           f"minigrad.distributed.init_process_group() first")
    return _group


def is_initialized() -> bool:
    """True between :func:`init_process_group` and :func:`destroy_process_group`."""
    return _group is not None


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1."""
    return _need_group("get_rank").rank


def get_world_size() -> int:
    """The number of processes in the job."""
    return _need_group("get_world_size").size


def get_backend() -> str:
    """``"mpi"``, ``"nccl"`` or ``"single"`` (a world of one without MPI)."""
    return _need_group("get_backend").backend


def _default_group():
    """The default process group, or None (used by ``fit`` and checkpoints)."""
    return _group


# ----------------------------------------------------------------------------- collectives

def _array_of(t, who, what="tensor"):
    from minigrad.tensor import Tensor

    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: {what} must be a minigrad Tensor, got {type(t).__name__}")
    return t.array


def _op_name(op, who):
    if isinstance(op, ReduceOp):
        return op.value
    if isinstance(op, str) and op.lower() in {o.value for o in ReduceOp}:
        return op.lower()
    raise ValueError(f"{who}: op must be a ReduceOp (SUM, AVG, MAX, MIN, PRODUCT), got {op!r}")


def _check_same(group, who, shape, dtype, extra=None):
    """Every rank called ``who`` with the same shape, dtype (and ``extra``, e.g. the
    source rank)? One small all-gather of the metadata; on a mismatch every rank
    raises the same error (so none of them is left waiting)."""
    if group.size == 1:
        return
    mine = (who, tuple(int(s) for s in shape), str(dtype), extra)
    everyone = group.allgather_object(mine)
    ref = everyone[0]
    for r, meta in enumerate(everyone):
        if meta == ref:
            continue
        if meta[0] != ref[0]:
            detail = f"rank {r} called {meta[0]} while rank 0 called {ref[0]}"
        elif meta[1:3] != ref[1:3]:
            detail = (f"rank {r} passed shape {meta[1]} and dtype {meta[2]}, rank 0 passed shape {ref[1]} "
                      f"and dtype {ref[2]}")
        else:
            detail = f"rank {r} passed {meta[3]}, rank 0 passed {ref[3]}"
        raise RuntimeError(f"{who}: the ranks disagree: {detail}; every rank must call {who} with the "
                           f"same shape and dtype (this is rank {group.rank})")


def _contiguous_inplace(array, fn):
    """Run ``fn`` on a C-contiguous array, copying back into ``array`` if it had to copy."""
    if array.flags.c_contiguous:
        fn(array)
        return
    tmp = array.copy()
    fn(tmp)
    array[...] = tmp


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` over all ranks, in place: afterwards every rank holds the
    sum (or average, max, min, product) of every rank's values.

    ``async_op=True`` returns a :class:`Work` at once (``work.wait()`` before reading
    the result); otherwise None. ``group`` must be None (the default group).
    """
    who = "all_reduce"
    g = _resolve(group, who)
    a = _array_of(tensor, who)
    opn = _op_name(op, who)
    _check_same(g, who, a.shape, a.dtype, opn)
    if async_op:
        if a.flags.c_contiguous:
            return g.iallreduce(a, opn)
        _contiguous_inplace(a, lambda x: g.allreduce(x, opn))
        return Work()
    _contiguous_inplace(a, lambda x: g.allreduce(x, opn))
    return None


def broadcast(tensor, src=0, group=None, async_op=False):
    """``tensor`` on every rank becomes rank ``src``'s, in place."""
    who = "broadcast"
    g = _resolve(group, who)
    a = _array_of(tensor, who)
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"{who}: src must be a rank in [0, {g.size}), got {src!r}")
    _check_same(g, who, a.shape, a.dtype, f"src={int(src)}")
    _contiguous_inplace(a, lambda x: g.broadcast(x, int(src)))
    return Work() if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list`` (one tensor per rank, each shaped like ``tensor``) with
    every rank's ``tensor``: ``tensor_list[i]`` gets rank ``i``'s."""
    who = "all_gather"
    g = _resolve(group, who)
    a = _array_of(tensor, who)
    outs = _check_list(tensor_list, g, a, who, "tensor_list")
    _check_same(g, who, a.shape, a.dtype)
    from minigrad.backend import xp_of

    stacked = xp_of(a).empty((g.size,) + a.shape, dtype=a.dtype)
    g.allgather(a, stacked)
    for i, o in enumerate(outs):
        o[...] = stacked[i]
    return Work() if async_op else None


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[i]`` over all ranks and leave the result in rank ``i``'s
    ``output`` (each rank gets one reduced piece): the first half of the ring
    all-reduce, as one call."""
    who = "reduce_scatter"
    g = _resolve(group, who)
    out = _array_of(output, who, "output")
    ins = _check_list(input_list, g, out, who, "input_list")
    opn = _op_name(op, who)
    _check_same(g, who, out.shape, out.dtype, opn)
    from minigrad.backend import xp_of

    stacked = xp_of(out).stack(ins) if ins else None
    _contiguous_inplace(out, lambda x: g.reduce_scatter(x, stacked, opn))
    return Work() if async_op else None


def all_gather_object(object_list, obj, group=None):
    """Fill ``object_list`` (a list of world-size length) with every rank's ``obj``
    (any picklable Python value), in rank order."""
    who = "all_gather_object"
    g = _resolve(group, who)
    if not isinstance(object_list, list) or len(object_list) != g.size:
        raise ValueError(f"{who}: object_list must be a list of length {g.size} (the world size), got "
                         f"{type(object_list).__name__} of length {len(object_list) if hasattr(object_list, '__len__') else '?'}")
    object_list[:] = g.allgather_object(obj)


def barrier(group=None):
    """Wait until every rank has reached this call."""
    g = _resolve(group, "barrier")
    _check_same(g, "barrier", (), "none")
    g.barrier()


def _resolve(group, who):
    if group is not None:
        raise ValueError(f"{who}: only the default group (group=None) is supported")
    return _need_group(who)


def _check_list(tensors, g, like, who, what):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != g.size:
        n = len(tensors) if hasattr(tensors, "__len__") else "?"
        raise ValueError(f"{who}: {what} must be a list of {g.size} tensors (one per rank), got "
                         f"{type(tensors).__name__} of length {n}")
    arrays = []
    for i, t in enumerate(tensors):
        a = _array_of(t, who, f"{what}[{i}]")
        if a.shape != like.shape or a.dtype != like.dtype:
            raise ValueError(f"{who}: {what}[{i}] has shape {a.shape} and dtype {a.dtype}; every entry must "
                             f"have the tensor's shape {like.shape} and dtype {like.dtype}")
        arrays.append(a)
    return arrays
