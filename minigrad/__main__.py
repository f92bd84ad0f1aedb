"""The ``minigrad`` command (also ``python -m minigrad``).

    minigrad demo                 train every seed system, print a results table
    minigrad demo --quick         shorter runs (a smoke test)
    minigrad demo --full          the long versions (bigger data, more epochs)
    minigrad demo --no-progress   no progress bars: only the table
    minigrad demo --only digits   only the systems whose name contains "digits"
    minigrad demo --list          list the systems and exit
    mpiexec -n 2 python -m minigrad demo --distributed
                                  the seed CNN trained data-parallel by 2 processes
    minigrad compress             compress the digits CNN every way, print one table
    minigrad compress --full      longer training budgets (closer to each method's best)
    minigrad run train.py [args]  run a PyTorch program with `import torch` meaning minigrad
    minigrad tune                 measure native vs reference kernels on this CPU, keep the faster

Subcommands are argparse sub-parsers: a new one (``compress``, say) is a function
``add_<name>_parser(subparsers)`` that registers its arguments and sets
``func=...``; add it to ``_SUBCOMMANDS``.

The demo's first line (stderr) says what it trains and about how long it takes on
this machine. On a machine where the native kernels were never compiled, it compiles
them in a background process (once per machine, cached in ``~/.cache/minigrad``) while
the first systems run on the NumPy reference kernels, and switches each kernel family
to its native kernels as soon as that family is compiled (``MINIGRAD_DEMO_COMPILE=lazy``: compile on first use instead).

Progress bars go to stderr and the table to stdout, so ``minigrad demo > out.txt``
keeps just the results. The exit status is 0 when every system reached its target
(for ``compress``: every compression target), 1 otherwise, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time


# ----------------------------------------------------------------------------- demo

def _fmt_loss(v):
    if v is None:
        return "-"
    v = float(v)
    return f"{v:.4f}" if 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


def _fmt_accuracy(r):
    acc = r.get("accuracy")
    if acc is not None:
        return f"{100 * acc:.1f}%"
    return r.get("summary") or "-"


def format_table(results):
    """The results table as text: one row per system (a dict from an examples function,
    or ``{"name", "error"}`` for one that failed)."""
    header = ("system", "final loss", "accuracy / fit", "seconds", "target", "what was trained")
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["name"], "-", "-", f"{r.get('seconds', 0.0):.1f}", "ERROR", r["error"]))
            continue
        passed = r.get("passed")
        target = "-" if passed is None else "ok" if passed else "MISSED"
        rows.append((r["name"], _fmt_loss(r.get("final_loss")), _fmt_accuracy(r), f"{r.get('seconds', 0.0):.1f}",
                     target, r.get("what", "")))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = {1, 3}  # numbers are right-aligned

    def line(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out)


def call_system(fn, progress, level, seed):
    """Run one seed system. Functions take ``progress``, ``seed`` and ``level``
    ("quick"/"default"/"full"); ones written with a ``quick`` flag instead of
    ``level`` get ``quick=(level == "quick")``. A system that does not report
    ``seconds`` is timed here."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {"progress": progress, "seed": seed}
    if "level" in params or takes_any or not params:
        kwargs["level"] = level
    elif "quick" in params:
        kwargs["quick"] = level == "quick"
    t0 = time.perf_counter()
    r = fn(**kwargs)
    if not isinstance(r, dict):
        raise TypeError(f"a seed system must return a results dict, {getattr(fn, '__name__', fn)!r} "
                        f"returned {type(r).__name__}")
    r = dict(r)
    r.setdefault("seconds", time.perf_counter() - t0)
    return r


def _select(demos, level, only):
    chosen = []
    for entry in demos:
        name, fn = entry[0], entry[1]
        levels = entry[2] if len(entry) > 2 else None
        if levels is not None and level not in levels:
            continue
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        chosen.append((name, fn))
    return chosen


#: seconds each seed system takes at the default level once its kernels are compiled,
#: on 2 cores of an AMD EPYC (the first line of the demo scales them to this machine)
DEMO_SECONDS = {"linear regression": 1, "MLP regressor 2-10-1": 4, "digits MLP": 6, "seed CNN": 14,
                "digits LSTM (row by row)": 9, "digits GRU (row by row)": 8, "Transformer seq2seq": 14,
                "char language model": 8, "compressed digits MLP": 6}
