"""Seed system: the seed CNN trained data-parallel, one process per core.

``mpiexec -n 2 python -m minigrad demo --distributed`` runs :func:`digits_cnn_ddp` in
two processes: each holds the whole :class:`~minigrad.examples.cnn.SeedCNN`, wrapped in
:class:`~minigrad.nn.parallel.DistributedDataParallel`, and trains on its half of
every batch (:func:`~minigrad.train.fit` shards the data with a
:class:`~minigrad.data.DistributedSampler`); the gradients are averaged across the
processes during ``backward``, so both copies take the same Adam steps. The global
batch (the per-process batch times the number of processes) and the number of
epochs are those of the single-process seed CNN, so it reaches the same accuracy.

Started without ``mpiexec`` it runs as a job of one process.
"""
from __future__ import annotations

import time

import minigrad
from minigrad import nn, optim
from minigrad.examples.cnn import CNN_TARGET, SeedCNN, load_28x28
from minigrad.train import evaluate, fit

__all__ = ["digits_cnn_ddp", "run_demo"]


def digits_cnn_ddp(epochs=12, batch_size=32, lr=1e-3, seed=0, progress=False, level="default",
                   dataset="digits"):
    """Train the seed CNN with DistributedDataParallel over every process of the job.

    ``batch_size`` is the global batch: each of the ``p`` processes takes
    ``batch_size // p`` samples per step. Initialises the default process group if
    needed (``backend="mpi"``). Returns the usual results dict, the same on every rank.
    """
    import minigrad.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("mpi")
    p, rank = dist.get_world_size(), dist.get_rank()
    if level == "full":
        epochs = epochs * 2
    if batch_size % p:
        raise ValueError(f"digits_cnn_ddp: the global batch {batch_size} does not divide among {p} processes")
    t0 = time.perf_counter()
    minigrad.manual_seed(seed)
    X_train, X_test, y_train, y_test = load_28x28(dataset, seed)
    model = nn.parallel.DistributedDataParallel(SeedCNN())
    optimizer = optim.Adam(model.parameters(), lr=lr)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, (X_train, y_train), epochs=epochs,
                  batch_size=batch_size // p, validation_split=0.1, metrics=["accuracy"],
                  progress=progress and rank == 0, seed=seed)
    test = evaluate(model.module, nn.CrossEntropyLoss(), (X_test, y_test), metrics=["accuracy"], batch_size=256)
    return {
        "name": f"seed CNN, data-parallel x{p}",
        "what": f"SeedCNN in DistributedDataParallel on {p} process{'es' if p > 1 else ''} "
                f"({dist.get_backend()}), Adam lr={lr}, batch {batch_size // p} x {p}, {dataset} 28x28 "
                f"({epochs} epochs)",
        "final_loss": history["loss"][-1],
        "accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "summary": f"test acc {100 * test['accuracy']:.1f}%",
        "passed": test["accuracy"] >= CNN_TARGET if dataset == "digits" else None,
        "seconds": time.perf_counter() - t0,
        "history": history,
        "model": model.module,
    }


def run_demo(level="default", progress=True, seed=0):
    """What ``python -m minigrad demo --distributed`` runs in every process: the
    data-parallel seed CNN; rank 0 prints the demo's results table. Returns the exit
    status (0 when the target accuracy was reached), the same on every rank.

    An exception on any rank ends the whole job with that rank's traceback
    (``init_process_group`` installs the hook that does it)."""
    import sys

    import minigrad.distributed as dist
    from minigrad.__main__ import format_table

    dist.init_process_group("mpi")
    p, rank = dist.get_world_size(), dist.get_rank()
    if p == 1 and progress:
        hint = "" if dist.is_available() else f" (after {dist.INSTALL_HINT})"
        print("minigrad demo --distributed: one process; launch several with\n"
              f"    mpiexec -n 2 python -m minigrad demo --distributed{hint}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    r = digits_cnn_ddp(progress=progress, seed=seed, level=level)
    total = time.perf_counter() - t0
    if rank == 0:
        print()
        print(f"minigrad demo --distributed ({level}): 1 system trained by {p} process{'es' if p > 1 else ''} "
              f"in {total:.1f} s")
        print()
        print(format_table([r]))
        if r.get("passed") is False:
            print()
            print(f"did not reach the target: {r['name']}")
        sys.stdout.flush()
    dist.destroy_process_group()
    return 1 if r.get("passed") is False else 0
