"""Kernel benchmarks: minigrad's native CPU kernels next to NumPy/OpenBLAS and PyTorch.

    python benchmarks/kernels.py                      # every section
    python benchmarks/kernels.py --quick              # smaller sizes, fewer shapes
    python benchmarks/kernels.py --section matmul --plot matmul.png
    python benchmarks/kernels.py --section threads    # the thread-pool policy, measured

Sections:

* ``matmul``: GFLOP/s of a naive triple-loop Numba matmul, minigrad's blocked Numba
  GEMM, NumPy (OpenBLAS, given all cores for its own calls) and PyTorch (if
  installed) on square sizes, on the matrix products of an MLP's training step and
  on im2col convolution GEMMs; ratios side by side, all from one process.
* ``skinny``: products with one dimension under 16 (a classifier head and its
  gradients) on every layout: ``matmul`` (which hands the small ones to BLAS), the
  blocked kernels forced, and NumPy.
* ``threads``: one step that mixes a Numba parallel kernel with NumPy matmuls, under
  the thread policies of ``kernels/cpu/_runtime.py`` (see docs/kernels-matmul.md).
* ``conv`` / ``attention``: run by ``benchmarks/_bench_conv.py`` and
  ``benchmarks/_bench_attention.py`` when present (each defines ``run(args)``
  returning table rows).

Numbers on a shared 2-core VM are noisy (10-25% between runs); read the ratios.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import numpy as np  # noqa: E402

from minigrad.kernels.cpu import _runtime  # noqa: E402
from minigrad.kernels.cpu import matmul as native  # noqa: E402

NAIVE_MAX_FLOP = 3e8   # the naive kernel runs at ~1 GFLOP/s: skip bigger products


def _torch():
    try:
        import torch

        return torch
    except Exception:
        return None


# ----------------------------------------------------------------------------- matmul

def matmul_cases(quick: bool):
    """(name, M, K, N, layout). layout says how A and B sit in memory: n = row-major,
    t = a transposed view (A.T / W.T), as the ops layer passes them."""
    sizes = (128, 256, 512) if quick else (128, 256, 512, 1024, 2048)
    cases = [(f"square {n}", n, n, n, "nn") for n in sizes]
    cases += [
        ("mlp fwd x@W.T 784->256", 128, 784, 256, "nt"),
        ("mlp bwd gy@W 256->784", 128, 256, 784, "nn"),
        ("mlp bwd gy.T@x 784->256", 256, 128, 784, "tn"),
        ("mlp fwd 256->256", 128, 256, 256, "nt"),
        ("mlp fwd 256->10", 128, 256, 10, "nt"),
        ("conv1 w@cols 1->32 28x28 b64", 32, 9, 64 * 28 * 28, "nn"),
        ("conv2 w@cols 32->64 14x14 b64", 64, 288, 64 * 14 * 14, "nn"),
    ]
    if quick:
        cases = [c for c in cases if not c[0].startswith("conv1")]
    return cases


def _operands(M, K, N, layout, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(dtype) if layout[0] == "n" else \
        rng.standard_normal((K, M)).astype(dtype).T
    b = rng.standard_normal((K, N)).astype(dtype) if layout[1] == "n" else \
        rng.standard_normal((N, K)).astype(dtype).T
    return a, b


def run_matmul(args):
    torch = _torch()
    repeat = 7
    min_time = 0.02 if args.quick else 0.05
    native.warmup()
    rows = []
    for name, M, K, N, layout in matmul_cases(args.quick):
        a, b = _operands(M, K, N, layout)
        flop = 2.0 * M * N * K
        row = {"product": name, "m x k x n": f"{M}x{K}x{N}", "layout": layout}
        # minigrad, native (Numba pool)
        _common.pause()
        t_nat, _ = _common.timeit(lambda: native.matmul(a, b), repeat=repeat, min_time=min_time)
        # naive triple loop (one thread)
        t_naive = None
        if flop <= (NAIVE_MAX_FLOP / 4 if args.quick else NAIVE_MAX_FLOP):
            t_naive, _ = _common.timeit(lambda: native.naive_matmul(a, b), repeat=repeat, warmup=1, min_time=0)
        # NumPy / OpenBLAS with all its threads
        with _runtime.blas_threads(args.threads):  # None: BLAS's own default (all cores)
            t_np, _ = _common.timeit(lambda: a @ b, repeat=repeat, min_time=min_time)
        t_torch = None
        if torch is not None:
            _common.pause()
            ta, tb = torch.from_numpy(np.ascontiguousarray(a.T)).T if layout[0] == "t" else torch.from_numpy(a), \
                torch.from_numpy(np.ascontiguousarray(b.T)).T if layout[1] == "t" else torch.from_numpy(b)
            with torch.no_grad():
                t_torch, _ = _common.timeit(lambda: torch.matmul(ta, tb), repeat=repeat, min_time=min_time)
        g = lambda t: None if t is None else flop / t / 1e9  # noqa: E731
        row.update({
            "naive GF/s": g(t_naive), "minigrad GF/s": g(t_nat), "numpy GF/s": g(t_np),
            "torch GF/s": g(t_torch), "minigrad ms": t_nat * 1e3,
            "mg/numpy": t_np / t_nat, "mg/torch": None if t_torch is None else t_torch / t_nat,
        })
        rows.append(row)
        if args.verbose:
            _common.print_table([row])
    print("-- matmul, float32 (GF/s: higher is better; mg/x > 1: minigrad faster)")
    _common.print_table(rows)
    if args.plot:
        plot_matmul(rows, args.plot)
    return rows


def parse_matmul_table(text):
    """The rows of the matmul table printed by ``--section matmul`` (columns are separated
    by two or more spaces; "-" is a missing value)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "product" in line and "minigrad GF/s" in line:
            header = re.split(r"\s{2,}", line.strip())
            break
    else:
        return []
    rows = []
    for line in lines[i + 2:]:  # after the header and its rule
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):
            break
        row = {}
        for key, cell in zip(header, cells):
            if key in ("product", "m x k x n", "layout"):
                row[key] = cell
            else:
                row[key] = None if cell == "-" else float(cell)
        rows.append(row)
    return rows


