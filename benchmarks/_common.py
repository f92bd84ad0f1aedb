"""Shared helpers for the benchmark scripts: timing, machine description, tables.

Timing rule (every benchmark uses it): run the function a few times to warm up (JIT
compilation, caches, thread pools), then take ``repeat`` (>= 7) measurements, each
of as many calls as fit in ``min_time`` seconds, and report the median per call.
Absolute times drift 10-25% between processes on a shared VM; ratios taken in the
same run are what to read.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _p in (ROOT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# Peak float32 FMA throughput of a 2-vCPU Intel Xeon VM with AVX-512, measured with a
# loop of 12 independent FMA chains per thread (the roofline's ceiling)
PEAK_GFLOPS_512 = 415.0
PEAK_GFLOPS_256 = 224.0


from minigrad.tuning import cpu_model  # noqa: E402  (one reading of the CPU's name)


def cpu_flags() -> str:
    """The vector extensions that matter for the kernels (from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    keep = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                            "avx512_bf16", "avx512_fp16", "amx_tile"]
                    return " ".join(f for f in keep if f in flags)
    except OSError:
        pass
    return "?"


def machine_info() -> dict:
    """CPU, cores, library versions, Numba threads and the BLAS behind NumPy."""
    import numpy as np
    import numba

    from minigrad.kernels.cpu import _runtime

    _runtime.configure()
    info = {
        "cpu": cpu_model(),
        "vector extensions": cpu_flags(),
        "cores (os.cpu_count)": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba target cpu": _numba_cpu(),
        "numba threads": numba.get_num_threads(),
        "numba threading layer": _runtime.threading_info()["numba_threading_layer"],
    }
    blas = _runtime.blas_info()
    info["BLAS"] = f"{blas['name']} ({os.path.basename(blas['path'] or '?')})"
    info["BLAS threads (minigrad policy / full)"] = (
        f"{blas['threads']} / {_runtime.threading_info()['blas_threads_before_minigrad']}")
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except Exception:
        info["torch"] = "not installed"
    for var in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY",
                "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MINIGRAD_BLAS_THREADS", "MINIGRAD_NUM_THREADS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def _numba_cpu() -> str:
    try:
        import llvmlite.binding as ll
        import numba

        name = numba.config.CPU_NAME or ll.get_host_cpu_name()
        return name + (" (custom features)" if numba.config.CPU_FEATURES else "")
    except Exception:
        return "?"


def print_header(title: str, file=None):
    file = file or sys.stdout
    print(f"== {title}", file=file)
    for k, v in machine_info().items():
        print(f"   {k}: {v}", file=file)
    print(file=file)


def timeit(fn, repeat: int = 7, warmup: int = 2, min_time: float = 0.05, max_calls: int = 100000):
    """Median seconds per call of ``fn()`` over ``repeat`` measurements.

    Each measurement runs ``fn`` n times, n chosen so one measurement lasts about
    ``min_time`` seconds (at least once). Returns (median, min) in seconds.
    """
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    n = int(min(max_calls, max(1, min_time / once)))
    times = []
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times), min(times)


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_table(rows, columns=None, file=None):
    """Print a list of dicts (or of lists, with ``columns``) as an aligned table."""
    file = file or sys.stdout
    if not rows:
        print("(no rows)", file=file)
        return
    if isinstance(rows[0], dict):
        if columns is None:
            columns = []
            for r in rows:
                for k in r:
                    if k not in columns:
                        columns.append(k)
        cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    else:
        cells = [[fmt(v) for v in r] for r in rows]
        columns = columns or [f"col{i}" for i in range(len(cells[0]))]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(str(c).rjust(w) for c, w in zip(columns, widths))
    print(line, file=file)
    print("-" * len(line), file=file)
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)), file=file)
    print(file=file)


def pause(seconds: float = 0.2):
    """Let another library's spinning worker threads go to sleep before timing ours
    (OpenBLAS and OpenMP workers busy-wait for a while after each parallel call)."""
    time.sleep(seconds)


# ----------------------------------------------------------------------------- shared by the training-step scripts

def training_step(opt, loss_fn, forward, target, after_backward=None):
    """One training step as a closure: zero the gradients, ``loss_fn(forward(), target)``,
    backward, ``after_backward()`` if given (gradient clipping), optimizer step.

    minigrad and PyTorch spell every call the same way, so the one function builds the
    step of either framework: pass that framework's optimizer, loss and model call."""

    def step():
        opt.zero_grad()
        loss_fn(forward(), target).backward()
        if after_backward is not None:
            after_backward()
        opt.step()

    return step


