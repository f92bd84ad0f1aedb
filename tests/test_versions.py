"""One version counter per storage: every view of a tensor's memory (slices, reshape,
transpose, expand, ``.data``, ``detach``...) shares its base's counter, so an in-place
write through any of them is seen by every node that saved another, and backward
refuses instead of returning a wrong gradient (PyTorch's behaviour)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
from minigrad import nn

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


def test_the_reported_cases():
    w = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    a = mg.tensor([1.0, 2.0, 3.0])
    z = (w * a).sum()
    a[0:2].add_(10.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()
    assert w.grad is None
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (w * w).sum()
    with mg.no_grad():
        w[1:].mul_(0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


@pytest.mark.oracle
def test_the_reported_cases_raise_in_torch_too():
    torch = pytest.importorskip("torch")
    w = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    a = torch.tensor([1.0, 2.0, 3.0])
    z = (w * a).sum()
    a[0:2].add_(10.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (w * w).sum()
    with torch.no_grad():
        w[1:].mul_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


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
