"""One global random number generator, so that ``manual_seed(0)`` makes a run reproducible.

Everything random in minigrad (``rand``, ``randn``, weight initialisation, dropout,
DataLoader shuffling) draws from :func:`default_generator` unless given its own
``numpy.random.Generator``. Numbers are drawn on the CPU and moved to the tensor's
device, so a seed gives the same numbers on every device.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "seed", "default_generator", "get_rng_state", "set_rng_state", "initial_seed"]

_initial_seed = int(np.random.SeedSequence().entropy % (2 ** 63))
_gen = np.random.Generator(np.random.PCG64(_initial_seed))


def manual_seed(seed: int):
    """Reset the global generator to ``seed``; returns it."""
    global _gen, _initial_seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _initial_seed = int(seed)
    _gen = np.random.Generator(np.random.PCG64(_initial_seed % (2 ** 128)))
    return _gen


def seed():
    """Seed the global generator from fresh entropy; returns the seed used."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed the global generator was last seeded with (by :func:`manual_seed` or
    :func:`seed`, or from fresh entropy at import)."""
    return _initial_seed


def default_generator() -> np.random.Generator:
    """The global NumPy Generator behind every random op."""
    return _gen


def get_rng_state() -> dict:
    """The generator's state (a dict), for checkpoints."""
    return _gen.bit_generator.state


def set_rng_state(state: dict):
    """Restore the global generator to a state returned by :func:`get_rng_state`."""
    _gen.bit_generator.state = state


def _g(generator):
    return _gen if generator is None else generator


def _uniform(shape, low, high, dtype, generator=None):
    return _g(generator).uniform(low, high, size=shape).astype(dtype, copy=False)


def _normal(shape, mean, std, dtype, generator=None):
    return _g(generator).normal(mean, std, size=shape).astype(dtype, copy=False)
