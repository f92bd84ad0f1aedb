"""Seed system: recurrent networks that have to remember.

:func:`train_lstm` trains the seed LSTM classifier

    LSTM(input, 128, num_layers=2, batch_first=True) -> last time step -> Linear(128, 10)

with cross-entropy and Adam on the embedded handwritten digits **read one row at a
time**: an 8x8 image becomes a sequence of 8 steps of 8 pixels (or, upsampled to
28x28, 28 steps of 28 pixels: ``rows=28``). The classifier only sees the state
after the last row, so whatever it needs from the first rows (the top of a 7, the
loop of a 9) must survive in the LSTM's state until the end: a task that needs
memory. :func:`train_gru` is the same model with a GRU.

:func:`train_parity` is a purely synthetic memory task: is the number of ones in a
random bit string even or odd? Every bit matters up to the last one, so the network
must keep a running XOR in its state; a model that forgets anything is at chance.
It is trained with a curriculum (short strings first), in a plain training loop.

Run ``python -m minigrad.examples.sequence`` (``--full`` for the longer versions), or::

    from minigrad.examples.sequence import train_lstm
    r = train_lstm(quick=True)        # {'what', 'final_loss', 'accuracy', 'seconds', ...}
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad.data import digits, train_test_split
from minigrad.train import evaluate
from minigrad.examples._common import classifier_results, train_classifier

__all__ = ["SequenceClassifier", "digit_rows", "parity_data", "train_lstm", "train_gru", "train_parity",
           "SEQUENCE_TARGET", "PARITY_TARGET"]

#: the row-by-row digits classifiers must reach this test accuracy
SEQUENCE_TARGET = 0.95
#: the parity network must reach this test accuracy
PARITY_TARGET = 0.95


class SequenceClassifier(nn.Module):
    """A recurrent network reads the sequence; a Linear layer classifies its last output.

    ``forward(x)``: x (N, L, input_size) -> logits (N, num_classes). ``cell`` is
    ``"lstm"``, ``"gru"`` or ``"rnn"``.
    """

    def __init__(self, input_size, hidden_size=128, num_layers=2, num_classes=10, cell="lstm", dropout=0.0):
        super().__init__()
        kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
        if cell not in kinds:
            raise ValueError(f"SequenceClassifier: cell must be one of {sorted(kinds)}, got {cell!r}")
        self.rnn = kinds[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        """``x`` (N, L, input_size) sequences -> logits (N, num_classes) from the state after the
        last step."""
        out, _ = self.rnn(x)         # (N, L, hidden): the top layer's state at every step
        return self.fc(out[:, -1])   # only the state after the last step is classified


def digit_rows(rows=8, seed=0):
    """The embedded digits as row sequences, split 80/20 (stratified) and standardised.

    Returns ``X_train, X_test, y_train, y_test`` with X of shape (n, rows, rows):
    ``rows`` = 8 (the original images) or e.g. 28 (upsampled, bilinear)."""
    X, y = digits(as_images=True, size=None if rows == 8 else rows)
    X = X.reshape(len(X), rows, rows)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=seed)
    mean, std = X_train.mean(), X_train.std()
    return (X_train - mean) / std, (X_test - mean) / std, y_train, y_test


def _train_digits(cell, quick, progress, seed, rows, epochs, hidden_size, num_layers, batch_size, lr):
    name = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    if epochs is None:
        epochs = 12 if quick else 30
    t0 = time.perf_counter()
    minigrad.manual_seed(seed)
    X_train, X_test, y_train, y_test = digit_rows(rows, seed)
    model = SequenceClassifier(rows, hidden_size, num_layers, 10, cell=cell)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    history, test = train_classifier(model, optimizer, (X_train, y_train), (X_test, y_test), epochs, batch_size,
                                     progress, seed)
    return classifier_results(f"digits {name} (row by row)",
                              f"{name}({rows}, {hidden_size}, num_layers={num_layers}, batch_first) -> last step "
                              f"-> Linear({hidden_size}, 10), Adam lr={lr}, batch {batch_size}, digits as {rows} "
                              f"rows of {rows} pixels ({epochs} epochs)", history, model, t0, test, SEQUENCE_TARGET)


def train_lstm(quick=True, progress=False, seed=0, rows=8, epochs=None, hidden_size=128, num_layers=2,
               batch_size=64, lr=2e-3):
    """Train the seed LSTM (2 layers, hidden 128, batch_first, last step -> Linear -> 10
    classes, Adam) on the digits read row by row, and measure the test accuracy.

    ``quick`` trains 12 epochs instead of 30; ``rows=28`` reads the digits upsampled to
    28x28 (28 steps of 28 pixels) instead of 8 steps of 8. Returns a dict with
    ``what``, ``final_loss`` (mean training loss of the last epoch), ``accuracy``
    (test), ``test_loss``, ``summary``, ``passed`` (accuracy >= SEQUENCE_TARGET),
    ``seconds``, ``history`` and ``model``.
    """
    return _train_digits("lstm", quick, progress, seed, rows, epochs, hidden_size, num_layers, batch_size, lr)


def train_gru(quick=True, progress=False, seed=0, rows=8, epochs=None, hidden_size=128, num_layers=2,
              batch_size=64, lr=2e-3):
    """:func:`train_lstm` with a GRU in place of the LSTM (same sizes, same data)."""
    return _train_digits("gru", quick, progress, seed, rows, epochs, hidden_size, num_layers, batch_size, lr)


def parity_data(n, length, seed=0):
    """``n`` random bit strings of ``length`` bits, as (n, length, 1) float32 sequences
    of -1/+1, and their parity (1 when the number of ones is odd) as int64 labels.
    ``seed``: an int or a NumPy Generator."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, length))
    X = (2.0 * bits - 1.0).astype(np.float32)[:, :, None]
    return X, (bits.sum(axis=1) % 2).astype(np.int64)


