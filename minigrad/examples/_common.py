"""What the seed systems share: the results dict they return, the recipe of the
classifiers (``fit`` with cross-entropy, then the test set), and the loop of the
systems that train for a number of steps on freshly drawn batches instead of for
epochs over a data set (the char LM and the seq2seq Transformer)."""
from __future__ import annotations

import argparse
import time

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad.train import evaluate, fit, progress_range, progress_write


def results(name, what, history, model, t0, summary, passed, **values):
    """The results dict of a seed system (see :mod:`minigrad.examples`): ``name``,
    ``what``, ``final_loss`` (the last epoch's training loss), then ``values``, then
    ``summary``, ``passed``, ``seconds`` (since ``t0``), ``history`` and ``model``."""
    return {"name": name, "what": what, "final_loss": history["loss"][-1], **values, "summary": summary,
            "passed": passed, "seconds": time.perf_counter() - t0, "history": history, "model": model}


def train_classifier(model, optimizer, train, test, epochs, batch_size, progress, seed, tested=None, **options):
    """``fit`` ``model`` with cross-entropy and the accuracy metric on ``train`` (more
    ``fit`` keywords in ``options``), then measure ``tested`` (default: ``model``) on
    ``test`` once. Returns ``(history, test)``, ``test`` = ``{"loss", "accuracy"}``."""
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train, epochs=epochs, batch_size=batch_size,
                  metrics=["accuracy"], progress=progress, seed=seed, **options)
    tested = model if tested is None else tested
    return history, evaluate(tested, nn.CrossEntropyLoss(), test, metrics=["accuracy"])


def accuracy_on(model, X, y):
    """The accuracy of ``model`` on ``(X, y)`` (evaluated in batches of 256)."""
    return evaluate(model, nn.CrossEntropyLoss(), (X, y), metrics=["accuracy"], batch_size=256)["accuracy"]


def classifier_results(name, what, history, model, t0, test, target, **values):
    """:func:`results` of a classifier: ``accuracy`` and ``test_loss`` on the test set,
    ``summary`` "test acc 97.5%", ``passed`` when the accuracy reaches ``target``
    (None without a target)."""
    acc = test["accuracy"]
    return results(name, what, history, model, t0, summary=f"test acc {100 * acc:.1f}%",
                   passed=None if target is None else acc >= target, **values, accuracy=acc,
                   test_loss=test["loss"])


def command_line(run, description, argv=None, hidden=()):
    """``python -m minigrad.examples.<system> [--quick] [--seed N]``: ``run`` with a
    progress bar, then every result but the ``hidden`` ones printed as ``key: value``.
    Returns the results."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    res = run(quick=args.quick, seed=args.seed, progress=True)
    for k, v in res.items():
        if k not in hidden:
            print(f"{k}: {v}")
    return res


def warmup_then_decay(optimizer, steps, warmup):
    """The learning rate rises linearly over ``warmup`` steps, then falls linearly to
    10% of its base value at ``steps``."""
    return optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * max(0.0, 1 - s / steps)))


def train_steps(model, optimizer, scheduler, steps, batch, loss_fn, desc, progress, max_norm=1.0):
    """Train for ``steps`` steps, each on a fresh batch ``batch(step) -> (inputs, target)``
    (NumPy arrays: a tuple of the model's inputs, and the target), with the gradients
    clipped to norm ``max_norm`` and ``scheduler`` stepped after every step. With
    ``progress``, a bar and the mean loss of the last 50 steps every 50 steps. Returns
    the loss of every step."""
    losses = []
    model.train()
    for step in progress_range(steps, desc, progress):
        inputs, target = batch(step)
        out = model(*(minigrad.tensor(a) for a in inputs))
        loss = loss_fn(out, minigrad.tensor(target))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if progress and (step % 50 == 0 or step == steps - 1):
            progress_write(f"step {step:5d}  loss {np.mean(losses[-50:]):.4f}")
    return losses
