"""Small synthetic data sets with a known answer - the first thing to train on.

* :func:`make_regression` - ``y = X @ w + b + noise`` (the classic ``y = 2x + 1``);
* :func:`make_blobs` - Gaussian clusters, one per class (linearly separable-ish);
* :func:`make_moons` - two interleaving half circles (needs a non-linear model);
* :func:`make_spirals` - K arms of a spiral (needs a hidden layer or two).

All take ``seed`` (an int, a NumPy ``Generator``, or None for minigrad's global
generator) and return NumPy arrays: features as ``float32`` (or ``dtype``), class
labels as ``int64``. Wrap them with ``TensorDataset`` or ``minigrad.tensor``.
"""
from __future__ import annotations

import numpy as np

from ._random import as_generator
from minigrad import _checks

__all__ = ["make_regression", "make_blobs", "make_moons", "make_spirals"]


def _check_n(n, who):
    return _checks.count(n, who, "n")


def make_regression(n=100, w=2.0, b=1.0, noise=0.1, n_features=None, x_range=(-1.0, 1.0),
                    seed=None, dtype=np.float32):
    """Points on a known line (or plane) plus Gaussian noise.

    ``X`` is drawn uniformly from ``x_range`` with shape ``(n, n_features)``;
    ``y = X @ w + b + noise * N(0, 1)``. The defaults give ``y = 2x + 1``.

    ``w``: a number (the same weight for every feature), a vector of length
    ``n_features``, or a matrix ``(n_features, n_targets)``. ``n_features``
    defaults to ``len(w)`` (1 for a number). ``b``: a number or one per target.

    Returns ``(X, y)`` with ``y`` of shape ``(n, n_targets)`` - ``(n, 1)`` for one
    target - the shape ``nn.Linear(n_features, n_targets)`` outputs, so an MSE loss
    compares matching shapes instead of broadcasting ``(n, 1)`` against ``(n,)``.
    """
    n = _check_n(n, "make_regression")
    W = np.asarray(w, dtype=np.float64)
    if W.ndim > 2:
        raise ValueError(f"make_regression: w must be a number, a vector or a matrix, got shape {W.shape}")
    if n_features is None:
        n_features = 1 if W.ndim == 0 else W.shape[0]
    if W.ndim == 0:
        W = np.full((n_features, 1), float(W))
    elif W.ndim == 1:
        W = W[:, None]
    if W.shape[0] != n_features:
        raise ValueError(f"make_regression: w has {W.shape[0]} rows but n_features={n_features}")
    B = np.broadcast_to(np.asarray(b, dtype=np.float64).reshape(-1), (W.shape[1],)) \
        if np.size(b) in (1, W.shape[1]) else None
    if B is None:
        raise ValueError(f"make_regression: b must be a number or have one value per target "
                         f"({W.shape[1]}), got shape {np.shape(b)}")
    lo, hi = x_range
    rng = as_generator(seed, "make_regression", "seed")
    X = rng.uniform(lo, hi, size=(n, n_features))
    y = X @ W + B + noise * rng.standard_normal((n, W.shape[1]))
    return X.astype(dtype), y.astype(dtype)


def make_blobs(n=300, centers=3, n_features=2, std=1.0, center_box=(-8.0, 8.0), seed=None,
               dtype=np.float32):
    """Gaussian clusters: ``n`` points split as evenly as possible between ``centers``.

    ``centers``: a number of clusters (their centres drawn uniformly from
    ``center_box``) or an array ``(k, n_features)`` of centres. ``std``: the
    spread, one number or one per cluster. Returns ``(X, y)``, ``y`` the cluster
    index (int64). Points come shuffled.
    """
    n = _check_n(n, "make_blobs")
    rng = as_generator(seed, "make_blobs", "seed")
    if np.isscalar(centers):
        k = int(centers)
        if k < 1:
            raise ValueError(f"make_blobs: centers must be >= 1, got {centers}")
        C = rng.uniform(center_box[0], center_box[1], size=(k, n_features))
    else:
        C = np.asarray(centers, dtype=np.float64)
        if C.ndim != 2:
            raise ValueError(f"make_blobs: centers must be a count or an array (k, n_features), "
                             f"got shape {C.shape}")
        k = C.shape[0]
    stds = np.broadcast_to(np.asarray(std, dtype=np.float64).reshape(-1), (k,)) \
        if np.size(std) in (1, k) else None
    if stds is None:
        raise ValueError(f"make_blobs: std must be a number or one per cluster ({k}), got shape {np.shape(std)}")
    y = np.repeat(np.arange(k), [n // k + (i < n % k) for i in range(k)])
    X = C[y] + stds[y, None] * rng.standard_normal((n, C.shape[1]))
    p = rng.permutation(n)
    return X[p].astype(dtype), y[p].astype(np.int64)


def make_moons(n=200, noise=0.1, seed=None, dtype=np.float32):
    """Two interleaving half circles in 2-D (class 0 on top, class 1 below, shifted).

    Not linearly separable: logistic regression gets about 85%, a small MLP ~100%.
    ``noise`` is the std of Gaussian noise added to each coordinate. Returns
    ``(X, y)`` with ``X`` (n, 2); points come shuffled.
    """
    n = _check_n(n, "make_moons")
    rng = as_generator(seed, "make_moons", "seed")
    n0 = (n + 1) // 2
    n1 = n - n0
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    p = rng.permutation(n)
    return X[p].astype(dtype), y[p]


def make_spirals(n=300, classes=3, turns=1.0, noise=0.2, seed=None, dtype=np.float32):
    """``classes`` spiral arms around the origin in 2-D, one per class.

    Each arm goes from radius 0 to 1 while turning ``turns`` times; ``noise`` is
    added to the angle (in radians). A linear model is stuck near chance; an MLP with
    a hidden layer of ~100 units separates it. Returns ``(X, y)``, points shuffled.
    """
    n = _check_n(n, "make_spirals")
    classes = _checks.count(classes, "make_spirals", "classes")
    rng = as_generator(seed, "make_spirals", "seed")
    counts = [n // classes + (i < n % classes) for i in range(classes)]
    xs, ys = [], []
    for c, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * (c / classes + turns * r) + noise * rng.standard_normal(m)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(m, c, np.int64))
    X, y = np.concatenate(xs), np.concatenate(ys)
    p = rng.permutation(n)
    return X[p].astype(dtype), y[p]
