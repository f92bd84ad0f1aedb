"""The engine: backward order, accumulation, freeing, retain_graph, grad(), create_graph,
no_grad, errors; hooks, version counters, grad mode per thread (sections below)."""
import gc
import threading
import time
import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
from minigrad.autograd import Function
from minigrad import nn


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


# ==============================================================================
# Hooks on tensors and graph nodes
#
# Tensor hooks: ``register_hook`` (see or replace a gradient as backward computes it)
# and ``register_post_accumulate_grad_hook`` (run on a leaf once its ``.grad`` is
# updated), each returning a handle whose ``remove()`` unregisters it.
# ==============================================================================

def test_leaf_hook_sees_the_whole_gradient_once_and_can_replace_it():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h1 = x.register_hook(lambda g: seen.append(g.tolist()))            # None: keep it
    x.register_hook(lambda g: g * 10)                                   # replace it
    x.register_hook(lambda g: seen.append(g.tolist()))                  # sees the replacement
    (x * x + x).sum().backward()                                        # x reaches the loss three times
    assert seen == [[3.0, 5.0], [30.0, 50.0]]
    assert x.grad.tolist() == [30.0, 50.0]
    h1.remove()
    h1.remove()  # twice is harmless
    seen.clear()
    (x * 1.0).sum().backward()
    assert seen == [[10.0, 10.0]] and x.grad.tolist() == [40.0, 60.0]   # accumulated


def test_a_hook_on_a_computed_tensor_changes_what_flows_on():
    w = mg.tensor([1.0, -1.0], requires_grad=True)
    h = w * 3.0
    h.retain_grad()
    h.register_hook(lambda g: g * 2)
    (h * h).sum().backward()
    assert h.grad.tolist() == [12.0, -12.0]         # retain_grad sees the hooked gradient
    assert w.grad.tolist() == [36.0, -36.0]


def test_hooks_apply_to_grad_too_and_handles_remove_them():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    (gx,) = mg.grad((x * x).sum(), x)
    assert gx.tolist() == [20.0, 40.0] and x.grad is None
    handle.remove()
    (gx,) = mg.grad((x * x).sum(), x)
    assert gx.tolist() == [2.0, 4.0]
    y = x * 2.0
    y.register_hook(lambda g: g + 1)
    (gy,) = mg.grad(y.sum(), y)
    assert gy.tolist() == [2.0, 2.0]


def test_hook_errors():
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor that doesn't "
                                           "require gradient"):
        mg.ones(2).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="hook: expected a callable, got int"):
        mg.ones(2, requires_grad=True).register_hook(3)
    x = mg.ones(2, requires_grad=True)
    x.register_hook(lambda g: mg.ones(3))
    with pytest.raises(RuntimeError, match=r"register_hook: a hook on a leaf tensor of shape \(2,\) changed the "
                                           r"gradient's shape from \(2,\) to \(3,\)"):
        (x * 2).sum().backward()
    y = mg.ones(2, requires_grad=True) * 2
    y.register_hook(lambda g: g.numpy())
    with pytest.raises(TypeError, match="register_hook: a hook on the output of MulBackward returned ndarray"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors"):
        y.register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: cannot register a hook on a "
                                           "tensor that doesn't require gradient"):
        mg.ones(2).register_post_accumulate_grad_hook(lambda t: None)


def test_post_accumulate_hook_runs_after_grad_is_updated_and_not_for_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append((t is w, t.grad.tolist())))
    w.register_hook(lambda g: g * 2)        # runs before accumulation
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    assert seen == [(True, [6.0, 6.0]), (True, [12.0, 12.0])]
    mg.grad((w * 3).sum(), w)               # nothing is accumulated, so the hook does not run
    assert len(seen) == 2
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2 and w.grad.tolist() == [18.0, 18.0]


