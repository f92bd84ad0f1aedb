"""The training loop: ``fit``, ``evaluate`` and ``predict``.

Every framework's training loop is the same five lines per batch::

    for xb, yb in DataLoader(train, batch_size=32, shuffle=True):
        out = model(xb)                 # forward: build the graph
        loss = loss_fn(out, yb)         # one number: how wrong we are
        optimizer.zero_grad()           # forget the previous batch's gradients
        loss.backward()                 # reverse mode: d loss / d every parameter
        optimizer.step()                # move each parameter a little downhill

:func:`fit` runs exactly that, and around it the bookkeeping that is tedious to
write each time: epochs, a validation pass under ``no_grad`` with the model in
``eval()`` mode, running averages of the loss and metrics, a progress bar, a
:class:`History` of per-epoch values, and hooks for callbacks (early stopping,
checkpoints, learning-rate schedules - see :mod:`minigrad.callbacks`)::

    from minigrad import nn, optim
    from minigrad.train import fit, evaluate, predict

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()),
                  (X_train, y_train), epochs=20, batch_size=64,
                  validation_split=0.2, metrics=["accuracy"])
    history["val_accuracy"][-1]
    evaluate(model, "cross_entropy", (X_test, y_test), metrics=["accuracy"])
    probs = predict(model, X_test).softmax(-1)

How the loop reads: :func:`fit` checks its arguments once (``_check_fit_arguments``),
builds the batches (``_FitData``), then per epoch runs ``_train_epoch`` - which calls
``_train_step``, the five lines above - and ``_run_eval`` on the validation data,
records the epoch in the :class:`History` and calls the callbacks (``_Callbacks``);
``_Bars`` draws the progress. Variants plug into this one loop rather than writing
another: a loss computed from two models' outputs (knowledge distillation,
:func:`minigrad.compress.distill.distill`), a callback, or a wrapped model
(:class:`~minigrad.nn.parallel.DistributedDataParallel`).

Data conventions: a batch is a tuple whose LAST element is the target and whose
other elements are the model's inputs (``model(x)`` for ``(x, y)``, ``model(a, b)``
for ``(a, b, y)``). Training data may be a ``Dataset``, a ``DataLoader`` or a
tuple of arrays/Tensors ``(X, y)``.

Speed: the per-batch work outside the five lines above is kept to a few
microseconds - the loss is accumulated as an array (converted to a Python float
once per epoch, or when the progress bar redraws), built-in metrics are counted
with one NumPy expression per batch, and callbacks that only act per epoch are not
called per batch. For a :class:`~minigrad.data.TensorDataset` (which a tuple
``(X, y)`` becomes) the DataLoader slices whole batches out of the arrays.
"""
from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager

import numpy as np

from minigrad.autograd import no_grad
from minigrad.backend import xp_of
from minigrad.callbacks import Callback, LRSchedulerCallback, _resolve_mode, overrides
from minigrad.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset
from minigrad.data._random import as_generator
from minigrad.data import _tensors
from minigrad.metrics import _count_correct
from minigrad.nn import functional as F
from minigrad.nn.parallel import data_parallel_group
from minigrad.tensor import Tensor
from minigrad import _checks

__all__ = ["fit", "evaluate", "predict", "History", "progress_range", "progress_write"]


# ============================================================================= History

