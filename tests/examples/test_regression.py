"""The first seed system (minigrad/examples/regression.py): a line fitted by gradient descent."""
from minigrad.examples import linear_regression
from seed_results import check_result_dict


def test_linear_regression_recovers_the_line():
    r = linear_regression()
    check_result_dict(r)
    assert abs(r["w"] - 2.0) <= 0.05 and abs(r["b"] - 1.0) <= 0.05
    assert r["passed"] and r["final_loss"] < 0.02  # noise std 0.1 -> MSE ~0.01