def _two_layer_events(lib):
    """The order in which backward reaches w2's .grad, the hidden tensor, and w1's .grad."""
    w1 = lib.ones(2, 2, requires_grad=True)
    w2 = lib.ones(2, 2, requires_grad=True)
    events = []
    w1.register_post_accumulate_grad_hook(lambda t: events.append("w1 accumulated"))
    w2.register_post_accumulate_grad_hook(lambda t: events.append("w2 accumulated"))
    h = lib.ones(1, 2) @ w1
    h.register_hook(lambda g: events.append("gradient of h"))
    (h @ w2).sum().backward()
    return events


def test_a_leaf_is_delivered_as_soon_as_its_gradient_is_complete():
    # data-parallel training starts averaging the last layer's gradients while backward
    # is still computing the first layer's
    assert _two_layer_events(mg) == ["w2 accumulated", "gradient of h", "w1 accumulated"]


@pytest.mark.oracle
def test_hook_order_and_values_match_torch():
    torch = pytest.importorskip("torch")
    assert _two_layer_events(mg) == _two_layer_events(torch)
    rng = np.random.default_rng(0)
    x, w0 = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    grads = []
    for lib, tensor in ((mg, mg.tensor), (torch, torch.tensor)):
        w = tensor(w0, requires_grad=True)
        w.register_hook(lambda g: g.clamp(-0.5, 0.5))
        h = tensor(x) @ w
        h.register_hook(lambda g: g * 3)
        h.tanh().pow(2).sum().backward()
        grads.append(w.grad.detach().numpy() if lib is torch else w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_post_accumulate_hooks_see_every_parameter_of_a_model_once_per_backward():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    names = {id(p): n for n, p in model.named_parameters()}
    ready = []
    handles = [p.register_post_accumulate_grad_hook(lambda t: ready.append(names[id(t)]))
               for p in model.parameters()]
    model(mg.randn(5, 3)).sum().backward()
    assert sorted(ready) == sorted(names.values()) and ready[-1].startswith("0.")
    for h in handles:
        h.remove()
    model(mg.randn(5, 3)).sum().backward()
    assert len(ready) == 4


def test_a_post_accumulate_hook_that_updates_grad_in_place_does_not_leak_into_the_walk():
    # x + y hands the same gradient to the leaf x and to the rest of the graph; a hook
    # that scales x.grad in place (as gradient averaging does) must not change it there
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: t.grad.mul_(0.5))
    (x + (w * w)).backward(mg.ones(2))
    assert x.grad.tolist() == [0.5, 0.5] and w.grad.tolist() == [6.0, 8.0]


# ==============================================================================
# Version counters: in-place writes after a save
#
# One version counter per storage: every view of a tensor's memory (slices, reshape,
# transpose, expand, ``.data``, ``detach``...) shares its base's counter, so an in-place
# write through any of them is seen by every node that saved another, and backward
# refuses instead of returning a wrong gradient (PyTorch's behaviour).
# ==============================================================================

VIEWS = {  # name -> a view of a (3, 4) tensor
    "slice": lambda a: a[0:2],
    "int index": lambda a: a[1],
    "slice of a slice": lambda a: a[1:][:, 1:3],
    "step slice": lambda a: a[:, ::2],
    "ellipsis and None": lambda a: a[..., None],
    "reshape": lambda a: a.reshape(4, 3),
    "view": lambda a: a.view(-1),
    "flatten": lambda a: a.flatten(),
    "unflatten": lambda a: a.unflatten(1, (2, 2)),
    "transpose": lambda a: a.transpose(0, 1),
    "t": lambda a: a.t(),
    "T": lambda a: a.T,
    "mT": lambda a: a.mT,
    "permute": lambda a: a.permute(1, 0),
    "movedim": lambda a: a.movedim(0, 1),
    "unsqueeze": lambda a: a.unsqueeze(0),
    "squeeze": lambda a: a.unsqueeze(0).squeeze(0),
    "expand": lambda a: a.unsqueeze(0).expand(2, 3, 4),
    "narrow": lambda a: a.narrow(1, 1, 2),
    "select": lambda a: a.select(0, 2),
    "split": lambda a: a.split(2, dim=1)[1],
    "chunk": lambda a: a.chunk(3, dim=0)[2],
    "unbind": lambda a: a.unbind(0)[0],
    "data": lambda a: a.data,
    "detach": lambda a: a.detach(),
}


