"""minigrad/distributed/__init__.py: init_process_group and the collectives.

Inside one process: a world of one without MPI, and the errors that say what to
install and how to launch. Then real MPI jobs of 2 and 3 processes (``mpiexec``, see
tests/launch.py): the collectives against NumPy, the ring all-reduce against MPI's
Allreduce, and a failing rank ending the job. The jobs are skipped when mpi4py or
mpiexec is missing (``pip install "minigrad[mpi]"``).
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minigrad
import minigrad.distributed as dist
from launch import LAUNCH_VARS, job_tests, passed_cases, run_job
from minigrad import nn

pytestmark = pytest.mark.distributed


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


# ----------------------------------------------------------------------------- real MPI jobs

COLLECTIVE_CASES = ["all_reduce", "all_reduce_async_and_noncontiguous", "broadcast", "all_gather",
                    "all_gather_object", "reduce_scatter", "barrier", "ring_equals_allreduce", "ring_backend",
                    "mismatched_shape", "distributed_sampler"]

test_collectives, test_collectives_job_exits_cleanly = job_tests("collectives.py", COLLECTIVE_CASES)


def test_a_raising_rank_ends_the_job_with_its_message():
    rc, out, seconds = run_job("raise_on_rank.py", 3, 1, timeout=60)
    assert rc != 0, out
    assert re.search(r"\[rank 1\] ValueError: loss became NaN on purpose, on rank 1", out), out
    assert "not reached" not in out
    assert seconds < 30, f"the job took {seconds:.1f} s to end"


def test_the_launcher_reads_pass_lines_glued_to_other_output():
    """Ranks write through separate pipes: one rank's line can be glued to another's text."""
    out = ("PASS 2 all_reduce;PASS 0 all_reduce;\n"
           "PASS 1 ring_backend;message: all_reduce: the ranks disagree\nPASS 0 ring_backend;\n"
           "FAIL 2 ring_backend: boom\n")
    assert passed_cases(out) == {"2 all_reduce", "0 all_reduce", "1 ring_backend", "0 ring_backend"}
