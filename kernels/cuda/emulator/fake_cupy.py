"""A stand-in for CuPy made of NumPy, so that code written for CuPy runs with the emulator.

``kernels.cuda.emulator.install()`` puts this module in ``sys.modules["cupy"]``. Its
:class:`ndarray` is a NumPy array subclass that plays a device array: ``.device``,
``.get()``, ``cupy.asnumpy``; the type's module reads ``"cupy"``, so minigrad's device
layer files it under device ``cuda:0``. Any other name is looked up in NumPy, and a
function's plain NumPy results come back as this ``ndarray``. ``cupy.cuda`` has the
handful of runtime calls minigrad makes (one device, ``SM_COUNT`` multiprocessors).

Arrays this module allocates (``empty``, ``zeros``, ``asarray`` of host data, ...) sit
between guard bytes in a larger buffer and start as 0xFF bytes: :func:`guard_damage`
tells whether a kernel wrote outside one, and an output element a kernel never writes
reads as NaN (or -1).
"""
from __future__ import annotations

import functools
import types
import weakref

import numpy as np

SM_COUNT = 4
GUARD = 256  # bytes before and after every allocation
FILL = 0xFF


class ndarray(np.ndarray):  # noqa: N801  (named as CuPy names it)
    """A NumPy array that stands for an array in GPU memory."""

    @property
    def device(self):
        return Device(0)

    def get(self, stream=None, order="C", out=None):
        """A host (plain NumPy) copy, like ``cupy.ndarray.get``."""
        host = np.array(self.view(np.ndarray), order=order)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        self[...] = arr

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)

    @property
    def __cuda_array_interface__(self):
        # what code tests for to tell a device array (CuPy has it, NumPy does not)
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ctypes.data, False),
                "strides": None if self.flags.c_contiguous else self.strides, "version": 3}

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # CuPy refuses arithmetic between a device array and a host array (NumPy cannot
        # convert the device array, CuPy will not copy the host one): so does this stand-in,
        # so that code which mixes them fails here as it would on a GPU.
        outs = kwargs.get("out") or ()
        for x in inputs + tuple(outs):
            if type(x) is np.ndarray and x.ndim > 0:
                raise TypeError(f"CUDA emulator: {ufunc.__name__}.{method} mixes a device array with a host "
                                f"NumPy array of shape {x.shape}; CuPy refuses that (move one of them "
                                f"first: cupy.asarray(host) or device.get())")
        args = [x.view(np.ndarray) if isinstance(x, ndarray) else x for x in inputs]
        if outs:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, ndarray) else x for x in outs)
        result = getattr(ufunc, method)(*args, **kwargs)
        if outs:
            return outs[0] if len(outs) == 1 else outs
        return tuple(_as_device(r) for r in result) if isinstance(result, tuple) else _as_device(result)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        # reductions to a 0-d result stay arrays, as in CuPy
        out = np.ndarray.__array_wrap__(self, obj, context, False)
        return out


ndarray.__module__ = "cupy"


def _as_device(r):
    """A ufunc's result as CuPy gives it: arrays, and 0-d arrays for reductions to a scalar."""
    if type(r) is np.ndarray:
        return r.view(ndarray)
    if isinstance(r, np.generic):
        return np.asarray(r).view(ndarray)
    return r


# id(owner buffer) -> (weak reference to it, offset of the payload, payload bytes); the
# owner is the uint8 buffer NumPy files as the ``base`` of every view into an allocation
_guarded: dict = {}


def _forget(key):
    _guarded.pop(key, None)


def _empty(shape, dtype=float, order="C"):
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    # align the payload like cudaMalloc (256 bytes)
    raw = np.full(nbytes + 2 * GUARD + 256, FILL, dtype=np.uint8)
    off = (-raw.ctypes.data) % 256
    body = raw[off + GUARD:off + GUARD + nbytes]
    if not nbytes:
        return np.empty(shape, dtype, order=order).view(ndarray)
    key = id(raw)
    _guarded[key] = (weakref.ref(raw, lambda _r, k=key: _forget(k)), off, nbytes)
    return body.view(dtype).reshape(shape, order=order).view(ndarray)


def guard_damage(arr) -> str | None:
    """None when the guard bytes around ``arr``'s allocation are intact, else what changed."""
    base = arr
    while getattr(base, "base", None) is not None:
        base = base.base
    entry = _guarded.get(id(base))
    if entry is None or entry[0]() is not base:
        return None
    _, off, nbytes = entry
    raw = base.view(np.ndarray)
    head, tail = raw[off:off + GUARD], raw[off + GUARD + nbytes:off + 2 * GUARD + nbytes]
    msgs = []
    if (head != FILL).any():
        first = int(np.flatnonzero(head != FILL)[0])
        msgs.append(f"{GUARD - first} bytes before the start")
    if (tail != FILL).any():
        last = int(np.flatnonzero(tail != FILL)[-1])
        msgs.append(f"{last + 1} bytes past the end")
    return " and ".join(msgs) or None