@pytest.mark.parametrize("name", list(VIEWS))
@pytest.mark.parametrize("grad_mode", [True, False], ids=["recorded", "no_grad"])
def test_a_view_shares_its_base_counter(name, grad_mode):
    a = mg.arange(12.0).reshape(3, 4).requires_grad_(grad_mode and name not in ("data", "detach"))
    with mg.set_grad_enabled(grad_mode):
        v = VIEWS[name](a)
    assert np.shares_memory(v.array, a.array)
    assert v._version is a._version


@pytest.mark.parametrize("name", [n for n in VIEWS if n != "expand"])  # an expand is read-only
def test_writing_through_a_view_after_forward_is_caught(name):
    w = mg.ones(3, 4, requires_grad=True)
    a = mg.arange(12.0).reshape(3, 4)
    z = (w * a).sum()                      # MulBackward saved a
    VIEWS[name](a).mul_(2.0)
    with pytest.raises(RuntimeError, match="MulBackward: input 1 of shape \\(3, 4\\) was modified by an in-place"):
        z.backward()


@pytest.mark.parametrize("name", [n for n in VIEWS if n not in ("data", "detach")])
def test_writing_the_base_after_saving_a_view_is_caught(name):
    a = mg.arange(1.0, 13.0).reshape(3, 4)
    w = mg.tensor(2.0, requires_grad=True)
    z = (VIEWS[name](a) * w).sum()         # MulBackward saved the view
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="was modified by an in-place operation"):
        z.backward()


def _run_the_reported_cases(lib, message):
    """The two reported programs, in minigrad or in PyTorch (``lib``): each writes in place
    into a value that backward needs, and backward must refuse with ``message``. Returns
    the weight of the first program."""
    w = lib.tensor([1.0, 1.0, 1.0], requires_grad=True)
    a = lib.tensor([1.0, 2.0, 3.0])
    z = (w * a).sum()
    a[0:2].add_(10.0)
    with pytest.raises(RuntimeError, match=message):
        z.backward()
    first = w
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (w * w).sum()
    with lib.no_grad():
        w[1:].mul_(0)
    with pytest.raises(RuntimeError, match=message):
        z.backward()
    return first


def test_the_reported_cases():
    w = _run_the_reported_cases(mg, "modified by an in-place operation")
    assert w.grad is None


@pytest.mark.oracle
def test_the_reported_cases_raise_in_torch_too():
    torch = pytest.importorskip("torch")
    _run_the_reported_cases(torch, "modified by an inplace operation")


def test_copies_keep_their_own_counter():
    a = mg.arange(6.0)
    w = mg.ones(6, requires_grad=True)
    z = (w * a).sum()
    for copy in (a[[0, 2]], a[a > 2], a.clone(), a + 0, a.reshape(2, 3).T.contiguous()):
        assert copy._version is not a._version and not np.shares_memory(copy.array, a.array)
        copy.add_(1.0)
    z.backward()                            # a itself was never written
    assert w.grad.tolist() == [0, 1, 2, 3, 4, 5]


def test_an_optimizer_step_is_seen_through_a_view_of_the_parameter():
    layer = nn.Linear(3, 2)
    opt = mg.optim.SGD(layer.parameters(), lr=0.1)
    x = mg.ones(1, 3, requires_grad=True)
    row = layer.weight[0]                   # a view taken before the step
    z = (row * x).sum()                     # saved the view
    layer(mg.ones(4, 3)).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="was modified by an in-place operation"):
        z.backward()


