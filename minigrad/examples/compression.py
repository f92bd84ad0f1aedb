"""The compression report: how much smaller and faster can the digits CNN get, and at
what cost in accuracy?

One trained model - the seed CNN on the 28x28 digits, trained as
:func:`minigrad.examples.cnn.digits_cnn` trains it - is compressed in each of the
ways :mod:`minigrad.compress` offers, and every result is measured the same way:

==========================  =====================================================
row                          what was done
==========================  =====================================================
baseline                     the float32 model
pruned 50% / 80% / 90%       global magnitude pruning of every conv/linear weight,
                             iterative (50% -> 80% -> 90%), fine-tuned after each
                             round (:func:`minigrad.compress.prune.iterative_prune`)
int8 PTQ                     post-training quantization: observe activation ranges
                             on a few training batches, store weights as int8, run
                             int8 x int8 -> int32 (:func:`~minigrad.compress.quantize.quantize_ptq`)
int8 QAT                     quantization-aware training: fine-tune with fake
                             quantization, then convert to int8
student (distilled)          a 4-channel version of the same CNN (8x fewer
                             parameters) trained to match the baseline's softened
                             outputs (:func:`~minigrad.compress.distill.distill`)
student (no teacher)         the same student, same initial weights, same number of
                             steps, trained on the labels alone
==========================  =====================================================

Columns: test ``accuracy``; ``params`` (weights and biases, however stored);
``nonzero`` (of those, how many are not zero); ``bytes`` (of the model's saved state,
dense: what ``minigrad.save(model.state_dict())`` stores, scales included);
``sparse_bytes`` (the same tensors stored as a bitmask of which entries are
non-zero plus the non-zero values - what pruning can save on disk); and
``ms_per_batch`` (CPU inference on a batch of 256 images, median of a few runs).

Note what pruning does *not* do here: the pruned model still runs dense kernels, so
its inference time is the baseline's. Zeros only pay in time with sparse kernels or
with *structured* pruning (whole channels removed, the layers made smaller).

:func:`compression_report` returns the rows (a list of dicts); ``python -m minigrad
compress`` prints them (:func:`format_report`). :func:`run_compression` also returns
the models and the pruning history, for a notebook. :func:`digits_mlp_compression`
is the few-second version on the digits MLP that ``python -m minigrad demo`` runs.
"""
from __future__ import annotations

import copy
import math
import statistics
import time

import numpy as np

import minigrad
from minigrad import nn, optim
from minigrad.backend import xp_of
from minigrad.compress import distill as _distill
from minigrad.compress import prune as _prune
from minigrad.compress import quantize as _quant
from minigrad.examples.cnn import SeedCNN, load_28x28
from minigrad.examples._common import accuracy_on
from minigrad.train import fit

__all__ = ["COLUMNS", "count_parameters", "state_bytes", "inference_ms", "measure",
           "run_compression", "compression_report", "check_targets", "format_report",
           "digits_mlp_compression"]

#: the columns of a report row, in table order
COLUMNS = ("method", "accuracy", "params", "nonzero", "bytes", "sparse_bytes", "ms_per_batch")

_QUANTIZED = (_quant.QuantizedLinear, _quant.QuantizedConv2d)

#: training budgets (epochs) for --quick, the default and --full
_BUDGETS = {
    "tiny": dict(baseline=1, prune=1, qat=1, student=1, n_train=192, n_test=128),
    "quick": dict(baseline=8, prune=1, qat=1, student=8, n_train=None, n_test=None),
    "default": dict(baseline=12, prune=2, qat=2, student=12, n_train=None, n_test=None),
    "full": dict(baseline=24, prune=3, qat=3, student=24, n_train=None, n_test=None),
}


# ----------------------------------------------------------------------------- measuring

def count_parameters(model):
    """``(params, nonzero)``: the number of weights and biases of ``model`` as its forward
    uses them (a pruned weight through its mask; an int8 layer's weight and bias
    buffers), and how many of them are not zero."""
    params = nonzero = 0
    for row in _prune.sparsity_report(model):
        params += row["numel"]
        nonzero += row["nonzero"]
    for m in model.modules():
        if isinstance(m, _QUANTIZED):
            for t in (m.weight, m.bias):
                if t is not None:
                    params += int(t.array.size)
                    nonzero += int(xp_of(t.array).count_nonzero(t.array))
    return params, nonzero


