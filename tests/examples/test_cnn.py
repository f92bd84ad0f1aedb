"""The seed CNN (minigrad/examples/cnn.py) on the MNIST digits that ship with minigrad."""
import pytest

import minigrad as mg

from minigrad.examples import DEMOS
from seed_results import check_result_dict


def test_the_seed_cnn_of_the_demo_trains_on_the_shipped_mnist_digits():
    from minigrad.examples import mnist_cnn
    from minigrad.examples.cnn import load_28x28

    assert dict((e[0], e[1]) for e in DEMOS)["seed CNN"] is mnist_cnn
    X_train, X_test, y_train, y_test = load_28x28("mnist_small")
    assert X_train.shape == (4000, 1, 28, 28) and X_test.shape == (1000, 1, 28, 28)
    assert X_train.dtype == X_test.dtype == "float32"
    assert abs(float(X_train.mean())) < 1e-3 and abs(float(X_train.std()) - 1) < 1e-3
    assert sorted(set(y_test.tolist())) == list(range(10))
    with pytest.raises(ValueError, match="mnist_cnn: level"):
        mnist_cnn(level="huge")


def test_mnist_cnn_one_short_run_learns(monkeypatch):
    from minigrad.examples import cnn

    # 2 epochs on the first 640 images: far above the 10% of guessing
    full = cnn.load_28x28
    monkeypatch.setattr(cnn, "load_28x28", lambda d, s: (lambda a, b, c, e: (a[:640], b, c[:640], e))(*full(d, s)))
    r = cnn.mnist_cnn(epochs=2, level="quick")
    check_result_dict(r)
    assert r["accuracy"] > 0.6 and r["passed"] is None


@pytest.mark.slow
def test_mnist_cnn_default_reaches_96_percent():
    from minigrad.examples import mnist_cnn

    r = mnist_cnn()
    assert r["accuracy"] >= 0.96 and r["passed"], r["summary"]


@pytest.mark.slow
def test_mnist_cnn_full_reaches_97_percent():
    from minigrad.examples import mnist_cnn

    r = mnist_cnn(level="full")
    assert r["accuracy"] >= 0.97 and r["passed"], r["summary"]


# ----------------------------------------------------------------------------- the seed CNN and a small ResNet

@pytest.mark.slow
def test_seed_cnn_reaches_98_percent_on_digits():
    from minigrad.examples.cnn import digits_cnn

    r = digits_cnn(progress=False)
    assert r["accuracy"] >= 0.98, r["summary"]


def test_small_resnet_forward_backward():
    from minigrad.examples.cnn import small_resnet

    model = small_resnet(width=4)
    out = model(mg.randn(2, 1, 12, 12))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
