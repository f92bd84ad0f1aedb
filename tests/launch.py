"""Run a script of distributed/mpi_scripts/ as an MPI job (``mpiexec -n P python script``)
and collect its output: the helper of the tests that launch MPI jobs
(tests/distributed/test_collectives.py, tests/nn/test_parallel.py, tests/examples/test_distributed.py).

Each job script runs many cases in one job (process start-up dominates the time) and
prints ``PASS <rank> <case>;``; a test checks that every rank passed its case."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "distributed", "mpi_scripts")
ROOT = os.path.dirname(HERE)

#: the environment variables by which an MPI launcher tells a process that it started it
LAUNCH_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
               "PMIX_RANK")


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
    """``"<rank> <case>"`` for every ``PASS <rank> <case>;`` a script printed."""
    # the ranks' lines reach mpiexec through separate pipes and may be glued together
    # ("PASS 1 ring_backendmessage: ..."): the semicolon, not the line's end, ends a name
    return {f"{r} {name}" for r, name in re.findall(r"PASS (\d+) ([a-z0-9_]+);", output)}


# ----------------------------------------------------------------------------- one job per session, its cases as tests

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


def job_tests(script, cases):
    """The two tests of a job script: each of ``cases`` passed on every rank of a job of 2
    and of 3 processes, and each job exited cleanly. Assign them to two ``test_*`` names."""

    @pytest.mark.parametrize("n", [2, 3])
    @pytest.mark.parametrize("case", cases)
    def test_case(case, n):
        check_case(script, n, case)

    @pytest.mark.parametrize("n", [2, 3])
    def test_job_exits_cleanly(n):
        check_job_ok(script, n)

    return test_case, test_job_exits_cleanly