#: level -> how much longer than the default level a run is, roughly
_LEVEL_FACTOR = {"quick": 0.6, "default": 1.0, "full": 4.0}
#: seconds the calibration workload of :func:`_speed_factor` took on that machine
_CALIBRATION_SECONDS = 0.030


def _speed_factor():
    """How much slower than the machine behind DEMO_SECONDS this one is (0.5..4):
    the time of a small mix of Python and NumPy work, best of three."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((128, 128)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(20):
            b = a @ a
            b = np.maximum(b, 0) + 1
        s = 0
        for i in range(20000):
            s += i
        best = min(best, time.perf_counter() - t)
    return min(4.0, max(0.5, best / _CALIBRATION_SECONDS))


def _plan_line(chosen, level, compiler):
    """The demo's first line: what it will do and about how long it takes here."""
    est = sum(DEMO_SECONDS.get(name, 10) for name, _ in chosen) * _LEVEL_FACTOR.get(level, 1.0)
    est *= _speed_factor()
    if compiler is None:
        return (f"minigrad demo: training {len(chosen)} small systems ({level} level), "
                f"about {max(1, round(est))} s on this machine")
    # while one core compiles, the systems run on the other, on the reference kernels until
    # each family is ready: the first run took about half the compile time longer than a
    # warm one (81-85 s vs about 35 s with 104 s of compilation, AMD EPYC, 2 cores)
    first = est + compiler.estimate / 2
    return (f"minigrad demo: training {len(chosen)} small systems ({level} level), about "
            f"{max(1, round(first))} s on this machine this first time (about {max(1, round(est))} s once "
            f"the kernels are compiled); compiling the native kernels in the background meanwhile (once per "
            f"machine, about {compiler.estimate:.0f} s of one core: each kernel family runs on the NumPy "
            f"reference kernels until it is compiled)")


def _quiet_unless(progress):
    import contextlib

    if progress:
        return contextlib.nullcontext()
    from minigrad.kernels.cpu import _runtime

    return _runtime.quiet()


#: the kernel families in the order the demo compiles them, each used as soon as it is
#: compiled (seconds of one core on an AMD EPYC in brackets): first the seed CNN's pool
#: (7; its reference max pool is about 13x slower than the native one) and conv (23;
#: reference 3-20x slower), the cross-entropy (5), the Transformers' GELU (3; the
#: reference erf calls math.erf once per element), layer norm and embedding (5),
#: attention (35; its reference is 2-4x slower) and the LSTM/GRU gates (4; the reference
#: layers make the seed LSTM's step about 1.3x slower); then matmul (9: the reference
#: matmul is NumPy's BLAS, close to the native one at the demo's sizes) and the int8 GEMM (16)
DEMO_FAMILIES = ("pool", "conv", "softmax", "activation", "norm", "embedding", "attention", "rnn", "matmul",
                 "quant", "special")


def _start_background_compile():
    """When the native kernels were never compiled here, compile them in another process,
    family by family, and run each family's ops on the reference kernels until its
    native ones are compiled (the first results appear at once instead of after
    minutes of compilation). Returns the BackgroundWarmup or None.

    Only for a run of several systems with progress shown (one system, or a run
    that prints only the table, compiles on first use as any program does);
    ``MINIGRAD_DEMO_COMPILE=lazy`` turns it off."""
    import os

    from minigrad import backend, kernels
    from minigrad.kernels._families import FAMILIES

    if backend.kernel_mode() is not None or os.environ.get("MINIGRAD_DEMO_COMPILE", "background") != "background":
        return None
    families = [f for f in DEMO_FAMILIES if f in FAMILIES] + [f for f in FAMILIES if f not in DEMO_FAMILIES]
    try:
        if kernels.is_warm():
            return None
        compiler = kernels.warmup_in_background(families=families)
    except Exception:  # no Numba, no subprocesses: compile lazily as usual
        return None
    compiler.held = set(families)
    for family in families:
        _serve(family, "reference")
    import threading

    # switch each family to its native kernels as soon as they are compiled, even in the
    # middle of a system's training (kernels are pure functions: the next op simply uses them)
    watcher = threading.Thread(target=_switch_when_compiled, args=(compiler,), daemon=True)
    watcher.start()
    return compiler


