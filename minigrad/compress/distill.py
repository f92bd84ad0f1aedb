"""Knowledge distillation: train a small *student* to copy a large *teacher*.

A trained classifier knows more than its top answer. For an image of a 7 it might
give 0.90 to "7", 0.08 to "1" and 0.0001 to "0": the small numbers say which wrong
answers are *almost* right, and that is information a one-hot label does not carry
("dark knowledge", Hinton, Vinyals & Dean, 2015). Distillation trains the student
on these soft outputs:

* divide both networks' logits by a *temperature* ``T > 1`` before the softmax, so
  the small probabilities become visible (T = 1 is the ordinary softmax; a large T
  flattens it);
* make the student's softened distribution match the teacher's with the KL
  divergence ``KL(p_teacher || p_student)``;
* optionally add the ordinary cross-entropy with the true labels.

The gradient of the soft term with respect to the student's logits is
``(p_student - p_teacher) / T`` (per sample, at temperature T); multiplying the term
by ``T**2`` keeps its size independent of T, so ``alpha`` means the same at any
temperature.

Soft targets need no labels: the teacher can label any input. That is the most
robust win of distillation (:func:`digits_example`): a student that has labels for
only a few images, but the teacher's outputs on many more, learns far more than the
same student trained on the labelled images alone.
"""
from __future__ import annotations

import math
import time

import numpy as np

import minigrad
from minigrad.autograd import no_grad
from minigrad.backend import to_device
from minigrad.callbacks import Callback
from minigrad.data import DataLoader, Dataset
from minigrad.data.dataloader import default_collate
from minigrad.tensor import Tensor
from minigrad.nn.module import Module
from minigrad.train import _fit, evaluate, fit
from minigrad.nn import functional as F
from minigrad.ops import reduce as _red

__all__ = ["kd_loss", "DistillationLoss", "distill", "digits_example"]

_REDUCTIONS = ("batchmean", "mean", "sum", "none")


