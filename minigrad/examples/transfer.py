"""Transfer learning: pre-train, save, load, replace the head, freeze, fine-tune.

A network trained on one task has learned features - edges, strokes, loops -
that are useful for a related task. With few labels for the new task it is
usually better to *start* from those features than from random weights. The
worked example here:

1. **Pre-train** the seed CNN (:class:`~minigrad.examples.cnn.SeedCNN`) on the
   digits 0-4 (plenty of labels).
2. **Save** its ``state_dict()`` with :func:`minigrad.save` (an atomic write: a
   crash mid-save leaves the old file, never half a file).
3. **Load** it into a freshly built model (:func:`minigrad.load` +
   ``load_state_dict``, which checks every key and shape before copying anything).
4. **Replace the head**: the last ``Linear(128, 5)`` that scored the digits 0-4
   becomes a new, randomly initialised ``Linear(128, 5)`` for the digits 5-9.
5. **Freeze** the body: ``requires_grad_(False)`` on every other parameter, so no
   gradient is computed for it and the optimizer skips it.
6. **Fine-tune** the head on a *few* labelled examples of 5-9 (10 per class), and
   compare with the same network trained **from scratch** on the same examples.
7. A variant: **discriminative learning rates** - train everything, but the body
   with a small learning rate and the head with a large one, through optimizer
   parameter groups::

       optim.Adam([{"params": body_params, "lr": 1e-4},
                   {"params": model.head[-1].parameters(), "lr": 1e-2}])

:func:`pretrain_finetune` runs it all and returns a dict of accuracies. The helper
functions (:func:`split_classes`, :func:`few_shot`, :func:`replace_head`,
:func:`freeze_body`, :func:`load_pretrained`) are the steps, one each.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad.examples.cnn import SeedCNN, load_28x28
from minigrad.examples._common import accuracy_on
from minigrad.train import fit

__all__ = ["split_classes", "few_shot", "replace_head", "freeze_body", "trainable_parameters",
           "load_pretrained", "pretrain_finetune"]


# ----------------------------------------------------------------------------- data

def split_classes(X, y, classes):
    """The samples whose label is in ``classes``, with labels renumbered 0, 1, ...
    in the order of ``classes`` (so the digits 5-9 become the classes 0-4)."""
    classes = list(classes)
    if not classes:
        raise ValueError("split_classes: classes is empty; give the labels to keep, e.g. range(5)")
    y = np.asarray(y)
    keep = np.isin(y, classes)
    remap = np.full(int(max(int(y.max()), max(classes))) + 1, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    return X[keep], remap[y[keep]]


def few_shot(X, y, per_class, seed=0):
    """``per_class`` randomly chosen samples of each class (the few labels we can afford)."""
    if per_class < 1:
        raise ValueError(f"few_shot: per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ValueError(f"few_shot: class {c} has only {len(idx)} samples, fewer than "
                             f"per_class={per_class}")
        chosen.append(rng.choice(idx, size=per_class, replace=False))
    chosen = rng.permutation(np.concatenate(chosen))
    return X[chosen], y[chosen]


# ----------------------------------------------------------------------------- model surgery

def replace_head(model, num_classes):
    """Swap the last layer of ``model.head`` for a new ``Linear(in_features, num_classes)``
    (randomly initialised). Returns the new layer."""
    old = model.head[-1]
    if not isinstance(old, nn.Linear):
        raise TypeError(f"replace_head: expected the last layer of model.head to be a Linear, "
                        f"got {type(old).__name__}")
    new = nn.Linear(old.in_features, num_classes)
    model.head[-1] = new
    return new


def freeze_body(model):
    """Freeze every parameter but those of the last layer of ``model.head``
    (``requires_grad_(False)``); the head's last layer is made trainable. Returns model."""
    model.requires_grad_(False)
    model.head[-1].requires_grad_(True)
    return model


def trainable_parameters(model):
    """The parameters that still require a gradient (what an optimizer should get)."""
    return [p for p in model.parameters() if p.requires_grad]


def load_pretrained(model, path, exclude=()):
    """Load the checkpoint at ``path`` (written by ``minigrad.save(model.state_dict(), path)``)
    into ``model``, skipping the entries whose name starts with one of ``exclude``
    (e.g. ``("head.3.",)`` to keep a new head).

    Everything is checked before anything is copied: a file that is not a checkpoint,
    a missing or unexpected key, or a shape that does not match raises (ValueError or
    RuntimeError) and leaves ``model`` exactly as it was. Returns the list of keys loaded.
    """
    state = minigrad.load(path)
    if not isinstance(state, dict):
        raise ValueError(f"load_pretrained: {os.fspath(path)!r} holds a {type(state).__name__}, "
                         f"not a state_dict (a dict of name -> array)")
    exclude = tuple(exclude)

    def skipped(k):
        return bool(exclude) and k.startswith(exclude)

    state = {k: v for k, v in state.items() if not skipped(k)}
    wanted = [k for k in model.state_dict() if not skipped(k)]
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected:
        raise RuntimeError(f"load_pretrained: {os.fspath(path)!r} does not fit {type(model).__name__}: "
                           f"missing keys {missing}, unexpected keys {unexpected}")
    model.load_state_dict(state, strict=False)  # checks shapes of all entries first, then copies
    return list(state)


