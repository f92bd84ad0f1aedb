"""Data-parallel training on one machine, side by side in one run:

1. the step time (forward, backward, Adam) of the seed CNN and of the char-level
   Transformer: ONE process with 2 threads on the whole batch vs TWO processes with
   1 thread each on half the batch (DistributedDataParallel over MPI);
2. the all-reduce bandwidth of the hand-written ring vs MPI's Allreduce (2
   processes), next to the memory bandwidth of one memcpy (the ceiling: on one
   machine every message is a copy through shared memory);
3. how much of the all-reduce time is hidden behind the backward pass (overlap).

    python benchmarks/distributed.py [--steps 15] [--quick]

Needs mpi4py and mpiexec (``pip install "minigrad[mpi]"``). The parent process
starts every measurement as a fresh subprocess (``python`` or ``mpiexec -n 2``)
with the thread counts set in its environment, and prints one table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ----------------------------------------------------------------------------- workers

def _models(name):
    import numpy as np

    import minigrad
    from minigrad import nn

    if name == "cnn":
        from minigrad.examples.cnn import SeedCNN

        def batch(n, rng):
            return (rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n))
        return SeedCNN, batch, nn.CrossEntropyLoss()
    from minigrad.examples.charlm import CharLM

    V, T = 64, 64

    def make():
        return CharLM([chr(32 + i) for i in range(V)], block_size=T, d_model=64, nhead=4, num_layers=2)

    def batch(n, rng):
        return rng.integers(0, V, (n, T)), rng.integers(0, V, (n, T))

    def loss(logits, y):
        return nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    del minigrad
    return make, batch, loss


def worker_step(args):
    """Median ms per training step; under mpiexec with DDP, plus overlap timings."""
    import numpy as np

    import minigrad
    import minigrad.distributed as dist
    from minigrad import optim
    from minigrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    p, rank = dist.get_world_size(), dist.get_rank()
    make, batch, loss_fn = _models(args.model)
    minigrad.manual_seed(0)
    spans = []   # per step: (first bucket started, backward's last gradient, all buckets averaged)

    class TimedDDP(DistributedDataParallel):
        """Records when the first bucket's all-reduce starts, when backward has produced
        its last gradient (the final wait begins) and when every bucket is done."""

        def _mark_ready(self, b, i, grad):
            t, before = time.perf_counter(), self._next_launch
            super()._mark_ready(b, i, grad)
            if before == 0 and self._next_launch > 0:
                spans[-1][0] = t

        def _finish(self):
            spans[-1][1] = time.perf_counter()
            super()._finish()
            spans[-1][2] = time.perf_counter()

        def forward(self, *a, **k):
            spans.append([None, None, None])
            return super().forward(*a, **k)

    model = make()
    if p > 1:
        model = TimedDDP(model, bucket_cap_mb=args.bucket_mb)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    x, y = batch(args.batch // p, rng)
    xt, yt = minigrad.tensor(x), minigrad.tensor(y)
    step_ms, bwd_ms = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        if p > 1:
            dist.barrier()  # both ranks start backward together: the wait measures communication, not skew
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        if p > 1:
            dist.barrier()  # the step ends when the slowest rank's step ends
        t3 = time.perf_counter()
        if i >= args.warmup:
            step_ms.append((t3 - t0) * 1e3)
            bwd_ms.append((t2 - t1) * 1e3)
    out = {"step_ms": statistics.median(step_ms), "backward_ms": statistics.median(bwd_ms), "p": p}
    if p > 1:
        # the same backward without communication (no_sync): what backward costs alone
        nosync = []
        for i in range(args.warmup + args.steps):
            opt.zero_grad()
            loss = loss_fn(model(xt), yt)
            t1 = time.perf_counter()
            with model.no_sync():
                loss.backward()
            if i >= args.warmup:
                nosync.append((time.perf_counter() - t1) * 1e3)
            dist.barrier()
        # every bucket's all-reduce alone, blocking, one after the other
        g = dist._default_group()
        comm = []
        for i in range(args.warmup + args.steps):
            dist.barrier()
            t = time.perf_counter()
            for b in model._buckets:
                g.allreduce(b.buffer, "sum")
            if i >= args.warmup:
                comm.append((time.perf_counter() - t) * 1e3)
        done = [sp for sp in spans[args.warmup:args.warmup + args.steps] if None not in sp]
        in_bwd = statistics.median([(e - a) * 1e3 for a, e, _ in done])   # communicating while backward runs
        after = statistics.median([(d - e) * 1e3 for _, e, d in done])    # waiting after backward's last gradient
        out.update(backward_nosync_ms=statistics.median(nosync), allreduce_alone_ms=statistics.median(comm),
                   in_backward_ms=in_bwd, exposed_wait_ms=after, buckets=len(model._buckets),
                   grad_mb=sum(b.buffer.nbytes for b in model._buckets) / 2**20)
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()


def worker_allreduce(args):
    """Bandwidth of MPI's Allreduce and of the ring, float32, several sizes."""
    import numpy as np

    import minigrad.distributed as dist
    from minigrad.distributed.ring import ring_all_reduce

    dist.init_process_group("mpi")
    g = dist._default_group()
    comm, MPI, p = g.comm, g.MPI, g.size
    rows = []
    for mb in args.sizes:
        n = int(mb * 2**20 / 4)
        a = np.ones(n, dtype=np.float32)
        res = {}
        for name, fn in (("mpi", lambda: comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)),
                         ("ring", lambda: ring_all_reduce(a, comm, "sum"))):
            ts = []
            reps = max(3, min(50, int(64 / max(mb, 0.05))))
            for i in range(reps + 2):
                comm.Barrier()
                t = time.perf_counter()
                fn()
                dt = time.perf_counter() - t
                if i >= 2:
                    ts.append(comm.allreduce(dt, op=MPI.MAX))
            res[name] = statistics.median(ts)
        rows.append({"mb": mb, "mpi_s": res["mpi"], "ring_s": res["ring"], "p": p})
    if g.rank == 0:
        print("RESULT " + json.dumps(rows), flush=True)
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- parent

