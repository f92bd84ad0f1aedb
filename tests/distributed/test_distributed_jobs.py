"""Real MPI jobs of 2 and 3 processes (``mpiexec``): the collectives against NumPy,
the ring all-reduce against MPI's Allreduce, DistributedDataParallel against one
process on the concatenated batch, and a failing rank ending the job.

Each script runs many cases in one job (process start-up dominates the time) and
prints ``PASS <rank> <case>``; each test here checks that every rank passed its case.
Skipped when mpi4py or mpiexec is missing (``pip install "minigrad[mpi]"``).
"""
import re

import pytest

from launch import passed_cases, run_job

pytestmark = pytest.mark.distributed

_jobs = {}


def job(script, n, *args):
    """Run each (script, n) once per test session and share the result."""
    key = (script, n, args)
    if key not in _jobs:
        _jobs[key] = run_job(script, n, *args)
    return _jobs[key]


def check_case(script, n, case):
    rc, out, _ = job(script, n)
    passed = passed_cases(out)
    missing = [r for r in range(n) if f"{r} {case}" not in passed]
    assert not missing, (f"{script} on {n} ranks: case {case!r} did not pass on ranks {missing} "
                         f"(exit status {rc}):\n{out[-6000:]}")


def check_job_ok(script, n):
    rc, out, _ = job(script, n)
    assert rc == 0 and "FAIL" not in out, f"{script} on {n} ranks exited with {rc}:\n{out[-6000:]}"


COLLECTIVE_CASES = ["all_reduce", "all_reduce_async_and_noncontiguous", "broadcast", "all_gather",
                    "all_gather_object", "reduce_scatter", "barrier", "ring_equals_allreduce", "ring_backend",
                    "mismatched_shape", "distributed_sampler"]
DDP_CASES = ["mlp", "seed_cnn", "transformer", "no_sync_accumulation", "buffers", "unused_parameters",
             "models_differ", "fit_and_checkpoint"]


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", COLLECTIVE_CASES)
def test_collectives(case, n):
    check_case("collectives.py", n, case)


@pytest.mark.parametrize("n", [2, 3])
def test_collectives_job_exits_cleanly(n):
    check_job_ok("collectives.py", n)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", DDP_CASES)
def test_ddp(case, n):
    check_case("ddp.py", n, case)


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_job_exits_cleanly(n):
    check_job_ok("ddp.py", n)


def test_a_raising_rank_ends_the_job_with_its_message():
    rc, out, seconds = run_job("raise_on_rank.py", 3, 1, timeout=60)
    assert rc != 0, out
    assert re.search(r"\[rank 1\] ValueError: loss became NaN on purpose, on rank 1", out), out
    assert "not reached" not in out
    assert seconds < 30, f"the job took {seconds:.1f} s to end"


@pytest.mark.slow
def test_demo_distributed_prints_one_table():
    """``mpiexec -n 2 python -m minigrad demo --distributed``: the seed CNN trained by two
    processes on the shipped MNIST digits; rank 0 alone prints the demo's table, and the
    accuracy reaches the single-process demo's target."""
    import os
    import sys

    from launch import ROOT, launcher_flags, mpiexec
    import subprocess

    exe = mpiexec()
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    res = subprocess.run([exe, *launcher_flags(exe), "-n", "2", sys.executable, "-m", "minigrad", "demo",
                          "--distributed", "--no-progress"], capture_output=True, text=True, timeout=600,
                         env=env, cwd=ROOT)
    out = res.stdout
    rows = [line for line in out.splitlines() if line.startswith("seed CNN, data-parallel x2")]
    headers = [line for line in out.splitlines() if line.startswith("system ")]
    assert len(headers) == 1 and len(rows) == 1, out + res.stderr
    acc = float(re.search(r"seed CNN, data-parallel x2\s+\S+\s+([\d.]+)%", out).group(1))
    assert acc >= 96.0, out       # the single-process demo's target on the shipped MNIST digits
    assert res.returncode == 0, out