def _serve(family, kind):
    """Run the ops of one kernel family on the reference kernels ("reference"), or
    give them back their usual choice (None)."""
    from minigrad import backend
    from minigrad.kernels._families import OPS

    backend.hold_on_reference(OPS[family], hold=kind == "reference")


def _switch_when_compiled(compiler):
    from minigrad.kernels.cpu import _runtime

    while True:
        family = compiler.next_compiled()
        if family is None or getattr(compiler, "stopped", False):
            break
        compiler.held.discard(family)
        _serve(family, None)
        _runtime.say(f"minigrad: {family} kernels compiled after {time.perf_counter() - compiler.started:.0f} s; "
                     f"switching to them")
    if compiler.held and not getattr(compiler, "stopped", False):
        _release(compiler)
        _runtime.say("minigrad: the other native kernels were not compiled; they compile on first use")


def _release(compiler):
    for family in list(compiler.held):
        compiler.held.discard(family)
        _serve(family, None)


def _finish_background_compile(compiler, progress):
    if compiler is None:
        return
    compiler.stopped = True
    if not compiler.done():
        compiler.stop()
        if progress:
            print("minigrad: stopped the background compilation; the next run goes on from where it stopped",
                  file=sys.stderr, flush=True)
    _release(compiler)


def run_demo(args):
    from minigrad.examples import DEMOS

    level = "quick" if args.quick else "full" if args.full else "default"
    progress = not args.no_progress
    if getattr(args, "distributed", False):
        from minigrad.examples.distributed import run_demo as run_distributed

        return run_distributed(level=level, progress=progress, seed=args.seed)
    if args.list:
        for entry in DEMOS:
            levels = entry[2] if len(entry) > 2 else None
            print(entry[0] + (f"  (only with: {', '.join('--' + x for x in sorted(levels))})" if levels else ""))
        return 0
    chosen = _select(DEMOS, level, args.only)
    if not chosen:
        names = ", ".join(e[0] for e in DEMOS)
        print(f"minigrad demo: no system matches --only {' '.join(args.only)} at level {level!r}; "
              f"systems: {names}", file=sys.stderr)
        return 2
    t_all = time.perf_counter()
    results = []
    with _quiet_unless(progress):
        compiler = _start_background_compile() if progress and len(chosen) > 1 else None
        if progress:
            print(_plan_line(chosen, level, compiler), file=sys.stderr, flush=True)
        try:
            for i, (name, fn) in enumerate(chosen, 1):
                if progress:
                    print(f"[{i}/{len(chosen)}] {name}", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                try:
                    r = call_system(fn, progress, level, args.seed)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # one failing system must not hide the others' results
                    r = {"name": name, "error": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
                r.setdefault("name", name)
                results.append(r)
        finally:
            _finish_background_compile(compiler, progress)
    total = time.perf_counter() - t_all
    print()
    print(f"minigrad demo ({level}): {len(results)} systems trained in {total:.1f} s")
    print()
    print(format_table(results))
    failed = [r["name"] for r in results if "error" in r or r.get("passed") is False]
    if failed:
        print()
        print(f"did not reach the target: {', '.join(failed)}")
    return 1 if failed else 0


def add_demo_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="train the seed systems and print a results table",
        description="Train each seed system (linear regression, MLPs, ...) with progress bars, then "
                    "print what was trained, its final loss, accuracy and time.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="shorter training runs (a smoke test)")
    size.add_argument("--full", action="store_true", help="the long versions of every system")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (only the table)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=[],
                   help="run only the systems whose name contains one of these words")
    p.add_argument("--seed", type=int, default=0, help="seed of every system (default 0)")
    p.add_argument("--list", action="store_true", help="list the systems and exit")
    p.add_argument("--distributed", action="store_true",
                   help="train the seed CNN data-parallel over the processes of an MPI job "
                        "(mpiexec -n 2 python -m minigrad demo --distributed)")
    p.set_defaults(func=run_demo)
    return p


# ----------------------------------------------------------------------------- compress

def run_compress(args):
    from minigrad.examples.compression import check_targets, format_report, run_compression

    level = "full" if args.full else "quick"
    progress = not args.no_progress

    def log(msg):
        print(f"[compress] {msg}", file=sys.stderr, flush=True)

    result = run_compression(level=level, seed=args.seed, progress=progress, log=log if progress else None)
    rows = result["rows"]
    print()
    print(f"minigrad compress ({level}, seed {args.seed}): seed CNN on the 28x28 digits, "
          f"{result['seconds']:.1f} s")
    print()
    print(format_report(rows))
    print()
    print("bytes: the saved state, dense; sparse bytes: a bitmask of the non-zeros plus their values;")
    print("x smaller: the baseline's bytes over the smaller of the two; ms/batch: CPU inference, 256 images,")
    print("median of 3 runs (pruned models still run dense kernels).")
    print()
    print("targets:")
    missed = False
    for text, ok in check_targets(rows):
        print(f"  {'ok    ' if ok else 'MISSED' if ok is False else '-     '}  {text}")
        missed |= ok is False
    return 1 if missed else 0


def add_compress_parser(subparsers):
    p = subparsers.add_parser(
        "compress", help="prune, quantize and distil the digits CNN; print one comparison table",
        description="Train the seed CNN on the 28x28 digits, then compress it: iterative global magnitude "
                    "pruning (50/80/90%, fine-tuned), int8 post-training quantization, int8 "
                    "quantization-aware training, and distillation into a narrow student (with the same "
                    "student trained without a teacher for comparison). Prints accuracy, parameters, "
                    "non-zero parameters, bytes and CPU inference time for each.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="small training budgets, about a minute on 2 cores (the default)")
    size.add_argument("--full", action="store_true", help="longer training budgets")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and every model (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or stage lines (only the table)")
    p.set_defaults(func=run_compress)
    return p


# ----------------------------------------------------------------------------- run

def run_script(args):
    from minigrad.torch_compat import main

    return main(args.script, args.args)


def add_run_parser(subparsers):
    p = subparsers.add_parser(
        "run", help="run a PyTorch program on minigrad (import torch finds minigrad)",
        description="Run a Python file as `python script.py args...` would, except that `import torch` "
                    "and its submodules resolve to minigrad's own modules. A torch feature minigrad lacks "
                    "fails with an error naming it.")
    p.add_argument("script", help="the Python file to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script as sys.argv[1:]")
    p.set_defaults(func=run_script)
    return p


# ----------------------------------------------------------------------------- entry point

#: one function per subcommand: it adds its parser to the sub-parsers
# ----------------------------------------------------------------------------- tune

def run_tune(args):
    from minigrad import tuning

    rec = tuning.tune(full=not args.quick, save=not args.no_save, verbose=not args.emit)
    if args.emit:
        import pprint

        rec.pop("path", None)
        print(f"RECORDS[{rec['isa']!r}] = " + pprint.pformat(rec, width=110, sort_dicts=False))
    else:
        where = rec.get("path", "not saved")
        print(f"{len(rec['cases'])} cases in {rec['seconds']:.1f} s on {rec['cpu']} ({rec['isa']}); record: {where}")
    return 0


def add_tune_parser(subparsers):
    p = subparsers.add_parser(
        "tune", help="time native against reference kernels on this CPU; the registry then follows the result",
        description="Time each hot op's native (Numba) and reference (NumPy) kernel, side by side, at the "
                    "sizes of the seed models' training steps, and save the result in the user cache folder. "
                    "From then on each op runs whichever kernel was faster at the nearest measured size. "
                    "Takes some seconds once the kernels are compiled.")
    p.add_argument("--quick", action="store_true", help="leave out the largest matmul (2048)")
    p.add_argument("--no-save", action="store_true", help="measure and print, keep the current choices")
    p.add_argument("--emit", action="store_true", help="print the record as a Python entry of the shipped tables")
    p.set_defaults(func=run_tune)
    return p


_SUBCOMMANDS = [add_demo_parser, add_compress_parser, add_run_parser, add_tune_parser]


def build_parser():
    from minigrad import __version__

    parser = argparse.ArgumentParser(
        prog="minigrad",
        description="minigrad: a from-scratch autodiff tensor framework for learning deep learning.")
    parser.add_argument("--version", action="version", version=f"minigrad {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="command", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``minigrad`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
