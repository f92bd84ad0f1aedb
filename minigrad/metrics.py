"""Metrics: how good are the predictions? (NumPy, on arrays or Tensors)

Every function takes NumPy arrays, lists, or minigrad Tensors (converted with
their ``.array``; nothing here is differentiable - these are for reporting, not
for training). Names and conventions follow scikit-learn:

* :func:`accuracy`, :func:`top_k_accuracy` - fraction of correct predictions;
  predictions may be labels ``(N,)`` or scores ``(N, C)`` (logits or probabilities:
  the argmax is the prediction, so either works);
* :func:`confusion_matrix` - ``cm[i, j]`` counts samples of true class ``i``
  predicted as ``j``; :func:`plot_confusion_matrix` draws it;
* :func:`precision`, :func:`recall`, :func:`f1_score` - per class, or averaged
  ``"binary"`` (the positive class only), ``"macro"`` (plain mean over classes),
  ``"micro"`` (pool all decisions; equals accuracy for single-label problems) or
  ``"weighted"`` (mean weighted by each class's number of true samples);
* :func:`roc_curve`, :func:`auc`, :func:`roc_auc_score` - ranking quality of scores.

Where a ratio would be 0/0 (a class never predicted, say) the result is
``zero_division`` (default 0.0), as in scikit-learn.
"""
from __future__ import annotations

import numpy as np

from minigrad.data._tensors import to_numpy

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "precision", "recall", "f1_score",
           "precision_recall_fscore", "plot_confusion_matrix", "roc_curve", "auc", "roc_auc_score"]

_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _np(x, who, name):
    """A NumPy array from an array, list, scalar or Tensor (CuPy data is copied to the host)."""
    try:
        a = to_numpy(x)
    except Exception as e:
        raise TypeError(f"{who}: {name} must be an array, a list or a Tensor, got {type(x).__name__}") from e
    if a.dtype.kind == "O":
        raise TypeError(f"{who}: {name} must hold numbers, got an object array")
    return a


# ----------------------------------------------------------------------------- scores -> labels: the one rule

#: what to do about one score per sample, said by :func:`accuracy` (fit says its metric names)
_BINARY_HINT = "pass threshold=0.5 (probabilities) or threshold=0.0 (logits)"


def _labels_from(pred, true_ndim, who, threshold=None, binary_hint=_BINARY_HINT):
    """The labels a model's outputs stand for. The one rule of minigrad, used by
    :func:`accuracy` and the other metrics here and by the metrics of
    :func:`minigrad.train.fit` (NumPy or CuPy arrays, any number of axes):

    * ``threshold`` given (binary): label 1 where ``score >= threshold``; scores of
      shape ``(..., 1)`` lose that last axis;
    * scores with one axis more than the labels (``(N, C)`` for ``(N,)``, or
      ``(N, L, C)`` for ``(N, L)``): the argmax over the last axis, the class
      dimension of a ``Linear`` layer's output (logits or probabilities alike);
    * as many axes as the labels: they are labels already (integer values).
    """
    if threshold is not None:
        if pred.ndim == true_ndim + 1 and pred.shape[-1] == 1:
            pred = pred[..., 0]
        return (pred >= threshold).astype(np.int64)
    if pred.ndim == true_ndim + 1:
        if pred.shape[-1] == 1:
            raise ValueError(f"{who}: the predictions have one score per sample (shape {pred.shape}), "
                             f"whose argmax is always 0; for a binary model {binary_hint}")
        return pred.argmax(axis=-1)
    if pred.ndim == true_ndim:
        if pred.dtype.kind == "f" and pred.size and not bool((pred == pred.round()).all()):
            raise ValueError(f"{who}: y_pred has the same shape as y_true ({pred.shape}) but holds "
                             f"non-integer values; pass predicted labels, scores of shape (N, C), "
                             f"or threshold=... for binary scores")
        return pred
    raise ValueError(f"{who}: y_pred has shape {pred.shape}; for y_true of shape (N,) it must be "
                     f"labels (N,) or scores (N, C)")


