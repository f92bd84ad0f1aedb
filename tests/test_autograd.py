"""The engine: backward order, accumulation, freeing, retain_graph, grad(), create_graph,
no_grad, errors."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function


def test_gradients_accumulate_across_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3 + 2, 3 + 4]


def test_shared_subexpression_gets_summed_gradient():
    x = mg.tensor(3.0, requires_grad=True)
    y = x * x
    z = y + y * x  # dz/dx = 2x + 3x^2
    z.backward()
    assert x.grad.item() == pytest.approx(2 * 3 + 3 * 9)


def test_deep_chain_does_not_hit_recursion_limit():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_graph_is_freed_after_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    ref = weakref.ref(h)
    y = (h * h).sum()  # Mul saves h
    del h
    gc.collect()
    assert ref() is not None  # still needed by y's graph
    y.backward()
    gc.collect()
    assert ref() is None


def test_second_backward_through_freed_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_backward_on_non_scalar_needs_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(gradient=mg.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(gradient=mg.tensor([1.0]))


def test_requires_grad_on_integer_tensor_refused():
    with pytest.raises(RuntimeError, match="floating-point"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating-point"):
        mg.arange(3).requires_grad_()


def test_inplace_modification_of_saved_tensor_refused():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    x = mg.tensor([3.0, 4.0])
    y = (w * x).sum()  # Mul saves x
    x[0] = 10.0
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y.backward()
    # modifying a view of the saved tensor is seen too
    x2 = mg.tensor([[3.0, 4.0]])
    y2 = (w * x2).sum()
    x2.reshape(2)[1] = 0.0
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y2.backward()


def test_inplace_on_leaf_requiring_grad_refused_unless_no_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="only supported on tensors that do not require grad"):
        w[0] = 5.0
    with mg.no_grad():
        w.add_(1.0)
    assert w.tolist() == [2.0, 3.0]


def test_no_grad_and_enable_grad():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mg.is_grad_enabled()


def test_grad_function_does_not_touch_dot_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([3.0], requires_grad=True)
    out = (x * x).sum() * y
    gx, gy = mg.grad(out, (x, y))
    assert gx.tolist() == [6.0, 12.0] and gy.tolist() == [5.0]
    assert x.grad is None and y.grad is None


def test_grad_of_intermediate_and_unused():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = (h * h).sum()
    (gh,) = mg.grad(out, h, retain_graph=True)
    assert gh.tolist() == [6.0, 12.0]
    u = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        mg.grad(out, [x, u], retain_graph=True)
    gx, gu = mg.grad(out, [x, u], allow_unused=True)
    assert gu is None and gx.tolist() == [18.0, 36.0]


def test_second_derivative_and_hvp():
    x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = (x ** 3).sum()
    (g,) = mg.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    v = mg.tensor([1.0, 0.0, 2.0], dtype=mg.float64)
    (hv,) = mg.grad((g * v).sum(), x)  # Hessian-vector product: 6 x * v
    np.testing.assert_allclose(hv.numpy(), 6 * x.numpy() * v.numpy())


def test_gradient_penalty_trains_through_grad_norm():
    w = mg.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=mg.float64, requires_grad=True)
    x = mg.tensor([[0.3, 0.7]], dtype=mg.float64, requires_grad=True)
    out = (x @ w).tanh().sum()
    (gx,) = mg.grad(out, x, create_graph=True)
    penalty = ((gx.norm() - 1) ** 2)
    penalty.backward()
    assert w.grad is not None and np.all(np.isfinite(w.grad.numpy()))
    # compare with finite differences of the penalty in w
    mg.gradcheck(lambda w: ((mg.grad((x @ w).tanh().sum(), x, create_graph=True)[0].norm() - 1) ** 2), (w,))


def test_backward_create_graph_on_tensor():
    x = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    y = x ** 4
    y.backward(create_graph=True)
    g = x.grad  # 4 x^3 = 32, with a graph
    assert g.item() == 32.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(12 * 4)  # 12 x^2


def test_wrong_backward_is_caught_by_gradcheck():
    class BadSquare(Function):
        """y = x**2 with a deliberately wrong derivative (x instead of 2x)."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return gy * x

    x = mg.tensor([0.5, 1.5, -2.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"input 0 .* at index \(\d,\): analytical .* vs numerical"):
        mg.gradcheck(BadSquare.apply, (x,))
    assert mg.gradcheck(BadSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        mg.gradcheck(lambda t: t * 2, (mg.tensor([1.0], requires_grad=True),))


def test_retain_grad_and_grad_fn_names():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 2).retain_grad()
    y = (h ** 2).sum()
    assert y.grad_fn.name() == "SumBackward"
    assert h.grad_fn.name() == "MulBackward"
    assert "SumBackward" in repr(y)
    y.backward()
    assert h.grad.tolist() == [4.0, 8.0]
    assert x.is_leaf and not h.is_leaf


def test_double_backward_through_kernel_backward_is_refused():
    class ArrayBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, gy):
            return gy.array * 2  # a raw array, as kernel-backed ops return

    x = mg.tensor([1.0], requires_grad=True)
    ArrayBackward.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0]
    with pytest.raises(RuntimeError, match="double backward"):
        mg.grad(ArrayBackward.apply(x).sum(), x, create_graph=True)


def test_broadcast_gradients_reduced_to_input_shapes():
    a = mg.ones(3, 1, dtype=mg.float64, requires_grad=True)
    b = mg.ones(4, dtype=mg.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.tolist() == [[4.0]] * 3
    assert b.grad.shape == (4,) and b.grad.tolist() == [3.0] * 4


def test_detach_cuts_the_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None
    z = (x * y).sum()
    z.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_leaf_grads_are_private_writable_arrays():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # both gradients come from one array
    assert a.grad.array is not b.grad.array
    a.grad.array *= 10  # in place, as optimizers do
    assert b.grad.tolist() == [1.0, 1.0]
    x = mg.ones(3, 2, requires_grad=True)
    x.sum().backward()  # the gradient is a broadcast view before it is stored
    assert x.grad.array.flags.writeable and x.grad.array.flags.c_contiguous
    x.grad.array[0, 0] = 5
    assert x.grad.tolist() == [[5, 1], [1, 1], [1, 1]]


def test_grad_never_shares_memory_with_the_gradient_passed_to_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seed = mg.ones(2)
    (x + 0).backward(seed)
    x.grad.mul_(3)               # optimizers and clipping update .grad in place
    assert seed.tolist() == [1.0, 1.0] and x.grad.tolist() == [3.0, 3.0]


def test_next_functions_are_pairs_like_pytorch():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (x * x + x).sum()
    add, k = z.grad_fn.next_functions[0]
    assert k == 0 and add.name() == "AddBackward"
    (mul, _), (leaf, _) = add.next_functions
    assert mul.name() == "MulBackward" and leaf is x
    assert mul.next_functions == ((x, 0), (x, 0))
