"""Native GPU kernels: CUDA C sources (``*.cu``) built with ``cupy.RawModule``.

Each family module here (``matmul``, ``conv``, ``pool``, ``attention``, ``softmax``,
``norm``, ``quant``) defines ``KERNELS`` (op name -> function, the same signature as
the reference kernel of that name) and ``PREFERRED`` (op name -> "native" or
"reference"), like :mod:`minigrad.kernels.cpu`; this file merges them.

Importing works without CuPy and without a GPU: family modules import CuPy inside
their functions, and the registry (:func:`minigrad.backend.get_kernel`) only looks
in this table for tensors on a "cuda" device, which cannot exist without both. A
function here given NumPy arrays hands them to the reference kernel.

``_loader`` compiles the ``.cu`` files (once per process and GPU); ``common.cuh``
holds the helpers the ``.cu`` files share. See docs/gpu.md.
"""
from .._families import collect as _collect, warmup as _warmup

_MODULES, KERNELS, PREFERRED = _collect(__name__)


def warmup(verbose=False):
    """Compile (or load from CuPy's disk cache) every CUDA kernel by calling each family's
    ``warmup()``; needs CuPy and a GPU. Returns the seconds it took."""
    return _warmup(_MODULES, verbose)
