"""The synthetic data generators of minigrad/data/synthetic.py: make_regression, make_blobs,
make_moons, make_spirals."""
import numpy as np
import pytest

import minigrad
from minigrad.data.synthetic import make_blobs, make_moons, make_regression, make_spirals


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
