"""Run minigrad's CUDA kernels on the CPU: a test harness for machines without a GPU.

On a machine without a GPU the kernels in ``kernels/cuda/*.cu`` can only be compiled
(``nvcc -ptx``). This package runs them: each ``.cu`` file is compiled with the host's ``g++``
after ``runtime.hpp`` (a small CUDA runtime made of fibers, one per GPU thread, with real
barriers and warp shuffles) into a shared library, and each ``extern "C"`` kernel gets a
launcher that ctypes calls with the kernel's grid, block, dynamic shared memory and
arguments. It is slow (one CPU core, a context switch per thread per barrier) and meant
for small shapes: it checks the *logic* of a kernel (indexing, tile edges, barriers,
shuffles, the Python wrapper's launch configuration and argument types), not its speed.

Two ways to use it:

* :func:`get_module` / :func:`get_function` mirror ``kernels/cuda/_loader.py``; a kernel
  is called like a ``cupy.RawKernel``: ``kern(grid, block, args, shared_mem=0)``.
* :func:`emulate` (a context manager) or :func:`install` put a stand-in for CuPy in
  ``sys.modules["cupy"]`` (:mod:`.fake_cupy`: NumPy arrays of a subclass that plays a
  device array) and point the loader at this package, so the wrappers
  ``kernels/cuda/{matmul,conv,...}.py`` -- and the GPU tests in ``tests/gpu`` -- run
  unchanged. ``MINIGRAD_CUDA_EMULATOR=1 python -m pytest tests/gpu`` does that.

What is checked at every launch, the way a GPU (or CuPy) would fail, but with a message:

* each argument against the kernel's declared parameter: a device array for a pointer,
  with the element type the pointer names (``float*`` takes float32); a NumPy scalar of
  exactly the declared type for a value (``int`` takes ``np.int32``; a Python ``int`` is
  passed as ``long long`` and a ``float`` as ``double``, as CuPy does);
* block and grid limits, and dynamic shared memory over 48 KiB without
  ``max_dynamic_shared_size_bytes`` having been raised first;
* barriers: a ``__syncthreads`` some threads never reach, a shuffle whose mask names a
  lane that does not take part (reported, not hung);
* memory: every array made by the stand-in CuPy sits between guard bytes and starts out
  filled with 0xFF bytes (NaN for floats, -1 for integers); a launch that writes past
  either end of an argument's buffer raises, and outputs a kernel forgot to write stay
  NaN, so a comparison with the reference fails.

Compiled libraries are cached on disk (``$MINIGRAD_CUDA_EMULATOR_CACHE``, default
``~/.cache/minigrad-cuda-emulator``) keyed by the source text, the options and this
runtime, so only the first run of a file pays the compile (a few seconds).
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

__all__ = ["available", "why_unavailable", "compile_source", "get_module", "get_function", "EmulatedModule",
           "EmulatedKernel", "install", "uninstall", "emulate", "installed", "HERE"]

HERE = pathlib.Path(__file__).resolve().parent
RUNTIME = HERE / "runtime.hpp"
CXX = os.environ.get("CXX", "g++")
CXXFLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-fno-strict-aliasing", "-w")
SMEM_DEFAULT_LIMIT = 48 * 1024

_lock = threading.Lock()
_modules: dict = {}


def why_unavailable() -> str | None:
    """None when kernels can be emulated here, else why not (no C++ compiler)."""
    if shutil.which(CXX) is None:
        return f"no C++ compiler: {CXX!r} is not on PATH (set $CXX to another one)"
    return None


def available() -> bool:
    """Whether a C++ compiler is here to build emulated kernels."""
    return why_unavailable() is None


def _cache_dir() -> pathlib.Path:
    d = os.environ.get("MINIGRAD_CUDA_EMULATOR_CACHE")
    path = pathlib.Path(d) if d else pathlib.Path.home() / ".cache" / "minigrad-cuda-emulator"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home: a folder of our own in the temporary directory
        path = pathlib.Path(tempfile.gettempdir()) / f"minigrad-cuda-emulator-{os.getuid() if hasattr(os, 'getuid') else 0}"
        path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------ parsing the kernels
# C parameter types a kernel may take by value -> the NumPy dtype CuPy passes for them
_VALUE_TYPES = {
    "int": np.int32, "signed int": np.int32, "unsigned": np.uint32, "unsigned int": np.uint32,
    "long long": np.int64, "long long int": np.int64, "unsigned long long": np.uint64, "size_t": np.uint64,
    "long": np.int64, "unsigned long": np.uint64, "short": np.int16, "unsigned short": np.uint16,
    "char": np.int8, "signed char": np.int8, "unsigned char": np.uint8, "bool": np.bool_,
    "float": np.float32, "double": np.float64,
}


class Param:
    """One kernel parameter: its C type (without qualifiers), whether it is a pointer."""

    def __init__(self, text: str):
        self.text = text.strip()
        words = self.text.replace("*", " * ").split()
        self.name = words[-1]
        tokens = [w for w in words[:-1] if w not in ("const", "__restrict__", "volatile", "__restrict")]
        self.pointer = "*" in tokens
        if tokens.count("*") > 1:
            raise ValueError(f"kernel parameter {self.text!r}: pointers to pointers are not supported")
        self.base = " ".join(w for w in tokens if w != "*")
        self.ctype = " ".join(w for w in words[:-1] if w not in ("__restrict__", "__restrict"))
        if self.base not in _VALUE_TYPES:
            raise ValueError(f"kernel parameter {self.text!r}: type {self.base!r} is not one the emulator knows "
                             f"({sorted(_VALUE_TYPES)})")
        self.dtype = np.dtype(_VALUE_TYPES[self.base])

    def __repr__(self):
        return f"Param({self.text!r})"


def _balanced(text: str, i: int) -> int:
    """Index just past the parenthesis group that starts at text[i] == '('."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced parentheses in a kernel signature")


