"""Mixed-kind operands follow PyTorch's promotion: the result takes the dtype of the
operand of the higher kind (bool < integer < float), not NumPy's wider common type."""
import numpy as np
import pytest

import minigrad as mg

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("fdtype", ["float32", "float64"])
@pytest.mark.parametrize("other", ["int64", "int32", "bool"])
def test_float_with_integer_or_bool_keeps_the_float_dtype(name, fdtype, other):
    x = mg.tensor(np.array([1.5, 2.0, 3.0], dtype=fdtype))
    i = mg.tensor(np.array([1, 2, 3]).astype(other))
    assert OPS[name](x, i).dtype == np.dtype(fdtype)
    assert OPS[name](i, x).dtype == np.dtype(fdtype)


def test_gradient_flows_through_the_float_operand():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    p = mg.arange(3)
    (x ** p).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 6.0])


def test_same_kind_keeps_numpys_rule():
    a = mg.tensor(np.ones(2, np.float32))
    b = mg.tensor(np.ones(2, np.float64))
    assert (a + b).dtype == np.float64
    assert (mg.arange(3) + True).dtype == np.int64


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(OPS))
def test_dtypes_match_pytorch(name):
    torch = pytest.importorskip("torch")
    xs = np.array([1.5, 2.0, 3.0], np.float32)
    ps = np.array([1, 2, 3], np.int64)
    ours = OPS[name](mg.tensor(xs), mg.tensor(ps))
    theirs = OPS[name](torch.tensor(xs), torch.tensor(ps))
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
