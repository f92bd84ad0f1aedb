"""What every Numba kernel in minigrad shares: threads, aligned memory, workspaces.

Threading policy (the measurements behind it are in ``docs/kernels-matmul.md``)
-----------------------------------------------------------------------------
A process that runs minigrad has up to two thread pools that want every core:

* Numba's pool, which runs the ``prange`` loops of the native kernels. With the
  default ``omp`` threading layer its workers *spin* for a few milliseconds after
  each parallel loop, so that the next loop starts in microseconds instead of the
  ~100 us it takes to wake sleeping threads in a VM;
* the BLAS library behind NumPy (OpenBLAS in the NumPy wheels), whose workers also
  spin (with ``sched_yield``) after each call.

When one training step alternates between the two, each pool's spinning workers
steal the cores the other pool's workers need. On a 2-core machine that made a step
mixing a Numba kernel and ``a @ w`` 20-100x slower than either alone. Choosing one
pool fixes it, so minigrad's policy is:

**All parallel CPU work of minigrad runs on Numba's pool, and NumPy's BLAS is limited
to one thread** the first time a native minigrad kernel runs (:func:`configure`).
minigrad's native matmul is the GEMM every layer uses, so nothing is lost there;
a stray ``np.dot`` (in a reference kernel, or in user code) runs on one core.

The BLAS thread count is changed through the library's own C function
(``openblas_set_num_threads`` and its renamed copies in the NumPy wheels, or
``MKL_Set_Num_Threads``), found among the shared libraries already loaded in the
process; no extra dependency (such as threadpoolctl) is needed. When no such library
is found the BLAS is left as it is.

Knobs (environment variables, read when :func:`configure` first runs):

* ``MINIGRAD_BLAS_THREADS``: ``keep`` leaves the BLAS thread count alone; a number
  sets it to that number (default ``1``);
* ``MINIGRAD_NUM_THREADS``: threads for Numba's pool (default: Numba's default,
  which is the number of cores or ``NUMBA_NUM_THREADS``).

:func:`restore_blas_threads` undoes the change; :func:`blas_threads` is a context
manager that gives the BLAS ``n`` threads for a block (the benchmarks use it to time
OpenBLAS at full strength).

What minigrad does *not* do by default: set ``NUMBA_CPU_FEATURES``,
``NUMBA_THREADING_LAYER`` or ``OMP_*`` variables. They only take effect before Numba
(or the OpenMP runtime) is loaded, they change every other Numba function in the
user's process, and a user who imported Numba first would silently get different
behaviour.

512-bit vectors (opt-in)
------------------------
On Intel CPUs with AVX-512, LLVM (and so Numba) prefers 256-bit vectors unless told
otherwise; a GEMM then tops out near the 256-bit FMA peak. ``MINIGRAD_NUMBA_512=1``
asks this module to set ``NUMBA_CPU_FEATURES`` to the host's features plus
``-prefer-256-bit`` (see :func:`avx512_features`) *if* Numba has not been imported
yet and the user has set neither ``NUMBA_CPU_FEATURES`` nor ``NUMBA_CPU_NAME``.
Otherwise it warns and changes nothing. Numba's on-disk cache keys include the CPU
features, so cached kernels of both kinds can coexist.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import warnings

import numpy as np


def avx512_features():
    """LLVM feature string of this CPU with 512-bit vectors preferred, or None when
    the CPU has no AVX-512. Usable as ``NUMBA_CPU_FEATURES`` (set before Numba loads)."""
    import llvmlite.binding as ll

    feats = ll.get_host_cpu_features()
    if not feats.get("avx512f"):
        return None
    return feats.flatten() + ",-prefer-256-bit"


def _opt_in_512bit():
    if os.environ.get("MINIGRAD_NUMBA_512", "").strip() != "1":
        return
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return  # the user's own settings win
    if "numba" in sys.modules:
        warnings.warn("MINIGRAD_NUMBA_512=1 has no effect: Numba was imported before minigrad's kernels. "
                      "Set NUMBA_CPU_FEATURES yourself (minigrad.kernels.cpu._runtime.avx512_features()) "
                      "before importing numba.", RuntimeWarning, stacklevel=3)
        return
    feats = avx512_features()
    if feats is not None:
        os.environ["NUMBA_CPU_FEATURES"] = feats


_opt_in_512bit()

import numba  # noqa: E402  (after the opt-in above, which must precede it)

__all__ = [
    "configure", "set_num_threads", "get_num_threads", "blas_threads", "restore_blas_threads",
    "blas_info", "threading_info", "aligned_empty", "workspace", "release_workspaces", "is_aligned", "ALIGN",
    "avx512_features",
]

ALIGN = 64  # bytes: one cache line, and one 512-bit vector

# ----------------------------------------------------------------------------- BLAS control

# (symbol that sets the thread count, symbol that reads it, name for humans)
_BLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_", "OpenBLAS"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads", "OpenBLAS"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_", "OpenBLAS"),
    ("openblas_set_num_threads", "openblas_get_num_threads", "OpenBLAS"),
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads", "MKL"),
)

_blas = None          # list of (setter, getter, name, path) once searched
_blas_default = None  # NumPy's BLAS thread count before minigrad changed it
_configured = False
_lock = threading.Lock()


def _loaded_libraries():
    """Paths of the shared libraries loaded in this process (Linux: /proc/self/maps)."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[-1].startswith("/") and parts[-1] not in paths:
                    paths.append(parts[-1])
    except OSError:
        pass
    # NumPy wheels on macOS/Windows keep their BLAS next to the package
    here = os.path.dirname(np.__file__)
    for d in (os.path.join(os.path.dirname(here), "numpy.libs"), os.path.join(here, ".dylibs")):
        if os.path.isdir(d):
            paths += [os.path.join(d, n) for n in sorted(os.listdir(d)) if os.path.join(d, n) not in paths]
    return paths


