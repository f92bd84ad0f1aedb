"""Tensor hooks: ``register_hook`` (see or replace a gradient as backward computes it)
and ``register_post_accumulate_grad_hook`` (run on a leaf once its ``.grad`` is
updated), each returning a handle whose ``remove()`` unregisters it."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


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
