"""The shared argument checks of minigrad/_checks.py, one by one: what each accepts,
and the error (type and message naming the op) for what it refuses. The sweep of every
public op against hostile inputs, which relies on these, is tests/project/test_public_api_sweep.py."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import _checks


def test_integer_refuses_floats_and_bools():
    assert _checks.integer(np.int64(3), "op", "k") == 3
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError, match="op: k must be an integer"):
            _checks.integer(bad, "op", "k")


def test_count_accepts_whole_numbers_from_the_minimum_only():
    assert _checks.count(3, "DataLoader", "batch_size") == 3
    assert type(_checks.count(np.int64(2), "fit", "epochs", minimum=0)) is int
    assert _checks.count(0, "fit", "epochs", minimum=0) == 0
    with pytest.raises(ValueError, match=r"^DataLoader: batch_size must be a positive integer, got 0$"):
        _checks.count(0, "DataLoader", "batch_size")
    with pytest.raises(ValueError, match=r"^fit: epochs must be a non-negative integer, got -1$"):
        _checks.count(-1, "fit", "epochs", minimum=0)
    with pytest.raises(ValueError, match=r"an integer >= 2, got 1"):
        _checks.count(1, "op", "n", minimum=2)
    for bad in (2.0, True, "3", None):
        with pytest.raises(ValueError, match="must be a positive integer"):
            _checks.count(bad, "op", "n")


def test_dim_wraps_negative_dims_and_names_the_valid_range():
    assert _checks.dim(-1, 3, "std") == 2
    assert _checks.dim(0, 0, "std") == 0  # a 0-d tensor counts as 1-d
    with pytest.raises(IndexError, match=r"std: dim 5 is out of range .* \(valid: -3..2\)"):
        _checks.dim(5, 3, "std")


def test_dims_sorts_and_refuses_repeats():
    assert _checks.dims(None, 3, "sum") == (0, 1, 2)
    assert _checks.dims((-1, 0), 3, "sum") == (0, 2)
    with pytest.raises(ValueError, match="sum: dim .* names the same dimension more than once"):
        _checks.dims((1, -2), 3, "sum")


def test_sizes_allow_one_inferred_entry_only_when_asked():
    assert _checks.sizes((2, -1), "reshape", allow_inferred=True) == (2, -1)
    with pytest.raises(ValueError, match="every entry must be >= 0"):
        _checks.sizes((2, -1), "zeros")
    with pytest.raises(ValueError, match="more than one -1"):
        _checks.sizes((-1, -1), "reshape", allow_inferred=True)


def test_index_array_checks_the_dtype_and_the_range():
    idx = np.array([0, -1])
    assert _checks.index_array(idx, 3, "gather", allow_negative=True).tolist() == [0, 2]
    with pytest.raises(IndexError, match=r"gather: index 3 is out of range for dim 1 of size 3"):
        _checks.index_array(np.array([3]), 3, "gather", dim_=1)
    with pytest.raises(TypeError, match="gather: indices must be an integer tensor"):
        _checks.index_array(np.array([0.0]), 3, "gather")


def test_padding_and_positive():
    assert _checks.padding(2, "pad") == (2,)
    with pytest.raises(TypeError, match="pad: padding must be an integer"):
        _checks.padding((1, 1.5), "pad")
    with pytest.raises(ValueError, match="lr must be positive, got nan"):
        _checks.positive(float("nan"), "SGD", "lr")


def test_same_device_skips_non_tensors_and_accepts_one_device():
    a, b = mg.ones(2), mg.zeros(2)
    assert _checks.same_device("conv2d", a, b, None) is None
    assert _checks.same_device("add", a, 2.0) is None
    assert _checks.same_device("cat") is None


def test_names_errors_puts_the_op_name_in_front_once():
    def inner(x):
        raise ValueError("shapes (2,) and (3,) differ")

    def named(x):
        raise ValueError("outer_op: already named")

    with pytest.raises(ValueError, match=r"^outer_op: shapes \(2,\) and \(3,\) differ$"):
        _checks.names_errors(inner, "outer_op")(1)
    with pytest.raises(ValueError, match="^outer_op: already named$"):
        _checks.names_errors(named, "outer_op")(1)
