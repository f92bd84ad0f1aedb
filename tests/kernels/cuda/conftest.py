"""The GPU suite on the CUDA emulator runs in a second process, beside the other tests.

``test_emulator.py::test_the_gpu_suite_passes_on_the_emulator`` runs ``tests/gpu`` in a
child interpreter with ``MINIGRAD_CUDA_EMULATOR=1`` and the race check on: about 100 s
of one core. The rest of the suite mostly keeps one core busy too (Numba compiles on
one), so the child is started as soon as collection ends, and the test that checks its
result runs last: on 2 cores the run is about that much shorter. The child runs the tests this
run selected by marker (``-m "not slow"`` leaves out the slow GPU tests there as here).
"""
import os
import subprocess
import sys
import tempfile
import time

import pytest

TEST_NAME = "test_the_gpu_suite_passes_on_the_emulator"
TIMEOUT = 1200   # seconds from the child's start

_run = {}   # the one child of this pytest run: proc, args, out, err, started


def _command(config):
    args = [sys.executable, "-m", "pytest", "tests/gpu", "-q", "-p", "no:cacheprovider", "-x",
            "-W", "ignore::DeprecationWarning"]
    markexpr = config.getoption("markexpr", "") or ""
    if markexpr:
        args += ["-m", markexpr]
    return args


def _start(config):
    args = _command(config)
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    env = dict(os.environ, MINIGRAD_CUDA_EMULATOR="1", MINIGRAD_CUDA_EMULATOR_RACECHECK="1")
    proc = subprocess.Popen(args, cwd=str(config.rootpath), env=env, stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err, text=True)
    _run.update(proc=proc, args=args, out=out, err=err, started=time.monotonic())


def pytest_collection_modifyitems(config, items):
    """The test that waits for the child goes last, so that this process has the other
    tests to run meanwhile."""
    waiting = [item for item in items if item.name == TEST_NAME]
    if waiting:
        items[:] = [item for item in items if item.name != TEST_NAME] + waiting


def pytest_collection_finish(session):
    if _run or not any(item.name == TEST_NAME for item in session.items):
        return
    from minigrad.kernels.cuda import emulator

    if emulator.available():
        _start(session.config)


def pytest_sessionfinish(session):
    proc = _run.get("proc")
    if proc is not None and proc.poll() is None:   # the run stopped early: do not leave it behind
        proc.kill()
        proc.wait()


@pytest.fixture
def emulated_gpu_suite(request):
    """The finished run of ``tests/gpu`` on the emulator, as a ``subprocess.CompletedProcess``
    (started when collection ended, or now when this test was not collected then)."""
    if not _run:
        _start(request.config)
    proc = _run["proc"]
    try:
        proc.wait(timeout=max(1.0, TIMEOUT - (time.monotonic() - _run["started"])))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the GPU suite on the emulator ran past {TIMEOUT} s")
    texts = []
    for f in (_run["out"], _run["err"]):
        f.seek(0)
        texts.append(f.read())
    return subprocess.CompletedProcess(_run["args"], proc.returncode, *texts)
