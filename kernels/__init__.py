"""minigrad.kernels: the hot ops as plain array functions.

A kernel takes arrays and returns arrays: no Tensor, no autograd. Each hot op has

* a *reference* version in :mod:`minigrad.kernels.reference`: readable NumPy that
  also runs on CuPy arrays, the specification every fast kernel is tested against;
* a *native* CPU version in :mod:`minigrad.kernels.cpu` (Numba, ``cache=True``);
* a *native* GPU version in :mod:`minigrad.kernels.cuda` (CUDA C through CuPy).

The ops pick a kernel through the registry in :mod:`minigrad.backend`.
``use("reference")`` switches every op to the readable versions for a block of code::

    with minigrad.kernels.use("reference"):
        loss = model(x)

The environment variable ``MINIGRAD_KERNELS=reference|native`` does the same for a
whole process.

Numba compiles each native kernel the first time it runs (once per machine: the
machine code is cached in ``~/.cache/minigrad/numba``). :func:`warmup` compiles them
ahead of use, :func:`warmup_in_background` in another process while this one goes on.
"""
import os
import time


def use(mode):
    """Context manager running the ops inside on one kernel set ("reference" or "native").

    ``None`` restores each op's measured default.
    """
    from minigrad.backend import use_kernels

    return use_kernels(mode)


#: CPU seconds each kernel family took to compile for float32 into an empty cache
#: (``warmup(verbose=True, processes=1)``, AMD EPYC Zen 4, 2 cores), for the time estimates
#: shown and for sharing the work evenly between two compiling processes
COMPILE_SECONDS = {"matmul": 16, "conv": 20, "pool": 8, "attention": 56, "softmax": 5, "norm": 3,
                   "embedding": 1, "quant": 15, "special": 1, "activation": 3, "rnn": 15}


def _dtype_names(dtypes):
    import numpy as np

    if isinstance(dtypes, (str, type)) or hasattr(dtypes, "itemsize"):
        dtypes = (dtypes,)
    names = tuple(np.dtype(d).name for d in dtypes)
    bad = [n for n in names if n not in ("float32", "float64")]
    if bad or not names:
        raise ValueError(f"warmup: dtypes must be float32 and/or float64, got {dtypes!r}")
    return names


def _modules(families):
    from minigrad.kernels import cpu

    mods = cpu._MODULES
    if families is None:
        return list(mods)
    known = [m.__name__.rsplit(".", 1)[-1] for m in mods]
    unknown = sorted(set(families) - set(known))
    if unknown:
        raise ValueError(f"warmup: unknown kernel families {unknown}; known: {known}")
    return [m for m, name in zip(mods, known) if name in families]


def _family(mod):
    return mod.__name__.rsplit(".", 1)[-1]


def _warm_marker(dtypes, mods):
    """Path of the file that says these families were compiled for these dtypes with
    exactly this source, Numba, Python and CPU (Numba keys its cache by the same)."""
    import hashlib
    import platform

    import llvmlite.binding as ll
    import numba

    from minigrad.kernels.cpu import _runtime

    h = hashlib.sha1()
    for m in sorted(mods, key=_family):
        with open(m.__file__, "rb") as f:
            h.update(f.read())
    with open(_runtime.__file__, "rb") as f:
        h.update(f.read())
    h.update(f"{numba.__version__} {platform.python_version()} {ll.get_host_cpu_name()} "
             f"{','.join(dtypes)} {os.environ.get('NUMBA_CPU_FEATURES', '')}".encode())
    return os.path.join(_runtime.cache_dir(), f"minigrad-warm-{h.hexdigest()[:16]}")


def is_warm(dtypes=("float32",), families=None):
    """True when :func:`warmup` already compiled these kernels into the cache (so the
    first call of each loads machine code instead of compiling it)."""
    return os.path.exists(_warm_marker(_dtype_names(dtypes), _modules(families)))


def estimate_compile_seconds(dtypes=("float32",), families=None, processes=1):
    """About how long compiling these families into an empty cache takes here."""
    names = _dtype_names(dtypes)
    cpu = sum(COMPILE_SECONDS.get(_family(m), 5) for m in _modules(families)) * len(names)
    return cpu / max(1, min(processes, os.cpu_count() or 1))