_KERNEL_START = re.compile(r'extern\s+"C"\s+__global__\s+void\s+')
_STATIC_SMEM = re.compile(r"(?<!extern )(?<!extern)\b__shared__\s+([^;]*);")
_DYN_SMEM = re.compile(r"extern\s+__shared__\s+((?:__align__\s*\(\s*\d+\s*\)\s*)?)([A-Za-z_][\w ]*?)\s+(\w+)\s*\[\s*\]\s*;")


def parse_kernels(text: str) -> dict:
    """``{name: [Param, ...]}`` for every ``extern "C" __global__`` kernel in preprocessed ``text``."""
    out = {}
    for m in _KERNEL_START.finditer(text):
        i = m.end()
        if text.startswith("__launch_bounds__", i):
            i = _balanced(text, text.index("(", i))
        m2 = re.compile(r"\s*(\w+)\s*\(").match(text, i)
        if m2 is None:
            continue
        name = m2.group(1)
        j = _balanced(text, m2.end() - 1)
        params = text[m2.end():j - 1].strip()
        out[name] = [] if params in ("", "void") else [Param(p) for p in params.split(",")]
    return out


def _launcher(name: str, params: list) -> str:
    args = ", ".join(f"*({p.ctype}*)args[{i}]" for i, p in enumerate(params))
    return (f'extern "C" int mgemu_launch_{name}(const unsigned int* grid, const unsigned int* block, '
            f"unsigned long long shmem, void** args, char* error, unsigned long long error_len) {{\n"
            f"    std::function<void()> body = [args]() {{ {name}({args}); }};\n"
            f"    return mgemu::launch(grid, block, shmem, body, error, error_len);\n}}\n")


def _run(cmd: list, what: str, stdin: str | None = None) -> str:
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"CUDA emulator: {what} failed ({' '.join(cmd[:3])} ...):\n{r.stderr[-4000:]}")
    return r.stdout


def _poison_shared(m) -> str:
    """``__shared__ T a[..], b[..];`` plus a statement that fills each array with 0xFF bytes
    once per block, when the first thread gets there (a GPU's shared memory starts out
    holding whatever the last block left; NaN makes reads of unwritten entries show)."""
    decl = m.group(1)
    body = re.sub(r"__align__\s*\(\s*\d+\s*\)", "", decl)
    names = []
    for part in body.split(","):
        part = re.sub(r"\[[^\]]*\]", "", part).strip()
        names.append(re.findall(r"\w+", part)[-1])
    return f"__shared__ {decl}; " + " ".join(f"MGEMU_POISON_SHARED({n});" for n in names)


