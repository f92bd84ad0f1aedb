"""One training step (forward, backward, Adam) of the seed CNN, batch 64, 28x28 inputs:
minigrad vs PyTorch CPU (if installed), in one process; medians of --repeats after warm-up.

    python benchmarks/train_cnn.py [--repeats 9]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from _common import timeit  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.examples.cnn import SeedCNN  # noqa: E402


def median_ms(step, repeats):
    """Median milliseconds per step (the shared timer in _common.py)."""
    return timeit(step, repeat=repeats, warmup=3)[0] * 1e3


def make_steps(batch=64, seed=0):
    """(minigrad step, PyTorch step or None): one Adam training step of the seed CNN on a
    fixed random batch, in each framework (same shapes, same optimizer)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    model = SeedCNN()
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = mg.tensor(x), mg.tensor(y)

    def mg_step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    try:
        import torch
    except ImportError:
        return mg_step, None
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    tx, ty = torch.tensor(x), torch.tensor(y)
    tl = torch.nn.CrossEntropyLoss()

    def t_step():
        topt.zero_grad()
        tl(tm(tx), ty).backward()
        topt.step()

    return mg_step, t_step


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    mg_step, t_step = make_steps(args.batch)
    rows = [("minigrad", median_ms(mg_step, args.repeats))]
    if t_step is not None:
        import torch

        rows.append((f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)",
                     median_ms(t_step, args.repeats)))
    print(f"seed CNN training step, batch {args.batch}, 28x28, Adam (median of {args.repeats}, ms)")
    base = rows[-1][1]
    for name, ms in rows:
        print(f"  {name:40s} {ms:8.2f} ms   {ms / base:5.2f}x")


if __name__ == "__main__":
    main()
