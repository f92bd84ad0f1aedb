"""The multi-layer perceptrons (minigrad/examples/mlp.py) reach their targets."""
import pytest

from minigrad.examples import digits_mlp, mlp_regression
from seed_results import check_result_dict


def test_digits_mlp_reaches_95_percent_test_accuracy():
    r = digits_mlp()
    check_result_dict(r)
    assert r["accuracy"] >= 0.95, r["summary"]
    assert r["passed"] and r["history"]["val_accuracy"][-1] >= 0.9
    layers = [type(m).__name__ for m in r["model"]]
    assert layers == ["Linear", "ReLU", "Linear"]
    assert r["model"][0].weight.shape == (128, 64) and r["model"][2].weight.shape == (10, 128)


def test_mlp_regression_fits_the_surface():
    r = mlp_regression()
    check_result_dict(r)
    assert r["r2"] >= 0.95 and r["passed"]
    assert sum(p.numel() for p in r["model"].parameters()) == 2 * 10 + 10 + 10 + 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_digits_mlp_other_seeds(seed):
    assert digits_mlp(seed=seed)["accuracy"] >= 0.95