def _env(threads):
    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = str(threads)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run(cmd, threads, timeout=900):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(threads),
                         timeout=timeout, cwd=ROOT)
    for line in res.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(cmd)} failed (exit {res.returncode}):\n{res.stdout[-3000:]}")


def memcpy_gbs(mb=64, repeats=9):
    """GB/s of one large copy (bytes copied per second), the shared-memory ceiling."""
    import numpy as np

    a = np.ones(int(mb * 2**20 / 4), dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        ts.append(time.perf_counter() - t)
    return a.nbytes / statistics.median(ts) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="few steps and sizes (a smoke run)")
    ap.add_argument("--bucket-mb", type=float, default=0.1,
                    help="DDP's bucket_cap_mb (default 0.1: several buckets even for these small models)")
    ap.add_argument("--worker", choices=["step", "allreduce"], help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=["cnn", "charlm"], default="cnn", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.0625, 1, 4, 16, 64], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "step":
        return worker_step(args)
    if args.worker == "allreduce":
        return worker_allreduce(args)

    from _common import cpu_flags, cpu_model

    import minigrad.distributed as dist

    if args.quick:
        args.steps, args.warmup, sizes = 3, 1, ["0.0625", "1"]
    else:
        sizes = [str(s) for s in args.sizes]
    me = [sys.executable, os.path.abspath(__file__)]
    steps = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    print(f"minigrad data-parallel benchmark  |  CPU: {cpu_model()}  |  {os.cpu_count()} logical CPUs")
    print(f"ISA: {cpu_flags()}")
    if hasattr(os, "getloadavg"):
        print(f"load average at the start: {os.getloadavg()[0]:.1f} (other processes share these cores)")
    print()
    print("1) training step: 1 process x 2 threads (whole batch) vs 2 processes x 1 thread (half each, DDP)")
    print(f"{'model':<26}{'batch':>6}{'1x1 ms':>8}{'1x2 ms':>9}{'2x1 ms':>9}{'speed-up':>9}   "
          f"{'bwd alone':>9}{'bwd+DDP':>8}{'allreduce':>10}{'in bwd':>8}{'after':>7}{'hidden':>7}  buckets")
    for model, batch, label in (("cnn", 64, "seed CNN"), ("charlm", 32, "char Transformer (T=64)")):
        single = _run(me + ["--worker", "step", "--model", model, "--batch", str(batch)] + steps, threads=1)
        one = _run(me + ["--worker", "step", "--model", model, "--batch", str(batch)] + steps, threads=2)
        two = _run(dist.mpiexec_command(2, *me, "--worker", "step", "--model", model, "--batch", str(batch),
                                        "--bucket-mb", str(args.bucket_mb), *steps), threads=1)
        hidden = max(0.0, 1.0 - two["exposed_wait_ms"] / two["allreduce_alone_ms"])
        print(f"{label:<26}{batch:>6}{single['step_ms']:>8.1f}{one['step_ms']:>9.1f}{two['step_ms']:>9.1f}"
              f"{one['step_ms'] / two['step_ms']:>8.2f}x   {two['backward_nosync_ms']:>9.1f}"
              f"{two['backward_ms']:>8.1f}{two['allreduce_alone_ms']:>10.2f}{two['in_backward_ms']:>8.2f}"
              f"{two['exposed_wait_ms']:>7.2f}{100 * hidden:>6.0f}%  {two['buckets']} ({two['grad_mb']:.2f} MB)")
    print("   1x1: one process, one thread, for reference; speed-up: 1x2 over 2x1 (one step of the same global batch)")
    print(f"   DDP with bucket_cap_mb={args.bucket_mb:g}. bwd alone: backward under no_sync (no communication);")
    print("   bwd+DDP: backward with the bucketed all-reduce; allreduce: every bucket reduced one after another")
    print("   with nothing else running; in bwd: from the first bucket's start to backward's last gradient;")
    print("   after: from there until every bucket is averaged (the communication NOT hidden, plus any wait")
    print("   for the slower rank); hidden = 1 - after / allreduce: the share of the communication time that")
    print("   overlapped backward (both ranks start backward together, after a barrier)")
    print()
    copy = memcpy_gbs()
    ar = _run(dist.mpiexec_command(2, *me, "--worker", "allreduce", "--sizes", *sizes), threads=1)
    print(f"2) all-reduce of float32 arrays, 2 processes; memcpy (one core, 64 MB): {copy:.1f} GB/s")
    print(f"{'MB':>8}{'MPI ms':>9}{'ring ms':>9}{'MPI GB/s':>10}{'ring GB/s':>10}{'ring/MPI':>9}{'MPI/memcpy':>11}")
    for r in ar:
        nbytes = r["mb"] * 2**20
        # algorithm bandwidth: array bytes / time (each rank's array reduced and returned)
        bw_mpi, bw_ring = nbytes / r["mpi_s"] / 1e9, nbytes / r["ring_s"] / 1e9
        print(f"{r['mb']:>8g}{r['mpi_s'] * 1e3:>9.3f}{r['ring_s'] * 1e3:>9.3f}{bw_mpi:>10.2f}{bw_ring:>10.2f}"
              f"{r['mpi_s'] / r['ring_s']:>9.2f}{bw_mpi / copy:>11.2f}")
    print("   GB/s = array bytes / time. The ring moves 2(p-1)/p = 1x the array per rank for p = 2 and adds it;")
    print("   on one machine each message is a copy through shared memory, so memcpy is the ceiling.")


if __name__ == "__main__":
    main()
