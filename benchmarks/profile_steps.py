"""Where the time of each seed training step goes, op by op, next to PyTorch's.

    python benchmarks/profile_steps.py                  # every seed step, one thread
    python benchmarks/profile_steps.py --only charlm,cnn
    python benchmarks/profile_steps.py --threads 2

For each step of ``benchmarks/steps.py``:

* **minigrad**: every kernel call goes through the registry (``minigrad.backend.
  get_kernel``); for the profile each kernel it returns is wrapped in a timer, so the
  table lists each op's calls and milliseconds per step, and whether the native (N) or
  the reference (R) kernel ran when the registry chooses by size. What the kernels do
  not account for is **outside the kernels**: Python, the autograd engine, NumPy's
  elementwise operations and reductions, allocation of the results, the optimizer.
* **PyTorch**: ``torch.profiler`` over the same number of steps; its ops' self CPU
  time per step (the profiler's own cost is included in PyTorch's total).

The step times in the header are taken without any instrumentation (median of
alternating rounds, as in ``steps.py``); the wrapped run is a few percent slower.
Read the columns as shares of a step, not as exact kernel timings: a kernel called
inside a step finds its inputs in colder caches than in a kernel benchmark.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import minigrad as mg  # noqa: E402
from minigrad import backend  # noqa: E402

import steps  # noqa: E402


@contextlib.contextmanager
def kernel_timer():
    """Within the block every kernel the registry hands out is timed; yields
    {op name: [calls, seconds]} (names get ":N" / ":R" where the choice is by size)."""
    acc = collections.defaultdict(lambda: [0, 0.0])
    original = backend.get_kernel

    def timed(name, fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                rec = acc[name]
                rec[0] += 1
                rec[1] += time.perf_counter() - t0
        return run

    def get_kernel(op, dev=backend.cpu):
        fn = original(op, dev)
        if isinstance(fn, backend.SizeChoice):
            choice = fn

            def by_size(*args, **kwargs):
                k = choice.pick(*args)
                return timed(op + (":N" if k is choice.native else ":R"), k)(*args, **kwargs)
            return by_size
        return timed(op, fn)

    # modules that did `from minigrad.backend import get_kernel` hold their own reference
    patched = [m for m in list(sys.modules.values())
               if m is not None and m is not backend and getattr(m, "get_kernel", None) is original]
    backend.get_kernel = get_kernel
    for m in patched:
        m.get_kernel = get_kernel
    try:
        yield acc
    finally:
        backend.get_kernel = original
        for m in patched:
            m.get_kernel = original


def profile_minigrad(step, n):
    """(ms per step while timed, [(op, calls per step, ms per step)])."""
    with kernel_timer() as acc:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        total = (time.perf_counter() - t0) / n
    ops = sorted(((op, c / n, s / n * 1e3) for op, (c, s) in acc.items()), key=lambda r: -r[2])
    return total * 1e3, ops


def profile_torch(step, n, top):
    """(ms per step under the profiler, [(op, calls per step, self ms per step)]) or None."""
    torch = _common.torch_or_none()
    if torch is None or step is None:
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        total = (time.perf_counter() - t0) / n
    rows = [(e.key, e.count / n, e.self_cpu_time_total / 1e3 / n) for e in prof.key_averages()]
    rows.sort(key=lambda r: -r[2])
    return total * 1e3, rows[:top]


def report(key, what, mg_step, t_step, args):
    for _ in range(3):   # warm: compile, fill caches and workspaces
        mg_step()
        if t_step is not None:
            t_step()
    if t_step is not None:
        t_mg, t_t, ratio = _common.time_pair_ms(mg_step, t_step, args)
    else:
        t_mg, t_t, ratio = _common.time_ms(mg_step, args), None, None
    timed_ms, ops = profile_minigrad(mg_step, args.steps)
    kernel_ms = sum(ms for _, _, ms in ops)
    print(f"== {key}: {what}")
    head = f"   minigrad {t_mg:.2f} ms per step"
    if t_t is not None:
        head += f", PyTorch {t_t:.2f} ms (mg / torch {ratio:.2f})"
    print(head)
    print(f"   minigrad, timed op by op ({timed_ms:.2f} ms per step):")
    for op, calls, ms in ops:
        print(f"      {op:40s} {calls:6.1f} calls {ms:8.3f} ms  {100 * ms / timed_ms:5.1f}%")
    rest = timed_ms - kernel_ms
    print(f"      {'(all kernels)':40s} {'':12s} {kernel_ms:8.3f} ms  {100 * kernel_ms / timed_ms:5.1f}%")
    print(f"      {'(outside the kernels)':40s} {'':12s} {rest:8.3f} ms  {100 * rest / timed_ms:5.1f}%")
    tp = profile_torch(t_step, args.steps, args.top)
    if tp is not None:
        total, rows = tp
        print(f"   PyTorch, self CPU time of its top {args.top} ops ({total:.2f} ms per step under the profiler):")
        for name, calls, ms in rows:
            print(f"      {name[:40]:40s} {calls:6.1f} calls {ms:8.3f} ms  {100 * ms / total:5.1f}%")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated step keys (linreg,mlp2,digits,mlp784,cnn,lstm,gru,seq2seq,charlm)")
    ap.add_argument("--threads", type=int, default=1, help="threads for Numba, OpenBLAS and PyTorch (default 1)")
    ap.add_argument("--steps", type=int, default=20, help="steps profiled per framework (default 20)")
    ap.add_argument("--top", type=int, default=8, help="PyTorch ops listed per step (default 8)")
    ap.add_argument("--quick", action="store_true", help="shorter timing rounds for the header")
    args = ap.parse_args(argv)
    _common.set_malloc_thresholds()
    torch = _common.torch_or_none()    # before Numba's threading layer loads (see steps.py)
    from minigrad.kernels.cpu import _runtime

    _runtime.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    _common.print_header("where each seed training step's time goes, minigrad and PyTorch CPU")
    print(f"   kernel choices: {backend.kernel_choices()['source']}\n")
    only = set(args.only.split(",")) if args.only else None
    for key, what, build in steps.all_steps():
        if only and key not in only:
            continue
        mg.manual_seed(0)
        mg_step, t_step = build()
        report(key, what, mg_step, t_step, args)


if __name__ == "__main__":
    main()
