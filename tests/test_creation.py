"""minigrad.creation: multinomial (frequencies and errors), the forms of randint, and
Tensor.new_* with is_tensor and numel."""
import numpy as np
import pytest

import minigrad as mg


# ----------------------------------------------------------------------------- random: multinomial, Generator, randint

def test_multinomial_frequencies_and_validity():
    probs = mg.tensor([0.1, 0.0, 0.6, 0.3])
    draws = mg.multinomial(probs, 20000, replacement=True).numpy()
    assert draws.shape == (20000,) and draws.dtype == np.int64
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    rows = mg.tensor([[1.0, 1.0, 0.0, 2.0], [0.0, 5.0, 5.0, 0.0]])
    out = rows.multinomial(2).numpy()  # without replacement: distinct, never a zero weight when avoidable
    assert out.shape == (2, 2)
    for r, row in zip(out, rows.numpy()):
        assert len(set(r)) == 2 and (row[r] > 0).all()
    firsts = np.array([mg.multinomial(mg.tensor([1.0, 3.0]), 2).tolist() for _ in range(2000)])
    np.testing.assert_allclose((firsts[:, 0] == 1).mean(), 0.75, atol=0.04)  # first draw ~ the weights
    assert sorted(mg.multinomial(mg.tensor([0.0, 1.0]), 2).tolist()) == [0, 1]


@pytest.mark.parametrize("probs,n,repl,match", [
    ([[[1.0]]], 1, False, "1 or 2 dim"),
    ([1.0, -0.5], 1, True, "element < 0"),
    ([1.0, float("nan")], 1, True, "nan"),
    ([0.0, 0.0], 1, True, "sum of probabilities"),
    ([1.0, 1.0], 3, False, "without replacement"),
    ([1.0, 1.0], 0, True, "n_sample <= 0"),
])
def test_multinomial_errors(probs, n, repl, match):
    with pytest.raises(RuntimeError, match=match):
        mg.multinomial(mg.tensor(probs), n, replacement=repl)


def test_randint_forms():
    a = mg.randint(5, (300,))
    assert a.shape == (300,) and a.dtype == mg.int64 and set(a.tolist()) == set(range(5))
    b = mg.randint(3, 6, (2, 50))
    assert b.shape == (2, 50) and b.numpy().min() >= 3 and b.numpy().max() <= 5
    assert mg.randint(10, size=(4,)).shape == (4,)
    assert mg.randint(low=2, high=4, size=(3,)).numpy().min() >= 2
    assert mg.randint(4, (2,), dtype=mg.int32).dtype == mg.int32
    with pytest.raises(TypeError, match="tuple"):
        mg.randint(5, 3)
    with pytest.raises(TypeError, match="size is missing"):
        mg.randint(5)
    with pytest.raises(ValueError, match="greater than low"):
        mg.randint(5, 2, (3,))


# ----------------------------------------------------------------------------- new_*, is_tensor, numel

def test_new_tensor_family():
    x = mg.zeros(2, dtype=mg.float64)
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == mg.float64 and not z.numpy().any()
    assert x.new_ones((4,)).tolist() == [1.0] * 4 and x.new_ones(1).dtype == mg.float64
    assert x.new_empty(3).shape == (3,)
    f = x.new_full((2, 2), 7)
    assert f.dtype == mg.float64 and f.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert x.new_full((1,), 1, dtype=mg.int64).dtype == mg.int64
    t = x.new_tensor([1, 2])
    assert t.dtype == mg.float64 and t.tolist() == [1.0, 2.0] and t.is_leaf
    src = mg.ones(2, requires_grad=True)
    c = x.new_tensor(src)
    assert not c.requires_grad and c.dtype == mg.float64
    assert x.new_zeros(2, requires_grad=True).requires_grad
    assert mg.is_tensor(x) and not mg.is_tensor(np.zeros(2)) and mg.numel(mg.ones(2, 3)) == 6
