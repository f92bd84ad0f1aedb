"""Run a script of mpi_scripts/ as an MPI job (``mpiexec -n P python script``) and
collect its output: the helper of the tests in this folder."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
ROOT = os.path.dirname(os.path.dirname(HERE))


def mpiexec():
    """The path of mpiexec, or skip the test (with what to install) when MPI is missing."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip('needs mpi4py and an MPI launcher: pip install "minigrad[mpi]"')
    # the launcher installed next to this Python (the mpich wheel's) matches its mpi4py best
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.access(exe, os.X_OK):
        exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip('needs mpiexec on the PATH: pip install "minigrad[mpi]" (the mpich package brings it)')
    return exe


def launcher_flags(exe):
    """Open MPI's mpiexec refuses to run as root or to start more processes than cores
    unless told; MPICH's needs no flags."""
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []


def run_job(script, n, *args, timeout=120):
    """``mpiexec -n n python mpi_scripts/<script> args...``; returns (returncode,
    stdout + stderr, seconds). A job that outlives ``timeout`` fails the test."""
    exe = mpiexec()
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # one BLAS/Numba thread per process: two processes on two cores must not fight for them
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [exe, *launcher_flags(exe), "-n", str(n), sys.executable, os.path.join(SCRIPTS, script), *map(str, args)]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"mpiexec -n {n} {script} still running after {timeout} s (a hang):\n{out[-4000:]}")
    return res.returncode, res.stdout, time.perf_counter() - t0


def passed_cases(output):
    """``"<rank> <case>"`` for every ``PASS <rank> <case>`` line a script printed."""
    # the ranks' lines reach mpiexec through separate pipes and may be glued together
    return {f"{r} {name}" for r, name in re.findall(r"PASS (\d+) ([a-z0-9_]+)", output)}
