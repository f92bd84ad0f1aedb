"""Native CPU kernels written in Numba.

Each module here defines ``KERNELS`` (op name -> function, same signature as the
reference kernel of that name) and ``PREFERRED`` (op name -> "native" or
"reference": which is faster on this machine, as measured by
``benchmarks/kernels.py``). This file merges them.
"""
import importlib
import time

KERNELS = {}
PREFERRED = {}
_MODULES = []
for _name in ("matmul", "conv", "pool", "attention", "softmax", "norm", "embedding", "quant", "special", "activation"):
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    _MODULES.append(_mod)
    KERNELS.update(getattr(_mod, "KERNELS", {}))
    PREFERRED.update(getattr(_mod, "PREFERRED", {}))


def warmup(verbose=False):
    """Compile or cache-load every kernel by calling each module's ``warmup()``."""
    t0 = time.perf_counter()
    for mod in _MODULES:
        w = getattr(mod, "warmup", None)
        if w is not None:
            t = time.perf_counter()
            w()
            if verbose:
                print(f"{mod.__name__}: {time.perf_counter() - t:.2f} s")
    return time.perf_counter() - t0