class History:
    """What :func:`fit` returns: the per-epoch values of the loss and metrics.

    * ``history["loss"]``, ``history["val_loss"]``, ``history["accuracy"]``,
      ``history["val_accuracy"]``, ``history["lr"]`` - lists, one value per epoch
      (``history.history`` is the dict itself, as in Keras);
    * ``history.epoch`` - the epoch indices (0, 1, ...), the x axis of a plot;
    * ``history.seconds`` - wall-clock time of each epoch (training + validation);
    * ``history.params`` - epochs, steps per epoch, batch size, samples, metric names;
    * ``history.plot()`` - loss and metric curves with matplotlib.
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.seconds: list[float] = []
        self.params: dict = {}

    def _record(self, epoch, logs, seconds):
        self.epoch.append(epoch)
        self.seconds.append(seconds)
        for k, v in logs.items():
            # a key that first appears late (rare) is padded so every list lines up with .epoch
            self.history.setdefault(k, [math.nan] * (len(self.epoch) - 1)).append(v)
        for k, vals in self.history.items():
            if len(vals) < len(self.epoch):
                vals.append(math.nan)

    def __getitem__(self, key):
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History: no values named {key!r}; recorded: "
                           f"{', '.join(self.history) or 'nothing yet'}") from None

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epoch)

    def keys(self):
        """The names of the recorded metrics (``loss``, ``val_loss``, ...)."""
        return self.history.keys()

    def items(self):
        """(name, list of per-epoch values) pairs, like ``dict.items()``."""
        return self.history.items()

    def best(self, key="val_loss", mode="auto"):
        """``(epoch, value)`` of the best epoch for ``key`` (min, or max for accuracy-like keys)."""
        vals = np.asarray(self[key], dtype=np.float64)
        if _resolve_mode(mode, key, "History.best") == "min":
            i = int(np.nanargmin(vals))
        else:
            i = int(np.nanargmax(vals))
        return self.epoch[i], float(vals[i])

    def plot(self, keys=None, ax=None, title=None):
        """Plot the curves: losses on one axis and every metric on a second one.

        ``keys``: which entries to draw (default: everything but ``lr``; each
        ``val_x`` is drawn dashed next to ``x``). ``ax``: a matplotlib Axes, or a
        pair of them (losses, metrics); new ones are made if omitted. Returns the
        Axes used. Needs matplotlib (``pip install matplotlib``).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib, which is not installed; install it with "
                              "`pip install matplotlib` (or `pip install minigrad[notebooks]`)") from None
        if not self.epoch:
            raise ValueError("History.plot: nothing to plot yet (no epoch has finished)")
        if keys is None:
            keys = [k for k in self.history if k != "lr"]
        else:
            keys = [keys] if isinstance(keys, str) else list(keys)
            for k in keys:
                self[k]  # raises a clear KeyError for an unknown name
        loss_keys = [k for k in keys if k.endswith("loss")]
        metric_keys = [k for k in keys if k not in loss_keys]
        groups = [g for g in (loss_keys, metric_keys) if g]
        if ax is None:
            fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.8), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
            if len(axes) < len(groups):
                axes = axes + axes[-1:] * (len(groups) - len(axes))
        x = [e + 1 for e in self.epoch]
        for a, group in zip(axes, groups):
            for k in group:
                base = k[4:] if k.startswith("val_") else k
                style = "--" if k.startswith("val_") else "-"
                color = f"C{list(dict.fromkeys(b[4:] if b.startswith('val_') else b for b in group)).index(base)}"
                a.plot(x, self.history[k], style, color=color, label=k)
            a.set_xlabel("epoch")
            a.set_ylabel("loss" if group is loss_keys else "metric")
            a.legend()
            a.grid(alpha=0.3)
        if title:
            axes[0].set_title(title)
        return axes[0] if len(axes) == 1 else axes

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self.epoch)} epochs{': ' + last if last else ''})"


# ============================================================================= metrics

class _Metric:
    """Accumulates one metric over an epoch. ``update`` gets raw arrays (output, target)."""

    def __init__(self, name):
        self.name = name

    def reset(self):
        raise NotImplementedError

    def update(self, out, target):
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError


class _Mean(_Metric):
    """A metric that is a sum over the epoch's samples divided by their number. The sum
    stays an array on the data's device until :meth:`result` (no per-batch sync)."""

    def reset(self):
        self.total = 0
        self.count = 0

    def result(self):
        return float(self.total) / self.count if self.count else math.nan


#: fit's remedy for 'accuracy' on one score per sample
_BINARY_METRICS = ("use 'binary_accuracy' (probabilities, threshold 0.5) or "
                   "'binary_accuracy_logits' (threshold 0)")


class _Accuracy(_Mean):
    """The fraction of correct predictions, by :func:`minigrad.metrics.accuracy`'s rule
    (argmax over the class axis; ``score >= threshold`` for binary scores), counted
    batch by batch; one-hot targets are compared by argmax too."""

    def __init__(self, name, threshold=None):
        super().__init__(name)
        self.threshold = threshold

    def update(self, out, target):
        correct, n = _count_correct(target, out, self.threshold, f"metric {self.name!r}", _BINARY_METRICS)
        self.total = self.total + correct
        self.count += n


class _MeanError(_Mean):
    """Mean absolute (``power=1``) or squared (``power=2``) error over all elements."""

    def __init__(self, name, power):
        super().__init__(name)
        self.power = power

    def update(self, out, target):
        if out.shape != target.shape:
            raise ValueError(f"metric {self.name!r}: outputs of shape {out.shape} and targets of shape "
                             f"{target.shape} differ; give targets the output's shape (e.g. y.reshape(-1, 1))")
        d = out - target
        self.total = self.total + (abs(d).sum() if self.power == 1 else (d * d).sum())
        self.count += d.size


class _Callable(_Metric):
    """A user function ``fn(y_true, y_pred) -> number`` (scikit-learn order, as in
    :mod:`minigrad.metrics`), computed once per epoch on all of the epoch's outputs
    (exact for any metric, also ones that are not averages over samples like F1)."""

    def __init__(self, name, fn):
        super().__init__(name)
        self.fn = fn

    def reset(self):
        self.outs, self.targets = [], []

    def update(self, out, target):
        self.outs.append(out)
        self.targets.append(target)

    def result(self):
        if not self.outs:
            return math.nan
        out = np.concatenate([_tensors.to_numpy(o) for o in self.outs])
        target = np.concatenate([_tensors.to_numpy(t) for t in self.targets])
        self.outs, self.targets = [], []
        return float(self.fn(target, out))