def print_step_ratios(title, mg_step, t_step, repeats):
    """Time both steps (median ms of ``repeats`` after warm-up) and print them with their
    ratio to PyTorch's (the last row is the base when PyTorch is there)."""
    rows = [("minigrad", timeit(mg_step, repeat=repeats, warmup=3)[0] * 1e3)]
    torch = torch_or_none() if t_step is not None else None
    if torch is not None:
        rows.append((f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)",
                     timeit(t_step, repeat=repeats, warmup=3)[0] * 1e3))
    print(f"{title} (median of {repeats}, ms)")
    base = rows[-1][1]
    for name, ms in rows:
        print(f"  {name:40s} {ms:8.2f} ms   {ms / base:5.2f}x")


# ----------------------------------------------------------------------------- shared by the kernel scripts

def torch_or_none():
    """PyTorch if it imports, else None (it is a yardstick here, never required).
    ``MINIGRAD_BENCH_TORCH=0`` hides it (a child process that times minigrad alone)."""
    if os.environ.get("MINIGRAD_BENCH_TORCH") == "0":
        return None
    try:
        import torch

        return torch
    except Exception:
        return None


def set_malloc_thresholds():
    """mallopt(M_MMAP_THRESHOLD, 32 MiB) and mallopt(M_TRIM_THRESHOLD, 1 GiB); True if applied.

    glibc returns large blocks to the OS on every free and maps them afresh (page faults)
    on every allocation; raising the thresholds keeps them, as PyTorch's allocator does."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except OSError:
        return False


def time_ms(fn, args):
    """Median milliseconds per call of ``fn()`` (shorter measurements with ``--quick``)."""
    med, _ = timeit(fn, repeat=7, warmup=2, min_time=0.02 if getattr(args, "quick", False) else 0.1)
    return med * 1e3


def time_pair_ms(fn_a, fn_b, args, rounds: int = 9):
    """(ms of fn_a, ms of fn_b, median of the per-round ratios a / b), the two timed in
    alternating rounds.

    On a shared virtual machine the speed of the whole machine drifts by 10-50% over
    seconds; timing one contender after the other puts that drift into their ratio.
    Alternating short rounds (a, b, a, b, ...) exposes both to the same drift, and the
    median of the round-by-round ratios ignores rounds where it changed mid-round. For
    one thread: with several, two thread pools in one process slow each other down
    (``steps.py`` then times each framework in its own process)."""
    min_time = 0.02 if getattr(args, "quick", False) else 0.1
    counts = []
    for fn in (fn_a, fn_b):
        for _ in range(2):
            fn()
        t0 = time.perf_counter()
        fn()
        counts.append(int(min(100000, max(1, min_time / max(time.perf_counter() - t0, 1e-7)))))
    ta, tb = [], []
    for _ in range(rounds):
        for fn, n, out in ((fn_a, counts[0], ta), (fn_b, counts[1], tb)):
            pause(0.05)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out.append((time.perf_counter() - t0) / n)
    ratio = statistics.median(a / b for a, b in zip(ta, tb))
    return statistics.median(ta) * 1e3, statistics.median(tb) * 1e3, ratio


def autograd_fwd_bwd_ms(args, no_grad, forward, grad_out, leaves):
    """(forward ms, backward ms) of an op in an autograd framework; minigrad and PyTorch
    spell every call the same way, so pass that framework's ``no_grad``.

    The forward, ``forward()``, is timed under ``no_grad()``; the backward is the time of
    ``forward().backward(grad_out)`` less the forward's, the ``leaves``' gradients cleared
    after each step."""

    def fwd():
        with no_grad():
            forward()

    def fwd_bwd():
        forward().backward(grad_out)
        for leaf in leaves:
            leaf.grad = None

    t_fwd = time_ms(fwd, args)
    return t_fwd, time_ms(fwd_bwd, args) - t_fwd


def kernel_script_main(description, title, legend, run, argv=None):
    """A kernel script run alone: its options (``kernel_script_args``), the machine, the
    ``legend`` of the ratio columns, then the table of ``run(args)``'s rows, returned."""
    args, malloc = kernel_script_args(description, argv)
    print_header(title)
    print(f"malloc thresholds: {malloc}")
    print(legend + "\n")
    rows = run(args)
    print_table(rows)
    return rows


def kernel_script_args(description, argv=None):
    """Parse the options every kernel script takes (--quick, --threads, --verbose,
    --default-malloc), apply the malloc and thread settings, and return
    ``(args, malloc description)``."""
    import argparse

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    ap.add_argument("--threads", type=int, help="threads for Numba, OpenBLAS and PyTorch alike")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    args = ap.parse_args(argv)
    malloc = "default" if args.default_malloc else \
        ("mmap 32 MiB / trim 1 GiB (mallopt)" if set_malloc_thresholds() else "default (mallopt failed)")
    if args.threads:
        from minigrad.kernels.cpu import _runtime

        _runtime.set_num_threads(args.threads)
        torch = torch_or_none()
        if torch is not None:
            torch.set_num_threads(args.threads)
    return args, malloc