def _child_env():
    import minigrad

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(minigrad.__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MINIGRAD_QUIET"] = "1"
    return env


#: what a background compilation runs: each family in the given order, then the
#: marker of the whole set; it prints each family's name once that family is compiled
_BACKGROUND_CODE = """
import sys, minigrad.kernels as k
families, dtypes = sys.argv[1].split(','), sys.argv[2].split(',')
for family in families:
    k.warmup(families=[family], dtypes=dtypes, processes=1)
    print(family, flush=True)
k.warmup(families=families, dtypes=dtypes, processes=1)
"""


def _spawn(families, dtypes, processes=1, report=False):
    import subprocess
    import sys

    if report:
        args, out = [_BACKGROUND_CODE, ",".join(families), ",".join(dtypes)], subprocess.PIPE
    else:
        code = ("import sys, minigrad.kernels as k; k.warmup(families=sys.argv[1].split(','), "
                "dtypes=sys.argv[2].split(','), processes=int(sys.argv[3]))")
        args, out = [code, ",".join(families), ",".join(dtypes), str(processes)], subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-c", *args], env=_child_env(), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.DEVNULL, text=report or None)


def _split(mods, n):
    """n groups of modules with about equal compile times (largest first, greedy)."""
    groups = [[] for _ in range(n)]
    load = [0.0] * n
    for m in sorted(mods, key=lambda m: -COMPILE_SECONDS.get(_family(m), 5)):
        i = load.index(min(load))
        groups[i].append(m)
        load[i] += COMPILE_SECONDS.get(_family(m), 5)
    return [g for g in groups if g]


def warmup(verbose=False, dtypes=("float32",), families=None, processes=None):
    """Compile (or load from the on-disk cache) the native CPU kernels ahead of use.

    ``dtypes``: which float types to compile for; float32 by default (what models
    train in). float64 kernels, used by gradient checks, compile on first use
    (``dtypes=("float32", "float64")`` compiles both now). ``families``: kernel
    families to compile (e.g. ``["matmul", "conv"]``; default all). ``processes``:
    compile in this many processes side by side (default: up to 2, one per core):
    Numba compiles on one core, so two processes nearly halve the wait.

    The first process on a machine pays the JIT cost and says so in one line on
    stderr. Once that is done (a marker in the cache records it, keyed by the kernels'
    source, Numba, Python and the CPU), ``warmup`` returns at once: each kernel then
    loads its cached machine code on its first call (milliseconds), so a program pays
    only for the kernels it uses. Returns the seconds it took.
    """
    import numpy as np

    from minigrad.kernels.cpu import _runtime

    t0 = time.perf_counter()
    names = _dtype_names(dtypes)
    mods = _modules(families)
    np_dtypes = tuple(np.dtype(n).type for n in names)
    marker = _warm_marker(names, mods)
    if os.path.exists(marker):
        return time.perf_counter() - t0
    if processes is None:
        processes = min(2, os.cpu_count() or 1)
    est = estimate_compile_seconds(names, [_family(m) for m in mods], processes)
    _runtime.say(f"minigrad: compiling the native CPU kernels for {' and '.join(names)} "
                 f"(once per machine, about {est:.0f} s)")
    groups = _split(mods, max(1, min(processes, len(mods))))
    children = [_spawn([_family(m) for m in g], names) for g in groups[1:]]
    try:
        mods = groups[0] + [m for g in groups[1:] for m in g]   # this process: its own group first
        with _runtime.quiet():
            _run(groups[0], np_dtypes, verbose)
            for c in children:
                c.wait()
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
    with _runtime.quiet():
        _run(mods, np_dtypes, verbose)   # loads what the other processes compiled
    try:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as f:
            f.write(f"{time.time()}\n")
    except OSError:
        pass
    return time.perf_counter() - t0


def _run(mods, np_dtypes, verbose):
    import inspect

    for mod in mods:
        w = getattr(mod, "warmup", None)
        if w is None:
            continue
        t = time.perf_counter()
        if "dtypes" in inspect.signature(w).parameters:
            w(dtypes=np_dtypes)
        else:
            w()
        if verbose:
            print(f"{mod.__name__}: {time.perf_counter() - t:.2f} s")


class BackgroundWarmup:
    """:func:`warmup` running in another process; see :func:`warmup_in_background`.

    The families compile one after the other, in the order given; :meth:`next_compiled`
    hands over each one's name as soon as it is in the cache, so that a caller can
    start using a family's native kernels while the next family compiles."""

    def __init__(self, dtypes=("float32",), families=None):
        import queue
        import threading

        self.dtypes = _dtype_names(dtypes)
        _modules(families)   # checks the names
        self.families = list(dict.fromkeys(families)) if families is not None else \
            [_family(m) for m in _modules(None)]
        self.estimate = estimate_compile_seconds(self.dtypes, self.families, 1)
        self.started = time.perf_counter()
        self._compiled = queue.Queue()
        self._proc = _spawn(self.families, self.dtypes, processes=1, report=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self._proc.stdout:
                if line.strip() in self.families:
                    self._compiled.put(line.strip())
        finally:
            self._compiled.put(None)

    def next_compiled(self, timeout=None):
        """Wait for the next family to be compiled and return its name; None once the
        process has ended (or after ``timeout`` seconds without one)."""
        import queue

        try:
            return self._compiled.get(timeout=timeout)
        except queue.Empty:
            return None

    def done(self):
        """True once the kernels are compiled into the cache (or the process failed)."""
        return self._proc.poll() is not None

    def ok(self):
        """True once the process finished and compiled everything."""
        return self._proc.poll() == 0

    def wait(self, timeout=None):
        """Wait until done (at most ``timeout`` seconds); return :meth:`done`."""
        import subprocess

        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.done()

    def stop(self):
        """Stop compiling (what is compiled so far stays in the cache)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except Exception:
                self._proc.kill()


def warmup_in_background(dtypes=("float32",), families=None):
    """Start compiling the native kernels in a separate process and return at once.

    ``families``: which, in the order to compile them (default all). Returns a
    :class:`BackgroundWarmup` (``done()``, ``wait()``, ``stop()``, ``next_compiled()``). Meanwhile
    run on the NumPy reference kernels (``minigrad.kernels.use("reference")``) so that
    this process compiles nothing, and switch back once ``done()``::

        bg = minigrad.kernels.warmup_in_background()
        with minigrad.kernels.use("reference"):
            ...                       # first steps, no compilation wait
        bg.wait()                     # then the native kernels load from the cache
    """
    return BackgroundWarmup(dtypes, families)