def _to_device(x, dtype=None, order="K"):
    host = np.asarray(x, dtype=dtype, order=None if order == "K" else order)
    out = _empty(host.shape, host.dtype, order="F" if (order == "F" or (order in ("K", "A") and host.flags.f_contiguous
                                                                        and not host.flags.c_contiguous)) else "C")
    out[...] = host
    return out


# ------------------------------------------------------------------ creation and transfer
def empty(shape, dtype=float, order="C"):
    """An uninitialised (0xFF-filled, guarded) device array."""
    return _empty(shape, dtype, order)


def zeros(shape, dtype=float, order="C"):
    """A guarded device array of zeros."""
    out = _empty(shape, dtype, order)
    out[...] = 0
    return out


def ones(shape, dtype=float, order="C"):
    """A guarded device array of ones."""
    out = _empty(shape, dtype, order)
    out[...] = 1
    return out


def full(shape, fill_value, dtype=None, order="C"):
    """A guarded device array filled with ``fill_value``."""
    if dtype is None:
        dtype = np.asarray(fill_value).dtype
    out = _empty(shape, dtype, order)
    out[...] = fill_value
    return out


def _like(a, dtype, order, shape):
    """(shape, dtype, order) for a ``*_like`` of ``a``: Fortran order when ``a`` is
    Fortran-ordered and ``order`` allows it, as NumPy's."""
    keep_f = order in ("K", "A") and a.flags.f_contiguous and not a.flags.c_contiguous
    return (a.shape if shape is None else shape, a.dtype if dtype is None else dtype,
            "F" if keep_f or order == "F" else "C")


def empty_like(a, dtype=None, order="K", shape=None):
    """A guarded, 0xFF-filled array shaped like ``a``."""
    return empty(*_like(a, dtype, order, shape))


def zeros_like(a, dtype=None, order="K", shape=None):
    """A guarded array of zeros shaped like ``a``."""
    return zeros(*_like(a, dtype, order, shape))


def ones_like(a, dtype=None, order="K", shape=None):
    """A guarded array of ones shaped like ``a``."""
    return ones(*_like(a, dtype, order, shape))


def full_like(a, fill_value, dtype=None, order="K", shape=None):
    """A guarded array shaped like ``a``, filled with ``fill_value``."""
    shape, dtype, order = _like(a, dtype, order, shape)
    return full(shape, fill_value, dtype, order)


