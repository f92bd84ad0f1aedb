"""minigrad.ops.shape: gradcheck (float64, hypothesis-drawn) of the shape ops, pad against NumPy,
roll against PyTorch, and the errors bad input gets."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from strategies import arrays, shapes, tensor
from _ops_helpers import check_raises_naming, check_unary_against_torch, _x


@given(data=st.data())
def test_reshape_family(data):
    shape = data.draw(shapes(min_dims=1))
    x = tensor(data.draw(arrays(shape)))
    n = int(np.prod(shape))
    mg.gradcheck(lambda t: t.reshape(-1) * 2, (x,))
    mg.gradcheck(lambda t: t.reshape(n, 1).view(1, n), (x,))
    mg.gradcheck(lambda t: t.flatten(), (x,))
    mg.gradcheck(lambda t: t.unsqueeze(0).unsqueeze(-1).squeeze(), (x,))
    if len(shape) >= 2:
        mg.gradcheck(lambda t: t.flatten(0, 1).unflatten(0, shape[:2]), (x,))
        mg.gradcheck(lambda t: t.transpose(0, -1) * mg.arange(shape[0], dtype=mg.float64), (x,))
        mg.gradcheck(lambda t: t.T.mT, (x,))
        mg.gradcheck(lambda t: t.swapaxes(0, 1), (x,))
    perm = data.draw(st.permutations(range(len(shape))))
    mg.gradcheck(lambda t: t.permute(*perm), (x,))


@given(data=st.data())
def test_expand_and_broadcast_to(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    target = data.draw(st.sampled_from([(2,) + tuple(s if s != 1 else 3 for s in shape), tuple(shape)]))
    mg.gradcheck(lambda t: t.expand(*target), (x,))
    mg.gradcheck(lambda t: mg.broadcast_to(t, (2,) + tuple(shape)) * 1.5, (x,))


@given(data=st.data())
def test_cat_stack_split_chunk(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = tensor(data.draw(arrays(shape)))
    other_shape = list(shape)
    other_shape[dim] = data.draw(st.integers(0, 3))
    b = tensor(data.draw(arrays(tuple(other_shape))))
    mg.gradcheck(lambda a, b: mg.cat([a, b, a], dim=dim), (a, b))
    mg.gradcheck(lambda a: mg.stack([a, a * 2], dim=dim), (a,))
    size = data.draw(st.integers(1, 3))
    mg.gradcheck(lambda a: mg.cat([p * (i + 1) for i, p in enumerate(a.split(size, dim))], dim), (a,))
    mg.gradcheck(lambda a: mg.cat([p * (i + 1) for i, p in enumerate(a.chunk(2, dim))], dim), (a,))


@given(data=st.data())
def test_flip_repeat_tile_pad(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    mg.gradcheck(lambda t: t.flip(0) * mg.arange(1, shape[-1] + 1, dtype=mg.float64), (x,))
    reps = tuple(data.draw(st.integers(1, 3)) for _ in range(len(shape) + 1))
    mg.gradcheck(lambda t: t.repeat(*reps), (x,))
    mg.gradcheck(lambda t: t.tile((2,)), (x,))
    pads = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * min(len(shape), 2)))
    mg.gradcheck(lambda t: mg.pad(t, pads, value=1.5), (x,))
    mode = data.draw(st.sampled_from(["reflect", "replicate", "circular"]))
    small = tuple(min(p, s - 1) for p, s in zip(pads, [d for d in reversed(shape) for _ in (0, 1)]))
    if mode != "reflect" or all(p < s for p, s in zip(small, [d for d in reversed(shape) for _ in (0, 1)])):
        mg.gradcheck(lambda t: mg.pad(t, small, mode=mode), (x,))


def test_pad_matches_numpy_modes():
    x = np.arange(12.0).reshape(3, 4)
    t = mg.tensor(x)
    np.testing.assert_array_equal(mg.pad(t, (1, 2, 2, 1), mode="reflect").numpy(),
                                  np.pad(x, ((2, 1), (1, 2)), mode="reflect"))
    np.testing.assert_array_equal(mg.pad(t, (1, 2), mode="replicate").numpy(),
                                  np.pad(x, ((0, 0), (1, 2)), mode="edge"))
    np.testing.assert_array_equal(mg.pad(t, (3, 1), mode="circular").numpy(),
                                  np.pad(x, ((0, 0), (3, 1)), mode="wrap"))
    np.testing.assert_array_equal(mg.pad(t, (-1, 1)).numpy(), np.pad(x[:, 1:], ((0, 0), (0, 1))))


# ----------------------------------------------------------------------------- oracle

@pytest.mark.oracle
@pytest.mark.parametrize("name,shape,args", [
    ("roll", (3, 4), (2, 1)), ("roll", (3, 4), (-5,)), ("roll", (2, 3, 4), ((1, -2), (0, 2))),
])
def test_oracle_unary(name, shape, args):
    check_unary_against_torch(name, shape, args)


@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.roll(mg.ones(2, 3), (1, 2), 0), ValueError, "roll: shifts and dims must align"),
    (lambda: mg.roll(mg.ones(2, 3), 1, 2), IndexError, "roll: dim 2"),
    (lambda: mg.ones(3).repeat_interleave(mg.tensor([1, 2])), ValueError, "repeat_interleave: repeats must be"),
    (lambda: mg.ones(3).repeat_interleave(-1), ValueError, "non-negative"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.

def test_unflatten_with_minus_one():
    x = mg.tensor(np.ones((2, 0), np.float32))
    assert x.unflatten(1, (-1, 3)).shape == (2, 0, 3)
    with pytest.raises(ValueError, match="unflatten"):
        x.unflatten(1, (0, -1))


# ----------------------------------------------------------------------------- errors name the op

ERRORS = [
    ("flip", lambda: _x().flip((0, 0)), ValueError),
    ("repeat", lambda: _x().repeat(-1, 2), ValueError),
    ("split", lambda: mg.ones(3).split([4, -1]), ValueError),
    ("pad", lambda: F.pad(mg.ones(2, 3), (1.5, 1)), TypeError),
    ("pad", lambda: F.pad(mg.ones(2, 3), (-2, -2)), ValueError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)
