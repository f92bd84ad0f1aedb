"""Tensor construction, dtypes, conversion, printing, creation functions, errors; in-place
operators and methods (section below)."""
import operator

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
from minigrad import nn


def test_dtype_rules():
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor(3.5).dtype == mg.float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.tensor([True, False]).dtype == mg.bool
    assert mg.tensor(np.zeros(2, np.float64)).dtype == mg.float64
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == mg.float64
    assert (mg.tensor([1.0]) * 2.0).dtype == mg.float32
    assert (mg.tensor([1.0], dtype=mg.float64) * 2).dtype == mg.float64


def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3, np.float32)
    t = mg.tensor(a)
    a[0] = 5
    assert t.tolist() == [1, 1, 1]
    s = mg.from_numpy(a)
    a[1] = 7
    assert s.tolist() == [5, 7, 1]


def test_properties_and_conversions():
    t = mg.arange(6).reshape(2, 3)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numel() == 6 and t.dim() == 2 and t.device == "cpu" and t.is_leaf
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.asarray(t).dtype == np.int64
    assert mg.tensor([2.5]).item() == 2.5 and float(mg.tensor(1.5)) == 1.5
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    assert t.float().dtype == mg.float32 and t.double().dtype == mg.float64 and t.float().long().dtype == mg.int64
    assert len(t) == 2 and [r.tolist() for r in t] == [[0, 1, 2], [3, 4, 5]]


def test_repr_like_pytorch():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([[1.5, 2.25]], requires_grad=True)) == "tensor([[1.5000, 2.2500]], requires_grad=True)"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mg.tensor(3.0, dtype=mg.float64)) == "tensor(3., dtype=minigrad.float64)"
    x = mg.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"


def test_creation_functions():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.zeros((2, 3)).dtype == mg.float32
    assert mg.ones(2).tolist() == [1, 1]
    assert mg.full((2,), 7).tolist() == [7, 7] and mg.full((2,), 7).dtype == mg.int64
    assert mg.full((1,), 0.5).dtype == mg.float32
    assert mg.arange(3).tolist() == [0, 1, 2] and mg.arange(0, 1, 0.5).dtype == mg.float32
    assert mg.linspace(0, 1, 3).tolist() == [0, 0.5, 1]
    assert mg.eye(2).tolist() == [[1, 0], [0, 1]]
    assert mg.empty(2, 2).shape == (2, 2)
    x = mg.randn(3, 4, requires_grad=True)
    assert x.requires_grad and mg.zeros_like(x).shape == (3, 4) and not mg.zeros_like(x).requires_grad
    assert mg.ones_like(x).dtype == mg.float32 and mg.full_like(x, 2.0).tolist()[0][0] == 2.0
    assert mg.rand_like(x).shape == x.shape and mg.randn_like(x).shape == x.shape
    r = mg.randint(0, 5, (100,))
    assert r.dtype == mg.int64 and 0 <= r.numpy().min() and r.numpy().max() < 5
    assert mg.randint_like(r, 3).numpy().max() < 3
    u = mg.rand(1000)
    assert 0 <= u.numpy().min() and u.numpy().max() < 1


def test_manual_seed_reproducible():
    mg.manual_seed(7)
    a = mg.randn(5).tolist()
    b = mg.rand(3).tolist()
    mg.manual_seed(7)
    assert mg.randn(5).tolist() == a and mg.rand(3).tolist() == b
    assert mg.randn(5).tolist() != a


def test_inplace_helpers_and_versions():
    t = mg.zeros(3)
    v = t._version[0]
    t.fill_(2.0).add_(1.0).mul_(2.0)
    assert t.tolist() == [6, 6, 6] and t._version[0] == v + 3
    t.zero_()
    assert t.tolist() == [0, 0, 0]
    t.copy_(mg.tensor([1.0, 2.0, 3.0]))
    assert t.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="cannot be broadcast"):
        t.copy_(mg.tensor([1.0, 2.0]))


def test_shape_errors_name_the_op_and_shapes():
    a, b = mg.ones(2, 3), mg.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        a @ b
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(4, 5\)"):
        mg.cat([a, b])
    with pytest.raises(ValueError, match=r"reshape: shape \(4,\) is invalid for input of shape \(2, 3\)"):
        a.reshape(4)
    with pytest.raises(IndexError, match="sum: dim 5 is out of range"):
        a.sum(dim=5)


