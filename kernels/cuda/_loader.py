"""Build the CUDA sources in this folder with CuPy, once per process.

A kernel file ``kernels/cuda/<name>.cu`` is plain CUDA C++: ``extern "C" __global__``
functions, optionally including ``common.cuh`` (helpers shared by all kernel files).
The same file compiles with ``nvcc -ptx`` (CI checks that, GPU or not) and here with
NVRTC, CUDA's runtime compiler, through ``cupy.RawModule``::

    from minigrad.kernels.cuda import _loader
    kern = _loader.get_function("gemm", "sgemm_128_nn")      # a cupy.RawKernel
    kern(grid, block, (a, b, c, np.int32(m), ...))           # launch

How a source becomes a kernel:

1. :func:`read_source` reads the file and pastes every ``#include "x.cuh"`` that names
   a header in this folder into the text (each header once, with ``#line``
   directives, so compiler messages still name the original file and line). CuPy
   caches compiled binaries on disk keyed by the source text and the options; with
   headers pasted in, editing a header changes the key, so no stale binary is used.
2. :func:`get_module` compiles the text with NVRTC for the current GPU, with
   ``-std=c++17`` and this folder on the include path, and caches the module per
   (file, options, device) for the life of the process. A compile error is raised as
   a RuntimeError naming the file and carrying NVRTC's log.
3. :func:`get_function` takes one ``extern "C"`` kernel out of the module.

The kernel families' wrappers launch through the helpers at the end of this file:
:func:`on_gpu` (does this call run natively?), :func:`dtype_suffix` (kernels come in
``_f32`` and ``_f64`` versions), :func:`launch_flat` (one thread per output element)
and :func:`launch_rows` (one warp or one block per row).

CuPy is imported only when a function here is called, so importing this module (and
every kernel family) works on a machine without CuPy or without a GPU.
"""
from __future__ import annotations

import pathlib
import re
import threading

import numpy as np

from .._arrays import is_cupy

__all__ = ["KERNEL_DIR", "BASE_OPTIONS", "source_path", "read_source", "get_module", "get_function",
           "launch_1d", "on_gpu", "dtype_suffix", "launch_flat", "launch_rows", "clear_cache"]

KERNEL_DIR = pathlib.Path(__file__).resolve().parent
BASE_OPTIONS = ("-std=c++17",)

_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"\s*$')
_PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\s*$")
_cache: dict = {}
_lock = threading.Lock()


def _cupy():
    """CuPy, checked the way the device layer checks it (clear error when missing)."""
    from minigrad.backend import Device, _require_cuda

    return _require_cuda(Device("cuda"))


