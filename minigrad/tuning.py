"""Which kernel runs each op on this CPU: native (Numba) or reference (NumPy), by size.

A native kernel is not faster everywhere. On a CPU with AVX-512 a hand-written
Numba GEMM comes near OpenBLAS; on an AVX2 laptop the same code can lose to
OpenBLAS on the matrix products of a small MLP, and for a tiny array the call
overhead of a parallel kernel costs more than NumPy's whole computation. So the
registry (:func:`minigrad.backend.get_kernel`) does not trust a fixed preference:
it asks this module, which answers from *measurements*.

A measurement is a **tuning record**: for each op and each benchmark size (the
shapes of the seed models' training steps, and square matmuls up to 2048), the
time of the native kernel and of the reference kernel, timed side by side. From a
record the choice follows by one rule (:func:`choices_from_record`):

* at a measured size, native runs only if it was at least as fast as the reference;
* between sizes, the nearest measured size (by the logarithm of the work) decides;
* an op whose sizes all agree gets one fixed choice (no per-call size test).

Where the record comes from, first match wins:

1. a record tuned on this machine: ``python -m minigrad tune`` times every case
   (some seconds; the kernels must be compiled, which the first run does) and
   saves it in the user cache folder (``$MINIGRAD_TUNING_DIR``, else
   ``$XDG_CACHE_HOME/minigrad/tuning``, i.e. ``~/.cache/minigrad/tuning``), keyed
   by CPU model, vector instruction set and minigrad version, and used while the
   native kernels run on as many threads as when it was taken;
2. a record shipped with minigrad for the CPU's instruction-set family
   (``minigrad/_tuned_tables.py``: AVX-512, AVX2, ...), measured on such a CPU,
   with one thread and with two: the one taken with the most threads not above the
   number in use. Threads matter: the native kernels use them all, the reference
   ones run NumPy with one BLAS thread (minigrad's thread policy), so a native
   matmul that loses on one thread can win on two;
3. otherwise each kernel module's fixed ``PREFERRED`` table.

Nothing is timed at import or on the first op: tuning runs only when asked, so
it never adds to the start-up time of a first run.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import time

import numpy as np

__all__ = ["isa_family", "cpu_model", "machine_key", "tuning_dir", "record_path", "load_record",
           "active_record", "shipped_record", "threads_in_use", "choices_from_record", "choose", "tune", "save_record", "CASES", "work"]


# ----------------------------------------------------------------------------- the machine

_AVX512_NAMES = ("avx512", "skylake-avx512", "cascadelake", "cooperlake", "icelake", "tigerlake",
                 "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5")


def _numba_target():
    """(cpu name, feature string) Numba compiles for: its settings, else the host's."""
    name = os.environ.get("NUMBA_CPU_NAME") or ""
    feats = os.environ.get("NUMBA_CPU_FEATURES") or ""
    if name and name != "host" and feats:
        return name, feats
    try:
        import llvmlite.binding as ll

        host_name = ll.get_host_cpu_name()
        host_feats = ll.get_host_cpu_features().flatten()
    except Exception:  # llvmlite missing or unable to read the CPU
        host_name, host_feats = platform.machine(), ""
    if name and name != "host":
        return name, feats
    return host_name, feats or host_feats


def isa_family() -> str:
    """The vector instruction set the kernels are compiled for: ``"x86_64-avx512"``,
    ``"x86_64-avx2"``, ``"x86_64-sse"``, ``"arm64-neon"`` or ``platform.machine()``.

    It follows Numba's target settings (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``),
    so AVX2 code generation can be chosen, and tuned, on an AVX-512 machine."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64-neon"
    if machine not in ("x86_64", "amd64"):
        return machine or "unknown"
    name, feats = _numba_target()
    on = {f[1:] for f in feats.split(",") if f.startswith("+")}
    off = {f[1:] for f in feats.split(",") if f.startswith("-")}
    if feats:
        if "avx512f" in on:
            return "x86_64-avx512"
        if "avx2" in on and "avx2" not in off:
            return "x86_64-avx2"
        if "avx2" in off or "avx" in off:
            return "x86_64-sse"
    lname = name.lower()
    if any(lname.startswith(n) for n in _AVX512_NAMES) and "avx512f" not in off:
        return "x86_64-avx512"
    if lname in ("haswell", "broadwell", "skylake", "znver1", "znver2", "znver3", "alderlake",
                 "raptorlake", "meteorlake", "x86-64-v3") or feats == "":
        return "x86_64-avx2"
    return "x86_64-sse"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform module)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """What a tuning record is valid for: CPU model, instruction-set family, minigrad version."""
    from minigrad import __version__

    return f"{cpu_model()} | {isa_family()} | minigrad {__version__}"


def tuning_dir() -> str:
    """The folder of tuning records: ``$MINIGRAD_TUNING_DIR``, else
    ``$XDG_CACHE_HOME/minigrad/tuning`` (``~/.cache/minigrad/tuning``)."""
    if os.environ.get("MINIGRAD_TUNING_DIR"):
        return os.environ["MINIGRAD_TUNING_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minigrad", "tuning")


def record_path(key: str | None = None) -> str:
    """The file holding this machine's tuning record (it need not exist)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", key or machine_key()).strip("-")
    return os.path.join(tuning_dir(), slug + ".json")


