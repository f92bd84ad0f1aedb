"""Seed system 1: fit a line by gradient descent.

The data are ``y = 2x + 1 + noise``; the model is ``nn.Linear(1, 1)`` - one weight
and one bias - and the loss is the mean squared error. Gradient descent should
find ``w ~= 2`` and ``b ~= 1``: if it does, the whole chain (forward, autograd,
optimizer, training loop) works. It is the "hello world" of training::

    from minigrad.examples import linear_regression
    r = linear_regression()
    r["w"], r["b"]          # (2.00..., 1.00...)
"""
from __future__ import annotations

import time

import minigrad
from minigrad import nn, optim
from minigrad.data import make_regression
from minigrad.train import fit
from minigrad.examples._common import results

__all__ = ["linear_regression"]

#: the line the data come from, and how close the fitted one must be
TRUE_W, TRUE_B, TOLERANCE = 2.0, 1.0, 0.05


def linear_regression(n=200, noise=0.1, epochs=40, batch_size=32, lr=0.1, seed=0, progress=False,
                      level="default"):
    """Fit ``nn.Linear(1, 1)`` by plain SGD on MSE to ``y = 2x + 1 + noise``.

    ``n`` points with ``x`` uniform in [-1, 1] and Gaussian noise of std ``noise``
    (from :func:`minigrad.data.make_regression`, seeded with ``seed``; the model's
    initial weights come from ``minigrad.manual_seed(seed)``).

    Returns a dict: ``name``, ``what`` (a one-line description), ``final_loss``
    (last epoch's training MSE), ``w``, ``b``, ``summary`` (``"w=2.004 b=0.999"``),
    ``passed`` (both within +-0.05 of the truth), ``seconds``, ``history`` and ``model``.
    ``level="quick"`` halves the epochs (it still converges).
    """
    if level == "quick":
        epochs = max(1, epochs // 2)
    t0 = time.perf_counter()
    minigrad.manual_seed(seed)
    X, y = make_regression(n=n, w=TRUE_W, b=TRUE_B, noise=noise, seed=seed)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    history = fit(model, nn.MSELoss(), optimizer, (X, y), epochs=epochs, batch_size=batch_size,
                  progress=progress, seed=seed)
    w = float(model.weight.array.reshape(-1)[0])
    b = float(model.bias.array.reshape(-1)[0])
    return results("linear regression", f"Linear(1,1), SGD lr={lr}, MSE, y=2x+1+noise ({n} pts, {epochs} epochs)",
                   history, model, t0, summary=f"w={w:.3f} b={b:.3f}",
                   passed=abs(w - TRUE_W) <= TOLERANCE and abs(b - TRUE_B) <= TOLERANCE, accuracy=None, w=w, b=b)
