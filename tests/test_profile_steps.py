"""benchmarks/profile_steps.py: the kernel timer counts every registry kernel a step
calls and puts the registry back as it was."""
import os
import sys

import numpy as np

import minigrad as mg
from minigrad import backend

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import profile_steps  # noqa: E402


def test_kernel_timer_counts_calls_and_restores_the_registry():
    matmul_ops = sys.modules["minigrad.ops.matmul"]   # a module that imported get_kernel by name
    before = backend.get_kernel, matmul_ops.get_kernel
    x = mg.tensor(np.ones((40, 40), np.float32), requires_grad=True)
    with profile_steps.kernel_timer() as acc:
        (x @ x).sum().backward()
    assert (backend.get_kernel, matmul_ops.get_kernel) == before
    calls = {op.split(":")[0]: c for op, (c, s) in acc.items()}
    assert calls.get("matmul", 0) >= 3            # forward, and both operand gradients
    assert all(s >= 0 for c, s in acc.values())
    np.testing.assert_allclose(x.grad.numpy(), np.full((40, 40), 80.0))