def _find_blas():
    """Every BLAS library loaded in the process, NumPy's first.

    There can be several: NumPy's wheel bundles one OpenBLAS, SciPy's wheel another
    (and Numba imports SciPy when it is installed). Each has its own thread pool.
    Only files named like a BLAS library are opened (``lib*openblas*``,
    ``lib*mkl_rt*``), never extension modules that merely link to one.
    """
    global _blas
    if _blas is not None:
        return _blas
    found = []
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    for path in _loaded_libraries():
        name = os.path.basename(path).lower()
        if not name.startswith("lib") or not ("openblas" in name or "mkl_rt" in name):
            continue
        if not any(name.endswith(e) or (e + ".") in name for e in (".so", ".dylib", ".dll")):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name, human in _BLAS_SYMBOLS:
            setter = getattr(lib, set_name, None)
            getter = getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.restype = None
                setter.argtypes = [ctypes.c_int]  # a C int even in the 64-bit-integer builds
                getter.restype = ctypes.c_int
                getter.argtypes = []
                entry = (setter, getter, human, path)
                if path.startswith(numpy_dir + os.sep + "numpy"):
                    found.insert(0, entry)
                else:
                    found.append(entry)
                break
    _blas = found
    return _blas


def _blas_get():
    """NumPy's BLAS thread count (None when no BLAS library was found)."""
    b = _find_blas()
    return b[0][1]() if b else None


def _blas_set(n: int):
    for setter, *_ in _find_blas():
        setter(int(n))


def blas_info() -> dict:
    """Which BLAS NumPy uses here, its library path and current thread count."""
    b = _find_blas()
    if not b:
        return {"name": "unknown", "path": None, "threads": None, "others": []}
    return {"name": b[0][2], "path": b[0][3], "threads": b[0][1](), "others": [e[3] for e in b[1:]]}


def restore_blas_threads():
    """Give the BLAS back the thread count it had before :func:`configure` changed it."""
    if _blas_default is not None:
        _blas_set(_blas_default)


@contextlib.contextmanager
def blas_threads(n: int | None = None):
    """Run a block with the BLAS on ``n`` threads (default: its count before minigrad).

    Used by the benchmarks to time NumPy/OpenBLAS at full strength; inside the block
    the thread-pool contention described in this module's docstring comes back if
    native kernels run too.
    """
    configure()
    old = _blas_get()
    if n is None:
        n = _blas_default if _blas_default is not None else old
    if n is not None:
        _blas_set(n)
    try:
        yield
    finally:
        if old is not None:
            _blas_set(old)