def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` as a device array: the same array when it is one already, else a guarded copy."""
    if isinstance(a, ndarray) and (dtype is None or np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
        return a
    if isinstance(a, ndarray):
        return _to_device(a.view(np.ndarray), dtype, order or "K")
    return _to_device(a, dtype, order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A device array made from ``obj`` (a guarded copy unless ``copy=False`` allows reuse)."""
    if isinstance(obj, ndarray) and not copy and (dtype is None or np.dtype(dtype) == obj.dtype):
        return obj
    host = np.array(obj.view(np.ndarray) if isinstance(obj, ndarray) else obj, dtype=dtype, ndmin=ndmin)
    return _to_device(host, order=order)


def ascontiguousarray(a, dtype=None):
    """``a`` when it is C-contiguous already, else a guarded C-contiguous copy."""
    if isinstance(a, ndarray) and a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    src = a.view(np.ndarray) if isinstance(a, ndarray) else np.asarray(a)
    out = _empty(src.shape if src.ndim else (1,), dtype or src.dtype, "C")
    out[...] = src
    return out


def asfortranarray(a, dtype=None):
    """A guarded Fortran-ordered copy of ``a``."""
    src = a.view(np.ndarray) if isinstance(a, ndarray) else np.asarray(a)
    out = _empty(src.shape, dtype or src.dtype, "F")
    out[...] = src
    return out


def asnumpy(a, stream=None, order="C", out=None):
    """A host (plain NumPy) copy of ``a``."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """This module when any argument is a device array, else NumPy."""
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


# ------------------------------------------------------------------ everything else: NumPy
class _Generator:
    """``cupy.random.default_rng(...)``: NumPy's Generator, its arrays as device arrays."""

    def __init__(self, gen):
        self._gen = gen

    def __getattr__(self, name):
        v = getattr(self._gen, name)
        return _wrap(v) if callable(v) else v


def _wrap_result(r):
    if type(r) is np.ndarray:
        return r.view(ndarray)
    if isinstance(r, np.random.Generator):
        return _Generator(r)
    if isinstance(r, tuple):
        return tuple(_wrap_result(x) for x in r)
    if isinstance(r, list):
        return [_wrap_result(x) for x in r]
    return r


def _wrap(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _wrap_result(fn(*args, **kwargs))
    return call


class _Namespace(types.ModuleType):
    """A submodule (``random``, ``linalg``, ``fft``, ...) that wraps NumPy's."""

    def __init__(self, name, target):
        super().__init__(name)
        self._target = target

    def __getattr__(self, name):
        v = getattr(self._target, name)
        if isinstance(v, types.ModuleType):
            return _Namespace(f"{self.__name__}.{name}", v)
        if callable(v) and not isinstance(v, type):
            return _wrap(v)
        return v


random = _Namespace("cupy.random", np.random)
linalg = _Namespace("cupy.linalg", np.linalg)
lib = _Namespace("cupy.lib", np.lib)
fft = _Namespace("cupy.fft", np.fft)
testing = _Namespace("cupy.testing", np.testing)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    v = getattr(np, name)
    if isinstance(v, (type, np.ufunc, types.ModuleType)) or not callable(v):
        return v  # dtypes, classes, ufuncs (they keep the subclass), constants
    return _wrap(v)


# ------------------------------------------------------------------ cupy.cuda
class Device:
    """The one emulated GPU."""

    def __init__(self, device=None):
        d = 0 if device is None else int(device)
        if d != 0:
            raise RuntimeError(f"CUDA emulator: there is one emulated GPU (device 0), not device {d}")
        self.id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("emulated-device", self.id))

    def use(self):
        """Make this the current device (there is only one)."""
        return None

    def synchronize(self):
        """Wait for the device: kernels run synchronously here, so nothing to wait for."""
        return None

    @property
    def compute_capability(self):
        """Reported as ``"90"`` (Hopper); the emulator does not depend on it."""
        return "90"

    @property
    def attributes(self):
        """The few device attributes minigrad reads (``SM_COUNT`` multiprocessors, ...)."""
        return {"MultiProcessorCount": SM_COUNT, "MaxSharedMemoryPerBlockOptin": 227 * 1024,
                "MaxThreadsPerBlock": 1024, "WarpSize": 32}

    def __repr__(self):
        return "<CUDA Device 0 (emulated)>"


def _device_count():
    return 1


class _CompileException(Exception):
    pass


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        return None


_pool = _MemoryPool()

class Event:
    """``cupy.cuda.Event``: host clock readings (kernels run synchronously here)."""

    def __init__(self, *args, **kwargs):
        self.t = None

    def record(self, stream=None):
        """Note the time."""
        import time

        self.t = time.perf_counter()

    def synchronize(self):
        """Nothing to wait for."""


def _elapsed_ms(start, end):
    return (end.t - start.t) * 1e3


cuda = types.ModuleType("cupy.cuda")
cuda.Device = Device
cuda.Event = Event
cuda.get_elapsed_time = _elapsed_ms
cuda.runtime = types.SimpleNamespace(
    getDevice=lambda: 0, setDevice=lambda d: Device(d) and None, getDeviceCount=_device_count,
    deviceSynchronize=lambda: None,
    getDeviceProperties=lambda d: {"name": b"minigrad CUDA emulator (CPU)", "multiProcessorCount": SM_COUNT,
                                   "totalGlobalMem": 1 << 30, "major": 9, "minor": 0},
    runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000)
cuda.compiler = types.SimpleNamespace(CompileException=_CompileException)
cuda.is_available = lambda: True
cuda.get_device_id = lambda: 0
cuda.Stream = types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None))
cuda.get_current_stream = lambda: cuda.Stream.null
cuda.MemoryPool = _MemoryPool
cuda.set_allocator = lambda *a, **k: None


def get_default_memory_pool():
    """A memory pool that reports nothing (NumPy owns the memory)."""
    return _pool


def get_default_pinned_memory_pool():
    """The same do-nothing pool, for pinned memory."""
    return _pool


def is_available():
    """Always True: the emulated GPU is always there."""
    return True


def RawModule(*args, **kwargs):  # noqa: N802  (CuPy's name)
    """Not emulated: raises, pointing at the loader the emulator replaces."""
    raise RuntimeError("CUDA emulator: cupy.RawModule is not emulated; kernels load through "
                       "kernels/cuda/_loader.py, which the emulator replaces")


__version__ = "0.0-emulated"


# ------------------------------------------------------------------ cupyx
def _scatter_add(a, slices, value):
    np.add.at(a, slices, value)


def _erf(x):
    import math

    x = np.asarray(x)
    host = np.frompyfunc(math.erf, 1, 1)(x.view(np.ndarray) if isinstance(x, ndarray) else x)
    return asarray(np.asarray(host, dtype=x.dtype if x.dtype.kind == "f" else np.float64))


cupyx = types.ModuleType("cupyx")
cupyx.scatter_add = _scatter_add
cupyx.scipy = types.ModuleType("cupyx.scipy")
cupyx.scipy.special = types.ModuleType("cupyx.scipy.special")
cupyx.scipy.special.erf = _erf
# what install() puts in sys.modules besides "cupy"
SUBMODULES = {"cupyx": cupyx, "cupyx.scipy": cupyx.scipy, "cupyx.scipy.special": cupyx.scipy.special}