# ----------------------------------------------------------------------------- the worked example

def pretrain_finetune(quick=True, seed=0, per_class=10, checkpoint=None, progress=False,
                      pretrain_epochs=None, finetune_epochs=None):
    """Pre-train the seed CNN on digits 0-4, fine-tune on ``per_class`` labels of each
    of 5-9, and compare with training from scratch.

    ``quick`` (default) uses a short pre-training (a few seconds on 2 cores);
    ``checkpoint``: where to save the pre-trained weights (default: a temporary file,
    deleted afterwards). Returns a dict with

    * ``pretrain_accuracy`` - the pre-trained model on the 0-4 test split;
    * ``finetune_accuracy`` - body frozen, new head trained, on the 5-9 test split;
    * ``discriminative_accuracy`` - everything trained, body lr small, head lr large;
    * ``scratch_accuracy`` - same architecture, random init, same few labels;
    * ``n_finetune`` (labelled samples used), ``n_test``, ``seconds``, ``models``.
    """
    t0 = time.perf_counter()
    if pretrain_epochs is None:
        pretrain_epochs = 2 if quick else 6
    if finetune_epochs is None:
        finetune_epochs = 30 if quick else 60
    minigrad.manual_seed(seed)
    X_train, X_test, y_train, y_test = load_28x28("digits", seed)
    A_train, a_train = split_classes(X_train, y_train, range(5))
    A_test, a_test = split_classes(X_test, y_test, range(5))
    B_train, b_train = split_classes(X_train, y_train, range(5, 10))
    B_test, b_test = split_classes(X_test, y_test, range(5, 10))
    B_few, b_few = few_shot(B_train, b_train, per_class, seed=seed)
    loss = nn.CrossEntropyLoss()

    # 1. pre-train on 0-4
    pretrained = SeedCNN(num_classes=5)
    fit(pretrained, loss, optim.Adam(pretrained.parameters(), lr=1e-3), (A_train, a_train),
        epochs=pretrain_epochs, batch_size=32, progress=progress, seed=seed)
    pretrain_acc = accuracy_on(pretrained, A_test, a_test)

    # 2. save atomically
    tmpdir = None
    if checkpoint is None:
        tmpdir = tempfile.mkdtemp(prefix="minigrad-transfer-")
        checkpoint = os.path.join(tmpdir, "pretrained.npz")
    try:
        minigrad.save(pretrained.state_dict(), checkpoint)

        # 3-6. load into a fresh model, new head, freeze the body, fine-tune the head
        minigrad.manual_seed(seed + 1)
        frozen = SeedCNN(num_classes=5)
        load_pretrained(frozen, checkpoint)
        replace_head(frozen, 5)
        freeze_body(frozen)
        fit(frozen, loss, optim.Adam(trainable_parameters(frozen), lr=1e-2), (B_few, b_few),
            epochs=finetune_epochs, batch_size=10, progress=progress, seed=seed)
        finetune_acc = accuracy_on(frozen, B_test, b_test)

        # 7. discriminative learning rates: all trainable, body slow, head fast
        minigrad.manual_seed(seed + 1)
        disc = SeedCNN(num_classes=5)
        load_pretrained(disc, checkpoint, exclude=("head.3.",))
        head = replace_head(disc, 5)
        head_ids = {id(p) for p in head.parameters()}
        body = [p for p in disc.parameters() if id(p) not in head_ids]
        opt = optim.Adam([{"params": body, "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-2}])
        fit(disc, loss, opt, (B_few, b_few), epochs=finetune_epochs, batch_size=10, progress=progress,
            seed=seed)
        disc_acc = accuracy_on(disc, B_test, b_test)
    finally:
        if tmpdir is not None:
            for name in os.listdir(tmpdir):
                os.remove(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)

    # the baseline: the same network from random weights on the same few labels
    minigrad.manual_seed(seed + 1)
    scratch = SeedCNN(num_classes=5)
    fit(scratch, loss, optim.Adam(scratch.parameters(), lr=1e-3), (B_few, b_few),
        epochs=finetune_epochs, batch_size=10, progress=progress, seed=seed)
    scratch_acc = accuracy_on(scratch, B_test, b_test)

    return {
        "name": "transfer learning",
        "pretrain_accuracy": pretrain_acc,
        "finetune_accuracy": finetune_acc,
        "discriminative_accuracy": disc_acc,
        "scratch_accuracy": scratch_acc,
        "accuracy": finetune_acc,
        "n_pretrain": len(a_train),
        "n_finetune": len(b_few),
        "n_test": len(b_test),
        "summary": f"fine-tuned {100 * finetune_acc:.1f}% vs from scratch {100 * scratch_acc:.1f}% "
                   f"({per_class} labels per class)",
        "passed": finetune_acc > scratch_acc,
        "seconds": time.perf_counter() - t0,
        "models": {"pretrained": pretrained, "finetuned": frozen, "discriminative": disc, "scratch": scratch},
    }
