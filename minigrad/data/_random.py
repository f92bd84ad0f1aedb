"""Where the data package gets its randomness.

Shuffling, splitting and augmentation all draw from a NumPy ``Generator``. With no
explicit generator they use minigrad's global one (``minigrad.random.default_generator()``),
so ``minigrad.manual_seed(0)`` makes a whole training run - initialisation, shuffling,
augmentation - repeat exactly, as ``torch.manual_seed`` does.
"""
from __future__ import annotations

import numpy as np

_fallback = None


def default_generator() -> np.random.Generator:
    """minigrad's global generator (re-seeded by ``minigrad.manual_seed``)."""
    global _fallback
    try:
        from minigrad.random import default_generator as _global
    except ImportError:  # minigrad.random not there: a private generator, unseeded
        if _fallback is None:
            _fallback = np.random.default_rng()
        return _fallback
    return _global()


def as_generator(generator, what: str = "generator", arg: str = "generator") -> np.random.Generator:
    """Turn ``generator`` into something with NumPy Generator methods.

    ``None`` -> the global generator (looked up now, so a later ``manual_seed`` counts);
    an ``int`` -> a new ``np.random.default_rng(seed)``; a ``minigrad.Generator`` -> the
    NumPy generator behind it; a ``np.random.Generator`` (or any object with
    ``permutation`` and ``integers`` methods) -> itself.
    """
    if generator is None:
        return default_generator()
    if isinstance(generator, (bool, np.bool_)):
        raise TypeError(f"{what}: {arg} must be None, an int seed, a minigrad.Generator or a numpy Generator, "
                        f"got {generator!r}")
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    inner = getattr(generator, "numpy_generator", None)  # a wrapper object, if minigrad has one
    if isinstance(inner, np.random.Generator):
        return inner
    if hasattr(generator, "permutation") and hasattr(generator, "integers"):
        return generator
    raise TypeError(f"{what}: {arg} must be None, an int seed, a minigrad.Generator or a numpy Generator, "
                    f"got {type(generator).__name__}")
