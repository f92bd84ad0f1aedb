"""Model compression: make a trained model smaller and faster, measurably.

Three submodules, each usable on its own:

- :mod:`minigrad.compress.prune` -- set weights to zero (unstructured, by magnitude,
  per layer or globally; structured, whole channels/neurons) with masks that stay
  applied while the model keeps training.
- :mod:`minigrad.compress.quantize` -- store weights as int8 and run Linear/Conv2d as
  int8 x int8 -> int32 products (post-training quantization and quantization-aware
  training).
- :mod:`minigrad.compress.distill` -- train a small student to copy a large teacher's
  softened outputs (knowledge distillation).

The submodules are imported on first use (``minigrad.compress.prune`` works after
``import minigrad.compress``).
"""

import importlib

__all__ = ["prune", "quantize", "distill"]


def __getattr__(name):
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
