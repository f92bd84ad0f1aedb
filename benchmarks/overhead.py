"""Per-op Python overhead: microseconds for a small add / mul / matmul with graph
recording, forward + backward, side by side with raw NumPy and (if installed)
PyTorch eager, in one process.

    python benchmarks/overhead.py [--repeats 9] [--n 2000]

Each measurement runs ``n`` iterations of a tiny op (so the arithmetic is negligible
and what remains is framework overhead) and reports the median over ``repeats``.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import minigrad as mg  # noqa: E402


def per_call_us(fn, n, repeats):
    fn()  # warm-up (JIT, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None

    shape = (4, 4)
    rng = np.random.default_rng(0)
    a_np, b_np = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    a, b = mg.tensor(a_np, requires_grad=True), mg.tensor(b_np, requires_grad=True)
    a0, b0 = mg.tensor(a_np), mg.tensor(b_np)
    rows = []
    ops = {
        "add": (lambda x, y: x + y),
        "mul": (lambda x, y: x * y),
        "matmul": (lambda x, y: x @ y),
    }
    for name, op in ops.items():
        r = {"op": name}
        r["numpy fwd"] = per_call_us(lambda: op(a_np, b_np), args.n, args.repeats)
        r["minigrad fwd (no grad)"] = per_call_us(lambda: op(a0, b0), args.n, args.repeats)
        r["minigrad fwd (graph)"] = per_call_us(lambda: op(a, b), args.n, args.repeats)

        def mg_fb():
            a.grad = b.grad = None
            op(a, b).backward(g_mg)
        g_mg = mg.ones(*shape)
        r["minigrad fwd+bwd"] = per_call_us(mg_fb, args.n, args.repeats)
        if torch is not None:
            ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
            g_t = torch.ones(*shape)
            r["torch fwd (graph)"] = per_call_us(lambda: op(ta, tb), args.n, args.repeats)

            def t_fb():
                ta.grad = tb.grad = None
                op(ta, tb).backward(g_t)
            r["torch fwd+bwd"] = per_call_us(t_fb, args.n, args.repeats)
        rows.append(r)

    cols = [c for c in rows[0] if c != "op"]
    print(f"# per-op overhead, 4x4 float32, median of {args.repeats} x {args.n} calls, microseconds per call")
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}" + (f", torch {torch.__version__} (1 thread)" if torch else ", torch not installed"))
    print("| op | " + " | ".join(cols) + (" | fwd+bwd ratio vs torch |" if torch else " |"))
    print("|---" * (len(cols) + 1 + (1 if torch else 0)) + "|")
    for r in rows:
        line = f"| {r['op']} | " + " | ".join(f"{r[c]:.2f}" for c in cols)
        if torch:
            line += f" | {r['minigrad fwd+bwd'] / r['torch fwd+bwd']:.2f}x"
        print(line + " |")


if __name__ == "__main__":
    main()