def _permanent(model):
    """A copy of ``model`` with every pruning mask made permanent (plain weights again)."""
    model = copy.deepcopy(model)
    for name in _prune.pruned_parameters(model):
        mod_path, _, pname = name.rpartition(".")
        _prune.remove(model.get_submodule(mod_path), pname)
    return model


def state_bytes(model):
    """``(dense, sparse)`` bytes of the model's state: as stored (every entry, at its
    dtype's size), and stored as a bitmask of the non-zero entries plus their values
    (per tensor, whichever is smaller). A pruned model is measured with its masks made
    permanent (the mask is then implied by the zeros)."""
    if _prune.pruned_parameters(model):
        model = _permanent(model)
    dense = sparse = 0
    seen = set()
    for _, t in model.state_dict(keep_vars=True).items():
        if id(t) in seen:
            continue
        seen.add(id(t))
        a = t.array
        n = int(a.nbytes)
        nz = int(xp_of(a).count_nonzero(a))
        dense += n
        sparse += min(n, math.ceil(a.size / 8) + nz * a.dtype.itemsize)
    return dense, sparse


def inference_ms(model, X, repeats=5):
    """Median milliseconds of ``model(X)`` in eval mode under ``no_grad`` (after one
    warm-up call), over ``repeats`` runs."""
    was_training = model.training
    model.eval()
    x = minigrad.tensor(X)
    times = []
    try:
        with minigrad.no_grad():
            model(x)
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times)


def measure(method, model, X_test, y_test, batch=256, repeats=5, **extra):
    """One report row for ``model``: ``method`` and the :data:`COLUMNS`, plus ``extra``."""
    timed = _permanent(model) if _prune.pruned_parameters(model) else model
    params, nonzero = count_parameters(model)
    dense, sparse = state_bytes(model)
    row = {
        "method": method,
        "accuracy": accuracy_on(model, X_test, y_test),
        "params": params,
        "nonzero": nonzero,
        "bytes": dense,
        "sparse_bytes": sparse,
        "ms_per_batch": inference_ms(timed, X_test[:batch], repeats),
    }
    row.update(extra)
    return row


# ----------------------------------------------------------------------------- the experiment

def _check_level(level, who):
    if level not in _BUDGETS:
        raise ValueError(f"{who}: level must be one of {', '.join(repr(k) for k in _BUDGETS)}, got {level!r}")
    return dict(_BUDGETS[level])