def _check_number(op, what, value, low, high, low_open=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = (low < v if low_open else low <= v) and v <= high
    if not ok:
        lo = "(" if low_open else "["
        hi = "inf)" if high == math.inf else f"{high:g}]"
        raise ValueError(f"{op}: {what} must be a number in {lo}{low:g}, {hi}, got {value!r}")
    return float(value)


def kd_loss(student_logits, teacher_logits, target=None, temperature=4.0, alpha=0.9,
            reduction="batchmean", ignore_index=-100):
    r"""The distillation loss of Hinton et al. (2015)::

        loss = alpha * T**2 * KL( softmax(teacher / T) || softmax(student / T) )
             + (1 - alpha) * cross_entropy(student, target)

        KL(p || q) = sum_c p_c * (log p_c - log q_c)     (per sample, over classes)

    Args:
        student_logits: (N, C) Tensor, the student's raw scores (gradients flow here).
        teacher_logits: (N, C) Tensor or array, the teacher's raw scores. Treated as a
            constant (detached): the teacher is not trained.
        target: (N,) class indices, or None. Samples whose target is ``ignore_index``
            (e.g. unlabelled inputs) get only the soft term; probability targets
            (N, C) are accepted too, as by ``F.cross_entropy``.
        temperature: T > 0. T = 1 compares the plain softmaxes; larger T brings out
            the teacher's small probabilities.
        alpha: weight of the soft (teacher) term, in [0, 1]; 1 - alpha goes to the hard
            (label) term. With ``target=None`` alpha must be 1.
        reduction: "batchmean" (default) or its alias "mean": the soft term summed over
            classes and averaged over the N samples (the true KL per sample, which is
            what torch's ``kl_div(..., reduction="batchmean")`` computes; NOT torch's
            ``kl_div`` "mean", which divides by N*C), and the hard term averaged over
            the labelled samples (0 if there are none); "sum": both summed; "none":
            the (N,) per-sample losses.

    Written with minigrad ops (``log_softmax``, ``cross_entropy``), so it is
    differentiable (and gradcheck-able) with respect to the student's logits.
    """
    op = "kd_loss"
    if not isinstance(student_logits, Tensor):
        raise TypeError(f"{op}: student_logits must be a Tensor, got {type(student_logits).__name__}")
    s = student_logits
    t = teacher_logits.detach().array if isinstance(teacher_logits, Tensor) else teacher_logits
    if not hasattr(t, "shape") or not hasattr(t, "dtype"):
        t = np.asarray(t)
    if s.ndim != 2:
        raise ValueError(f"{op}: student_logits must have shape (N, C), got {tuple(s.shape)} "
                         f"(reshape sequence outputs to (N * L, C) first)")
    if tuple(t.shape) != tuple(s.shape):
        raise ValueError(f"{op}: teacher_logits of shape {tuple(t.shape)} do not match student_logits "
                         f"of shape {tuple(s.shape)}")
    if s.dtype.kind != "f" or t.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floating point, got student {s.dtype}, teacher {t.dtype}")
    T = _check_number(op, "temperature", temperature, 0.0, math.inf, low_open=True)
    alpha = _check_number(op, "alpha", alpha, 0.0, 1.0)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")
    if target is None and alpha != 1.0:
        raise ValueError(f"{op}: alpha={alpha:g} puts weight 1 - alpha = {1 - alpha:g} on the label term, "
                         f"which needs target; pass target, or alpha=1.0 for the teacher term alone")
    n = s.shape[0]

    terms = []  # (weight, per-sample Tensor or None, reduced Tensor)
    if alpha > 0.0:
        # The teacher's softened log-probabilities: constants, computed without a graph.
        with no_grad():
            log_pt = F.log_softmax(Tensor(to_device(t, s.device).astype(s.dtype, copy=False)) / T, dim=1)
            pt = log_pt.exp()
        log_ps = F.log_softmax(s / T, dim=1)
        per_sample = _red.sum(pt * (log_pt - log_ps), dim=1) * (T * T)   # (N,)
        terms.append((alpha, per_sample, n))
    if alpha < 1.0:
        if isinstance(target, Tensor) and target.dtype.kind == "f":
            labelled = n
        else:
            tgt = target.array if isinstance(target, Tensor) else np.asarray(target)
            labelled = int((tgt != ignore_index).sum()) if hasattr(tgt, "shape") else n
        ce = F.cross_entropy(s, target, ignore_index=ignore_index, reduction="none")
        terms.append((1.0 - alpha, ce, labelled))

    if reduction == "none":
        out = None
        for w, per, _ in terms:
            out = per * w if out is None else out + per * w
        return out
    out = None
    for w, per, count in terms:
        total = _red.sum(per)
        if reduction in ("batchmean", "mean"):
            total = total / count if count else total * 0.0
        out = total * w if out is None else out + total * w
    return out


class DistillationLoss(Module):
    """:func:`kd_loss` as a module: ``DistillationLoss(temperature=4.0, alpha=0.9)``
    then ``loss_fn(student_logits, teacher_logits, target)``."""

    def __init__(self, temperature=4.0, alpha=0.9, reduction="batchmean", ignore_index=-100):
        super().__init__()
        _check_number("DistillationLoss", "temperature", temperature, 0.0, math.inf, low_open=True)
        _check_number("DistillationLoss", "alpha", alpha, 0.0, 1.0)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"DistillationLoss: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
                             f"got {reduction!r}")
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.reduction = reduction
        self.ignore_index = ignore_index

    def forward(self, student_logits, teacher_logits, target=None):
        """:func:`kd_loss` of (N, C) student and teacher logits (and optional (N,) class
        targets) with this module's settings."""
        return kd_loss(student_logits, teacher_logits, target, temperature=self.temperature, alpha=self.alpha,
                       reduction=self.reduction, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"temperature={self.temperature:g}, alpha={self.alpha:g}, reduction={self.reduction!r}"


class _StudentBesideTeacher:
    """What the training loop trains when distilling: the student, whose output on a
    batch comes paired with the teacher's output on the same inputs, ``(student_logits,
    teacher_logits)``. The teacher runs first, under ``no_grad``; only the student's
    parameters are trained and only the student is switched between ``train()`` and
    ``eval()``. (A plain object, not a Module: an error inside the student keeps the
    student's own name.)"""

    def __init__(self, student, teacher):
        self.student, self.teacher = student, teacher

    @property
    def training(self):
        return getattr(self.student, "training", True)

    def train(self, mode=True):
        if hasattr(self.student, "train"):
            self.student.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def parameters(self):
        return self.student.parameters()

    def __call__(self, *inputs):
        """``inputs`` -> ``(student logits, teacher logits)``."""
        with no_grad():
            teacher_logits = self.teacher(*inputs)
        return self.student(*inputs), teacher_logits


class _Validation(Callback):
    """After every epoch, the student's cross-entropy and accuracy on held-out data."""

    def __init__(self, student, data):
        self.student, self.data, self.results = student, data, []

    def on_epoch_end(self, epoch, logs=None):
        self.results.append(evaluate(self.student, "cross_entropy", self.data, metrics=["accuracy"]))


def _is_labelled(data, has_target):
    """Whether the batches of ``data`` end with a target (one element: inputs only)."""
    if has_target is not None:
        return bool(has_target)
    if isinstance(data, (tuple, list)):
        return len(data) >= 2
    if not isinstance(data, (Dataset, DataLoader)):
        return True   # fit reads it as it is, or says what it accepts
    samples = data.dataset if isinstance(data, DataLoader) else data
    if len(samples) == 0:
        return True
    first = samples[0]
    return isinstance(first, (tuple, list)) and len(first) >= 2


def _with_placeholder_targets(data, ignore_index, batch_size, shuffle, seed):
    """Unlabelled data as ``fit`` reads data, ``(inputs..., target)``: every batch gets
    a target of ``ignore_index`` (never read: the loss is given ``target=None``)."""
    if isinstance(data, (tuple, list)):
        n = len(data[0]) if hasattr(data[0], "__len__") else 0
        return tuple(data) + (np.full(n, ignore_index, dtype=np.int64),)

    def collate(samples, inner=getattr(data, "collate_fn", None) or default_collate):
        batch = inner(samples)
        batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        return batch + (minigrad.tensor(np.full(batch[0].shape[0], ignore_index, dtype=np.int64)),)

    if isinstance(data, DataLoader):
        return DataLoader(data.dataset, batch_size=data.batch_size, shuffle=data.shuffle, drop_last=data.drop_last,
                          collate_fn=collate, generator=data.generator, sampler=data.sampler)
    return DataLoader(data, batch_size=batch_size or max(len(data), 1), shuffle=shuffle, collate_fn=collate,
                      generator=np.random.default_rng(seed) if seed is not None else None)


def distill(teacher, student, loader, optimizer, epochs=1, temperature=4.0, alpha=0.9, batch_size=32,
            shuffle=True, seed=None, has_target=None, ignore_index=-100, validation_data=None):
    """Train ``student`` to match ``teacher`` with :func:`kd_loss`. Returns a
    :class:`minigrad.train.History` with the per-epoch mean ``loss`` (and, with
    ``validation_data``, the student's ``val_loss`` and ``val_accuracy``).

    Distillation is ordinary training with another loss: this runs
    :func:`minigrad.train.fit` on the student, whose outputs come paired with the
    teacher's, with :class:`DistillationLoss` as the loss. Per batch: the teacher runs
    in ``eval()`` mode under ``no_grad`` (no graph, no dropout), the student in
    ``train()`` mode; then the usual zero_grad / backward / step on the student's
    optimizer. Both modules are left in the modes they had.

    Args:
        teacher: the trained Module to imitate, mapping inputs to (N, C) logits.
        student: the Module being trained, mapping the same inputs to (N, C) logits.
        loader: a DataLoader, a Dataset, or a tuple of arrays ``(X, y)`` (batched with
            ``batch_size``, shuffled each epoch when ``shuffle``; ``seed`` fixes the order).
            Batches are ``(inputs..., target)``; a batch of ONE element is inputs only
            (unlabelled data: then ``alpha`` must be 1). ``has_target`` forces either
            reading. Targets equal to ``ignore_index`` mark unlabelled samples in a
            mixed set (they get the soft term only).
        optimizer: an optimizer over the student's parameters.
        epochs: the number of passes over ``loader``.
        temperature: the softmax temperature T > 0, as in :func:`kd_loss`.
        alpha: the weight of the soft (teacher) term in [0, 1], as in :func:`kd_loss`.
        validation_data: evaluated with ``minigrad.train.evaluate`` after each epoch.
    """
    who = "distill"
    for what, m in (("teacher", teacher), ("student", student)):
        if not callable(m):
            raise TypeError(f"{who}: {what} must be a Module (callable), got {type(m).__name__}")
    kd = DistillationLoss(temperature, alpha, ignore_index=ignore_index)
    labelled = _is_labelled(loader, has_target)
    data = loader if labelled else _with_placeholder_targets(loader, ignore_index, batch_size, shuffle, seed)

    def loss(outputs, target):    # outputs: (student logits, teacher logits)
        return kd(*outputs, target if labelled else None)

    validation = [] if validation_data is None else [_Validation(student, validation_data)]
    t_mode = getattr(teacher, "training", False)
    if hasattr(teacher, "eval"):
        teacher.eval()
    try:
        history = _fit(_StudentBesideTeacher(student, teacher), loss, optimizer, data, epochs, batch_size,
                       validation_split=None, validation_data=None, metrics=(), callbacks=validation,
                       progress=False, shuffle=shuffle, scheduler=None, seed=seed, who=who)
    finally:
        if hasattr(teacher, "train"):
            teacher.train(bool(t_mode))
    results = validation[0].results if validation else []
    if results:   # the student's own values, beside the epochs fit recorded
        history.history["val_loss"] = [r["loss"] for r in results]
        history.history["val_accuracy"] = [r["accuracy"] for r in results]
    return history


# ============================================================================ the example

def _mlp(sizes):
    from minigrad import nn

    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _n_params(model):
    return int(sum(p.numel() for p in model.parameters()))


def digits_example(seed=0, epochs=None, quick=True, labeled_per_class=10, teacher_hidden=(256, 256),
                   student_hidden=(32,), temperature=4.0, alpha=0.7, batch_size=64, lr=3e-3):
    """Distil a wide MLP into a 64-32-10 MLP on the embedded 8x8 digits.

    The setting (where distillation reliably helps): the teacher, a 64-256-256-10 MLP,
    is trained on the whole labelled training split (80% of the 1,797 images,
    stratified by ``seed``). The student gets the labels of only ``labeled_per_class``
    images per class (100 images), but may look at all the training images:

    * **scratch**: the student trained with cross-entropy on the 100 labelled images;
    * **KD**: the same student (same initial weights, same seed, same optimizer, the
      same number of optimizer steps) trained with :func:`kd_loss` on all the training
      images: the teacher's soft outputs everywhere, plus the labels where it has them.

    Pixels are standardised with the training split's statistics. Accuracies are on
    the 20% test split that no model saw. ``quick=True`` uses 10 student epochs
    (over the full training split) and 15 teacher epochs; ``epochs`` overrides the
    student's (the scratch student takes as many steps as the KD student).

    Returns a dict: ``teacher_acc``, ``student_kd_acc``, ``student_scratch_acc``,
    ``teacher_params``, ``student_params``, ``teacher``, ``student_kd``,
    ``student_scratch``, ``steps``, ``seconds``, ``summary``, and ``passed``
    (KD student more accurate than the scratch student).
    """
    from minigrad import nn, optim
    from minigrad.data import digits, train_test_split

    t_start = time.perf_counter()
    if epochs is None:
        epochs = 10 if quick else 25
    teacher_epochs = 15 if quick else 30
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=seed)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.1
    X_train = ((X_train - mean) / std).astype(np.float32)
    X_test = ((X_test - mean) / std).astype(np.float32)

    # Teacher: all the labels.
    minigrad.manual_seed(seed)
    teacher = _mlp((64,) + tuple(teacher_hidden) + (10,))
    fit(teacher, nn.CrossEntropyLoss(), optim.Adam(teacher.parameters(), lr=2e-3), (X_train, y_train),
        epochs=teacher_epochs, batch_size=batch_size, progress=False, seed=seed)

    # The student's labels: labeled_per_class images of each class; -100 marks the rest.
    rng = np.random.default_rng(seed + 1)
    labelled = np.concatenate([rng.choice(np.flatnonzero(y_train == c), labeled_per_class, replace=False)
                               for c in range(10)])
    y_partial = np.full_like(y_train, -100)
    y_partial[labelled] = y_train[labelled]

    minigrad.manual_seed(seed + 2)
    student_kd = _mlp((64,) + tuple(student_hidden) + (10,))
    student_scratch = _mlp((64,) + tuple(student_hidden) + (10,))
    student_scratch.load_state_dict(student_kd.state_dict())   # the same initial weights

    steps_per_epoch = math.ceil(len(X_train) / batch_size)
    steps = epochs * steps_per_epoch
    distill(teacher, student_kd, (X_train, y_partial), optim.Adam(student_kd.parameters(), lr=lr),
            epochs=epochs, temperature=temperature, alpha=alpha, batch_size=batch_size, seed=seed)

    # Scratch: the labelled images only, for the same number of optimizer steps.
    bs = min(batch_size, len(labelled))
    scratch_epochs = max(1, round(steps / math.ceil(len(labelled) / bs)))
    fit(student_scratch, nn.CrossEntropyLoss(), optim.Adam(student_scratch.parameters(), lr=lr),
        (X_train[labelled], y_train[labelled]), epochs=scratch_epochs, batch_size=bs, progress=False, seed=seed)

    acc = {}
    for key, model in (("teacher", teacher), ("kd", student_kd), ("scratch", student_scratch)):
        acc[key] = evaluate(model, nn.CrossEntropyLoss(), (X_test, y_test), metrics=["accuracy"])["accuracy"]
    seconds = time.perf_counter() - t_start
    return {
        "teacher_acc": acc["teacher"],
        "student_kd_acc": acc["kd"],
        "student_scratch_acc": acc["scratch"],
        "teacher_params": _n_params(teacher),
        "student_params": _n_params(student_kd),
        "teacher": teacher,
        "student_kd": student_kd,
        "student_scratch": student_scratch,
        "labelled": int(len(labelled)),
        "steps": int(steps),
        "temperature": float(temperature),
        "alpha": float(alpha),
        "seconds": seconds,
        "summary": (f"teacher {100 * acc['teacher']:.1f}% ({_n_params(teacher)} params); student "
                    f"({_n_params(student_kd)} params, {len(labelled)} labels): KD {100 * acc['kd']:.1f}% vs "
                    f"scratch {100 * acc['scratch']:.1f}%"),
        "passed": acc["kd"] > acc["scratch"],
    }
