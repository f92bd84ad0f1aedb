"""The embedded digits, train_test_split, and the synthetic generators."""
import hashlib
import os

import numpy as np
import pytest

import minigrad
from minigrad.data import datasets
from minigrad.data.datasets import digits, train_test_split
from minigrad.data.synthetic import make_blobs, make_moons, make_regression, make_spirals


def test_digits_embedded_file_is_intact():
    path = os.path.join(os.path.dirname(datasets.__file__), "embedded", "digits.npz")
    with np.load(path, allow_pickle=False) as f:
        X, y = f["data"], f["target"]
    assert X.dtype == np.uint8 and y.dtype == np.uint8
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest() == datasets.DIGITS_SHA256
    readme = open(os.path.join(os.path.dirname(path), "README.md")).read()
    assert "CC BY 4.0" in readme and "10.24432/C50P49" in readme


def test_digits_default_and_raw():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.dtype == np.int64 and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    Xr, _ = digits(dtype=np.uint8)
    assert Xr.dtype == np.uint8 and Xr.max() == 16
    np.testing.assert_allclose(X, Xr / 16.0)
    Xs, _ = digits(scale=False)
    assert Xs.dtype == np.float32 and Xs.max() == 16.0
    with pytest.raises(ValueError, match="scale=True.*float dtype"):
        digits(dtype=np.int64, scale=True)


def test_digits_images_and_upsampling():
    X, _ = digits()
    Xi, _ = digits(as_images=True)
    assert Xi.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(Xi.reshape(1797, 64), X)
    X28, _ = digits(as_images=True, size=28)
    assert X28.shape == (1797, 1, 28, 28) and X28.dtype == np.float32
    assert 0 <= X28.min() and X28.max() <= 1.0
    Xn, _ = digits(as_images=True, size=16, mode="nearest", dtype=np.uint8)
    np.testing.assert_array_equal(Xn[:, 0, ::2, ::2], digits(as_images=True, dtype=np.uint8)[0][:, 0])
    flat28, _ = digits(size=28)
    assert flat28.shape == (1797, 784)


def test_digits_is_learnable_by_nearest_centroid():
    # a sanity check that labels belong to images: nearest class mean gets > 85%
    X, y = digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, seed=0)
    centroids = np.stack([Xtr[ytr == c].mean(0) for c in range(10)])
    pred = np.argmin(((Xte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.85


def test_train_test_split():
    X = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert len(Xte) == 10 and len(Xtr) == 40
    np.testing.assert_array_equal(Xtr[:, 0] // 2, ytr)   # rows stay paired
    assert sorted(np.concatenate([ytr, yte])) == list(range(50))
    again = train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3], yte)
    tail = train_test_split(y, test_size=3, shuffle=False)
    np.testing.assert_array_equal(tail[1], [47, 48, 49])
    with pytest.raises(ValueError, match="same first dimension"):
        train_test_split(X, y[:3])
    with pytest.raises(ValueError, match="both parts must be non-empty"):
        train_test_split(y, test_size=50)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        train_test_split(y, test_size=1.5)
    with pytest.raises(TypeError, match="train_test_split: seed must be"):
        train_test_split(y, seed="x")


def test_train_test_split_stratified():
    y = np.array([0] * 80 + [1] * 20)
    _, yte = train_test_split(y, test_size=0.25, stratify=y, seed=3)
    assert len(yte) == 25 and np.sum(yte == 1) == 5
    y3 = np.repeat([0, 1, 2], [10, 7, 3])
    ytr, yte = train_test_split(y3, test_size=5, stratify=y3, seed=0)
    assert len(yte) == 5 and len(ytr) == 15
    assert sorted(np.concatenate([ytr, yte])) == sorted(y3)


def test_make_regression_recovers_line():
    X, y = make_regression(500, noise=0.0, seed=0)
    assert X.shape == (500, 1) and y.shape == (500, 1) and X.dtype == np.float32
    np.testing.assert_allclose(y, 2 * X + 1, rtol=1e-5, atol=1e-6)
    Xn, yn = make_regression(2000, noise=0.3, seed=1)
    A = np.hstack([Xn, np.ones_like(Xn)])
    (w, b), *_ = np.linalg.lstsq(A.astype(np.float64), yn[:, 0].astype(np.float64), rcond=None)
    assert abs(w - 2) < 0.1 and abs(b - 1) < 0.05
    assert abs(np.std(yn[:, 0] - (2 * Xn[:, 0] + 1)) - 0.3) < 0.03
    X3, y3 = make_regression(10, w=[1.0, -2.0, 0.5], b=0.0, noise=0.0, seed=0, dtype=np.float64)
    np.testing.assert_allclose(y3[:, 0], X3 @ [1.0, -2.0, 0.5])
    Xm, ym = make_regression(10, w=np.ones((4, 2)), b=[0, 1], seed=0)
    assert Xm.shape == (10, 4) and ym.shape == (10, 2)
    a1, b1 = make_regression(20, seed=5)
    a2, b2 = make_regression(20, seed=5)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    with pytest.raises(ValueError, match="n_features"):
        make_regression(5, w=[1, 2], n_features=3)
    with pytest.raises(ValueError, match="positive integer"):
        make_regression(0)


@pytest.mark.parametrize("gen, k", [(make_blobs, 3), (make_moons, 2), (make_spirals, 3)])
def test_classification_generators(gen, k):
    X, y = gen(n=301, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    X2, y2 = gen(n=301, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    minigrad.manual_seed(0)
    a = gen(n=50)[0]
    minigrad.manual_seed(0)
    np.testing.assert_array_equal(a, gen(n=50)[0])
    assert not np.array_equal(gen(n=301, seed=1)[0], X)


def test_blobs_centres_and_moons_shape():
    C = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = make_blobs(400, centers=C, std=0.5, seed=0)
    for c in range(2):
        np.testing.assert_allclose(X[y == c].mean(0), C[c], atol=0.15)
    X, y = make_moons(400, noise=0.0, seed=0)
    np.testing.assert_allclose(np.linalg.norm(X[y == 0], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(X[y == 1] - [1.0, 0.5], axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="std"):
        make_blobs(10, centers=3, std=[1, 2])