def translate(source: str, options: tuple = ()) -> tuple[str, dict]:
    """(C++ text ready for g++, {kernel: params}) from a kernel file's source."""
    defines = [o for o in options if o.startswith(("-D", "-U"))]
    kernel_dir = HERE.parent  # where common.cuh is, for sources that still include it
    pre = _run([CXX, "-E", "-P", "-x", "c++", "-std=c++17", f"-I{kernel_dir}", *defines, "-"], "preprocessing",
               stdin=source)
    pre = _DYN_SMEM.sub(lambda m: f"{m.group(2)}* {m.group(3)} = ({m.group(2)}*)mgemu_dynamic_smem;", pre)
    pre = _STATIC_SMEM.sub(_poison_shared, pre)
    kernels = parse_kernels(pre)
    if not kernels:
        raise RuntimeError('CUDA emulator: no extern "C" __global__ kernel found in the source')
    text = '#include "runtime.hpp"\n' + pre + "\n" + "".join(_launcher(k, p) for k, p in kernels.items())
    return text, kernels


def compile_source(source: str, options: tuple = (), label: str = "kernel") -> "EmulatedModule":
    """Compile CUDA ``source`` (headers already pasted in) for the emulator; cached on disk."""
    reason = why_unavailable()
    if reason:
        raise RuntimeError(f"CUDA emulator: cannot compile {label}: {reason}")
    options = tuple(options)
    key_text = "\0".join([source, repr(options), RUNTIME.read_text(), " ".join(CXXFLAGS), CXX])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    with _lock:
        mod = _modules.get(key)
        if isinstance(mod, Exception):  # failed before: fail the same way without compiling again
            raise RuntimeError(str(mod))
        if mod is not None:
            return mod
        try:
            return _build(key, source, options, label)
        except RuntimeError as e:
            _modules[key] = e
            raise


def _build(key, source, options, label):
    """Translate, compile (unless the library is on disk already) and load one module."""
    text, kernels = translate(source, options)
    lib = _cache_dir() / f"{re.sub(r'[^A-Za-z0-9_]', '_', label)}-{key}.so"
    if not lib.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            cpp = pathlib.Path(tmp) / f"{label}.cpp"
            cpp.write_text(text)
            tmp_lib = pathlib.Path(tmp) / "out.so"
            _run([CXX, *CXXFLAGS, f"-I{HERE}", str(cpp), "-o", str(tmp_lib)], f"compiling {label}")
            # publish atomically: another process may be compiling the same file
            fd, staged = tempfile.mkstemp(dir=lib.parent, suffix=".so.tmp")
            os.close(fd)
            shutil.copyfile(tmp_lib, staged)
            os.replace(staged, lib)
    mod = EmulatedModule(label, ctypes.CDLL(str(lib)), kernels)
    _modules[key] = mod
    return mod


def get_module(name: str, options: tuple = ()) -> "EmulatedModule":
    """The emulated module of ``kernels/cuda/<name>.cu`` (what ``_loader.get_module`` returns on a GPU)."""
    if isinstance(options, str):
        raise TypeError(f"get_module: options must be a tuple of strings, got the string {options!r}")
    from .. import _loader

    return compile_source(_loader.read_source(name), tuple(options), label=name)


def get_function(name: str, kernel_name: str, options: tuple = ()) -> "EmulatedKernel":
    """The emulated kernel ``kernel_name`` of ``kernels/cuda/<name>.cu``."""
    return get_module(name, options).get_function(kernel_name)


class EmulatedModule:
    """A compiled kernel file: :meth:`get_function` like ``cupy.RawModule``."""

    def __init__(self, label, lib, kernels):
        self.label, self._lib, self.kernels = label, lib, kernels
        self._functions = {}

    def compile(self):
        """Nothing to do (``cupy.RawModule.compile``): the library was built when loaded."""
        return None

    def get_function(self, name: str) -> "EmulatedKernel":
        """The kernel ``name`` (an ``extern "C" __global__`` function of the file)."""
        fn = self._functions.get(name)
        if fn is None:
            if name not in self.kernels:
                raise RuntimeError(f"CUDA emulator: {self.label}.cu has no kernel named {name!r} "
                                   f"(kernels: {sorted(self.kernels)})")
            entry = getattr(self._lib, f"mgemu_launch_{name}")
            entry.restype = ctypes.c_int
            entry.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), ctypes.c_ulonglong,
                              ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_ulonglong]
            fn = self._functions[name] = EmulatedKernel(self.label, name, self.kernels[name], entry)
        return fn


def _dim3(v, what, kernel):
    if isinstance(v, (int, np.integer)):
        v = (v,)
    v = tuple(int(x) for x in v)
    if not 1 <= len(v) <= 3 or any(x < 0 for x in v):
        raise ValueError(f"kernel {kernel}: {what} must be 1 to 3 non-negative sizes, got {v}")
    return v + (1,) * (3 - len(v))