_METRIC_NAMES = {
    "accuracy": lambda name: _Accuracy(name),
    "acc": lambda name: _Accuracy(name),
    "binary_accuracy": lambda name: _Accuracy(name, threshold=0.5),
    "binary_accuracy_logits": lambda name: _Accuracy(name, threshold=0.0),
    "mae": lambda name: _MeanError(name, 1),
    "mse": lambda name: _MeanError(name, 2),
}


def _make_metrics(metrics, who, prefix=""):
    """Metric objects for names and functions; ``prefix="val_"`` names them for validation."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    out = []
    for m in metrics:
        if isinstance(m, str):
            make = _METRIC_NAMES.get(m)
            if make is None:
                raise ValueError(f"{who}: unknown metric {m!r}; known names: {', '.join(_METRIC_NAMES)}, "
                                 f"or pass a function fn(y_true, y_pred) -> number")
            out.append(make(m))
        elif callable(m):
            name = getattr(m, "name", None) or getattr(m, "__name__", None) or type(m).__name__
            if name == "<lambda>":
                name = f"metric_{len(out)}"
            out.append(_Callable(name, m))
        else:
            raise TypeError(f"{who}: a metric must be a name ({', '.join(_METRIC_NAMES)}) or a function "
                            f"fn(y_true, y_pred), got {type(m).__name__}")
    names = [m.name for m in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup or {"loss", "lr"} & set(names):
        raise ValueError(f"{who}: metric names must be distinct and not 'loss' or 'lr', got {names}")
    for m in out:
        m.name = prefix + m.name
    return out


# ============================================================================= losses by name

_LOSS_NAMES = {
    "mse": "mse_loss", "mse_loss": "mse_loss",
    "l1": "l1_loss", "mae": "l1_loss", "l1_loss": "l1_loss",
    "huber": "huber_loss", "huber_loss": "huber_loss", "smooth_l1": "smooth_l1_loss",
    "cross_entropy": "cross_entropy", "nll": "nll_loss", "nll_loss": "nll_loss",
    "bce": "binary_cross_entropy", "binary_cross_entropy": "binary_cross_entropy",
    "bce_with_logits": "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
}


def _resolve_loss(loss, who, required=True):
    """A callable ``loss(output, target) -> scalar Tensor``: a module/function as given, or a name."""
    if loss is None:
        if required:
            raise TypeError(f"{who}: a loss is required (e.g. nn.CrossEntropyLoss() or 'cross_entropy')")
        return None
    if isinstance(loss, str):
        fname = _LOSS_NAMES.get(loss)
        if fname is None:
            raise ValueError(f"{who}: unknown loss {loss!r}; known names: {', '.join(sorted(_LOSS_NAMES))}, "
                             f"or pass a function / nn loss module loss(output, target)")
        fn = getattr(F, fname, None)
        if fn is None:
            raise ValueError(f"{who}: loss {loss!r} needs minigrad.nn.functional.{fname}, which this "
                             f"version of minigrad does not have")
        return fn
    if not callable(loss):
        raise TypeError(f"{who}: loss must be a callable loss(output, target) or a name, got "
                        f"{type(loss).__name__}")
    return loss


# ============================================================================= data

def _model_params(model):
    params = getattr(model, "parameters", None)
    return list(params()) if callable(params) else []


def _float_dtype(model):
    for p in _model_params(model):
        if p.dtype.kind == "f":
            return p.dtype
    return None


def _model_device(model):
    for p in _model_params(model):
        return p.device
    return None


def _tuple_dataset(data, who, dtype, device):
    """``(X, y)`` arrays/Tensors -> a TensorDataset. Floating arrays are cast to the
    model's parameter dtype (so float64 NumPy data trains a float32 model, as in Keras);
    integer labels are kept; everything moves to the model's device once, here."""
    if len(data) == 0:
        raise ValueError(f"{who}: the data tuple is empty; pass (X, y)")
    arrays = []
    for k, a in enumerate(data):
        if not (isinstance(a, (Tensor, np.ndarray)) or hasattr(a, "__cuda_array_interface__")
                or isinstance(a, (list, tuple))):
            raise TypeError(f"{who}: element {k} of the data tuple is a {type(a).__name__}; expected "
                            f"arrays or Tensors, (X, y)")
        a = _tensors.to_array(a)
        if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
            a = a.astype(dtype)
        if device is not None and device.type != "cpu":
            from minigrad.backend import to_device

            a = to_device(a, device)
        arrays.append(a)
    return TensorDataset(*arrays)