def _target_labels(t, threshold):
    """Binary targets given as probabilities (soft labels) count as 1 above 0.5."""
    return t > 0.5 if threshold is not None and t.dtype.kind == "f" else t


def _pair(y_true, y_pred, who, threshold=None):
    t = _np(y_true, who, "y_true")
    p = _np(y_pred, who, "y_pred")
    if t.ndim != 1:
        raise ValueError(f"{who}: y_true must be a 1-D array of labels, got shape {t.shape}")
    p = _labels_from(p, t.ndim, who, threshold)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"{who}: y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    return t, p


def _count_correct(y_true, y_pred, threshold=None, who="accuracy", binary_hint=_BINARY_HINT):
    """``(correct, total)``: how many predictions equal their label, and how many there are.

    The streaming form of :func:`accuracy` (``correct / total``), for a metric summed
    over the batches of an epoch as :func:`minigrad.train.fit` does. It takes the raw
    arrays of a batch (NumPy or CuPy, kept on their device: ``correct`` is a 0-d array)
    of any number of axes: labels ``(N, ...)`` with scores ``(N, ..., C)`` or labels;
    one-hot or probability targets of the scores' shape (compared by argmax); binary
    scores with ``threshold``. Scores become labels by the rule of :func:`accuracy`.
    """
    if threshold is None and y_pred.shape == y_true.shape and y_true.dtype.kind == "f" and y_pred.ndim >= 2:
        y_true, y_pred = y_true.argmax(axis=-1), y_pred.argmax(axis=-1)   # one-hot targets
    elif threshold is not None and y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    pred = _labels_from(y_pred, y_true.ndim, who, threshold, binary_hint)
    if pred.shape != y_true.shape:
        raise ValueError(f"{who}: outputs of shape {y_pred.shape} cannot be compared with targets of shape "
                         f"{y_true.shape}; expected scores (N, C) and labels (N,), scores and one-hot "
                         f"targets of the same shape, or one score per target with a threshold")
    return (pred == _target_labels(y_true, threshold)).sum(), y_true.size


def accuracy(y_true, y_pred, threshold=None):
    """The fraction of samples whose prediction equals the label.

    ``y_pred``: labels ``(N,)``, or scores ``(N, C)`` (logits or probabilities; the
    argmax is taken). ``threshold``: for binary scores of shape ``(N,)`` or
    ``(N, 1)``, predict 1 where ``score >= threshold`` (0.5 for probabilities,
    0.0 for logits).
    """
    t, p = _pair(y_true, y_pred, "accuracy", threshold)
    if t.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(_target_labels(t, threshold) == p))


def top_k_accuracy(y_true, y_score, k=5):
    """The fraction of samples whose true label is among the ``k`` highest scores.

    ``y_score``: ``(N, C)``; ``k=1`` is plain accuracy. Equal scores are ranked
    by class index (the lower index first), so the result is deterministic.
    """
    t = _np(y_true, "top_k_accuracy", "y_true")
    s = _np(y_score, "top_k_accuracy", "y_score")
    if t.ndim != 1 or s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise ValueError(f"top_k_accuracy: expected y_true (N,) and y_score (N, C), got shapes "
                         f"{t.shape} and {s.shape}")
    if not 1 <= k:
        raise ValueError(f"top_k_accuracy: k must be >= 1, got {k}")
    if t.size == 0:
        raise ValueError("top_k_accuracy: no samples")
    if np.any((t < 0) | (t >= s.shape[1])):
        raise ValueError(f"top_k_accuracy: labels must be in 0..{s.shape[1] - 1} for {s.shape[1]} score columns")
    if k >= s.shape[1]:
        return 1.0
    true_score = s[np.arange(len(t)), t.astype(np.int64)]
    # rank of the true class = classes scoring strictly higher, plus equal ones listed before it
    higher = (s > true_score[:, None]).sum(axis=1)
    cols = np.arange(s.shape[1])[None, :]
    tied_before = ((s == true_score[:, None]) & (cols < t[:, None])).sum(axis=1)
    return float(np.mean(higher + tied_before < k))


