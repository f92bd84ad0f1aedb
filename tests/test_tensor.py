"""Tensor construction, dtypes, conversion, printing, creation functions, errors."""
import numpy as np
import pytest

import minigrad as mg


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
