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
from minigrad.tensor import Tensor, _infer_array, get_default_dtype

__all__ = ["zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
           "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like",
           "rand_like", "randn_like", "randint_like", "from_numpy", "as_tensor", "multinomial",
           "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"]


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


def randint(*args, size=None, low=None, high=None, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Random integers in [low, high), PyTorch's forms: ``randint(high, size)``,
    ``randint(low, high, size)``, or with keywords (``randint(10, size=(3,))``).
    ``size`` is a tuple (``(n,)``, not ``n``); int64 unless ``dtype`` is given."""
    pos = list(args)
    if size is None and pos and isinstance(pos[-1], (tuple, list)):
        size = pos.pop()
    if len(pos) > 2 or (len(pos) == 2 and (low is not None or high is not None)):
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), got {args!r}")
    if len(pos) == 2:
        low, high = pos
    elif len(pos) == 1:
        if high is None:
            high = pos[0]
        else:
            low = pos[0]
    low = 0 if low is None else low
    if high is None:
        raise TypeError("randint: high is missing (randint(high, size) or randint(low, high, size))")
    if size is None:
        raise TypeError("randint: size is missing; give it as a tuple, e.g. randint(10, (3,))")
    if isinstance(size, (int, np.integer)):
        raise TypeError(f"randint: size must be a tuple of ints, not int (write ({size},) for a 1-D tensor)")
    for v, name in ((low, "low"), (high, "high")):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"randint: {name} must be an int, got {v!r}")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    if requires_grad:
        raise RuntimeError("randint: integer tensors cannot require gradients")
    arr = random._g(generator).integers(low, high, size=_size((size,))).astype(
        np.int64 if dtype is None else dtype)
    return _finish(arr, device, False)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of ``0 .. n-1`` (int64, shape ``(n,)``), from the global generator
    or ``generator``."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    arr = random._g(generator).permutation(int(n)).astype(np.int64 if dtype is None else dtype)
    return _finish(arr, device, requires_grad)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw category indices with probabilities proportional to the rows of ``input``
    (1-D: one distribution, 2-D: one per row; non-negative weights, not necessarily
    summing to 1). Returns int64 of shape ``(num_samples,)`` or ``(rows, num_samples)``.

    With ``replacement=False`` each index is drawn at most once per row: the draw is a
    race in which category i finishes at time E_i / p_i (E_i exponential), and the
    first ``num_samples`` to finish win; zero-weight categories finish last."""
    p = input.array if isinstance(input, Tensor) else None
    if p is None:
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if p.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {p.shape}")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial: only floating-point probabilities are supported, got {p.dtype}")
    if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (num_samples={num_samples!r})")
    w = np.asarray(backend.to_device(p, "cpu"), dtype=np.float64).reshape(-1, p.shape[-1])
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or element < 0")
    if (w.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    n = w.shape[1]
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                           f"replacement ({num_samples} > {n})")
    g = random._g(generator)
    if replacement:
        cdf = np.cumsum(w, axis=1)
        u = g.random((w.shape[0], int(num_samples))) * cdf[:, -1:]
        out = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        out = np.minimum(out, n - 1)
    else:
        with np.errstate(divide="ignore"):
            finish = g.exponential(size=w.shape) / w
        out = np.argsort(finish, axis=1, kind="stable")[:, :int(num_samples)]
    out = out.astype(np.int64).reshape(p.shape[:-1] + (int(num_samples),))
    return _finish(out, input.device, False)


def _new(self, fn, size, dtype, device, requires_grad, *args):
    size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    dt = self.dtype if dtype is None else dtype
    return fn(tuple(size), *args, dtype=dt, device=self.device if device is None else device,
              requires_grad=requires_grad)


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    """``t.new_zeros(2, 3)``: zeros with ``t``'s dtype and device unless given (as ``Tensor.new_zeros``)."""
    return _new(self, zeros, size, dtype, device, requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    """``t.new_ones(2, 3)``: ones with ``t``'s dtype and device unless given."""
    return _new(self, ones, size, dtype, device, requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    """``t.new_empty(2, 3)``: like :func:`new_zeros` (minigrad's "uninitialised" memory is zeros)."""
    return _new(self, zeros, size, dtype, device, requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``t.new_full((2, 3), 7.0)``: ``fill_value`` everywhere, with ``t``'s dtype and device unless given."""
    return full(tuple(size) if isinstance(size, (tuple, list)) else (size,), fill_value,
                dtype=self.dtype if dtype is None else dtype,
                device=self.device if device is None else device, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """``t.new_tensor(data)``: a copy of ``data`` as a new leaf tensor with ``t``'s dtype and
    device unless given (a Tensor is copied and detached)."""
    arr = data.array if isinstance(data, Tensor) else data
    xp = backend.xp_of(arr) if isinstance(data, Tensor) else np
    arr = xp.array(arr, dtype=self.dtype if dtype is None else np.dtype(dtype), copy=True)
    return _finish(arr, self.device if device is None else device, requires_grad)


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


def randint_like(input, low, high=None, dtype=None, device=None, generator=None):
    """Random integers in [low, high) with the shape of ``input`` (``randint_like(x, high)``
    draws from [0, high)); int64 unless ``dtype`` is given, on ``input``'s device."""
    if high is None:
        low, high = 0, low
    dt, dev = _like(input, dtype or np.int64, device)
    return _finish(random._g(generator).integers(low, high, size=input.shape).astype(dt), dev, False)


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
    return _finish(_infer_array(data, dtype), device, False)
