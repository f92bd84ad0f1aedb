"""Callbacks: code that :func:`minigrad.train.fit` runs at fixed moments of training.

A training loop has a few natural hooks - before training, at the start and end of
every epoch, after every batch, after training. A *callback* is an object with a
method per hook; ``fit(..., callbacks=[...])`` calls them in order. Early stopping,
checkpointing and learning-rate schedules are all written this way, so the loop
itself stays short::

    fit(model, loss, opt, (X, y), epochs=100, validation_split=0.2,
        callbacks=[EarlyStopping(patience=5, restore_best_weights=True),
                   ModelCheckpoint("best.npz", save_best_only=True)])

What a callback can see (set by ``fit`` before ``on_train_begin``):

* ``self.model``, ``self.optimizer``, ``self.history`` (the :class:`~minigrad.train.History`
  being filled in) and ``self.params`` (a dict: ``epochs``, ``steps`` per epoch,
  ``batch_size``, ``samples``, ``metrics`` - the names that will appear in logs);
* ``logs``, passed to each hook: a dict of numbers. At the end of an epoch it holds
  ``loss``, every metric, ``val_loss`` and ``val_<metric>`` (with validation data)
  and ``lr``; after a batch, ``loss`` and ``size`` (that batch's number of samples).

To stop training, a callback sets ``self.stop_training = True``; ``fit`` finishes the
current epoch (or batch, when set in ``on_batch_end``) and returns.

``fit`` only calls ``on_batch_begin`` / ``on_batch_end`` on callbacks that override
them, so callbacks that work per epoch add no per-batch cost.
"""
from __future__ import annotations

import math
import os

import numpy as np

from minigrad import io as _io
from minigrad.nn.parallel import data_parallel_group
from minigrad.optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LRSchedulerCallback",
           "LambdaCallback", "TerminateOnNaN"]


class Callback:
    """Base class: override the hooks you need (each does nothing here).

    Hooks, in the order ``fit`` calls them::

        on_train_begin(logs)
        for every epoch:
            on_epoch_begin(epoch, logs)
            for every batch:
                on_batch_begin(batch, logs)
                on_batch_end(batch, logs)         # logs: {"loss", "size"}
            on_epoch_end(epoch, logs)             # logs: loss, metrics, val_*, lr
        on_train_end(logs)

    ``epoch`` and ``batch`` count from 0.
    """

    model = None
    optimizer = None
    history = None
    params: dict = {}
    stop_training = False

    def set_context(self, model, optimizer, history, params):
        """Called by ``fit`` before ``on_train_begin``."""
        self.model = model
        self.optimizer = optimizer
        self.history = history
        self.params = params
        self.stop_training = False

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts, before the first epoch."""
        pass

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (counted from 0)."""
        pass

    def on_batch_begin(self, batch, logs=None):
        """Called before the forward pass on batch ``batch`` (counted from 0 in each epoch)."""
        pass

    def on_batch_end(self, batch, logs=None):
        """Called after the optimizer step on batch ``batch``; ``logs`` holds its ``loss`` and
        ``size``."""
        pass

    def on_epoch_end(self, epoch, logs=None):
        """Called after epoch ``epoch``; ``logs`` holds the epoch's metrics (``loss``,
        ``val_loss``, ...). Set ``self.stop_training = True`` to stop ``fit``."""
        pass

    def on_train_end(self, logs=None):
        """Called once when ``fit`` finishes (also after an early stop)."""
        pass


def overrides(callback, hook):
    """Whether ``callback`` defines its own ``hook`` (a method name), rather than the base no-op."""
    method = getattr(callback, hook, None)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


# ----------------------------------------------------------------------------- monitoring a value

def _resolve_mode(mode, monitor, who):
    """'min' or 'max' for a monitored quantity; 'auto' guesses from its name."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    higher_is_better = ("acc", "f1", "precision", "recall", "auc", "r2")
    return "max" if any(k in name for k in higher_is_better) else "min"


def _monitored(logs, monitor, who):
    """The value of ``monitor`` in this epoch's logs, or a clear error if it is not logged."""
    if logs is None or monitor not in logs:
        have = ", ".join(sorted(logs or {})) or "nothing"
        hint = ""
        if monitor.startswith("val_"):
            hint = ("; validation values are logged only when fit gets validation_data or "
                    "validation_split - pass one, or monitor a training value such as 'loss'")
        raise ValueError(f"{who}: monitor={monitor!r} is not among the values logged at the end of "
                         f"an epoch ({have}){hint}")
    return float(logs[monitor])


