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
import time

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
    "avx512_features", "cache_dir", "quiet", "say", "compile_times", "NOTICE_AFTER", "writeable",
    "writeable_inputs", "thread_share",
]

ALIGN = 64  # bytes: one cache line, and one 512-bit vector


@numba.njit(cache=True, inline="always")
def thread_share(n, T, t):
    """(lo, hi): the items [lo, hi) of n that worker t of T takes; contiguous ranges whose
    sizes differ by at most one (the drivers that run one ``prange`` iteration per thread)."""
    return t * n // T, (t + 1) * n // T

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


# ----------------------------------------------------------------------------- compilation: cache and notices
#
# Numba compiles a kernel the first time it is called with new argument types, and
# with ``cache=True`` saves the machine code for later processes. Two things are
# added here, both for a learner's first run:
#
# * where that cache lives: ``~/.cache/minigrad/numba`` (or ``$XDG_CACHE_HOME``,
#   ``$MINIGRAD_CACHE_DIR``), not Numba's default ``__pycache__`` next to the
#   installed source. So it works when site-packages is read-only, and it survives
#   ``pip install`` of the same code again (Numba keys cached code by the source's
#   content). It applies only to minigrad's own kernels; a ``NUMBA_CACHE_DIR`` set by
#   the user wins, as for any other Numba code;
# * never a silent wait: when a compilation has run for ``NOTICE_AFTER`` seconds, one
#   line on stderr says what is being compiled and why (once per kernel family and
#   dtype in a process). ``MINIGRAD_QUIET=1`` or :func:`quiet` silences it.

#: seconds of compilation after which the user is told what is going on
NOTICE_AFTER = 1.0

_compile_lock = threading.Lock()
_compile_state = threading.local()
_compile_seconds = {}         # (family, dtype) -> seconds compiled in this process
_announced = set()            # (family, dtype) already announced in this process
_quiet_depth = 0


