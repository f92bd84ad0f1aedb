"""Shared test setup: hypothesis profiles, markers, and the helper folders on sys.path.

The tests mirror the package, so several folders hold a file of the same name
(``tests/ops/test_conv.py``, ``tests/nn/test_conv.py``, ``tests/kernels/test_conv.py``).
pytest imports test files by their path (``--import-mode=importlib`` in pytest.ini), which
keeps them apart, and leaves sys.path alone; so the folders whose shared helpers test files
import by bare name (``import strategies`` from tests/, ``from _optim_helpers import ...``
from tests/optim/) are put on sys.path here: tests/ and each folder just below it."""
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

_TESTS = os.path.dirname(os.path.abspath(__file__))
for _folder in [_TESTS] + sorted(os.path.join(_TESTS, d) for d in os.listdir(_TESTS)):
    if os.path.isdir(_folder) and _folder not in sys.path and not os.path.basename(_folder).startswith("__"):
        sys.path.insert(0, _folder)

settings.register_profile("dev", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# MINIGRAD_CUDA_EMULATOR=1: run the GPU tests without a GPU, on the CUDA emulator
# (kernels/cuda/emulator: every .cu kernel compiled for the CPU, a NumPy stand-in for
# CuPy). It must be in place before any test module imports cupy.
EMULATED_CUDA = os.environ.get("MINIGRAD_CUDA_EMULATOR", "") not in ("", "0")
if EMULATED_CUDA:
    import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
    from minigrad.kernels.cuda import emulator as _emulator

    _emulator.install()

    # On the emulator the CPU side of every GPU-vs-CPU comparison runs the NumPy reference
    # kernels, also where a test asks for the native set: the native CPU kernels are checked
    # against those same reference kernels in tests/kernels, and compiling them again here
    # (a child interpreter, often with an empty Numba cache) would cost about two minutes
    # of a run that is meant to check the CUDA kernels.
    from minigrad import backend as _backend

    _backend._tables[("native", "cpu")] = _backend._table("reference", "cpu")


def _cuda_available():
    try:
        from minigrad.backend import cupy_available

        return cupy_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU and CuPy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_modes():
    """Each test starts with a fixed seed, grad mode on and per-op kernel defaults."""
    import minigrad
    from minigrad import backend

    minigrad.manual_seed(1234)
    mode = backend.kernel_mode()
    yield
    backend.set_kernel_mode(mode)
    minigrad.set_grad_enabled(True)


@pytest.fixture(params=["reference", "native"])
def kernel_set(request):
    """Run a test once with each kernel set."""
    import minigrad

    with minigrad.kernels.use(request.param):
        yield request.param