def _as_dataset(data, who, model, what="data"):
    """A Dataset or DataLoader from what the user passed."""
    if isinstance(data, (Dataset, DataLoader)):
        return data
    if isinstance(data, (tuple, list)):
        return _tuple_dataset(data, who, _float_dtype(model), _model_device(model))
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, (np.ndarray, Tensor)):
        return data  # duck-typed map-style dataset
    raise TypeError(f"{who}: {what} must be a Dataset, a DataLoader or a tuple (X, y) of arrays/Tensors, "
                    f"got {type(data).__name__}")


def _split_last(dataset, fraction, who):
    """Keras semantics: the last ``fraction`` of the samples (in their stored order) validate."""
    if isinstance(fraction, bool) or not isinstance(fraction, (float, int, np.floating)) \
            or not 0.0 < fraction < 1.0:
        raise ValueError(f"{who}: validation_split must be a fraction in (0, 1), got {fraction!r}")
    if isinstance(dataset, DataLoader):
        raise ValueError(f"{who}: validation_split needs a Dataset or (X, y), not a DataLoader (its "
                         f"batches are already fixed); pass validation_data instead")
    n = len(dataset)
    n_train = int(math.floor(n * (1.0 - fraction)))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"{who}: validation_split={fraction} of {n} samples leaves {n_train} for "
                         f"training and {n - n_train} for validation; both must be at least 1")
    return Subset(dataset, np.arange(n_train)), Subset(dataset, np.arange(n_train, n))


def _loader(data, batch_size, shuffle, generator, who):
    if isinstance(data, DataLoader):
        return data
    n = len(data)
    if n == 0:
        raise ValueError(f"{who}: the data set is empty")
    if batch_size is None:
        batch_size = n
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


def _split_batch(batch, who):
    """(inputs tuple, target) from a batch: the target is the last element."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[:-1], batch[-1]
    raise ValueError(f"{who}: each batch must be a tuple (inputs..., target); got "
                     f"{type(batch).__name__}{f' of length {len(batch)}' if isinstance(batch, (tuple, list)) else ''}. "
                     f"Give (X, y) or a dataset whose samples are (x, y)")


def _mover(model):
    """A function moving a batch's Tensors to the model's device, or None on the CPU."""
    device = _model_device(model)
    if device is None or device.type == "cpu":
        return None

    def move(batch):
        return tuple(t.to(device) if isinstance(t, Tensor) else t for t in batch)
    return move


def _ddp_loaders(group, train_data, val_data, batch_size, shuffle, seed, who):
    """Under DDP: a loader over this rank's share of the training data (a
    DistributedSampler: equal shares, a new common order each epoch) and this rank's
    contiguous slice of the validation data. A DataLoader passed in is used as it is."""
    if isinstance(train_data, DataLoader):
        return train_data, None, val_data
    if seed is None:  # one order for all ranks: rank 0 draws the seed
        seed = group.allgather_object(int(as_generator(None).integers(2**31)))[0]
    sampler = DistributedSampler(train_data, num_replicas=group.size, rank=group.rank, shuffle=shuffle, seed=seed)
    if len(sampler) == 0:
        raise ValueError(f"{who}: {len(train_data)} training samples cannot be shared by {group.size} processes")
    loader = DataLoader(train_data, batch_size=batch_size or len(sampler), sampler=sampler)
    if val_data is not None and not isinstance(val_data, DataLoader):
        val_data = Subset(val_data, np.array_split(np.arange(len(val_data)), group.size)[group.rank])
    return loader, sampler, val_data


def _mean_over_ranks(group, logs, n_train, n_val):
    """Each value averaged over the ranks, weighted by the samples it was measured on
    (exact for the loss and for accuracy, MAE and MSE)."""
    keys = sorted(logs)
    mine = [(logs[k], n_val if k.startswith("val_") else n_train) for k in keys]
    everyone = group.allgather_object(mine)
    out = {}
    for j, k in enumerate(keys):
        total = sum(e[j][1] for e in everyone)
        out[k] = sum(e[j][0] * e[j][1] for e in everyone if e[j][1]) / total if total else math.nan
    return out


def _n_samples(target):
    return target.shape[0] if target.ndim else 1


# ============================================================================= progress bars

def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError("progress bars need tqdm (a minigrad dependency): `pip install tqdm`, "
                          "or pass progress=False") from None
    return tqdm


def progress_range(n, desc=None, enabled=True):
    """``range(n)``, drawn as a progress bar on stderr (tqdm) when ``enabled``.

    For training loops written by hand (the char LM, the seq2seq Transformer), so that
    a long run shows its steps, speed and time left instead of sitting silent between
    printed lines; write those lines with :func:`progress_write`.

    >>> for step in progress_range(1000, "char LM"):
    ...     loss = train_step()
    """
    if not enabled:
        return range(n)
    return _tqdm()(range(n), desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)


def progress_write(line):
    """Print ``line`` on stdout without breaking a progress bar that is being drawn."""
    _tqdm().write(line)


def _fmt(logs, keys=None):
    items = logs.items() if keys is None else ((k, logs[k]) for k in keys if k in logs)
    return {k: f"{v:.4g}" for k, v in items if k != "lr"}


class _Bars:
    """fit's progress bars on stderr: none, one per epoch over its batches
    (``"batches"``), or one over the epochs (``"epochs"``). The batch bar's loss is
    redrawn at most four times a second (reading it may wait for a GPU)."""

    def __init__(self, progress, epochs, n_steps, shown=True):
        if progress is False or not shown:
            self.mode = "off"
        else:
            self.mode = progress if progress in ("epochs", "batches") else ("epochs" if epochs > 20 else "batches")
        self.epochs, self.n_steps = epochs, n_steps
        self.tqdm = _tqdm() if self.mode != "off" else None
        self.bar = None
        self.epoch_bar = None
        if self.mode == "epochs":
            self.epoch_bar = self.tqdm(total=epochs, desc="Training", unit="epoch", file=sys.stderr,
                                       dynamic_ncols=True)

    def start_epoch(self, epoch):
        self.bar = None
        if self.mode == "batches":
            self.bar = self.tqdm(total=self.n_steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch",
                                 file=sys.stderr, dynamic_ncols=True, leave=True)
        self.last_draw = time.perf_counter()

    def batch_done(self, running):
        """One more batch; ``running`` is the epoch's :class:`_RunningLoss` so far."""
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last_draw > 0.25:
            self.last_draw = now
            self.bar.set_postfix(loss=f"{running.mean():.4g}", refresh=False)

    def end_epoch(self, logs):
        if self.bar is not None:
            self.bar.set_postfix(_fmt(logs), refresh=False)
            self.bar.close()
        if self.epoch_bar is not None:
            self.epoch_bar.set_postfix(_fmt(logs), refresh=False)
            self.epoch_bar.update(1)

    def close(self):
        """Also on an exception (Ctrl-C): leave the terminal tidy."""
        for bar in (self.bar, self.epoch_bar):
            if bar is not None:
                bar.close()


