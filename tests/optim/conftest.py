"""Fixtures the optimizer tests share, and the parametrizing of the shared oracle tests."""
import pytest

import minigrad


@pytest.fixture
def reference_kernels():
    """The tests are about optimizers: matmul runs on its NumPy reference kernel, so
    that no native kernel has to be compiled first."""
    with minigrad.backend.use_kernels("reference"):
        yield


@pytest.fixture
def torch_default_dtype():
    """Set torch's default dtype for one test (float64 runs need float64 scalars)."""
    import torch

    before = torch.get_default_dtype()
    yield torch.set_default_dtype
    torch.set_default_dtype(before)


def pytest_generate_tests(metafunc):
    """An oracle test shared by the optimizers' test files (marked with
    ``_optim_helpers.cases_from_test_file``) runs over the cases of the file that
    imports it, e.g. ``test_adam.py``'s ``CASES``."""
    spec = getattr(metafunc.function, "cases_from_test_file", None)
    if spec is None:
        return
    argnames, table, ids = spec
    cases = getattr(metafunc.module, table, None)
    if not cases:
        raise LookupError(f"{metafunc.module.__name__} imports {metafunc.function.__name__}, "
                          f"which runs over the file's list {table}: define it (non-empty)")
    metafunc.parametrize(argnames, cases, ids=None if ids is None else [ids(c) for c in cases])