class EmulatedKernel:
    """One kernel; call it like a ``cupy.RawKernel``: ``kern(grid, block, args, shared_mem=0)``."""

    def __init__(self, label, name, params, entry):
        self.label, self.name, self.params, self._entry = label, name, params, entry
        self.max_dynamic_shared_size_bytes = SMEM_DEFAULT_LIMIT
        self.launches = 0

    def __repr__(self):
        return f"EmulatedKernel({self.label}.cu: {self.name})"

    def _convert(self, i, p, a, keep):
        from . import fake_cupy

        where = f"kernel {self.name}: argument {i} ({p.text})"
        if p.pointer:
            if not isinstance(a, fake_cupy.ndarray):
                raise TypeError(f"{where} needs a device array, got {type(a).__name__}")
            if a.dtype != p.dtype:
                raise TypeError(f"{where} points to {p.base} ({p.dtype}), got an array of {a.dtype}")
            ptr = ctypes.c_void_p(a.ctypes.data if a.size else 0)
            keep.append(ptr)
            return ctypes.addressof(ptr)  # the launcher reads the pointer value from here
        if isinstance(a, (bool, np.bool_)):
            dt = np.dtype(np.bool_)
        elif isinstance(a, int):
            dt = np.dtype(np.int64)  # CuPy passes a Python int as long long
        elif isinstance(a, float):
            dt = np.dtype(np.float64)
        elif isinstance(a, np.generic):
            dt = a.dtype
        else:
            raise TypeError(f"{where} needs a scalar of {p.dtype}, got {type(a).__name__}")
        if dt != p.dtype:
            raise TypeError(f"{where} is {p.base}, which takes {p.dtype.name}, but got a {dt.name} "
                            f"({a!r}): on a GPU the arguments after it would be read from the wrong bytes")
        buf = np.array(a, dtype=dt)
        keep.append(buf)
        return buf.ctypes.data  # the launcher reads the value's bytes from here

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
        grid3, block3 = _dim3(grid, "grid", self.name), _dim3(block, "block", self.name)
        args = tuple(args)
        if len(args) != len(self.params):
            raise TypeError(f"kernel {self.name} takes {len(self.params)} arguments "
                            f"({', '.join(p.text for p in self.params)}), got {len(args)}")
        shared_mem = int(shared_mem)
        if shared_mem > self.max_dynamic_shared_size_bytes:
            raise RuntimeError(
                f"kernel {self.name}: {shared_mem} bytes of dynamic shared memory, but the limit is "
                f"{self.max_dynamic_shared_size_bytes} (raise max_dynamic_shared_size_bytes first above 48 KiB)")
        if 0 in grid3:
            return  # CuPy launches nothing for an empty grid
        keep = []  # the argument values, alive until the launch returns
        argv = (ctypes.c_void_p * max(1, len(args)))()
        for i, (p, a) in enumerate(zip(self.params, args)):
            argv[i] = self._convert(i, p, a, keep)
        g = (ctypes.c_uint * 3)(*grid3)
        b = (ctypes.c_uint * 3)(*block3)
        if os.environ.get("MINIGRAD_CUDA_EMULATOR_RACECHECK", "") not in ("", "0"):
            self._launch_twice(g, b, shared_mem, argv, args, grid3, block3)
        else:
            self._launch(g, b, shared_mem, argv, grid3, block3)
        from . import fake_cupy

        for i, (p, a) in enumerate(zip(self.params, args)):
            if p.pointer:
                bad = fake_cupy.guard_damage(a)
                if bad:
                    raise RuntimeError(f"emulated CUDA kernel {self.label}.cu:{self.name} (grid {grid3}, block "
                                       f"{block3}) wrote outside argument {i} ({p.text}): {bad}")


    def _launch(self, g, b, shared_mem, argv, grid3, block3):
        err = ctypes.create_string_buffer(512)
        rc = self._entry(g, b, shared_mem, argv, err, 512)
        self.launches += 1
        if rc:
            raise RuntimeError(f"emulated CUDA kernel {self.label}.cu:{self.name} (grid {grid3}, block {block3}): "
                               f"{err.value.decode(errors='replace')}")

    def _launch_twice(self, g, b, shared_mem, argv, args, grid3, block3):
        """MINIGRAD_CUDA_EMULATOR_RACECHECK=1: run the launch with every block's threads in
        forward order, then again from the same memory in reverse order, and compare what
        the kernel wrote. A correct kernel writes the same either way; a race between
        barriers (one thread reading what another writes in the same interval) does not.
        Float results may differ in the last bits where atomics add in another order, so
        they are compared with a tolerance of a few units in the last place."""
        outs = [(i, p, a) for i, (p, a) in enumerate(zip(self.params, args))
                if p.pointer and "const" not in p.ctype.split() and a.size]
        roots = []
        for _, _, a in outs:
            root = a
            while getattr(root, "base", None) is not None:
                root = root.base
            if not any(r is root for r, _ in roots):
                roots.append((root, np.array(root, copy=True)))
        previous = os.environ.get("MINIGRAD_CUDA_EMULATOR_ORDER")
        try:
            os.environ["MINIGRAD_CUDA_EMULATOR_ORDER"] = "forward"
            self._launch(g, b, shared_mem, argv, grid3, block3)
            first = [np.array(a, copy=True) for _, _, a in outs]
            for root, saved in roots:
                root[...] = saved
            os.environ["MINIGRAD_CUDA_EMULATOR_ORDER"] = "reverse"
            self._launch(g, b, shared_mem, argv, grid3, block3)
        finally:
            if previous is None:
                os.environ.pop("MINIGRAD_CUDA_EMULATOR_ORDER", None)
            else:
                os.environ["MINIGRAD_CUDA_EMULATOR_ORDER"] = previous
        for (i, p, a), want in zip(outs, first):
            got = np.asarray(a)
            if np.array_equal(got, want, equal_nan=got.dtype.kind == "f"):
                continue
            if got.dtype.kind == "f":
                eps = np.finfo(got.dtype).eps
                scale = np.nanmax(np.abs(want), initial=0.0) if want.size else 0.0
                if np.allclose(got, want, rtol=16 * eps, atol=16 * eps * max(scale, 1.0), equal_nan=True):
                    continue
            diff = np.flatnonzero((got != want).ravel())
            k = int(diff[0])
            raise RuntimeError(
                f"emulated CUDA kernel {self.label}.cu:{self.name} (grid {grid3}, block {block3}) writes different "
                f"values to argument {i} ({p.text}) when its threads run in another order: a race (a thread "
                f"reads what another writes with no barrier in between). {diff.size} of {got.size} entries "
                f"differ; the first at flat index {k}: {want.ravel()[k]!r} (forward) vs {got.ravel()[k]!r} (reverse)")


