"""Functions that make new tensors: zeros, ones, arange, rand, randn, eye, ..._like.

Every function takes ``device=`` ("cpu", "cuda", "cuda:1" or a Device). Constant
fills (zeros, ones, full, eye) are made directly by the device's
array module (NumPy or CuPy); arange and linspace are computed on the CPU and
copied, so their values match bit for bit. Random numbers are always drawn on the CPU from
minigrad's one generator and then copied to the device, so ``manual_seed(0)`` gives
the same numbers on every device (what lets the GPU tests compare with the CPU).
The ``*_like`` functions default to the dtype and device of their input.
"""
from __future__ import annotations

import numpy as np

from minigrad import backend, random
from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
           "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like",
           "rand_like", "randn_like", "randint_like", "from_numpy", "as_tensor"]


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"expected a shape of non-negative ints, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _finish(arr, device, requires_grad):
    """Wrap ``arr`` (made on the CPU, or already on ``device``) as a Tensor on ``device``."""
    if device is not None and backend.device(device).type != "cpu":
        arr = backend.to_device(arr, device)
    return Tensor(arr, requires_grad=requires_grad)


def _make(device, fn_name, *args, **kwargs):
    """``xp.<fn_name>(*args, **kwargs)`` with the array module of ``device``, on that device."""
    d = backend.device(device)
    xp = backend.array_module(d)
    with backend.on_device(d):
        return getattr(xp, fn_name)(*args, **kwargs)


def _float_dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _finish(_make(device, "zeros", _size(size), _float_dtype(dtype)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))`` (default float dtype)."""
    return _finish(_make(device, "ones", _size(size), _float_dtype(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """Uninitialised memory (minigrad gives zeros, so results never depend on garbage)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with ``fill_value``. Without ``dtype``, a bool
    gives bool, an int int64 and a float the default float dtype."""
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = np.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = np.int64
        else:
            dtype = get_default_dtype()
    shape = _size((size,) if isinstance(size, int) else (size,))
    return _finish(_make(device, "full", shape, fill_value, np.dtype(dtype)), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Evenly spaced values in [start, end). Integers give int64, floats the default float."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else get_default_dtype()
    return _finish(np.arange(start, end, step).astype(dtype), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (shape ``(steps,)``)."""
    return _finish(np.linspace(start, end, int(steps)).astype(_float_dtype(dtype)), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """An ``(n, m)`` matrix (``m`` defaults to ``n``) with ones on the diagonal and zeros elsewhere."""
    return _finish(_make(device, "eye", n, m, dtype=_float_dtype(dtype)), device, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples from [0, 1), drawn from the global generator."""
    arr = random._uniform(_size(size), 0.0, 1.0, _float_dtype(dtype), generator)
    return _finish(arr, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples, drawn from the global generator."""
    arr = random._normal(_size(size), 0.0, 1.0, _float_dtype(dtype), generator)
    return _finish(arr, device, requires_grad)


def randint(low, high=None, size=(), generator=None, dtype=None, device=None):
    """Random integers in [low, high) (``randint(high, size)`` also works)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    g = random.default_generator() if generator is None else generator
    arr = g.integers(low, high, size=_size((size,) if isinstance(size, int) else (size,))).astype(
        np.int64 if dtype is None else dtype)
    return _finish(arr, device, False)


def randperm(n, generator=None, device=None):
    """A random permutation of ``0 .. n-1`` (int64, shape ``(n,)``), from the global generator."""
    g = random.default_generator() if generator is None else generator
    return _finish(g.permutation(n).astype(np.int64), device, False)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else np.dtype(dtype)), (t.device if device is None else device)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape of ``input`` (and its dtype and device unless given)."""
    dt, dev = _like(input, dtype, device)
    return _finish(_make(dev, "zeros", input.shape, dt), dev, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    """Ones with the shape of ``input`` (and its dtype and device unless given)."""
    dt, dev = _like(input, dtype, device)
    return _finish(_make(dev, "ones", input.shape, dt), dev, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    """Like :func:`zeros_like` (minigrad's "uninitialised" memory is zeros)."""
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere, with the shape of ``input`` (and its dtype and device unless given)."""
    dt, dev = _like(input, dtype, device)
    return _finish(_make(dev, "full", input.shape, fill_value, dt), dev, requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    """Uniform samples from [0, 1) with the shape of ``input`` (and its dtype and device
    unless given), from the global generator."""
    dt, dev = _like(input, dtype, device)
    return _finish(random._uniform(input.shape, 0.0, 1.0, dt), dev, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    """Standard normal samples with the shape of ``input`` (and its dtype and device unless
    given), from the global generator."""
    dt, dev = _like(input, dtype, device)
    return _finish(random._normal(input.shape, 0.0, 1.0, dt), dev, requires_grad)


def randint_like(input, low, high=None, dtype=None, device=None):
    """Random integers in [low, high) with the shape of ``input`` (``randint_like(x, high)``
    draws from [0, high)); int64 unless ``dtype`` is given, on ``input``'s device."""
    if high is None:
        low, high = 0, low
    dt, dev = _like(input, dtype or np.int64, device)
    return _finish(random.default_generator().integers(low, high, size=input.shape).astype(dt), dev, False)


def from_numpy(array):
    """Wrap a NumPy array without copying (its dtype is kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor` but avoids a copy when ``data`` is already a suitable array."""
    if isinstance(data, Tensor):
        out = data if dtype is None else data.to(dtype)
        return out if device is None else out.to(device)
    from minigrad.tensor import _infer_array

    return _finish(_infer_array(data, dtype), device, False)