def run_compression(level="quick", seed=0, progress=False, sparsities=(0.5, 0.8, 0.9), batch=256, repeats=3,
                    student_width=4, temperature=4.0, alpha=0.9, epochs=None, log=None):
    """Train the digits CNN, compress it every way, measure every result.

    ``level``: ``"quick"`` (the default; about a minute on 2 cores), ``"default"``,
    ``"full"`` (longer training: closer to the best each method can do) or
    ``"tiny"`` (one epoch on 192 images, 128 test images: a smoke test of the
    plumbing, for tests).
    ``epochs``: a dict overriding some budgets (keys ``baseline``, ``prune`` - per
    round -, ``qat``, ``student``). ``sparsities``: the rounds of iterative pruning.
    ``progress``: progress bars while training; ``log``: a function called with a
    line of text as each stage starts (e.g. ``print``; default: silent).

    Returns ``{"rows": [...], "models": {method: model}, "prune_history": [...],
    "level": ..., "seconds": ...}``; each row is a dict with the :data:`COLUMNS`
    (see :func:`measure`) and, for pruned rows, ``sparsity`` (of the pruned weights).
    """
    budget = _check_level(level, "run_compression")
    if epochs:
        unknown = set(epochs) - {"baseline", "prune", "qat", "student"}
        if unknown:
            raise ValueError(f"run_compression: unknown epochs keys {sorted(unknown)}; "
                             f"valid: baseline, prune, qat, student")
        budget.update(epochs)
    t_start = time.perf_counter()
    X_train, X_test, y_train, y_test = load_28x28("digits", seed)
    if budget["n_train"] is not None:
        X_train, y_train = X_train[:budget["n_train"]], y_train[:budget["n_train"]]
    if budget["n_test"] is not None:
        X_test, y_test = X_test[:budget["n_test"]], y_test[:budget["n_test"]]
    loss = nn.CrossEntropyLoss()
    train = (X_train, y_train)
    rows, models = [], {}
    say = log if log is not None else (lambda msg: None)

    def add(method, model, **extra):
        rows.append(measure(method, model, X_test, y_test, batch=batch, repeats=repeats, **extra))
        models[method] = model

    # the baseline, as digits_cnn trains it
    say(f"training the baseline CNN ({budget['baseline']} epochs)")
    minigrad.manual_seed(seed)
    base = SeedCNN()
    fit(base, loss, optim.Adam(base.parameters(), lr=1e-3), train, epochs=budget["baseline"], batch_size=32,
        progress=progress, seed=seed)
    base.eval()
    add("baseline", base)

    # iterative global magnitude pruning, fine-tuned after each round
    say(f"pruning to {', '.join(f'{round(100 * a)}%' for a in sparsities)} "
        f"({budget['prune']} fine-tuning epoch(s) per round)")
    pruned = copy.deepcopy(base)
    prune_opt = optim.Adam(pruned.parameters(), lr=5e-4)
    snapshots = []

    def fine_tune(model, step):
        fit(model, loss, prune_opt, train, epochs=budget["prune"], batch_size=32, progress=progress,
            seed=seed + 100 + step)
        model.eval()
        snapshots.append(copy.deepcopy(model))
        return {"accuracy": accuracy_on(model, X_test, y_test)}

    history = _prune.iterative_prune(pruned, list(sparsities), fine_tune)
    for h, snap in zip(history, snapshots):
        add(f"pruned {round(100 * h['target'])}%", snap, sparsity=h["sparsity_after"])

    # int8 post-training quantization, calibrated on 4 training batches of 128
    say("int8 post-training quantization")
    calib = [X_train[i:i + 128] for i in range(0, min(len(X_train), 512), 128)]
    # each conv/linear layer fused with its ReLU first: one int8 layer applies it for free
    fused = _quant.fuse_modules(base, SeedCNN.relu_pairs)
    add("int8 PTQ", _quant.quantize_ptq(fused, calib))

    # int8 quantization-aware training: fine-tune with fake quantization, then convert
    say(f"int8 quantization-aware training ({budget['qat']} epoch(s))")
    qat = _quant.prepare_qat(fused)
    fit(qat, loss, optim.Adam(qat.parameters(), lr=1e-4), train, epochs=budget["qat"], batch_size=32,
        progress=progress, seed=seed + 200)
    add("int8 QAT", _quant.convert(qat).eval())

    # distillation into a narrow student, and the same student without a teacher
    say(f"distilling into a width-{student_width} student, and training it alone ({budget['student']} epochs each)")
    minigrad.manual_seed(seed + 1)
    student = SeedCNN(width=student_width)
    alone = SeedCNN(width=student_width)
    alone.load_state_dict(student.state_dict())  # the same initial weights
    _distill.distill(base, student, train, optim.Adam(student.parameters(), lr=1e-3), epochs=budget["student"],
                     temperature=temperature, alpha=alpha, batch_size=32, seed=seed + 300)
    fit(alone, loss, optim.Adam(alone.parameters(), lr=1e-3), train, epochs=budget["student"], batch_size=32,
        progress=progress, seed=seed + 300)
    add("student (distilled)", student.eval())
    add("student (no teacher)", alone.eval())

    return {"rows": rows, "models": models, "prune_history": history, "level": level,
            "seconds": time.perf_counter() - t_start}


def compression_report(level="quick", seed=0, progress=False, **kwargs):
    """The rows of the report (a list of dicts with the :data:`COLUMNS`); see
    :func:`run_compression` for the options."""
    return run_compression(level=level, seed=seed, progress=progress, **kwargs)["rows"]


def _row(rows, method):
    for r in rows:
        if r["method"] == method:
            return r
    return None