def _classes(t, p, labels, num_classes=None):
    if labels is not None:
        return np.asarray(labels)
    if num_classes is not None:
        return np.arange(num_classes)
    return np.union1d(t, p)


def confusion_matrix(y_true, y_pred, num_classes=None, labels=None, normalize=None):
    """``cm[i, j]`` = number of samples with true class ``i`` predicted as class ``j``.

    Classes are ``labels`` if given, else ``0..num_classes-1`` if given, else the
    sorted union of values seen. ``normalize``: None (counts), "true" (each row
    sums to 1: recall on the diagonal), "pred" (each column sums to 1: precision
    on the diagonal) or "all" (the whole matrix sums to 1).
    """
    t, p = _pair(y_true, y_pred, "confusion_matrix")
    classes = _classes(t, p, labels, num_classes)
    k = len(classes)
    # map values to 0..k-1; anything not in classes is ignored (as scikit-learn does)
    order = np.argsort(classes, kind="stable")
    sorted_cls = classes[order]
    ti = np.searchsorted(sorted_cls, t)
    pi = np.searchsorted(sorted_cls, p)
    ok = (ti < k) & (pi < k)
    ok[ok] &= (sorted_cls[ti[ok]] == t[ok]) & (sorted_cls[pi[ok]] == p[ok])
    if num_classes is not None and labels is None and not np.all(ok):
        bad = np.concatenate([t[~ok], p[~ok]])
        bad = bad[(bad < 0) | (bad >= num_classes)]
        raise ValueError(f"confusion_matrix: label {bad[0]} is outside 0..{num_classes - 1} (num_classes={num_classes})")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (order[ti[ok]], order[pi[ok]]), 1)
    if normalize is None:
        return cm
    if normalize not in ("true", "pred", "all"):
        raise ValueError(f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)


def precision_recall_fscore(y_true, y_pred, average="binary", pos_label=1, labels=None,
                            beta=1.0, zero_division=0.0):
    """Precision, recall and F-beta together: ``(precision, recall, fscore)``.

    Per class ``c``: precision = TP / (TP + FP) (of the samples predicted ``c``, how
    many are ``c``), recall = TP / (TP + FN) (of the samples that are ``c``, how
    many were found), F-beta = (1 + b^2) P R / (b^2 P + R). See the module docstring
    for ``average``; with ``average=None`` each result is an array over classes.
    """
    who = "precision_recall_fscore"
    if average not in _AVERAGES:
        raise ValueError(f"{who}: average must be one of {_AVERAGES}, got {average!r}")
    t, p = _pair(y_true, y_pred, who)
    if average == "binary":
        present = np.union1d(t, p)
        if present.size > 2 or (present.size == 2 and pos_label not in present):
            raise ValueError(f"{who}: average='binary' needs two classes including pos_label={pos_label!r}, "
                             f"got labels {present.tolist()}; use average='macro', 'micro' or 'weighted' "
                             f"for multiclass")
        classes = np.array([pos_label])
    else:
        classes = _classes(t, p, labels)
    tp = np.array([np.sum((p == c) & (t == c)) for c in classes], dtype=np.float64)
    pred_pos = np.array([np.sum(p == c) for c in classes], dtype=np.float64)
    true_pos = np.array([np.sum(t == c) for c in classes], dtype=np.float64)
    if average == "micro":
        tp, pred_pos, true_pos = tp.sum(keepdims=True), pred_pos.sum(keepdims=True), true_pos.sum(keepdims=True)

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1), zero_division)

    prec, rec = ratio(tp, pred_pos), ratio(tp, true_pos)
    b2 = beta * beta
    denom = b2 * prec + rec
    # F is 0/0 when precision and recall are both 0; also zero_division when neither
    # class was ever predicted nor present.
    f = np.where(denom > 0, (1 + b2) * prec * rec / np.where(denom > 0, denom, 1), 0.0)
    f = np.where((pred_pos + true_pos) == 0, zero_division, f)
    if average is None:
        return prec, rec, f
    if average in ("binary", "micro"):
        return float(prec[0]), float(rec[0]), float(f[0])
    if average == "macro":
        return float(prec.mean()), float(rec.mean()), float(f.mean())
    w = true_pos
    if w.sum() == 0:
        return float(zero_division), float(zero_division), float(zero_division)
    return tuple(float(np.average(m, weights=w)) for m in (prec, rec, f))