# ============================================================================= fit

class _Callbacks:
    """The callbacks of one ``fit``, called hook by hook in the order given. The per-batch
    hooks go only to callbacks that override them, so per-epoch callbacks cost nothing per batch."""

    def __init__(self, callbacks, scheduler, who):
        callbacks = list(callbacks or ())
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"{who}: callbacks must be minigrad.callbacks.Callback objects, got "
                                f"{type(cb).__name__}")
        if scheduler is not None:
            from minigrad.optim.lr_scheduler import OneCycleLR

            interval = "batch" if isinstance(scheduler, OneCycleLR) else "epoch"
            callbacks.append(LRSchedulerCallback(scheduler, interval=interval))
        self.all = callbacks
        self.batch_begin = [cb for cb in callbacks if overrides(cb, "on_batch_begin")]
        self.batch_end = [cb for cb in callbacks if overrides(cb, "on_batch_end")]

    def set_context(self, model, optimizer, history):
        for cb in self.all:
            cb.set_context(model, optimizer, history, history.params)

    def on_train_begin(self):
        for cb in self.all:
            cb.on_train_begin({})

    def on_epoch_begin(self, epoch):
        for cb in self.all:
            cb.on_epoch_begin(epoch, {})

    def on_batch_begin(self, batch):
        for cb in self.batch_begin:
            cb.on_batch_begin(batch, {})

    def on_batch_end(self, batch, loss, n):
        """Calls the per-batch callbacks; True when one of them asks to stop."""
        if not self.batch_end:
            return False
        logs = {"loss": float(loss.array), "size": n}
        for cb in self.batch_end:
            cb.on_batch_end(batch, logs)
        return any(cb.stop_training for cb in self.batch_end)

    def on_epoch_end(self, epoch, logs):
        for cb in self.all:
            cb.on_epoch_end(epoch, logs)

    def on_train_end(self, history):
        """``logs``: the last epoch's values."""
        for cb in self.all:
            cb.on_train_end({k: v[-1] for k, v in history.items()} if history.epoch else {})

    def stop_training(self):
        return any(cb.stop_training for cb in self.all)


class _RunningLoss:
    """The mean loss over the samples seen so far in an epoch. On the CPU ``float()``
    of a 0-d array is ~100 ns; on a GPU it would wait for the device, so there the sum
    stays a device array until it is read."""

    def __init__(self, on_device):
        self.on_device = on_device
        self.total = 0.0       # sum over batches of loss * batch size
        self.count = 0

    def add(self, loss, n):
        self.total = self.total + (loss.array * n if self.on_device else float(loss.array) * n)
        self.count += n

    def mean(self):
        return float(self.total) / self.count if self.count else math.nan


