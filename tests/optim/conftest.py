"""Fixtures the optimizer tests share."""
import pytest

import minigrad


@pytest.fixture
def reference_kernels():
    """The tests are about optimizers: matmul runs on its NumPy reference kernel, so
    that no native kernel has to be compiled first."""
    with minigrad.backend.use_kernels("reference"):
        yield