def test_device_errors_without_cuda():
    from minigrad.backend import cupy_available

    if cupy_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"minigrad\[cuda12\]|no CUDA GPU"):
        mg.ones(2).to("cuda")
    with pytest.raises(ValueError, match="unknown device type"):
        mg.device("tpu")


def test_tensor_hashable_and_bool():
    t = mg.tensor([1.0])
    assert {t: 1}[t] == 1
    assert bool(mg.tensor(True))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))


def test_numpy_array_on_left_dispatches_to_tensor():
    out = np.ones(2, np.float32) * mg.tensor([2.0, 3.0], requires_grad=True)
    assert isinstance(out, mg.Tensor) and out.requires_grad


# ---------------------------------------------------------------------- .array and .data

def test_array_is_the_raw_array_and_data_a_detached_tensor_sharing_it():
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert isinstance(w.array, np.ndarray)
    d = w.data
    assert isinstance(d, mg.Tensor) and d.array is w.array
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    y = (w * 2).data
    assert y.grad_fn is None and not y.requires_grad and y.tolist() == [2, 4, 6]


def test_inplace_change_through_data_is_not_recorded_but_bumps_the_version():
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v0 = w._version[0]
    w.data.add_(mg.tensor([1.0, 1.0, 1.0]))  # allowed with grad mode on: .data is outside the graph
    assert w.tolist() == [2, 3, 4] and w._version[0] == v0 + 1
    assert w.is_leaf and w.requires_grad and w.grad is None
    z = (w * w).sum()  # Mul saves w
    w.data.mul_(0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


def test_assigning_data_replaces_the_storage():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    src = mg.tensor([[5.0, 6.0, 7.0]], dtype=mg.float64)
    w.data = src  # shape and dtype may change, as in PyTorch
    assert w.shape == (1, 3) and w.dtype == mg.float64 and w.array is src.array
    assert w.requires_grad and w.is_leaf
    (w * 2).sum().backward()
    assert w.grad.tolist() == [[2, 2, 2]]
    w.data = np.zeros(2)
    assert w.tolist() == [0, 0]
    with pytest.raises(TypeError, match=r"data: expected a Tensor or an array.*list"):
        w.data = [1.0, 2.0]
    with pytest.raises(RuntimeError, match="data: a tensor that requires grad must hold floating-point"):
        w.data = mg.tensor([1, 2])


def test_data_assignment_after_forward_is_caught_by_backward():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    z = (w * w).sum()
    w.data = np.array([3.0, 4.0], np.float32)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


# ==============================================================================
# In-place operators and methods
#
# In-place operators on Tensor (``+=``, ``-=``, ``*=``, ``/=``) and the in-place
# methods and initialisers (``add_ sub_ mul_ div_ fill_ zero_ copy_ clamp_ normal_
# uniform_ bernoulli_ exponential_``), alone and through ``.data``.
#
# On a leaf they write into the tensor itself through ``add_`` / ``sub_`` / ``mul_`` /
# ``div_``, so the PyTorch idiom ``with no_grad(): w -= lr * w.grad`` updates the
# parameter and keeps it a leaf that requires grad. Outside no_grad a leaf that
# requires grad refuses (as in PyTorch), every write bumps the version counter (so a
# graph that saved the old value refuses to backward), and on a tensor inside a graph
# the operator computes out of place so that no gradient is lost.
# ==============================================================================

OPS = {  # operator, in-place method name, NumPy in-place ufunc
    "+=": (operator.iadd, "add_", np.add),
    "-=": (operator.isub, "sub_", np.subtract),
    "*=": (operator.imul, "mul_", np.multiply),
    "/=": (operator.itruediv, "div_", np.divide),
}


def test_readme_linear_regression_idiom_trains_the_leaves_in_place():
    mg.manual_seed(0)
    x = mg.randn(64, 3)
    y = x @ mg.tensor([[2.0], [-1.0], [0.5]]) + 1.0
    w = mg.zeros(3, 1, requires_grad=True)
    b = mg.zeros(1, requires_grad=True)
    w_id, b_id, w_data = id(w), id(b), w.array
    first = None
    for _ in range(200):
        loss = ((x @ w + b - y) ** 2).mean()
        if first is None:
            first = loss.item()
        loss.backward()
        with mg.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad = b.grad = None
    # the same objects, the same memory, still leaves that require grad
    assert id(w) == w_id and id(b) == b_id and w.array is w_data
    assert w.is_leaf and b.is_leaf and w.requires_grad and b.requires_grad
    assert first > 1.0 and loss.item() < 1e-6
    np.testing.assert_allclose(w.numpy().ravel(), [2.0, -1.0, 0.5], atol=1e-3)
    np.testing.assert_allclose(b.numpy(), [1.0], atol=1e-3)


def test_parameter_update_keeps_the_parameter_registered():
    layer = nn.Linear(2, 1)
    weight = layer.weight
    before = weight.numpy().copy()
    layer(mg.ones(4, 2)).sum().backward()
    with mg.no_grad():
        for p in layer.parameters():
            p -= 0.5 * p.grad
    assert layer.weight is weight and isinstance(layer.weight, nn.Parameter)
    assert any(p is weight for p in layer.parameters())
    np.testing.assert_allclose(weight.numpy(), before - 0.5 * 4.0, rtol=1e-6)


@pytest.mark.parametrize("sym", list(OPS))
def test_each_operator_writes_in_place_and_returns_self(sym):
    op, _, ufunc = OPS[sym]
    t = mg.tensor([[1.0, 2.0, 4.0], [8.0, -2.0, 0.5]], requires_grad=True)
    expected = ufunc(t.numpy(), np.array([2.0, 4.0, -1.0], np.float32))
    alias, data, v0 = t, t.array, t._version[0]
    with mg.no_grad():
        t = op(t, mg.tensor([2.0, 4.0, -1.0]))  # broadcast (3,) into (2, 3)
    assert t is alias and t.array is data
    assert t._version[0] == v0 + 1
    assert t.requires_grad and t.is_leaf and t.dtype == mg.float32
    np.testing.assert_allclose(t.numpy(), expected)


@pytest.mark.parametrize("sym", list(OPS))
def test_each_operator_accepts_python_numbers_on_plain_tensors(sym):
    op, _, ufunc = OPS[sym]
    t = mg.tensor([1.0, 3.0])
    alias = t
    t = op(t, 2)  # grad mode on is fine: t does not require grad
    assert t is alias and t.dtype == mg.float32
    np.testing.assert_allclose(t.numpy(), ufunc(np.array([1.0, 3.0]), 2))


@pytest.mark.parametrize("sym", list(OPS))
def test_leaf_that_requires_grad_refuses_outside_no_grad(sym):
    op, name, _ = OPS[sym]
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{name}.*leaf tensor that requires grad.*no_grad"):
        op(t, 1.0)
    assert t.tolist() == [1.0, 2.0] and t._version[0] == 0
    with pytest.raises(RuntimeError, match=name):
        getattr(t, name)(1.0)  # the method names itself too (sub_ is not reported as add_)


def test_leaf_refusal_matches_torch():
    torch = pytest.importorskip("torch")
    tt = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        tt -= 1.0
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        t -= 1.0


def test_version_bump_makes_backward_refuse_a_saved_input():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    x = mg.tensor([3.0, 4.0])
    y = (w * x).sum()  # Mul saved x
    x *= 2.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_version_bump_makes_backward_refuse_a_saved_leaf_updated_under_no_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()  # Mul saved w
    with mg.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
    # without the in-place update the same graph is fine
    w2 = mg.tensor([1.0, 2.0], requires_grad=True)
    (w2 * w2).sum().backward()
    assert w2.grad.tolist() == [2.0, 4.0]


def test_saved_tensor_refusal_matches_torch():
    torch = pytest.importorskip("torch")
    tw, tx = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    ty = (tw * tx).sum()
    tx *= 2.0
    with pytest.raises(RuntimeError):
        ty.backward()
    w, x = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0, 4.0])
    y = (w * x).sum()
    x *= 2.0
    with pytest.raises(RuntimeError):
        y.backward()