def _check_fit_arguments(loss, optimizer, epochs, batch_size, progress, who):
    """The loss function, once every argument that is not data has been checked."""
    loss_fn = _resolve_loss(loss, who)
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"{who}: optimizer must be a minigrad.optim optimizer (with step and zero_grad), "
                        f"got {type(optimizer).__name__}")
    _checks.count(epochs, who, "epochs", minimum=0)
    if batch_size is not None:
        _checks.count(batch_size, who, "batch_size")
    if progress not in (True, False, "epochs", "batches"):
        raise ValueError(f"{who}: progress must be True, False, 'epochs' or 'batches', got {progress!r}")
    return loss_fn


class _FitData:
    """The batches ``fit`` trains and validates on: ``loader``, ``val_loader`` (or None),
    ``move`` (puts a batch on the model's device, None on the CPU) and, under
    data-parallel training, the process ``group`` and the ``sampler`` of this rank's share."""

    def __init__(self, model, train, validation_split, validation_data, batch_size, shuffle, seed, who):
        train_data = _as_dataset(train, who, model, "train")
        val_data = None
        if validation_data is not None:
            val_data = _as_dataset(validation_data, who, model, "validation_data")
        elif validation_split is not None and not (type(validation_split) in (int, float) and validation_split == 0):
            train_data, val_data = _split_last(train_data, validation_split, who)
        self.group = data_parallel_group(model)
        self.sampler = None
        if self.group is not None:  # data-parallel: each rank trains and validates on its own share
            self.loader, self.sampler, val_data = _ddp_loaders(self.group, train_data, val_data, batch_size,
                                                               shuffle, seed, who)
        else:
            generator = np.random.default_rng(seed) if seed is not None else None
            self.loader = _loader(train_data, batch_size, shuffle, generator, who)
        self.val_loader = None if val_data is None else _loader(val_data, max(batch_size or 0, 256), False,
                                                                None, who)
        self.move = _mover(model)

    def start_epoch(self, epoch):
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def params(self, epochs, metric_objs, val_metric_objs):
        """``History.params``: what a callback may want to know before training starts."""
        loader = self.loader
        return {"epochs": int(epochs), "steps": len(loader), "batch_size": getattr(loader, "batch_size", None),
                "samples": len(loader.dataset) if hasattr(loader, "dataset") else None,
                "metrics": ["loss"] + [m.name for m in metric_objs]
                + (["val_loss"] + [m.name for m in val_metric_objs] if self.val_loader else [])}

    def mean_over_ranks(self, logs, n_train):
        """Under data-parallel training every rank logs the mean over all ranks' samples."""
        if self.group is None:
            return logs
        n_val = len(self.val_loader.dataset) if self.val_loader is not None else 0
        return _mean_over_ranks(self.group, logs, n_train, n_val)


def _set_mode(model, training):
    """``model.train(training)`` when the model has that method."""
    set_mode = getattr(model, "train", None)
    if set_mode is not None:
        set_mode(bool(training))


def _train_step(model, loss_fn, optimizer, inputs, target):
    """THE training step: forward, loss, backward, update. Returns (output, loss)."""
    out = model(*inputs)               # forward: build the graph
    loss = loss_fn(out, target)        # one number: how wrong we are
    optimizer.zero_grad()              # forget the previous batch's gradients
    loss.backward()                    # reverse mode: d loss / d every parameter
    optimizer.step()                   # move each parameter a little downhill
    return out, loss


def _update_metrics(metric_objs, out, target):
    if metric_objs:
        o, t = out.array, target.array
        for m in metric_objs:
            m.update(o, t)


def _train_epoch(model, loss_fn, optimizer, data, metric_objs, callbacks, bars, who):
    """One pass over the training batches, the model in ``train()`` mode. Returns the
    epoch's logs (mean loss, metrics), the number of samples trained on, and whether a
    per-batch callback asked to stop."""
    _set_mode(model, True)
    for m in metric_objs:
        m.reset()
    running = _RunningLoss(on_device=data.move is not None)
    stop = False
    for b, batch in enumerate(data.loader):
        if data.move is not None:
            batch = data.move(batch)
        inputs, target = _split_batch(batch, who)
        callbacks.on_batch_begin(b)
        out, loss = _train_step(model, loss_fn, optimizer, inputs, target)
        n = _n_samples(target)
        running.add(loss, n)
        _update_metrics(metric_objs, out, target)
        if callbacks.on_batch_end(b, loss, n):
            stop = True
            break
        bars.batch_done(running)
    logs = {"loss": running.mean()}
    for m in metric_objs:
        logs[m.name] = m.result()
    return logs, running.count, stop


def _learning_rate(optimizer):
    """The first parameter group's learning rate (NaN for an optimizer without groups)."""
    return float(optimizer.param_groups[0]["lr"]) if hasattr(optimizer, "param_groups") else math.nan


