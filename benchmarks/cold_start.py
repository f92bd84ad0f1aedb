"""Cold start: the README's first command on a fresh machine, timed.

    python benchmarks/cold_start.py                 # fresh venv: pip install . && python -m minigrad demo
    python benchmarks/cold_start.py --no-venv       # this interpreter, only the demo
    python benchmarks/cold_start.py --warmup        # also time minigrad.kernels.warmup() cold and warm
    python benchmarks/cold_start.py -- --quick      # arguments after -- go to the demo

Every run uses an empty Numba cache (a new temporary ``NUMBA_CACHE_DIR``) so that
each kernel is compiled as on a machine that never ran minigrad; ``pip`` may reuse
wheels from its own cache (that is a download, not a minigrad cost).

The child's stdout and stderr are read as they are written, with a timestamp per
read, to report:

* the wall time of the demo (and of ``pip install .``);
* the compile time: the seconds minigrad itself reported spending on compilation
  (its ``minigrad: compiled ...`` lines, collected through ``MINIGRAD_COMPILE_LOG``);
* the longest silence: the largest gap between two writes to the terminal, and
  what was on screen when it started;
* when the first system's result (the first "[2/" system line) appeared.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

from _common import ROOT, cpu_flags, cpu_model


def run_timed(cmd, env, cwd=None, echo=True):
    """Run ``cmd``; return (exit status, wall seconds, [(t, stream, bytes)], CPU seconds) with t
    from the start. CPU seconds: user + system time of the child and its children."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    events, open_streams = [], 2
    while open_streams:
        for key, _ in sel.select():
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            events.append((time.perf_counter() - t0, key.data, chunk))
            if echo:
                (sys.stdout if key.data == "out" else sys.stderr).buffer.write(chunk)
                (sys.stdout if key.data == "out" else sys.stderr).flush()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return rc, wall, events, cpu


def longest_silence(events, wall):
    """(gap seconds, seconds at which it started, the last text on screen before it)."""
    best, start, last_text, text = 0.0, 0.0, "", ""
    prev = 0.0
    for t, _, chunk in events + [(wall, None, b"")]:
        if t - prev > best:
            best, start, last_text = t - prev, prev, text
        prev = t
        s = chunk.decode("utf-8", "replace").replace("\r", "\n").strip().splitlines()
        if s:
            text = s[-1][-100:]
    return best, start, last_text


def first_result_time(events):
    """Seconds until the first system finished (the demo prints "[2/n]" when it does),
    or None."""
    text = b""
    for t, _, chunk in events:
        text += chunk
        if b"[2/" in text:
            return t
    return None


def summarise(label, rc, wall, events, cpu, compile_log):
    gap, at, what = longest_silence(events, wall)
    compiled = []
    if compile_log and os.path.exists(compile_log):
        with open(compile_log) as f:
            compiled = [json.loads(line) for line in f if line.strip()]
    return {
        "what": label, "exit": rc, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "compile_s": round(sum(c["seconds"] for c in compiled), 1),
        "compiled": len(compiled),
        "longest_silence_s": round(gap, 1), "silence_starts_at_s": round(at, 1), "silence_after": what,
        "first_result_s": None if first_result_time(events) is None else round(first_result_time(events), 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-venv", action="store_true", help="use this interpreter (minigrad importable from the "
                                                           "source tree) instead of a fresh venv")
    ap.add_argument("--warmup", action="store_true", help="also time minigrad.kernels.warmup() into an empty "
                                                          "cache, then again warm")
    ap.add_argument("--no-demo", action="store_true", help="skip the demo (with --warmup)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary venv and cache")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    ap.add_argument("--quiet", action="store_true", help="do not echo the child's output")
    ap.add_argument("demo_args", nargs="*", help="arguments for the demo (after --)")
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="minigrad-cold-")
    results = []
    print(f"cold start on {cpu_model()} ({cpu_flags()}), {os.cpu_count()} cores; scratch {tmp}", flush=True)
    try:
        env = dict(os.environ)
        for k in ("NUMBA_CACHE_DIR", "MINIGRAD_QUIET", "MINIGRAD_KERNELS"):
            env.pop(k, None)
        env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba-cache")
        env["MINIGRAD_COMPILE_LOG"] = os.path.join(tmp, "compile-log.jsonl")
        if args.no_venv:
            python = sys.executable
            env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
            cwd = tmp
        else:
            venv = os.path.join(tmp, "venv")
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            python = os.path.join(venv, "bin", "python")
            env.pop("PYTHONPATH", None)
            env["VIRTUAL_ENV"] = venv
            env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
            # a copy of the tree, as a user's clone: no build folders from this checkout
            src = os.path.join(tmp, "src")
            shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
                ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "site"))
            rc, wall, events, cpu = run_timed([python, "-m", "pip", "install", "-q", "."], env, cwd=src,
                                              echo=not args.quiet)
            results.append({"what": "pip install .", "exit": rc, "wall_s": round(wall, 1)})
            if rc:
                raise SystemExit("pip install failed")
            cwd = tmp   # not the source tree: import the installed package
        if not args.no_demo:
            cmd = [python, "-m", "minigrad", "demo"] + args.demo_args
            rc, wall, events, cpu = run_timed(cmd, env, cwd=cwd, echo=not args.quiet)
            results.append(summarise("python -m minigrad demo " + " ".join(args.demo_args), rc, wall, events, cpu,
                                     env["MINIGRAD_COMPILE_LOG"]))
        if args.warmup:
            for label in ("warmup() cold", "import + warmup() warm"):
                if label.endswith("cold"):
                    shutil.rmtree(env["NUMBA_CACHE_DIR"], ignore_errors=True)
                if os.path.exists(env["MINIGRAD_COMPILE_LOG"]):
                    os.remove(env["MINIGRAD_COMPILE_LOG"])     # count each run's own compilations
                code = "import minigrad; minigrad.kernels.warmup()"
                rc, wall, events, cpu = run_timed([python, "-c", code], env, cwd=cwd, echo=not args.quiet)
                results.append(summarise(label, rc, wall, events, cpu, env["MINIGRAD_COMPILE_LOG"]))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    for r in results:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "isa": cpu_flags(), "cores": os.cpu_count(), "results": results}, f,
                      indent=1)
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