CHAIN = {  # views that apply to a tensor of any shape with at least one dimension
    "slice": lambda v: v[: max(1, v.shape[0] - 1)],
    "step slice": lambda v: v[..., ::2],
    "int index": lambda v: v[0] if v.ndim > 1 else v,
    "reshape": lambda v: v.reshape(-1),         # a copy when the strides do not allow a view
    "transpose": lambda v: v.transpose(0, -1),
    "unsqueeze": lambda v: v.unsqueeze(0),
    "data": lambda v: v.data,
    "detach": lambda v: v.detach(),
}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(CHAIN)), min_size=1, max_size=5), st.booleans())
def test_a_chain_of_ops_shares_the_counter_exactly_when_it_shares_memory(chain, write_the_end):
    base = mg.arange(1.0, 1.0 + 3 * 4 * 4).reshape(3, 4, 4)
    end = base
    for name in chain:
        end = CHAIN[name](end)
    shares = np.shares_memory(end.array, base.array)
    assert (end._version is base._version) == shares
    w = mg.tensor(3.0, requires_grad=True)
    z = ((base if write_the_end else end) * w).sum()
    (end if write_the_end else base).mul_(1.0)
    if shares:
        with pytest.raises(RuntimeError, match="was modified by an in-place operation"):
            z.backward()
    else:
        z.backward()
        assert w.grad is not None


# ==============================================================================
# Grad mode per thread, inference_mode
#
# Grad mode belongs to a thread (as in PyTorch): ``no_grad`` in one thread leaves the
# others recording, a new thread starts with grad mode on, and two threads can train two
# models at once. Also ``inference_mode`` and ``is_inference_mode_enabled``.
# ==============================================================================

