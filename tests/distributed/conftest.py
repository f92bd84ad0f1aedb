"""The ``no_mpi`` fixture of the tests of minigrad.distributed."""
import sys

import pytest

import minigrad.distributed as dist
from launch import LAUNCH_VARS


@pytest.fixture
def no_mpi(monkeypatch):
    """This process as if mpi4py were not installed and no launcher had started it."""
    for v in LAUNCH_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    yield
    dist.destroy_process_group()