def plot_matmul(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sq = [r for r in rows if r["product"].startswith("square")]
    n = [int(r["product"].split()[1]) for r in sq]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in [("naive GF/s", "naive Numba (3 loops)", "o:"),
                              ("minigrad GF/s", "minigrad (Numba GEMM)", "o-"),
                              ("numpy GF/s", "NumPy / OpenBLAS", "s--"),
                              ("torch GF/s", "PyTorch", "^--")]:
        pts = [(x, r[key]) for x, r in zip(n, sq) if r.get(key) is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    if "Xeon" in _common.cpu_model():   # the peaks were measured on a 2-vCPU Xeon: drawn only there
        ax.axhline(_common.PEAK_GFLOPS_512, color="gray", lw=1)
        ax.text(n[0], _common.PEAK_GFLOPS_512 * 1.02, "FMA peak of a 2-vCPU Xeon, 512-bit", fontsize=8)
        ax.axhline(_common.PEAK_GFLOPS_256, color="gray", lw=1, ls="--")
        ax.text(n[0], _common.PEAK_GFLOPS_256 * 1.02, "FMA peak of a 2-vCPU Xeon, 256-bit", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(n)
    ax.set_xticklabels([str(x) for x in n])
    ax.set_xlabel("n (square n x n float32 matmul)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"matmul on {_common.cpu_model()}, {os.cpu_count()} cores")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot saved to {path}")


# ----------------------------------------------------------------------------- threads

def run_threads(args):
    """A step that mixes a Numba parallel kernel with two BLAS calls, timed under:

    * both pools at full size (what happens without a policy),
    * minigrad's policy: BLAS limited to 1 thread, Numba parallel,
    * one pool: the same step with minigrad's matmul instead of NumPy's.
    """
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def leaky_relu(x, y):
        for i in prange(x.shape[0]):
            r = x[i]
            o = y[i]
            for j in range(r.shape[0]):
                v = r[j]
                o[j] = v if v > 0 else 0.01 * v

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 2048)).astype(np.float32)
    y = np.empty_like(x)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((784, 256)).astype(np.float32)
    native.warmup()
    leaky_relu(x, y)

    def step(mm):
        leaky_relu(x, y)
        z = mm(a, w)
        leaky_relu(x, y)
        return mm(z, w[:256].T)

    full = args.threads or _runtime.threading_info()["blas_threads_before_minigrad"] or os.cpu_count()
    rows = []
    for label, blas_n, mm in [(f"no policy: BLAS {full} threads + Numba", full, np.matmul),
                              ("minigrad policy: BLAS 1 thread + Numba", 1, np.matmul),
                              ("one pool: minigrad matmul + Numba", 1, native.matmul)]:
        with _runtime.blas_threads(blas_n):
            _common.pause(0.3)
            med, best = _common.timeit(lambda: step(mm), repeat=9, min_time=0.1 if not args.quick else 0.03)
        rows.append({"configuration": label, "median ms": med * 1e3, "best ms": best * 1e3})
    print("-- threads: leaky_relu (Numba prange) + 2 matmuls, 128x784 @ 784x256 and 128x256 @ 256x256")
    _common.print_table(rows)
    return rows


# ----------------------------------------------------------------------------- skinny products

SKINNY_SHAPES = [(448, 64, 13), (13, 448, 64), (448, 13, 64), (128, 256, 10), (10, 128, 256),
                 (2048, 64, 13), (3000, 64, 10), (512, 256, 12), (2048, 256, 8), (2048, 8, 256),
                 (13, 2048, 64), (4096, 1024, 12)]


def run_skinny(args):
    """Products with one dimension under 16 (a classifier head, its gradients), on every
    operand layout: what ``matmul`` does with them (BLAS on one thread for the small
    ones, see ``kernels/cpu/matmul.py: _skinny``), the blocked kernels forced
    (``_matmul(..., None)``), and NumPy; microseconds per call."""
    rng = np.random.default_rng(0)
    native.warmup()
    shapes = SKINNY_SHAPES[:6] if args.quick else SKINNY_SHAPES
    rows = []
    for M, K, N in shapes:
        for lay in ("nn", "nt", "tn"):
            a = rng.random((M, K), np.float32) if lay[0] == "n" else rng.random((K, M), np.float32).T
            b = rng.random((K, N), np.float32) if lay[1] == "n" else rng.random((N, K), np.float32).T
            t = {}
            for name, fn in (("matmul", native.matmul), ("blocked", lambda x, y: native._matmul(x, y, None)),
                             ("numpy", np.matmul)):
                med, _ = _common.timeit(lambda: fn(a, b), repeat=7, min_time=0.01 if args.quick else 0.05)
                t[name] = med * 1e6
            rows.append({"M x K x N": f"{M} x {K} x {N}", "layout": lay, "BLAS?": native._skinny(M, N, K),
                         "matmul us": t["matmul"], "blocked us": t["blocked"], "numpy us": t["numpy"],
                         "blocked / numpy": f"{t['blocked'] / t['numpy']:.2f}"})
    print("-- skinny products (one dimension < 16): matmul's choice, the blocked kernels, NumPy")
    _common.print_table(rows)
    return rows


# ----------------------------------------------------------------------------- driver

SECTIONS = {
    "matmul": run_matmul,
    "threads": run_threads,
    "skinny": run_skinny,
    "conv": "_bench_conv",
    "attention": "_bench_attention",
}


def run_section(name, args):
    fn = SECTIONS[name]
    if isinstance(fn, str):
        try:
            mod = importlib.import_module(fn)
        except ModuleNotFoundError as e:
            if e.name != fn:
                raise
            print(f"-- {name}: skipped (benchmarks/{fn}.py is not there)\n")
            return None
        rows = mod.run(args)
        if rows:
            print(f"-- {name}")
            _common.print_table(list(rows))
        return rows
    return fn(args)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, shorter timings")
    ap.add_argument("--section", default="all", choices=["all", *SECTIONS],
                    help="which benchmark to run (default: all)")
    ap.add_argument("--plot", metavar="PATH", help="save GFLOP/s vs size of the matmul section to PATH")
    ap.add_argument("--plot-from", metavar="FILE",
                    help="draw the --plot from the saved output of an earlier --section matmul run "
                         "(no timing), e.g. to plot the numbers of a run on an idle machine")
    ap.add_argument("--threads", type=int, help="threads for Numba, OpenBLAS and PyTorch alike")
    ap.add_argument("--verbose", action="store_true", help="print each row as it is measured")
    ap.add_argument("--malloc", action="store_true",
                    help="re-run this script with glibc told to keep freed memory (MALLOC_MMAP_THRESHOLD_, "
                         "MALLOC_TRIM_THRESHOLD_), so that no contender pays page faults on its temporaries")
    args = ap.parse_args(argv)
    if args.malloc and not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="1073741824")
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)
    if args.plot_from:
        if not args.plot:
            ap.error("--plot-from needs --plot PATH")
        with open(args.plot_from, encoding="utf-8") as f:
            rows = parse_matmul_table(f.read())
        if not rows:
            ap.error(f"no matmul table found in {args.plot_from}")
        plot_matmul(rows, args.plot)
        return {"matmul": rows}
    if args.threads:
        _runtime.set_num_threads(args.threads)
        torch = _torch()
        if torch is not None:
            torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    _common.print_header("minigrad kernel benchmarks")
    names = list(SECTIONS) if args.section == "all" else [args.section]
    results = {}
    for name in names:
        results[name] = run_section(name, args)
    print(f"total {time.perf_counter() - t0:.1f} s")
    return results


if __name__ == "__main__":
    main()
