"""Training-loop benchmark: one epoch of an MLP in minigrad, PyTorch (CPU) and plain NumPy.

    python benchmarks/train_mlp.py [--repeats 9] [--batches 60] [--threads N] [--profile]

Two workloads, each timed as the median of ``--repeats`` epochs after a warm-up
epoch, all in this one process:

1. **digits MLP** - the seed system: Linear(64,128)-ReLU-Linear(128,10),
   cross-entropy, Adam, batch 64, one epoch over the 1,797 embedded digits
   (29 steps; small matrices, so per-step framework overhead dominates).
2. **784-256-256-10 MLP** on random MNIST-shaped data, cross-entropy, SGD
   (lr 0.01), batch 128, ``--batches`` steps per epoch (60 by default). The same
   math written by hand in NumPy is the floor: what is left is framework overhead.

minigrad is timed three ways: through ``minigrad.train.fit`` (progress bars off),
through a bare loop over a DataLoader (so the cost of ``fit``'s bookkeeping
shows), and through ``fit`` with the reference kernels (``minigrad.kernels.use(
"reference")``: NumPy, so matmul runs in OpenBLAS) to tell kernel time from
framework time.
PyTorch runs the same loop over index batches of preloaded tensors, with its
default thread count (printed). Ratios > 1 mean minigrad is slower.

glibc returns big temporaries to the OS on every free unless told otherwise, and
page faults are expensive in VMs. Unless
``--plain-malloc`` is given the script re-executes itself once with
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set, so every framework
runs under the same allocator settings.

``--profile`` adds a cProfile of minigrad's 784-256-256-10 epoch (top functions
by own time), to see where the time goes.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


# ----------------------------------------------------------------------------- minigrad

def minigrad_workloads(X, y, layers, opt_name, lr, batch_size):
    import minigrad
    from minigrad import nn, optim
    from minigrad.data import DataLoader, TensorDataset
    from minigrad.train import fit

    minigrad.manual_seed(0)
    mods = []
    for i in range(len(layers) - 1):
        mods.append(nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(nn.ReLU())
    model = nn.Sequential(*mods)
    opt = optim.Adam(model.parameters(), lr=lr) if opt_name == "adam" else optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    data = TensorDataset(X, y)

    def epoch_fit():
        fit(model, loss_fn, opt, data, epochs=1, batch_size=batch_size, progress=False, seed=0)

    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=0)

    def epoch_loop():
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch_fit, epoch_loop


# ----------------------------------------------------------------------------- PyTorch

def torch_workload(torch, X, y, layers, opt_name, lr, batch_size):
    torch.manual_seed(0)
    mods = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(model.parameters(), lr=lr) if opt_name == "adam" \
        else torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(X)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            loss = loss_fn(model(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


# ----------------------------------------------------------------------------- NumPy by hand

def numpy_workload(X, y, layers, lr, batch_size):
    """Forward, backward and an SGD step for a ReLU MLP with softmax cross-entropy, by hand."""
    rng = np.random.default_rng(0)
    Ws, bs = [], []
    for i in range(len(layers) - 1):
        bound = 1 / np.sqrt(layers[i])
        Ws.append(rng.uniform(-bound, bound, (layers[i + 1], layers[i])).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, layers[i + 1]).astype(np.float32))
    n = len(X)
    L = len(Ws)

    def epoch():
        perm = rng.permutation(n)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            xb, yb = X[idx], y[idx]
            acts = [xb]
            h = xb
            for i in range(L):
                h = h @ Ws[i].T + bs[i]
                if i < L - 1:
                    np.maximum(h, 0, out=h)
                acts.append(h)
            z = h - h.max(axis=1, keepdims=True)
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            m = len(yb)
            g = p
            g[np.arange(m), yb] -= 1.0
            g /= m
            for i in range(L - 1, -1, -1):
                gW = g.T @ acts[i]
                gb = g.sum(axis=0)
                if i > 0:
                    g = g @ Ws[i]
                    g *= acts[i] > 0
                Ws[i] -= lr * gW
                bs[i] -= lr * gb

    return epoch


# ----------------------------------------------------------------------------- main

def run_case(title, X, y, layers, opt_name, lr, batch_size, repeats, torch, with_numpy):
    steps = -(-len(X) // batch_size)
    print(f"\n{title}: {len(X)} samples, batch {batch_size} -> {steps} steps per epoch, {opt_name}")
    import minigrad

    fit_epoch, loop_epoch = minigrad_workloads(X, y, layers, opt_name, lr, batch_size)
    rows = [("minigrad fit()", median_time(fit_epoch, repeats)),
            ("minigrad DataLoader loop", median_time(loop_epoch, repeats))]
    with minigrad.kernels.use("reference"):  # every hot op on its NumPy version (matmul: OpenBLAS)
        fit_ref, _ = minigrad_workloads(X, y, layers, opt_name, lr, batch_size)
        rows.append(("minigrad fit(), ref kernels", median_time(fit_ref, repeats)))
    if torch is not None:
        rows.append(("PyTorch CPU", median_time(torch_workload(torch, X, y, layers, opt_name, lr, batch_size),
                                                repeats)))
    if with_numpy:
        rows.append(("NumPy by hand", median_time(numpy_workload(X, y, layers, lr, batch_size), repeats)))
    ref = dict(rows).get("PyTorch CPU")
    print(f"  {'':28s} {'epoch ms':>10s} {'min ms':>9s} {'ms/step':>9s} {'vs PyTorch':>11s}")
    for name, (med, mn) in rows:
        ratio = f"{med / ref[0]:.2f}x" if ref else "-"
        print(f"  {name:28s} {med * 1e3:10.2f} {mn * 1e3:9.2f} {med * 1e3 / steps:9.3f} {ratio:>11s}")
    return dict(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9, help="timed epochs per measurement (median; >= 7)")
    ap.add_argument("--batches", type=int, default=60, help="steps per epoch of the 784-256-256-10 case")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    ap.add_argument("--plain-malloc", action="store_true", help="do not set the glibc malloc variables")
    ap.add_argument("--profile", action="store_true", help="cProfile one minigrad 784-256-256-10 epoch")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit every thread pool (OpenBLAS, Numba, OpenMP, PyTorch) to this many threads; "
                         "1 gives stable numbers on a busy machine")
    args = ap.parse_args()

    want = {} if args.plain_malloc else dict(MALLOC_ENV)
    if args.threads is not None:
        want.update({k: str(args.threads) for k in THREAD_VARS})
    if any(os.environ.get(k) != v for k, v in want.items()):
        env = dict(os.environ, **want)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    import minigrad
    from minigrad.data import digits

    print(f"minigrad {minigrad.__version__}, NumPy {np.__version__}, Python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    if torch is not None:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        print("PyTorch not importable: minigrad and NumPy only")
    print("malloc: " + ("default" if args.plain_malloc else
                        ", ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())))
    print("threads: " + (f"{args.threads} per pool" if args.threads else "library defaults"))
    print(f"median of {args.repeats} epochs after 1 warm-up epoch")

    X, y = digits()
    run_case("digits MLP 64-128-10", X, y, [64, 128, 10], "adam", 1e-3, 64, args.repeats, torch, False)

    rng = np.random.default_rng(0)
    n = 128 * args.batches
    Xr = rng.random((n, 784), dtype=np.float32)
    yr = rng.integers(0, 10, n).astype(np.int64)
    res = run_case("MLP 784-256-256-10 (random MNIST-shaped data)", Xr, yr, [784, 256, 256, 10], "sgd", 0.01,
                   128, args.repeats, torch, True)
    if "PyTorch CPU" in res:
        ratio = res["minigrad fit()"][0] / res["PyTorch CPU"][0]
        print(f"\nminigrad fit() / PyTorch, 784-256-256-10 epoch: {ratio:.2f}x (aim: <= 1.5x)")

    if args.profile:
        import cProfile
        import pstats

        fit_epoch, _ = minigrad_workloads(Xr, yr, [784, 256, 256, 10], "sgd", 0.01, 128)
        fit_epoch()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            fit_epoch()
        prof.disable()
        print("\ncProfile of 3 minigrad epochs (784-256-256-10), by own time:")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