def train_parity(quick=True, progress=False, seed=0, length=None, cell="lstm", hidden_size=32, max_steps=None,
                 batch_size=64, lr=1e-2):
    """Train a 1-layer recurrent classifier to tell whether a bit string has an odd
    number of ones (``length`` bits: 10, or 16 without ``quick``).

    Parity is all-or-nothing: until the network has a working running XOR, the
    gradient says almost nothing, and trained directly on long strings it usually
    sits at chance for thousands of steps. A *curriculum* fixes that: start with
    strings of 2 bits and add one bit whenever the mean loss of the last 20 steps
    falls below 0.05, drawing fresh strings every step (the same weights handle
    any length). Stops when the full length is learned that well, or after
    ``max_steps`` (default 1500, 4000 without ``quick``).

    Returns a dict like :func:`train_lstm`'s, with the test accuracy on 1,000 fresh
    strings of the full length, ``steps`` and ``reached_length``.
    """
    if length is None:
        length = 10 if quick else 16
    if max_steps is None:
        max_steps = 1500 if quick else 4000
    t0 = time.perf_counter()
    minigrad.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SequenceClassifier(1, hidden_size, num_layers=1, num_classes=2, cell=cell)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    current, recent, losses = 2, [], []
    model.train()
    for step in range(1, max_steps + 1):
        X, y = parity_data(batch_size, current, rng)
        loss = loss_fn(model(minigrad.tensor(X)), minigrad.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        recent.append(loss.item())
        losses.append(recent[-1])
        if len(recent) >= 20 and np.mean(recent[-20:]) < 0.05:
            if progress:
                print(f"parity: {current} bits learned after {step} steps")
            if current == length:
                break
            current, recent = current + 1, []
    X_test, y_test = parity_data(1000, length, rng)
    test = evaluate(model, loss_fn, (X_test, y_test), metrics=["accuracy"])
    seconds = time.perf_counter() - t0
    return {
        "name": f"{cell.upper()} parity",
        "what": f"{cell.upper()}(1, {hidden_size}) -> last step -> Linear({hidden_size}, 2), Adam lr={lr}, "
                f"parity of {length} random bits, curriculum from 2 bits ({step} steps of {batch_size})",
        "final_loss": float(np.mean(losses[-20:])),
        "accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "summary": f"test acc {100 * test['accuracy']:.1f}%",
        "passed": test["accuracy"] >= PARITY_TARGET,
        "steps": step,
        "reached_length": current,
        "seconds": seconds,
        "model": model,
    }


def _main(argv=None):
    parser = argparse.ArgumentParser(description="Train the recurrent seed systems.")
    parser.add_argument("--full", action="store_true", help="the longer versions")
    parser.add_argument("--rows", type=int, default=8, help="8 (original digits) or 28 (upsampled)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    quick = not args.full
    for fn in (train_lstm, train_gru):
        r = fn(quick=quick, progress=args.progress, rows=args.rows)
        print(f"{r['name']}: {r['summary']}, final loss {r['final_loss']:.4f}, {r['seconds']:.1f} s")
    r = train_parity(quick=quick, progress=args.progress)
    print(f"{r['name']}: {r['summary']}, final loss {r['final_loss']:.4f}, {r['seconds']:.1f} s")


if __name__ == "__main__":
    _main()
