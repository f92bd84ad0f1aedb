"""One global random number generator, so that ``manual_seed(0)`` makes a run reproducible.

Everything random in minigrad (``rand``, ``randn``, weight initialisation, dropout,
DataLoader shuffling) draws from :func:`default_generator` unless given its own
``numpy.random.Generator``. Numbers are drawn on the CPU and moved to the tensor's
device, so a seed gives the same numbers on every device.
"""
from __future__ import annotations

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Generator", "manual_seed", "seed", "default_generator", "get_rng_state", "set_rng_state",
           "initial_seed"]

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


class Generator:
    """A random number generator of its own, as ``torch.Generator``: pass it as
    ``generator=`` to ``rand``, ``randn``, ``randint``, ``randperm``, ``multinomial``,
    ``DataLoader`` or ``random_split`` to draw from it instead of the global generator.

    >>> g = minigrad.Generator().manual_seed(0)
    >>> minigrad.randperm(5, generator=g)      # the same permutation after every manual_seed(0)

    Behind it is one NumPy ``Generator`` (:attr:`numpy_generator`, a PCG64 stream); re-seeding
    resets that same object, so whatever holds it (a DataLoader) follows the new seed.
    ``device`` is recorded (``Generator(device="cuda")`` works) but minigrad draws every
    random number on the CPU and copies it to the tensor's device.
    """

    def __init__(self, device="cpu"):
        self.device = backend.device(device)
        self.numpy_generator = np.random.Generator(np.random.PCG64(0))
        self.seed()

    def manual_seed(self, seed):
        """Restart the stream from ``seed`` (an int); returns this generator."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"Generator.manual_seed: seed must be an int, got {type(seed).__name__}")
        self._initial_seed = int(seed)
        self.numpy_generator.bit_generator.state = np.random.PCG64(self._initial_seed % (2 ** 128)).state
        return self

    def seed(self):
        """Re-seed from fresh entropy; returns the seed used."""
        s = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        """The seed this generator was last seeded with."""
        return self._initial_seed

    def get_state(self):
        """The stream's position as a uint8 Tensor (37 bytes: PCG64's 128-bit state and
        increment, and its buffered 32-bit half-word), for :meth:`set_state`."""
        st = self.numpy_generator.bit_generator.state
        raw = (int(st["state"]["state"]).to_bytes(16, "little") + int(st["state"]["inc"]).to_bytes(16, "little")
               + bytes([int(st["has_uint32"])]) + int(st["uinteger"]).to_bytes(4, "little"))
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state):
        """Put the stream back where :meth:`get_state` saw it; returns this generator."""
        raw = bytes(np.asarray(getattr(new_state, "array", new_state), dtype=np.uint8).reshape(-1))
        if len(raw) != 37:
            raise ValueError(f"Generator.set_state: expected the 37-byte uint8 tensor that get_state returns, "
                             f"got {len(raw)} bytes")
        self.numpy_generator.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}
        return self

    def __repr__(self):
        return f"<minigrad.Generator initial_seed={self._initial_seed}>"


def _g(generator):
    """The NumPy Generator to draw from: the global one, a :class:`Generator`'s, or a
    ``numpy.random.Generator`` passed as is."""
    if generator is None:
        return _gen
    if isinstance(generator, Generator):
        return generator.numpy_generator
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a minigrad.Generator (or a numpy.random.Generator), "
                    f"got {type(generator).__name__}")


def _uniform(shape, low, high, dtype, generator=None):
    return _g(generator).uniform(low, high, size=shape).astype(dtype, copy=False)


def _normal(shape, mean, std, dtype, generator=None):
    return _g(generator).normal(mean, std, size=shape).astype(dtype, copy=False)