# ----------------------------------------------------------------------------- Numba threads

def set_num_threads(n: int):
    """Threads used by the native (Numba) kernels; 1 <= n <= NUMBA_NUM_THREADS."""
    limit = numba.config.NUMBA_NUM_THREADS
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= limit:
        raise ValueError(f"set_num_threads: n must be an integer in 1..{limit} (NUMBA_NUM_THREADS), got {n!r}")
    numba.set_num_threads(int(n))


def get_num_threads() -> int:
    return numba.get_num_threads()


def configure():
    """Apply the threading policy once (called by every native kernel wrapper; cheap after)."""
    global _configured, _blas_default, _blas
    if _configured:
        return
    with _lock:
        if _configured:
            return
        if "scipy" in sys.modules:
            # Numba imports SciPy and, at its first compilation, scipy.linalg, which
            # loads SciPy's own OpenBLAS (used by np.dot inside jitted code). Load it
            # now so that its thread pool is limited too.
            try:
                import scipy.linalg  # noqa: F401
            except Exception:
                pass
        _blas = None  # search again: libraries may have been loaded since the last look
        want = os.environ.get("MINIGRAD_BLAS_THREADS", "1").strip().lower()
        if want != "keep":
            bad = f"MINIGRAD_BLAS_THREADS={want!r} is not valid; use 'keep' or a positive integer"
            try:
                n = int(want)
            except ValueError:
                raise ValueError(bad) from None
            if n < 1:
                raise ValueError(bad)
            _blas_default = _blas_get()
            if _blas_default is not None:
                _blas_set(n)
        nt = os.environ.get("MINIGRAD_NUM_THREADS")
        if nt:
            try:
                set_num_threads(int(nt))
            except ValueError:
                raise ValueError(f"MINIGRAD_NUM_THREADS={nt!r} is not valid; use an integer in "
                                 f"1..{numba.config.NUMBA_NUM_THREADS}") from None
        _configured = True


def threading_info() -> dict:
    """The numbers a benchmark header prints: cores, Numba threads and layer, BLAS."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = f"not started (configured: {numba.config.THREADING_LAYER})"
    return {
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "blas": blas_info(),
        "blas_threads_before_minigrad": _blas_default,
    }


# ----------------------------------------------------------------------------- memory

def aligned_empty(shape, dtype, align: int = ALIGN) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``align``-byte boundary.

    NumPy only promises 16-byte alignment. We allocate ``align`` spare bytes and start
    the array at the first aligned address inside them.
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = 1
    for s in shape:
        n *= int(s)
    raw = np.empty(n * dtype.itemsize + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)


class _Workspaces(threading.local):
    def __init__(self):
        self.buffers = {}


_workspaces = _Workspaces()


def workspace(name: str, n: int, dtype) -> np.ndarray:
    """A reusable aligned 1-D scratch buffer of at least ``n`` elements, per thread.

    Kernels that pack operands need megabytes of scratch memory on every call. Fresh
    multi-megabyte allocations are returned to the OS by glibc after each call, and
    the page faults of getting them back are slow (a 5x slowdown of a convolution was
    measured). Keeping one buffer per (name, dtype) and growing it when needed avoids
    that. The contents are garbage; the buffer is only valid until the next call
    asking for the same name on the same thread.
    """
    dtype = np.dtype(dtype)
    key = (name, dtype.str)
    buf = _workspaces.buffers.get(key)
    if buf is None or buf.shape[0] < n:
        size = max(int(n), 1024)
        if buf is not None:
            size = max(size, buf.shape[0] + buf.shape[0] // 2)
        buf = aligned_empty(size, dtype)
        _workspaces.buffers[key] = buf
    return buf[:n]


def release_workspaces():
    """Free this thread's scratch buffers (they are re-created on demand)."""
    _workspaces.buffers.clear()


def is_aligned(a: np.ndarray, align: int = ALIGN) -> bool:
    """True when the data of ``a`` starts on an ``align``-byte boundary."""
    return a.ctypes.data % align == 0