def check_targets(rows):
    """The compression targets, checked on report rows: a list of ``(description, ok)``
    (``ok`` is None when the rows needed are missing).

    * int8 PTQ loses at most 1 point of accuracy, with at most 1/4 (+1%) of the bytes;
    * 80% unstructured pruning, fine-tuned, loses at most 1 point;
    * the distilled student beats the same student trained without a teacher.
    """
    base, ptq, p80 = _row(rows, "baseline"), _row(rows, "int8 PTQ"), _row(rows, "pruned 80%")
    kd, alone = _row(rows, "student (distilled)"), _row(rows, "student (no teacher)")
    out = []
    if base and ptq:
        out.append((f"int8 PTQ: accuracy {100 * (ptq['accuracy'] - base['accuracy']):+.2f} points (>= -1), "
                    f"bytes x{ptq['bytes'] / base['bytes']:.3f} (<= 1/4)",
                    ptq["accuracy"] >= base["accuracy"] - 0.01 and ptq["bytes"] <= 0.2525 * base["bytes"]))
    else:
        out.append(("int8 PTQ within 1 point at 1/4 of the bytes", None))
    if base and p80:
        out.append((f"80% pruning: accuracy {100 * (p80['accuracy'] - base['accuracy']):+.2f} points (>= -1)",
                    p80["accuracy"] >= base["accuracy"] - 0.01))
    else:
        out.append(("80% pruning within 1 point", None))
    if kd and alone:
        out.append((f"distilled student {100 * kd['accuracy']:.2f}% > student without a teacher "
                    f"{100 * alone['accuracy']:.2f}%", kd["accuracy"] > alone["accuracy"]))
    else:
        out.append(("distilled student beats the student without a teacher", None))
    return out


def format_report(rows):
    """The rows as a text table, with the size and accuracy relative to the first row."""
    if not rows:
        return "(no rows)"
    base = rows[0]
    header = ("method", "accuracy", "vs base", "params", "nonzero", "bytes", "sparse bytes", "x smaller",
              "ms/batch")
    table = []
    for r in rows:
        table.append((
            r["method"],
            f"{100 * r['accuracy']:.2f}%",
            f"{100 * (r['accuracy'] - base['accuracy']):+.2f}",
            f"{r['params']:,}",
            f"{r['nonzero']:,}",
            f"{r['bytes']:,}",
            f"{r['sparse_bytes']:,}",
            f"{base['bytes'] / min(r['bytes'], r['sparse_bytes']):.1f}",
            f"{r['ms_per_batch']:.1f}",
        ))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(t) for t in table])


# ----------------------------------------------------------------------------- the demo row

def digits_mlp_compression(progress=False, seed=0, level="default"):
    """A few seconds of compression for ``python -m minigrad demo``: train the digits
    MLP (64-128-10), prune 80% of its weights globally, fine-tune, quantize to int8
    (PTQ). Passes when the pruned int8 model is within 2 points of the float one."""
    from minigrad.data import digits, train_test_split

    t0 = time.perf_counter()
    epochs = {"quick": 10, "default": 20, "full": 30}.get(level, 20)
    minigrad.manual_seed(seed)
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=seed)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.1
    X_train = ((X_train - mean) / std).astype(np.float32)
    X_test = ((X_test - mean) / std).astype(np.float32)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.Adam(model.parameters(), lr=2e-3)
    history = fit(model, nn.CrossEntropyLoss(), opt, (X_train, y_train), epochs=epochs, batch_size=64,
                  progress=progress, seed=seed)
    float_acc = accuracy_on(model, X_test, y_test)
    float_bytes = _quant.model_size_bytes(model)
    _prune.global_unstructured([(model[0], "weight"), (model[2], "weight")], amount=0.8)
    fit(model, nn.CrossEntropyLoss(), opt, (X_train, y_train), epochs=max(2, epochs // 4), batch_size=64,
        progress=progress, seed=seed + 1)
    _prune.remove(model[0], "weight")
    _prune.remove(model[2], "weight")
    sparsity = _prune.sparsity(model, ("weight",))
    qmodel = _quant.quantize_ptq(model, X_train[:512])
    acc = accuracy_on(qmodel, X_test, y_test)
    _, sparse = state_bytes(qmodel)
    return {
        "name": "compressed digits MLP",
        "what": f"digits MLP, {100 * sparsity:.0f}% pruned + fine-tuned, int8 PTQ: {float_bytes:,} -> "
                f"{sparse:,} bytes (bitmask + int8)",
        "final_loss": history["loss"][-1],
        "accuracy": acc,
        "float_accuracy": float_acc,
        "summary": f"{100 * acc:.1f}% (float {100 * float_acc:.1f}%)",
        "passed": acc >= float_acc - 0.02,
        "seconds": time.perf_counter() - t0,
        "history": history,
        "model": qmodel,
    }