def _snapshot(model):
    """A copy of every parameter and buffer (name -> array), to restore later."""
    return {k: v.array.copy() for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving.

    Args:
        monitor: the log entry to watch (default ``"val_loss"``; needs validation data).
        min_delta: an epoch counts as an improvement only if it beats the best value
            so far by more than this.
        patience: stop after this many epochs in a row without improvement (as in
            Keras; 0 and 1 both stop at the first epoch that does not improve).
        mode: ``"min"`` (lower is better), ``"max"``, or ``"auto"`` (``"max"`` for
            names with ``acc``, ``f1``, ``auc``... in them, otherwise ``"min"``).
        baseline: training stops after ``patience`` epochs unless the value beats this.
        restore_best_weights: at the end of training, put back the weights of the
            best epoch (whether or not training stopped early).

    After training: ``stopped_epoch`` (the epoch it stopped after, or None),
    ``best_epoch`` and ``best`` (the best value seen).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None,
                 restore_best_weights=False):
        if not isinstance(patience, (int, np.integer)) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 0, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        self.mode = _resolve_mode(mode, monitor, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)

    def _improves(self, value, reference):
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if math.isnan(value):
            improved = False
        elif self.best_epoch is None:
            improved = True
        else:
            improved = self._improves(value, self.best)
        if improved:
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
        # the baseline: improvements only count (reset the wait) once they beat it
        if improved and (self.baseline is None or self._improves(value, self.baseline)):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model's ``state_dict()`` with :func:`minigrad.io.save` (atomically).

    Args:
        path: the file to write. It may contain ``{epoch}`` and any logged value,
            ``"ckpt-{epoch:03d}-{val_loss:.4f}.npz"``, to keep one file per epoch
            (``epoch`` counts from 1 here, as in the progress bar).
        monitor: the value that decides which epoch is best (default ``"val_loss"``).
        save_best_only: save only when ``monitor`` improves on the best so far
            (otherwise every epoch, overwriting ``path`` unless it has fields).
        mode: ``"min"``, ``"max"`` or ``"auto"``, as for :class:`EarlyStopping`.
        save_optimizer: also save the optimizer's state: the file then holds
            ``{"model": ..., "optimizer": ..., "epoch": ...}`` instead of the bare
            model ``state_dict``.

    Load the weights back with ``model.load_state_dict(minigrad.io.load(path))``.
    Under :class:`~minigrad.nn.parallel.DistributedDataParallel` (several processes)
    rank 0 writes the wrapped model's ``state_dict`` (no ``module.`` prefix) and the
    other ranks wait for it; every rank may then load the same file.
    ``saved`` lists the paths written, ``best`` the best monitored value.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", save_optimizer=False):
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
        self.save_optimizer = bool(save_optimizer)
        self.saved = []

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in the path {self.path!r} ({type(e).__name__}: "
                             f"{e}); it may use {{epoch}} and the logged values: "
                             f"{', '.join(sorted(logs))}") from None
        group = data_parallel_group(self.model)   # data-parallel: save the wrapped model's weights, from rank 0
        state = (self.model.module if group is not None else self.model).state_dict()
        if self.save_optimizer:
            state = {"model": state, "optimizer": self.optimizer.state_dict(), "epoch": epoch + 1}
        if group is None or group.rank == 0:
            _io.save(state, path)
        if group is not None:
            group.barrier()              # the other ranks wait until the file is complete
        self.saved.append(path)


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler from the training loop.

    Args:
        scheduler: any scheduler of :mod:`minigrad.optim.lr_scheduler`.
        interval: ``"epoch"`` (the default: ``scheduler.step()`` after every epoch,
            after validation) or ``"batch"`` (after every optimizer step - what
            ``OneCycleLR`` expects).
        monitor: for ``ReduceLROnPlateau``, the logged value passed to
            ``scheduler.step(value)`` (default ``"val_loss"``, falling back to
            ``"loss"`` when there is no validation data).

    ``fit(..., scheduler=s)`` wraps ``s`` in this callback, with ``interval="batch"``
    for ``OneCycleLR`` and ``"epoch"`` for the others.
    """

    def __init__(self, scheduler, interval="epoch", monitor="val_loss"):
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', got {interval!r}")
        if not hasattr(scheduler, "step"):
            raise TypeError(f"LRSchedulerCallback: expected a learning-rate scheduler (with a step "
                            f"method), got {type(scheduler).__name__}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        if self.plateau and interval == "batch":
            raise ValueError("LRSchedulerCallback: ReduceLROnPlateau watches a value logged once per "
                             "epoch; use interval='epoch'")
        if interval == "batch":
            self.on_batch_end = self._step_batch  # defined only when used: no per-batch cost otherwise

    def _step_batch(self, batch, logs=None):
        self.scheduler.step()

    def on_epoch_end(self, epoch, logs=None):
        if self.interval != "epoch":
            return
        if self.plateau:
            logs = logs or {}
            monitor = self.monitor
            if monitor not in logs and monitor == "val_loss":
                monitor = "loss"
            self.scheduler.step(_monitored(logs, monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()


class LambdaCallback(Callback):
    """A callback made of plain functions, for quick experiments in a notebook::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    Each argument is a function taking the same arguments as the hook of that name.
    """

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_begin=None,
                 on_batch_end=None, on_epoch_end=None, on_train_end=None):
        hooks = {"on_train_begin": on_train_begin, "on_epoch_begin": on_epoch_begin,
                 "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end,
                 "on_epoch_end": on_epoch_end, "on_train_end": on_train_end}
        for hook, fn in hooks.items():
            if fn is not None:
                setattr(self, hook, fn)   # the function is the hook; the others stay the base no-ops


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite (a diverging run:
    lower the learning rate). ``bad_batch`` records ``(epoch, batch)`` where it happened."""

    def on_train_begin(self, logs=None):
        self.bad_batch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.bad_batch = (self._epoch, batch)
            self.stop_training = True