def fit(model, loss, optimizer, train, epochs=1, batch_size=32, validation_split=None,
        validation_data=None, metrics=(), callbacks=(), progress=True, shuffle=True,
        scheduler=None, seed=None):
    """Train ``model`` for ``epochs`` passes over ``train``. Returns a :class:`History`.

    Args:
        model: a Module (anything callable with ``parameters()``; ``train()`` /
            ``eval()`` are called when it has them).
        loss: ``loss(output, target) -> scalar Tensor`` - an ``nn`` loss module,
            an ``F`` function, or a name: ``"mse"``, ``"cross_entropy"``, ``"bce"``,
            ``"bce_with_logits"``, ``"l1"``, ``"huber"``, ``"nll"``.
        optimizer: a :mod:`minigrad.optim` optimizer over the model's parameters.
        train: a ``Dataset`` of ``(x, y)`` samples, a ``DataLoader`` (used as it is:
            ``batch_size``, ``shuffle`` and ``seed`` are then ignored), or a tuple
            ``(X, y)`` of arrays/Tensors. Floating arrays in a tuple are cast to the
            model's parameter dtype (float64 NumPy data trains a float32 model).
        epochs: passes over the training data.
        batch_size: samples per optimizer step (None: the whole set, one step per epoch).
        validation_split: a fraction in (0, 1) (None or 0: none). The LAST ``fraction`` of the samples,
            in their stored order, is held out for validation, before any shuffling
            (Keras semantics: the same samples every run, no seed involved). If your
            data is sorted (e.g. by class), shuffle it first or pass ``validation_data``.
        validation_data: ``(X_val, y_val)``, a Dataset or a DataLoader, evaluated at
            the end of every epoch (overrides ``validation_split``).
        metrics: names (``"accuracy"``, ``"binary_accuracy"`` (probabilities, >= 0.5),
            ``"binary_accuracy_logits"`` (>= 0), ``"mae"``, ``"mse"``) or functions
            ``fn(y_true, y_pred) -> number`` (e.g. from :mod:`minigrad.metrics`;
            these get the whole epoch's NumPy outputs and targets at once).
        callbacks: :class:`~minigrad.callbacks.Callback` objects.
        progress: True for progress bars on stderr (tqdm): one bar per epoch, or a
            single bar over epochs when there are more than 20 of them;
            ``"epochs"`` / ``"batches"`` to choose; False prints nothing at all.
        shuffle: reshuffle the training samples every epoch.
        scheduler: a learning-rate scheduler, stepped after every epoch
            (``ReduceLROnPlateau`` gets ``val_loss``, or ``loss`` without validation
            data) or, for ``OneCycleLR``, after every batch.
        seed: an int makes the shuffling order repeatable (a private generator);
            None draws it from minigrad's global generator (``minigrad.manual_seed``).

    Per epoch, ``history`` records ``loss`` (the mean training loss over the epoch's
    samples, measured while the weights were changing, as Keras does), every
    metric, ``val_loss`` / ``val_<metric>`` when there is validation data, and ``lr``
    (the first parameter group's learning rate during the epoch).

    The model is put in ``train()`` mode for training and ``eval()`` mode for
    validation, and left in the mode it was in before ``fit``.

    Data-parallel: when ``model`` is a :class:`~minigrad.nn.parallel.DistributedDataParallel`
    in a job of several processes, every rank passes the same ``train`` and each
    trains on its share (a :class:`~minigrad.data.DistributedSampler` with ``seed``;
    ``batch_size`` is then per process) and validates on its slice of the validation
    data; the logged values are averaged over all ranks (so every rank's ``history``
    and callbacks see the same numbers), and only rank 0 draws progress bars.
    """
    return _fit(model, loss, optimizer, train, epochs, batch_size, validation_split, validation_data, metrics,
                callbacks, progress, shuffle, scheduler, seed, who="fit")