def cache_dir():
    """The folder where minigrad's compiled kernels are kept between processes.

    ``NUMBA_CACHE_DIR`` when the user set it; else ``$MINIGRAD_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/minigrad/numba`` (``~/.cache/minigrad/numba``). Deleting it
    only costs a recompilation.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if os.environ.get("MINIGRAD_CACHE_DIR"):
        return os.environ["MINIGRAD_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minigrad", "numba")


def _install_cache_locator():
    """Put minigrad's kernels' Numba cache in :func:`cache_dir` (see above)."""
    try:
        from numba.core import caching
        base = getattr(caching, "UserProvidedCacheLocator", None) or caching._UserProvidedCacheLocator
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    except (ImportError, AttributeError):   # another Numba: keep its default locations
        return
    kernels_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if any(getattr(c, "_minigrad", False) for c in impl._locator_classes):
        return

    class MinigradCacheLocator(base):
        _minigrad = True

        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            self._cache_path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if numba.config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR"):
                return None          # the user's choice: Numba's own locator uses it
            if not os.path.abspath(py_file).startswith(kernels_dir + os.sep):
                return None          # not a minigrad kernel
            # the parent checks config.CACHE_DIR; skip to the mixin that creates and
            # tests the folder (None when it is not writable: Numba's defaults follow)
            return super(base, cls).from_function(py_func, py_file)

    impl._locator_classes.insert(0, MinigradCacheLocator)


def _quiet():
    return _quiet_depth > 0 or os.environ.get("MINIGRAD_QUIET", "").strip() not in ("", "0")


@contextlib.contextmanager
def quiet():
    """A block in which minigrad does not announce its compilations."""
    global _quiet_depth
    with _compile_lock:
        _quiet_depth += 1
    try:
        yield
    finally:
        with _compile_lock:
            _quiet_depth -= 1


def say(message):
    """Print one line to stderr unless quiet, without breaking a progress bar."""
    if _quiet():
        return
    tqdm = sys.modules.get("tqdm")
    try:
        if tqdm is not None:
            tqdm.tqdm.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)
    except Exception:
        pass


def _announce(family, dtype):
    with _compile_lock:
        if (family, dtype) in _announced:
            return
        _announced.add((family, dtype))
    try:
        from .. import COMPILE_SECONDS      # measured per family: an estimate for this machine
    except ImportError:
        COMPILE_SECONDS = {}
    est = COMPILE_SECONDS.get(family)
    about = f", about {est:.0f} s" if est else ""
    say(f"minigrad: compiling the {family} kernels for {dtype} (once per machine{about}; "
        f"later runs load them from the cache)")


# private helper modules whose kernels compile as part of the family that calls them
_HELPER_FAMILY = {"_gemm": "matmul", "_qlayers": "quant"}


def _family_and_dtype(data):
    disp = data.get("dispatcher")
    module = getattr(getattr(disp, "py_func", None), "__module__", "") or ""
    if not module.startswith(__name__.rsplit(".", 1)[0] + "."):
        return None, None
    family = module.rsplit(".", 1)[-1]
    family = _HELPER_FAMILY.get(family, family)
    dtype = "int"
    for a in data.get("args") or ():
        dt = getattr(a, "dtype", a)
        name = str(dt)
        if name in ("float32", "float64"):
            dtype = name
            break
    return family, dtype


def _install_compile_listener():
    try:
        from numba.core import event
    except ImportError:
        return

    class CompileWatch(event.Listener):
        """Times minigrad's top-level compilations; announces the long ones."""

        def on_start(self, ev):
            st = _compile_state
            st.depth = getattr(st, "depth", 0) + 1
            if st.depth != 1:
                return
            family, dtype = _family_and_dtype(ev.data or {})
            st.key = (family, dtype) if family else None
            st.t0 = time.perf_counter()
            st.timer = None
            if st.key is not None and st.key not in _announced and not _quiet():
                st.timer = threading.Timer(NOTICE_AFTER, _announce, args=st.key)
                st.timer.daemon = True
                st.timer.start()

        def on_end(self, ev):
            st = _compile_state
            st.depth = getattr(st, "depth", 1) - 1
            if st.depth != 0:
                return
            if getattr(st, "timer", None) is not None:
                st.timer.cancel()
            if getattr(st, "key", None) is None:
                return
            seconds = time.perf_counter() - st.t0
            with _compile_lock:
                _compile_seconds[st.key] = _compile_seconds.get(st.key, 0.0) + seconds
            log = os.environ.get("MINIGRAD_COMPILE_LOG")
            if log:
                disp = (ev.data or {}).get("dispatcher")
                name = getattr(getattr(disp, "py_func", None), "__qualname__", "?")
                try:
                    with open(log, "a") as f:
                        f.write(f'{{"family": "{st.key[0]}", "dtype": "{st.key[1]}", "function": "{name}", '
                                f'"seconds": {seconds:.3f}}}\n')
                except OSError:
                    pass

    event.register("numba:compile", CompileWatch())


def compile_times():
    """Seconds spent compiling each (kernel family, dtype) in this process (cache
    loads excluded)."""
    with _compile_lock:
        return dict(_compile_seconds)


class _Alias:
    """Keeps a read-only array alive behind a writeable alias of its memory."""

    def __init__(self, iface, owner):
        self.__array_interface__ = iface
        self.owner = owner


def writeable(a):
    """``a`` itself, or for a read-only NumPy array a writeable alias of the same memory.

    Numba compiles a separate specialisation for read-only arrays (seconds to a minute
    per kernel); kernels only read their inputs, so they get an alias typed as an
    ordinary array instead. Never write through the alias.
    """
    if type(a) is np.ndarray and not a.flags.writeable:
        iface = dict(a.__array_interface__)
        iface["data"] = (iface["data"][0], False)
        return np.asarray(_Alias(iface, a))
    return a


def writeable_inputs(kernel):
    """``kernel`` with its read-only array arguments passed as writeable aliases."""
    import functools

    @functools.wraps(kernel)
    def run(*args, **kwargs):
        args = [writeable(a) for a in args]
        if kwargs:
            kwargs = {k: writeable(v) for k, v in kwargs.items()}
        return kernel(*args, **kwargs)

    return run


_install_cache_locator()
_install_compile_listener()
