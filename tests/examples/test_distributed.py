"""minigrad/examples/distributed.py: ``python -m minigrad demo --distributed`` trains the
seed CNN with DistributedDataParallel in a job of two processes (``mpiexec``, see
tests/launch.py). Skipped when mpi4py or mpiexec is missing (``pip install "minigrad[mpi]"``).
"""
import re

import pytest

pytestmark = pytest.mark.distributed


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