def test_non_leaf_under_no_grad_is_written_in_place_and_guarded():
    w = mg.tensor([0.0, 1.0], requires_grad=True)
    h = w.exp()  # Exp saved its output h
    alias = h
    with mg.no_grad():
        h += 1.0
    assert h is alias and h.grad_fn is not None
    np.testing.assert_allclose(h.numpy(), np.exp([0.0, 1.0]) + 1.0, rtol=1e-6)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        h.sum().backward()


def test_graph_tensor_in_grad_mode_keeps_its_gradient():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0
    alias = h
    h += w       # h = 3 w + w
    h *= w       # h = 4 w**2
    assert h is not alias and alias.tolist() == [3.0, 6.0]  # computed out of place
    h.sum().backward()
    assert w.grad.tolist() == [8.0, 16.0]


def test_graph_tensor_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    tw = torch.tensor([0.5, -1.5, 2.0], requires_grad=True)
    th = tw * 3.0  # (not tanh: torch's in-place write would clobber its saved output)
    th += tw
    th *= tw
    th /= 2.0
    th -= tw
    th.sum().backward()
    w = mg.tensor([0.5, -1.5, 2.0], requires_grad=True)
    h = w * 3.0
    h += w
    h *= w
    h /= 2.0
    h -= w
    h.sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)