def _in_thread(fn):
    """Run ``fn`` in a new thread; return its result (or raise its exception)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the thread did not finish"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_new_thread_starts_with_grad_mode_on():
    with mg.no_grad():
        assert _in_thread(mg.is_grad_enabled) is True
        assert not mg.is_grad_enabled()
    with mg.inference_mode():
        assert _in_thread(lambda: (mg.is_grad_enabled(), mg.is_inference_mode_enabled())) == (True, False)


def test_no_grad_in_one_thread_leaves_the_other_recording():
    entered, computed = threading.Event(), threading.Event()
    seen = {}

    def evaluator():
        with mg.no_grad():
            entered.set()
            assert computed.wait(30)
            seen["evaluator"] = (mg.ones(2, requires_grad=True) * 2).requires_grad

    def trainer():
        assert entered.wait(30)
        w = mg.ones(2, requires_grad=True)
        y = (w * 3).sum()
        seen["trainer"] = y.requires_grad and y.grad_fn is not None
        y.backward()
        seen["grad"] = w.grad.tolist()
        computed.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == {"evaluator": False, "trainer": True, "grad": [3.0, 3.0]}


def test_overlapping_no_grad_blocks_leave_every_thread_as_it_was():
    # A enters, B enters, A leaves, B leaves: with one global flag B would restore
    # "off" last and leave the whole program without grad mode
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with mg.no_grad():
            a_in.set()
            assert b_in.wait(30)
        after["a"] = mg.is_grad_enabled()
        a_out.set()

    def b():
        assert a_in.wait(30)
        with mg.no_grad():
            b_in.set()
            assert a_out.wait(30)
            after["b inside"] = mg.is_grad_enabled()
        after["b"] = mg.is_grad_enabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert after == {"a": True, "b inside": False, "b": True}
    assert mg.is_grad_enabled()


def _train(model, X, y, steps, barrier=None, wait_in_no_grad=False):
    """A few SGD steps, each followed by an evaluation under no_grad. With a barrier,
    two threads meet once a step: one inside its no_grad block (where it then lingers),
    the other just before its forward pass, which therefore runs while the first
    thread has grad mode off."""
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        if barrier is not None and not wait_in_no_grad:
            barrier.wait(30)
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        with mg.no_grad():
            if barrier is not None and wait_in_no_grad:
                barrier.wait(30)
                time.sleep(0.005)
            losses.append(nn.functional.mse_loss(model(X), y).item())
    return losses


def _models_and_data():
    mg.manual_seed(0)
    models = [nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)) for _ in range(2)]
    rng = np.random.default_rng(0)
    data = [(mg.tensor(rng.normal(size=(16, 4)), dtype=mg.float32), mg.tensor(rng.normal(size=(16, 1)), dtype=mg.float32))
            for _ in range(2)]
    return models, data


def test_two_threads_train_two_models_like_one_after_the_other():
    models, data = _models_and_data()
    expected = [_train(m, X, y, 15) for m, (X, y) in zip(models, data)]
    expected_weights = [[p.numpy().copy() for p in m.parameters()] for m in models]

    models, data = _models_and_data()
    barrier = threading.Barrier(2)
    results = [None, None]

    def run(i):
        results[i] = _train(models[i], *data[i], 15, barrier, wait_in_no_grad=(i == 0))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == expected
    for m, ws in zip(models, expected_weights):
        for p, w in zip(m.parameters(), ws):
            np.testing.assert_array_equal(p.numpy(), w)
    assert mg.is_grad_enabled()


def test_set_grad_enabled_as_a_call_is_per_thread():
    def off_here():
        mg.set_grad_enabled(False)
        return mg.is_grad_enabled()

    assert _in_thread(off_here) is False
    assert mg.is_grad_enabled()


def test_a_decorated_function_called_from_two_threads():
    inside = threading.Barrier(2)

    @mg.no_grad
    def evaluate():
        inside.wait(30)            # both threads are inside at once
        r = (mg.ones(1, requires_grad=True) * 2).requires_grad
        inside.wait(30)
        return r

    results = []
    threads = [threading.Thread(target=lambda: results.append(evaluate())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [False, False] and mg.is_grad_enabled()


# ---------------------------------------------------------------------- inference_mode

def test_inference_mode_is_no_grad_plus_the_flag():
    w = mg.ones(2, requires_grad=True)
    assert not mg.is_inference_mode_enabled()
    with mg.inference_mode():
        assert mg.is_inference_mode_enabled() and not mg.is_grad_enabled()
        y = w * 2
        assert not y.requires_grad and y.grad_fn is None
        with mg.inference_mode(False):
            assert not mg.is_inference_mode_enabled() and mg.is_grad_enabled()
        with mg.enable_grad():
            assert mg.is_inference_mode_enabled() and mg.is_grad_enabled()
        assert mg.is_inference_mode_enabled() and not mg.is_grad_enabled()
    assert not mg.is_inference_mode_enabled() and mg.is_grad_enabled()
    (y * w).sum().backward()        # a tensor made in inference mode is an ordinary tensor here
    assert w.grad.tolist() == [2.0, 2.0]


def test_inference_mode_as_a_decorator():
    @mg.inference_mode
    def bare():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    @mg.inference_mode()
    def called():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    @mg.inference_mode(mode=False)
    def off():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    assert bare() == called() == (False, True)
    with mg.no_grad():
        assert off() == (True, False)
        assert not mg.is_grad_enabled()
    assert bare.__name__ == "bare" and mg.is_grad_enabled() and not mg.is_inference_mode_enabled()


def test_modes_are_restored_after_an_exception():
    with pytest.raises(ValueError):
        with mg.inference_mode():
            raise ValueError("boom")
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()

    @mg.no_grad()
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert mg.is_grad_enabled()


@pytest.mark.oracle
def test_mode_flags_match_torch():
    torch = pytest.importorskip("torch")

    def table(lib):
        rows = []
        with lib.no_grad():
            with lib.inference_mode(False):
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        with lib.inference_mode():
            rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
            with lib.enable_grad():
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
            with lib.inference_mode(False):
                rows.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        with lib.no_grad():
            rows.append(_in_thread(lambda: (lib.is_grad_enabled(), lib.is_inference_mode_enabled())))
        return rows

    assert table(mg) == table(torch)