def load_record(path: str | None = None):
    """This machine's saved tuning record, or None when there is none or it does not parse."""
    path = path or record_path()
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("cases"), list):
        return None
    return rec


def save_record(record, path: str | None = None) -> str:
    """Write a tuning record as JSON (atomically: a reader never sees half a file)."""
    path = path or record_path(record.get("key"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    return path


def threads_in_use() -> int:
    """How many threads the native kernels run on (after minigrad's thread policy)."""
    from minigrad.kernels.cpu import _runtime

    _runtime.configure()
    return _runtime.get_num_threads()


def shipped_record(family: str, threads: int):
    """The shipped record of ``family`` for ``threads`` threads: the one taken with the
    most threads not above ``threads`` (the one-thread record when all have more), or None."""
    from minigrad import _tuned_tables

    records = [r for r in [_tuned_tables.RECORDS.get(family)] if r is not None]
    records += [r for (f, _), r in sorted(_tuned_tables.THREADED_RECORDS.items()) if f == family]
    if not records:
        return None
    fitting = [r for r in records if r.get("threads", 1) <= threads]
    return max(fitting, key=lambda r: r.get("threads", 1)) if fitting else min(records, key=lambda r: r.get("threads", 1))


def active_record():
    """(record, where it came from): this machine's tuned one (when taken with the number
    of threads now in use, or with no count saved), else the shipped one of its
    instruction-set family for the threads in use, else (None, "fixed")."""
    threads = threads_in_use()
    rec = load_record()
    if rec is not None and rec.get("key") == machine_key() and rec.get("threads", threads) == threads:
        return rec, "tuned"
    rec = shipped_record(isa_family(), threads)
    if rec is not None:
        return rec, f"shipped ({isa_family()}, {rec.get('threads', 1)} thread{'s' if rec.get('threads', 1) > 1 else ''})"
    return None, "fixed"


# ----------------------------------------------------------------------------- the rule

def work(op: str, args) -> float:
    """The size of one call, the number the choice is looked up by: multiply-adds for a
    matmul (M*K*N), otherwise the total number of elements in the array arguments."""
    if op == "matmul":
        a, b = args[0], args[1]
        return float(max(1, a.size // max(1, a.shape[-1])) * a.shape[-1] * b.shape[-1])
    n = 0
    for x in args:
        s = getattr(x, "size", None)
        if s is not None and getattr(x, "ndim", 0) > 0:
            n += s
    return float(max(n, 1))


def choices_from_record(record) -> dict:
    """op -> "native", "reference", or a sorted list of ``(log2 work, choice)`` (the
    measured sizes of an op whose best kernel depends on size)."""
    per_op: dict = {}
    for c in record.get("cases", []):
        choice = "native" if c["native_s"] <= c["reference_s"] else "reference"
        per_op.setdefault(c["op"], []).append((math.log2(max(c["work"], 1.0)), choice))
    out = {}
    for op, pts in per_op.items():
        kinds = {ch for _, ch in pts}
        out[op] = kinds.pop() if len(kinds) == 1 else sorted(pts)
    return out


def choose(choice, log_work: float) -> str:
    """The kernel kind a choice entry gives at a size: the nearest measured size decides
    (ties go to the reference: never slower than it where the record says so)."""
    if isinstance(choice, str):
        return choice
    best, best_d = "reference", math.inf
    for lw, ch in choice:
        d = abs(lw - log_work)
        if d < best_d or (d == best_d and ch == "reference"):
            best, best_d = ch, d
    return best


# ----------------------------------------------------------------------------- the cases

def _rng():
    return np.random.default_rng(0)


def _f32(*shape):
    return _rng().standard_normal(shape).astype(np.float32)


def _matmul_case(M, K, N, layout):
    a = _f32(M, K) if layout[0] == "n" else _f32(K, M).T
    b = _f32(K, N) if layout[1] == "n" else _f32(N, K).T
    return (a, b)


CONV = ((1, 1), (1, 1), (1, 1), 1)  # stride, padding, dilation, groups


def _conv_cases():
    out = []
    for label, cin, cout, hw in (("seed CNN conv1 1->32 28x28 b64", 1, 32, 28),
                                 ("seed CNN conv2 32->64 14x14 b64", 32, 64, 14)):
        x, w, b = _f32(64, cin, hw, hw), _f32(cout, cin, 3, 3), _f32(cout)
        gy = _f32(64, cout, hw, hw)
        out.append(("conv2d_forward", label, lambda x=x, w=w, b=b: (x, w, b, *CONV)))
        out.append(("conv2d_grad_weight", label, lambda gy=gy, x=x, w=w: (gy, x, w.shape, *CONV)))
        if cin > 1:
            out.append(("conv2d_grad_input", label, lambda gy=gy, x=x, w=w: (gy, w, x.shape, *CONV)))
        out.append(("conv2d_grad_bias", label, lambda gy=gy: (gy,)))
    return out


def _pool_cases(ref):
    out = []
    for label, c, hw in (("seed CNN pool1 32x28x28 b64", 32, 28), ("seed CNN pool2 64x14x14 b64", 64, 14)):
        x = _f32(64, c, hw, hw)
        geo = ((2, 2), (2, 2), (0, 0), (1, 1), False)

        def bwd(x=x, geo=geo):
            y, idx = ref["max_pool2d_forward"](x, *geo)
            return (np.ones_like(y), idx, x.shape)
        out.append(("max_pool2d_forward", label, lambda x=x, geo=geo: (x, *geo)))
        out.append(("max_pool2d_backward", label, bwd))
    return out


def _row_cases(ref):
    out = []
    for label, n, c in (("MLP logits 128x10", 128, 10), ("char LM logits 2048x65", 2048, 65),
                        ("attention scores 8192x64", 8192, 64)):
        x = _f32(n, c)
        t = _rng().integers(0, c, n)
        out.append(("softmax", label, lambda x=x: (x,)))
        out.append(("log_softmax", label, lambda x=x: (x,)))
        out.append(("softmax_backward", label, lambda x=x, ref=ref: (x, ref["softmax"](x))))
        out.append(("log_softmax_backward", label, lambda x=x, ref=ref: (x, ref["log_softmax"](x))))
        if c != 64:
            out.append(("cross_entropy_forward", label, lambda x=x, t=t: (x, t)))

            def ceb(x=x, t=t):
                loss, lse = ref["cross_entropy_forward"](x, t)
                return (np.ones_like(loss), x, t, None, -100, 0.0, lse)
            out.append(("cross_entropy_backward", label, ceb))
    return out


def _transformer_cases(ref):
    out = []
    x, w, b = _f32(2048, 64), _f32(64), _f32(64)

    def lnb():
        _, mean, rstd = ref["layer_norm_forward"](x, w, b, 1e-5)
        return (_f32(2048, 64), x, w, mean, rstd)
    out.append(("layer_norm_forward", "char LM 2048x64", lambda: (x, w, b, 1e-5)))
    out.append(("layer_norm_backward", "char LM 2048x64", lnb))
    h = _f32(2048, 256)
    out.append(("gelu", "char LM FFN 2048x256", lambda: (h, "none")))
    out.append(("gelu_backward", "char LM FFN 2048x256", lambda: (h, h, "none")))
    for label, B, T in (("char LM 32x4x64x16 causal", 32, 64), ("seq2seq 64x4x7x16 causal", 64, 7)):
        q, k, v = _f32(B, 4, T, 16), _f32(B, 4, T, 16), _f32(B, 4, T, 16)

        def sb(q=q, k=k, v=v):
            o, lse = ref["sdpa_forward"](q, k, v, None, True, None)
            return (np.ones_like(o), q, k, v, o, lse, None, True, None)
        out.append(("sdpa_forward", label, lambda q=q, k=k, v=v: (q, k, v, None, True, None)))
        out.append(("sdpa_backward", label, sb))
    wt = _f32(65, 64)
    idx = _rng().integers(0, 65, (32, 64))
    out.append(("embedding_forward", "char LM 65x64, 32x64 ids", lambda: (wt, idx)))
    out.append(("embedding_backward", "char LM 65x64, 32x64 ids", lambda: (_f32(32, 64, 64), idx, 65, None)))
    return out


def _matmul_cases(full=True):
    shapes = [
        ("digits MLP fwd 64x64 @ 64x128", 64, 64, 128, "nt"),
        ("MLP fwd x@W.T 784->256 b128", 128, 784, 256, "nt"),
        ("MLP bwd gy@W 256->784 b128", 128, 256, 784, "nn"),
        ("MLP bwd gy.T@x 784->256 b128", 256, 128, 784, "tn"),
        ("MLP fwd 256->256 b128", 128, 256, 256, "nt"),
        ("MLP fwd 256->10 b128", 128, 256, 10, "nt"),
        ("char LM qkv 2048x64 @ 64x192", 2048, 64, 192, "nt"),
        ("char LM FFN 2048x64 @ 64x256", 2048, 64, 256, "nt"),
        ("char LM FFN bwd 64x2048 @ 2048x256", 64, 2048, 256, "tn"),
        ("conv2 GEMM 64x288 @ 288x12544", 64, 288, 12544, "nn"),
        ("seq2seq Linear 448x64 @ 64x64", 448, 64, 64, "nt"),
        ("seq2seq qkv 448x64 @ 64x192", 448, 64, 192, "nt"),
        ("seq2seq FFN bwd gy@W 448x128 @ 128x64", 448, 128, 64, "nn"),
        ("LSTM layer 2 gW 512x512 @ 512x128", 512, 512, 128, "tn"),
    ]
    squares = (256, 512, 1024, 2048) if full else (256, 512, 1024)
    shapes += [(f"square {n}", n, n, n, "nn") for n in squares]
    return [("matmul", label, lambda M=M, K=K, N=N, lay=lay: _matmul_case(M, K, N, lay))
            for label, M, K, N, lay in shapes]


def CASES(ref, full=True):
    """(op, label, make_args) for every benchmark size: the shapes of the seed models'
    training steps and square matmuls (2048 only when ``full``). ``ref`` is the
    reference kernel table (used to make the saved tensors backward kernels take)."""
    return (_matmul_cases(full) + _conv_cases() + _pool_cases(ref) + _row_cases(ref)
            + _transformer_cases(ref))


# ----------------------------------------------------------------------------- the tuning pass

def _best_time(fn, args, budget):
    """The fastest of a few calls (at least 5, more while under ``budget`` seconds)."""
    best = math.inf
    t_end = time.perf_counter() + budget
    n = 0
    while n < 5 or (time.perf_counter() < t_end and n < 50):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
        n += 1
    return best


def tune(full=True, ops=None, budget=0.05, save=True, verbose=False):
    """Time every benchmark case with the native and the reference kernel, side by side;
    return the record (and save it as this machine's, unless ``save=False``).

    Kernels not yet compiled are compiled first (a warm-up call each, not timed).
    ``budget`` is the time spent per kernel and case (about 0.05 s: some seconds in
    all); ``ops`` restricts the pass to some op names."""
    from minigrad.backend import _table
    from minigrad.kernels.cpu import _runtime

    # minigrad's thread policy first (one BLAS thread next to Numba's pool): without it
    # OpenBLAS's spinning workers and Numba's pool slow each other down 10-100x
    _runtime.configure()
    nat = _table("native", "cpu").KERNELS
    ref = _table("reference", "cpu").KERNELS
    cases = []
    t_start = time.perf_counter()
    for op, label, make in CASES(ref, full):
        if (ops and op not in ops) or op not in nat or op not in ref:
            continue
        args = make()
        nat[op](*args)  # compile / load from the cache, fill caches
        ref[op](*args)
        t_nat = t_ref = math.inf
        for _ in range(2):  # interleaved, so a burst of load hits both
            t_nat = min(t_nat, _best_time(nat[op], args, budget / 2))
            t_ref = min(t_ref, _best_time(ref[op], args, budget / 2))
        case = {"op": op, "case": label, "work": work(op, args), "native_s": t_nat, "reference_s": t_ref}
        cases.append(case)
        if verbose:
            print(f"{op:24s} {label:38s} native {t_nat * 1e3:9.3f} ms  reference {t_ref * 1e3:9.3f} ms  "
                  f"-> {'native' if t_nat <= t_ref else 'reference'}")
    import numba

    record = {"key": machine_key(), "cpu": cpu_model(), "isa": isa_family(),
              "numba_target": _numba_target()[0], "numba": numba.__version__, "numpy": np.__version__,
              "threads": numba.get_num_threads(), "seconds": round(time.perf_counter() - t_start, 2),
              "cases": cases}
    if save:
        record["path"] = save_record(record)
        from minigrad import backend

        backend.reload_kernel_choices()
    return record