def test_plain_tensor_plus_a_tensor_that_requires_grad_keeps_the_gradient():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    acc = mg.zeros(2)
    acc += w * 2.0
    assert acc.requires_grad
    acc.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]


def test_loss_accumulation_idiom():
    w = mg.tensor([1.0, -1.0], requires_grad=True)
    loss = 0
    for k in range(3):
        loss += (w * (k + 1)).sum() ** 2 / 10  # int + Tensor, then Tensor += Tensor
    loss.backward()
    # d/dw of sum_k (k+1)^2 (w0 + w1)^2 / 10 = 2 * 14 * (w0 + w1) / 10 = 0 here
    assert w.grad.tolist() == [0.0, 0.0]
    w2 = mg.tensor([1.0, 2.0], requires_grad=True)
    total = 0
    for k in range(3):
        total += (w2 * (k + 1)).sum()
    total.backward()
    assert w2.grad.tolist() == [6.0, 6.0]


def test_in_place_errors_name_the_op_and_leave_the_tensor_unchanged():
    i = mg.tensor([1, 2])
    with pytest.raises(TypeError, match=r"div_ \(/=\).*int64"):
        i /= 2
    assert i.tolist() == [1, 2] and i.dtype == mg.int64
    t = mg.zeros(2)
    with pytest.raises(ValueError, match=r"add_ \(\+=\).*shape \(2,\).*\(2, 3\)"):
        t += mg.ones(2, 3)
    assert t.tolist() == [0.0, 0.0] and t._version[0] == 0


@settings(max_examples=25)
@given(st.sampled_from(list(OPS)),
       st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.integers(0, 3),
       st.integers(0, 2 ** 31 - 1))
def test_operators_match_numpy_in_place(sym, shape, drop, seed):
    op, _, ufunc = OPS[sym]
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2.0, 2.0, size=shape).astype(np.float64)
    other_shape = tuple(shape[min(drop, len(shape)):])  # a trailing part: broadcasts
    b = rng.uniform(0.5, 2.0, size=other_shape) * rng.choice([-1.0, 1.0], size=other_shape)
    t = mg.tensor(a, requires_grad=True)
    alias = t
    with mg.no_grad():
        t = op(t, mg.tensor(b))
    expected = a.copy()
    ufunc(expected, b, out=expected)
    assert t is alias and t._version[0] == 1
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------------- in-place methods

METHODS = {  # name -> call on a float tensor of shape (2, 3)
    "add_": lambda t: t.add_(mg.ones(3), alpha=2),
    "sub_": lambda t: t.sub_(1.0, alpha=0.5),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(4.0),
    "fill_": lambda t: t.fill_(0.01),
    "zero_": lambda t: t.zero_(),
    "copy_": lambda t: t.copy_(mg.ones(2, 3)),
    "clamp_": lambda t: t.clamp_(-0.5, 0.5),
    "normal_": lambda t: t.normal_(0, 0.02),
    "uniform_": lambda t: t.uniform_(-1, 1),
    "bernoulli_": lambda t: t.bernoulli_(0.5),
    "exponential_": lambda t: t.exponential_(2.0),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_refuses_a_leaf_that_requires_grad_like_torch(name):
    t = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{name}: a leaf Variable that requires grad is being used "
                                           r"in an in-place operation"):
        METHODS[name](t)
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]] and t._version[0] == 0


