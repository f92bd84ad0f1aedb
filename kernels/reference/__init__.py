"""Reference kernels: readable NumPy, valid on CuPy arrays too.

Each module in this package defines ``KERNELS`` (op name -> function); this file
merges them into one table. These are the specification: every native kernel is
tested against the function of the same name here.
"""
import importlib

KERNELS = {}
for _name in ("matmul", "conv", "pool", "attention", "softmax", "norm", "embedding", "quant", "special", "activation"):
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    KERNELS.update(getattr(_mod, "KERNELS", {}))
