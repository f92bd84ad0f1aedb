"""Native CPU kernels written in Numba.

Each module here defines ``KERNELS`` (op name -> function, same signature as the
reference kernel of that name) and ``PREFERRED`` (op name -> "native" or
"reference": which is faster on this machine, as measured by
``benchmarks/kernels.py``). This file merges them.
"""
from .._families import collect as _collect, warmup as _warmup
from . import _runtime

_MODULES, KERNELS, PREFERRED = _collect(__name__)

# read-only inputs reach the compiled code as writeable aliases: one specialisation
# per kernel and dtype, not two (see _runtime.writeable)
KERNELS = {name: _runtime.writeable_inputs(fn) for name, fn in KERNELS.items()}


def warmup(verbose=False):
    """Compile or cache-load every kernel by calling each module's ``warmup()``."""
    return _warmup(_MODULES, verbose)