def precision(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """TP / (TP + FP): of the samples predicted positive, the fraction that are."""
    return precision_recall_fscore(y_true, y_pred, average, pos_label, labels,
                                   zero_division=zero_division)[0]


def recall(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """TP / (TP + FN): of the positive samples, the fraction predicted positive."""
    return precision_recall_fscore(y_true, y_pred, average, pos_label, labels,
                                   zero_division=zero_division)[1]


def f1_score(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """The harmonic mean of precision and recall, 2 P R / (P + R)."""
    return precision_recall_fscore(y_true, y_pred, average, pos_label, labels,
                                   zero_division=zero_division)[2]


def plot_confusion_matrix(cm, class_names=None, normalize=None, ax=None, cmap="Blues",
                          title="Confusion matrix", annotate=True):
    """Draw a confusion matrix (from :func:`confusion_matrix`) with matplotlib.

    Rows are true classes, columns predicted ones. ``normalize``: None, "true",
    "pred" or "all" (as in :func:`confusion_matrix`). Returns the matplotlib Axes.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_confusion_matrix needs matplotlib: pip install matplotlib") from None
    cm = _np(cm, "plot_confusion_matrix", "cm")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: cm must be a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(class_names)} class names for a {k}x{k} matrix")
    if normalize is not None:
        if normalize not in ("true", "pred", "all"):
            raise ValueError(f"plot_confusion_matrix: normalize must be None, 'true', 'pred' or 'all', "
                             f"got {normalize!r}")
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.nan_to_num(cm / cm.sum(axis=axis, keepdims=axis is not None))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 1.0 + 0.5 * k) if k > 6 else (4.5, 4))
    im = ax.imshow(cm, cmap=cmap)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                  if max(map(len, names)) > 2 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if annotate:
        hi = cm.max() if cm.size else 0
        for i in range(k):
            for j in range(k):
                v = cm[i, j]
                text = f"{v:.2f}" if cm.dtype.kind == "f" else str(int(v))
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if hi and v > hi / 2 else "black")
    return ax


def _binary_scores(y_true, y_score, pos_label, who):
    t = _np(y_true, who, "y_true")
    s = _np(y_score, who, "y_score").astype(np.float64)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    if t.ndim != 1 or s.ndim != 1 or t.shape[0] != s.shape[0]:
        raise ValueError(f"{who}: expected y_true (N,) and y_score (N,) (or (N, 2)), got shapes "
                         f"{t.shape} and {_np(y_score, who, 'y_score').shape}")
    if pos_label is None:
        values = np.unique(t)
        if not (np.all(np.isin(values, [0, 1])) or np.all(np.isin(values, [-1, 1]))):
            raise ValueError(f"{who}: y_true has labels {values.tolist()}; pass pos_label=... to say "
                             f"which one is positive")
        pos_label = 1
    return (t == pos_label), s


def roc_curve(y_true, y_score, pos_label=None, drop_intermediate=True):
    """The ROC curve of binary scores: ``(fpr, tpr, thresholds)``.

    Sweeping a threshold from +inf down through every distinct score, predict
    positive where ``score >= threshold`` and record the false-positive rate
    FP/(FP+TN) and true-positive rate TP/(TP+FN). The first point is (0, 0) at
    threshold +inf. ``drop_intermediate`` removes points that lie on a straight
    line between their neighbours (they do not change the curve or its area).
    """
    who = "roc_curve"
    pos, s = _binary_scores(y_true, y_score, pos_label, who)
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    # last index of each run of equal scores: all of a tie flips at one threshold
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(pos)[last].astype(np.float64)
    fps = (last + 1) - tps
    thresholds = s[last]
    if drop_intermediate and tps.size > 2:
        keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    P, N = tps[-1], fps[-1]
    if P == 0 or N == 0:
        raise ValueError(f"{who}: y_true has only one class ({'positive' if N == 0 else 'negative'} "
                         f"samples only); the ROC curve needs both")
    return fps / N, tps / P, thresholds


def auc(x, y):
    """The area under a curve through the points ``(x, y)`` by the trapezoidal rule;
    ``x`` must be monotonic (increasing or decreasing)."""
    x = _np(x, "auc", "x").astype(np.float64)
    y = _np(y, "auc", "y").astype(np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"auc: x and y must be 1-D of the same length >= 2, got shapes {x.shape} and {y.shape}")
    dx = np.diff(x)
    if np.all(dx >= 0):
        sign = 1.0
    elif np.all(dx <= 0):
        sign = -1.0
    else:
        raise ValueError("auc: x is neither increasing nor decreasing")
    return float(sign * np.sum(dx * (y[1:] + y[:-1]) / 2))


def _binary_auc(pos, s):
    """ROC AUC = P(score of a random positive > score of a random negative), ties
    counting 1/2: the Mann-Whitney U statistic, from the ranks of the scores."""
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="stable")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average rank over each run of equal scores (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def roc_auc_score(y_true, y_score, average="macro", multi_class="ovr", pos_label=None):
    """Area under the ROC curve: 1.0 is a perfect ranking, 0.5 is chance.

    Binary: ``y_score`` of shape (N,) (or (N, 2): column 1 is used). Multiclass:
    ``y_score`` (N, C) and ``multi_class="ovr"`` - one class against the rest, then
    the ``average`` ("macro" or "weighted" by class frequency) of the C areas.
    """
    who = "roc_auc_score"
    s_raw = _np(y_score, who, "y_score")
    if s_raw.ndim == 2 and s_raw.shape[1] > 2:
        if multi_class != "ovr":
            raise ValueError(f"{who}: multi_class must be 'ovr', got {multi_class!r}")
        if average not in ("macro", "weighted"):
            raise ValueError(f"{who}: average must be 'macro' or 'weighted' for multiclass, got {average!r}")
        t = _np(y_true, who, "y_true")
        if t.ndim != 1 or t.shape[0] != s_raw.shape[0]:
            raise ValueError(f"{who}: expected y_true (N,) for y_score {s_raw.shape}, got {t.shape}")
        C = s_raw.shape[1]
        if np.any((t < 0) | (t >= C)):
            raise ValueError(f"{who}: labels must be in 0..{C - 1} for {C} score columns")
        areas, weights = [], []
        for c in range(C):
            a = _binary_auc(t == c, s_raw[:, c].astype(np.float64))
            if a is None:
                raise ValueError(f"{who}: class {c} has no samples (or only it has); one-vs-rest AUC "
                                 f"is undefined for it")
            areas.append(a)
            weights.append(np.sum(t == c))
        return float(np.average(areas, weights=weights if average == "weighted" else None))
    pos, s = _binary_scores(y_true, y_score, pos_label, who)
    a = _binary_auc(pos, s)
    if a is None:
        raise ValueError(f"{who}: y_true has only one class; ROC AUC is undefined")
    return float(a)