def source_path(name: str) -> pathlib.Path:
    """The path of ``kernels/cuda/<name>.cu``; raises FileNotFoundError listing the
    files that exist when there is none."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"CUDA kernel file name must be a plain name like 'gemm', got {name!r}")
    path = KERNEL_DIR / f"{name}.cu"
    if not path.is_file():
        have = sorted(p.stem for p in KERNEL_DIR.glob("*.cu"))
        raise FileNotFoundError(f"CUDA kernel source {name!r}: no file {path} (available: {have})")
    return path


def _expand(path: pathlib.Path, seen: set) -> str:
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        m = _INCLUDE.match(line)
        if m is not None and (KERNEL_DIR / m.group(1)).is_file():
            header = (KERNEL_DIR / m.group(1)).resolve()
            if header not in seen:
                seen.add(header)
                out.append(f'#line 1 "{header.name}"')
                out.append(_expand(header, seen))
            out.append(f'#line {lineno + 1} "{path.name}"')
            continue
        if _PRAGMA_ONCE.match(line):  # the header is pasted once already; keep line numbers
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


def read_source(name: str) -> str:
    """The source of ``<name>.cu`` with the headers of this folder pasted in."""
    path = source_path(name)
    return f'#line 1 "{path.name}"\n' + _expand(path, {path.resolve()}) + "\n"


def get_module(name: str, options: tuple = ()):
    """The ``cupy.RawModule`` built from ``<name>.cu``, compiled once per process for each
    (name, options, current device). ``options`` are extra NVRTC options, e.g.
    ``("-DBLOCK=128",)``."""
    if isinstance(options, str):
        raise TypeError(f"get_module: options must be a tuple of strings, got the string {options!r}")
    options = tuple(options)
    cp = _cupy()
    dev = cp.cuda.runtime.getDevice()
    key = (name, options, dev)
    mod = _cache.get(key)
    if mod is not None:
        return mod
    with _lock:
        mod = _cache.get(key)
        if mod is None:
            path = source_path(name)
            code = read_source(name)
            opts = BASE_OPTIONS + (f"-I{KERNEL_DIR}",) + options
            try:
                mod = cp.RawModule(code=code, options=opts)
                mod.compile()
            except cp.cuda.compiler.CompileException as e:
                raise RuntimeError(f"CUDA kernel source {path} failed to compile (options {opts}):\n{e}") from None
            _cache[key] = mod
    return mod


def get_function(name: str, kernel_name: str, options: tuple = ()):
    """The ``cupy.RawKernel`` for the ``extern "C"`` kernel ``kernel_name`` in ``<name>.cu``."""
    mod = get_module(name, options)
    try:
        return mod.get_function(kernel_name)
    except Exception as e:  # CUDA driver error: no such symbol
        raise RuntimeError(f"CUDA kernel source {source_path(name)} has no kernel named {kernel_name!r} "
                           f"(it must be declared extern \"C\" __global__): {e}") from None


def launch_1d(n: int, block: int = 256) -> tuple:
    """``(grid, block)`` tuples covering ``n`` threads with blocks of ``block``.

    At least one block is launched (kernels should check ``i < n``); the grid is
    capped at 2**31 - 1 blocks, so kernels for huge ``n`` loop with
    ``MG_GRID_STRIDE_LOOP`` from common.cuh.
    """
    n = int(n)
    block = int(block)
    if block < 1 or block > 1024:
        raise ValueError(f"launch_1d: block must be in 1..1024 threads, got {block}")
    if n < 0:
        raise ValueError(f"launch_1d: n must be >= 0, got {n}")
    grid = max(1, min((n + block - 1) // block, 2 ** 31 - 1))
    return (grid,), (block,)


def on_gpu(*arrays) -> bool:
    """True when every array (``None`` skipped) is a CuPy array, all of them float32 or
    all float64: the calls the float kernels run; anything else goes to the reference."""
    dtypes = set()
    for a in arrays:
        if a is None:
            continue
        if not is_cupy(a):
            return False
        dtypes.add(a.dtype)
    return len(dtypes) == 1 and dtypes.pop() in (np.float32, np.float64)


def dtype_suffix(dtype) -> str:
    """``"f32"`` or ``"f64"``: the suffix of a kernel's float32 or float64 version."""
    return "f32" if dtype == np.float32 else "f64"


def launch_flat(source: str, name: str, dtype, total: int, args: tuple, block: int = 256) -> None:
    """Launch ``<name>_<f32|f64>`` of ``<source>.cu`` with one thread per element of
    ``total`` (see :func:`launch_1d`)."""
    grid, threads = launch_1d(total, block)
    get_function(source, f"{name}_{dtype_suffix(dtype)}")(grid, threads, args)


def launch_rows(source: str, name: str, dtype, rows: int, length: int, args: tuple, *,
                warp_max: int, block_threads: int, warp_block: int) -> None:
    """Launch a row kernel ``<name>_<f32|f64>_<warp|block>`` of ``<source>.cu`` over
    ``rows`` rows of ``length`` values; ``(int64 rows, int32 length)`` follow ``args``.

    Rows of up to ``warp_max`` values take one warp each, ``warp_block // 32`` rows per
    block of ``warp_block`` threads; longer rows take a block of ``block_threads`` each.
    """
    if length <= warp_max:
        mode, grid, block = "warp", (-(-rows // (warp_block // 32)),), (warp_block,)
    else:
        mode, grid, block = "block", (rows,), (block_threads,)
    kernel = get_function(source, f"{name}_{dtype_suffix(dtype)}_{mode}")
    kernel(grid, block, args + (np.int64(rows), np.int32(length)))


def clear_cache() -> None:
    """Forget the compiled modules (the next call compiles, or loads CuPy's disk cache)."""
    with _lock:
        _cache.clear()
