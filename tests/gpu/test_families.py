"""The CUDA kernel families together (kernels/cuda/__init__.py, kernels/_families.py): the
registry serves the CUDA kernels on "cuda", float16 falls back to the reference, warmup
compiles every family.

The whole file is marked ``gpu``: tests/conftest.py skips it without CuPy and a GPU.
"""
import inspect
import numpy as np
import pytest

import minigrad
import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import softmax as ref_sm

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import attention as gpu_att  # noqa: E402
from minigrad.kernels.cuda import conv as gpu_conv  # noqa: E402
from minigrad.kernels.cuda import norm as gpu_norm  # noqa: E402
from minigrad.kernels.cuda import pool as gpu_pool  # noqa: E402
from minigrad.kernels.cuda import softmax as gpu_sm  # noqa: E402
from _gpu_kernels import _close  # noqa: E402


@pytest.mark.parametrize("op,module", [
    ("conv2d_forward", gpu_conv), ("conv2d_grad_input", gpu_conv), ("conv2d_grad_weight", gpu_conv),
    ("unfold", gpu_conv), ("fold", gpu_conv),
    ("max_pool2d_forward", gpu_pool), ("max_pool2d_backward", gpu_pool),
    ("avg_pool2d_forward", gpu_pool), ("avg_pool2d_backward", gpu_pool),
    ("sdpa_forward", gpu_att), ("sdpa_backward", gpu_att),
    ("softmax", gpu_sm), ("log_softmax", gpu_sm), ("softmax_backward", gpu_sm),
    ("log_softmax_backward", gpu_sm), ("cross_entropy_forward", gpu_sm), ("cross_entropy_backward", gpu_sm),
    ("layer_norm_forward", gpu_norm), ("layer_norm_backward", gpu_norm),
])
def test_registry_serves_these_kernels_on_cuda(op, module):
    from minigrad.backend import get_kernel

    def kernel():  # the kernel behind the registry's entry check
        k = get_kernel(op, "cuda")
        return inspect.unwrap(k)

    with minigrad.kernels.use("native"):
        assert kernel() is module.KERNELS[op], f"native kernel for {op!r} on cuda"
    with minigrad.kernels.use("reference"):
        assert kernel() is not module.KERNELS[op]


def test_float16_falls_back_to_the_reference():
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float16)
    y = gpu_sm.softmax(cp.asarray(x))
    assert y.dtype == np.float16
    _close("softmax float16", y.astype(np.float64), ref_sm.softmax(x).astype(np.float64), 2e-3)


def test_warmup_compiles_every_family():
    for mod in (gpu_att, gpu_conv, gpu_norm, gpu_pool, gpu_sm):
        mod.warmup()
    cp.cuda.Device().synchronize()