@pytest.mark.oracle
@pytest.mark.parametrize("name", list(METHODS))
def test_torch_refuses_the_same_calls_with_the_same_words(name):
    torch = pytest.importorskip("torch")
    t = torch.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        METHODS[name](t) if name not in ("add_", "copy_") else getattr(t, name)(torch.ones(2, 3))


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_works_under_no_grad_and_through_data_and_bumps_the_version(name):
    t = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with mg.no_grad():
        assert METHODS[name](t) is t
    assert t._version[0] == 1 and t.is_leaf and t.requires_grad and t.dtype == mg.float64
    d = t.data
    assert METHODS[name](d) is d  # grad mode on: .data is outside the graph
    assert t._version[0] == 2 and d.array is t.array and t.grad is None


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_makes_a_graph_that_saved_the_tensor_refuse_to_backward(name):
    w = mg.tensor(np.linspace(0.1, 0.6, 6).reshape(2, 3), requires_grad=True)
    z = (w * w).sum()  # Mul saved w
    METHODS[name](w.data)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


def test_method_values():
    t = mg.tensor([[1.0, 2.0, 3.0]])
    assert t.add_(mg.tensor([1.0, 1.0, 1.0]), alpha=-2).tolist() == [[-1, 0, 1]]
    assert t.sub_(mg.tensor([1.0, 2.0, 3.0]), alpha=0.5).tolist() == [[-1.5, -1, -0.5]]
    assert t.clamp_(min=-1).tolist() == [[-1, -1, -0.5]]
    assert t.clamp_(max=mg.tensor([0.0, -2.0, 0.0])).tolist() == [[-1, -2, -0.5]]
    i = mg.tensor([7, -7, 6])
    assert i.clone().div_(2, rounding_mode="trunc").tolist() == [3, -3, 3]
    assert i.clone().div_(2, rounding_mode="floor").tolist() == [3, -4, 3]
    assert mg.tensor([1.0, 3.0]).div_(mg.tensor([2.0, 4.0]), rounding_mode="floor").tolist() == [0, 0]
    assert mg.zeros(2).fill_(mg.tensor(3.5)).tolist() == [3.5, 3.5]
    assert mg.zeros(3, dtype=mg.int64).bernoulli_(mg.tensor([0.0, 1.0, 1.0])).tolist() == [0, 1, 1]


def test_random_initialisers_follow_their_distribution_and_the_seed():
    n = 20000
    w = mg.empty(n, dtype=mg.float64)
    assert abs(float(w.normal_(3.0, 0.02).mean()) - 3.0) < 1e-3 and abs(float(w.std()) - 0.02) < 1e-3
    w.uniform_(-2.0, 1.0)
    assert float(w.min()) >= -2.0 and float(w.max()) < 1.0 and abs(float(w.mean()) + 0.5) < 0.03
    w.exponential_(4.0)
    assert float(w.min()) >= 0.0 and abs(float(w.mean()) - 0.25) < 0.01 and abs(float(w.std()) - 0.25) < 0.01
    w.bernoulli_(0.3)
    assert set(np.unique(w.numpy())) <= {0.0, 1.0} and abs(float(w.mean()) - 0.3) < 0.02
    for name in ("normal_", "uniform_", "bernoulli_", "exponential_"):
        mg.manual_seed(7)
        a = getattr(mg.empty(5), name)().tolist()
        mg.manual_seed(7)
        assert getattr(mg.empty(5), name)().tolist() == a, name
        g = mg.Generator().manual_seed(1)
        b = getattr(mg.empty(5), name)(generator=g).tolist()
        g.manual_seed(1)
        assert getattr(mg.empty(5), name)(generator=g).tolist() == b, name