def _fit(model, loss, optimizer, train, epochs, batch_size, validation_split, validation_data, metrics,
         callbacks, progress, shuffle, scheduler, seed, who):
    """The loop of :func:`fit`; ``who`` is the function the user called (``fit``, or a
    function that trains through this loop, such as ``compress.distill``), which every
    error message names."""
    loss_fn = _check_fit_arguments(loss, optimizer, epochs, batch_size, progress, who)
    metric_objs = _make_metrics(metrics, who)
    val_metric_objs = _make_metrics(metrics, who, prefix="val_")
    callbacks = _Callbacks(callbacks, scheduler, who)
    data = _FitData(model, train, validation_split, validation_data, batch_size, shuffle, seed, who)

    history = History()
    history.params = data.params(epochs, metric_objs, val_metric_objs)
    callbacks.set_context(model, optimizer, history)
    bars = _Bars(progress, epochs, len(data.loader), shown=data.group is None or data.group.rank == 0)
    was_training = getattr(model, "training", True)
    try:
        callbacks.on_train_begin()
        for epoch in range(epochs):
            t0 = time.perf_counter()
            callbacks.on_epoch_begin(epoch)
            data.start_epoch(epoch)
            bars.start_epoch(epoch)
            lr = _learning_rate(optimizer)
            logs, n_train, stop = _train_epoch(model, loss_fn, optimizer, data, metric_objs, callbacks, bars, who)
            if data.val_loader is not None:
                logs.update(_run_eval(model, loss_fn, data.val_loader, val_metric_objs, data.move, who,
                                      prefix="val_"))
            logs = data.mean_over_ranks(logs, n_train)
            logs["lr"] = lr
            history._record(epoch, logs, time.perf_counter() - t0)
            callbacks.on_epoch_end(epoch, logs)
            bars.end_epoch(logs)
            if stop or callbacks.stop_training():
                break
    finally:
        bars.close()
        _set_mode(model, was_training)
    callbacks.on_train_end(history)
    return history


# ============================================================================= evaluate / predict

@contextmanager
def _evaluating(model):
    """The block runs under ``no_grad`` with the model in ``eval()`` mode; its mode is
    restored afterwards (also after an exception)."""
    was_training = getattr(model, "training", False)
    _set_mode(model, False)
    try:
        with no_grad():
            yield
    finally:
        _set_mode(model, was_training)


def _run_eval(model, loss_fn, loader, metric_objs, move, who, prefix=""):
    """Loss and metrics over ``loader`` with the model in eval mode and no graph."""
    for m in metric_objs:
        m.reset()
    total, count = 0.0, 0
    with _evaluating(model):
        for batch in loader:
            if move is not None:
                batch = move(batch)
            inputs, target = _split_batch(batch, who)
            out = model(*inputs)
            n = _n_samples(target)
            if loss_fn is not None:
                total = total + loss_fn(out, target).array * n
            count += n
            _update_metrics(metric_objs, out, target)
    logs = {}
    if loss_fn is not None:
        logs[prefix + "loss"] = float(total) / count if count else math.nan
    for m in metric_objs:
        logs[m.name] = m.result()
    return logs


def evaluate(model, loss, data, batch_size=256, metrics=()):
    """The mean loss and metrics of ``model`` on ``data``, as a dict.

    ``evaluate(model, "cross_entropy", (X_test, y_test), metrics=["accuracy"])``
    -> ``{"loss": 0.08, "accuracy": 0.97}``. ``loss`` may be None (metrics only).
    ``data``: ``(X, y)``, a Dataset or a DataLoader. Runs under ``no_grad`` with the
    model in ``eval()`` mode (its mode is restored afterwards). The loss is the mean
    over samples (exact for mean-reduced losses, whatever the batch size).
    """
    who = "evaluate"
    loss_fn = _resolve_loss(loss, who, required=False)
    metric_objs = _make_metrics(metrics, who)
    if loss_fn is None and not metric_objs:
        raise ValueError(f"{who}: nothing to compute; give a loss and/or metrics")
    loader = _loader(_as_dataset(data, who, model), batch_size, False, None, who)
    return _run_eval(model, loss_fn, loader, metric_objs, _mover(model), who)


def predict(model, X, batch_size=256):
    """The model's outputs for ``X``, computed in batches, as one Tensor (no graph).

    ``X``: an array or Tensor (split along its first axis), a tuple of them (for a
    model with several inputs), or a Dataset / DataLoader whose samples are
    ``(x, y)`` (``y`` is ignored) or ``(x,)``. Runs under ``no_grad`` in ``eval()``
    mode (restored afterwards). Floating arrays are cast to the model's dtype.
    """
    who = "predict"
    if isinstance(X, (Dataset, DataLoader)):
        loader = _loader(X, batch_size, False, None, who)
        has_target = None
    else:
        arrays = X if isinstance(X, (tuple, list)) and X and all(
            isinstance(a, (Tensor, np.ndarray)) or hasattr(a, "__cuda_array_interface__") for a in X) else (X,)
        loader = _loader(_tuple_dataset(tuple(arrays), who, _float_dtype(model), _model_device(model)),
                         batch_size, False, None, who)
        has_target = False
    move = _mover(model)
    outs = []
    with _evaluating(model):
        for batch in loader:
            if move is not None:
                batch = move(batch)
            if not isinstance(batch, (tuple, list)):
                batch = (batch,)
            inputs = batch if has_target is False or len(batch) == 1 else batch[:-1]
            outs.append(model(*inputs))
    if not outs:
        raise ValueError(f"{who}: no samples to predict")
    if len(outs) == 1:
        return outs[0]
    first = outs[0].array
    return Tensor(xp_of(first).concatenate([o.array for o in outs]))
