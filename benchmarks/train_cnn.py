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
from _common import print_step_ratios, training_step  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.examples.cnn import SeedCNN  # noqa: E402



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

    mg_step = training_step(opt, loss_fn, lambda: model(xt), yt)

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

    return mg_step, training_step(topt, tl, lambda: tm(tx), ty)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    mg_step, t_step = make_steps(args.batch)
    print_step_ratios(f"seed CNN training step, batch {args.batch}, 28x28, Adam", mg_step, t_step, args.repeats)


if __name__ == "__main__":
    main()