# ------------------------------------------------------------------ standing in for CuPy
_saved: list = []


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_saved)


def install(sm_count: int = 4) -> None:
    """Make ``import cupy`` give the stand-in (:mod:`.fake_cupy`) and the loader build
    kernels with the emulator, until :func:`uninstall`. ``sm_count`` is the number of
    multiprocessors the stand-in GPU reports (wrappers use it to pick tile sizes)."""
    from .. import _loader
    from . import fake_cupy

    if _saved:
        raise RuntimeError("the CUDA emulator is installed already")
    reason = why_unavailable()
    if reason:
        raise RuntimeError(f"CUDA emulator: {reason}")
    fake_cupy.SM_COUNT = int(sm_count)
    names = ("cupy", *fake_cupy.SUBMODULES)
    _saved.append(({n: sys.modules.get(n) for n in names}, _loader.get_module, _loader.get_function))
    sys.modules["cupy"] = fake_cupy
    sys.modules.update(fake_cupy.SUBMODULES)
    _loader.get_module = get_module
    _loader.get_function = get_function
    try:
        import minigrad.backend as backend

        _saved.append((backend, backend._cupy, backend._cupy_error))
        backend._cupy, backend._cupy_error = None, None
    except Exception:  # noqa: BLE001  (the emulator also works without minigrad's backend)
        pass


def uninstall() -> None:
    """Undo :func:`install`."""
    from .. import _loader

    if not _saved:
        return
    if len(_saved) > 1:
        backend, c, e = _saved.pop()
        backend._cupy, backend._cupy_error = c, e
    modules, gm, gf = _saved.pop()
    for n, m in modules.items():
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m
    _loader.get_module, _loader.get_function = gm, gf


@contextlib.contextmanager
def emulate(sm_count: int = 4):
    """``with emulate(): ...`` runs the block with :func:`install` in effect."""
    install(sm_count)
    try:
        yield sys.modules["cupy"]
    finally:
        uninstall()