def test_in_place_method_errors_name_the_op():
    t = mg.zeros(3)
    with pytest.raises(RuntimeError, match="normal_: expects std >= 0.0"):
        t.normal_(0.0, -1.0)
    with pytest.raises(RuntimeError, match="uniform_: .*from=2 > to=1"):
        t.uniform_(2, 1)
    with pytest.raises(RuntimeError, match="exponential_: expects lambd > 0.0"):
        t.exponential_(0.0)
    with pytest.raises(RuntimeError, match=r"bernoulli_: expects every probability p in \[0, 1\]"):
        t.bernoulli_(1.5)
    with pytest.raises(ValueError, match=r"bernoulli_: probabilities of shape \(2,\)"):
        t.bernoulli_(mg.tensor([0.5, 0.5]))
    with pytest.raises(TypeError, match="normal_: only floating-point tensors.*int64"):
        mg.zeros(3, dtype=mg.int64).normal_()
    with pytest.raises(RuntimeError, match="clamp_: at least one of 'min' or 'max'"):
        t.clamp_()
    with pytest.raises(ValueError, match="div_: rounding_mode must be"):
        t.div_(2.0, rounding_mode="round")
    with pytest.raises(RuntimeError, match=r"fill_: the value must be a number or a one-element tensor.*\(2,\)"):
        t.fill_(mg.ones(2))
    assert t.tolist() == [0, 0, 0] and t._version[0] == 0


# ---------------------------------------------------------------------- tutorial idioms vs PyTorch

def _linear_pair(torch):
    """The same nn.Linear(3, 2) in minigrad and in PyTorch."""
    mg.manual_seed(0)
    m = nn.Linear(3, 2)
    t = torch.nn.Linear(3, 2)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(m.weight.numpy().copy()))
        t.bias.copy_(torch.from_numpy(m.bias.numpy().copy()))
    return m, t


@pytest.mark.oracle
def test_sgd_through_data_matches_torch():
    torch = pytest.importorskip("torch")
    m, t = _linear_pair(torch)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    lr = 0.1
    for _ in range(3):
        (m(mg.tensor(x)) ** 2).mean().backward()
        (t(torch.from_numpy(x)) ** 2).mean().backward()
        for p, q in zip(m.parameters(), t.parameters()):
            p.data.add_(-lr * p.grad)
            q.data.add_(-lr * q.grad)
            p.grad = None
            q.grad = None
    for p, q in zip(m.parameters(), t.parameters()):
        assert p.is_leaf and p.requires_grad
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.oracle
def test_add_with_alpha_under_no_grad_matches_torch():
    torch = pytest.importorskip("torch")
    m, t = _linear_pair(torch)
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    m(mg.tensor(x)).sum().backward()
    t(torch.from_numpy(x)).sum().backward()
    with mg.no_grad():
        for p in m.parameters():
            p.add_(p.grad, alpha=-0.05)
    with torch.no_grad():
        for q in t.parameters():
            q.add_(q.grad, alpha=-0.05)
    for p, q in zip(m.parameters(), t.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.oracle
def test_initialising_through_data_matches_torch():
    torch = pytest.importorskip("torch")
    m, t = _linear_pair(torch)
    m.bias.data.fill_(0.01)
    t.bias.data.fill_(0.01)
    np.testing.assert_array_equal(m.bias.numpy(), t.bias.detach().numpy())
    src, tsrc = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    tsrc.weight.data.copy_(torch.from_numpy(src.weight.numpy().copy()))
    m.weight.data.copy_(src.weight.data)
    t.weight.data.copy_(tsrc.weight.data)
    np.testing.assert_array_equal(m.weight.numpy(), t.weight.detach().numpy())
    assert m.weight.array is not src.weight.array  # copied, not shared
    m.weight.data.normal_(0, 0.02)
    t.weight.data.normal_(0, 0.02)
    for p, q in ((m.weight, t.weight), (m.bias, t.bias)):
        assert p.requires_grad == q.requires_grad and p.is_leaf == q.is_leaf
        assert p.data.requires_grad == q.data.requires_grad == False  # noqa: E712
        assert p.shape == tuple(q.shape)
    assert 0 < float(m.weight.std()) < 0.1
