"""Small data sets and a classifier shared by the tests of the training loop and of the callbacks."""
import numpy as np

import minigrad
from minigrad import nn


def line_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    y = (2 * X + 1 + 0.01 * rng.standard_normal((n, 1))).astype(np.float32)
    return X, y


def blob_data(n=90, seed=0):
    """Three well separated 2-D clusters, labels 0..2, in random order."""
    rng = np.random.default_rng(seed)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    y = rng.integers(0, 3, n)
    X = (centers[y] + 0.3 * rng.standard_normal((n, 2))).astype(np.float32)
    return X, y.astype(np.int64)


def classifier(seed=0):
    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def weights(model):
    return {k: v.array.copy() for k, v in model.state_dict().items()}
