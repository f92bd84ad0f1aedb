"""Module mechanics (minigrad/nn/module.py): registration, naming, state_dict / load_state_dict
(and what it says about a pruned or unpruned checkpoint), modes, hooks, copies, second
derivatives through a model; PyTorch as an oracle for names, shapes, reprs and weights."""
import copy
import pickle

import numpy as np
import pytest

import minigrad
import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.compress import prune

from _nn_helpers import ATOL, RTOL, copy_weights, oracle, randn, t64, torch


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(minigrad.ones(4))
        self.register_buffer("count", minigrad.zeros(1))
        self.register_buffer("scratch", minigrad.zeros(2), persistent=False)
        self.plain = 5  # an ordinary attribute

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


def test_attribute_registration():
    b = Block()
    assert list(b._parameters) == ["scale"]
    assert list(b._buffers) == ["count", "scratch"]
    assert list(b._modules) == ["fc"]
    assert b.plain == 5 and "plain" not in b._parameters
    assert isinstance(b.scale, nn.Parameter) and b.scale.requires_grad
    assert "fc" in dir(b) and "scale" in dir(b)


def test_named_parameters_buffers_modules_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.fc.weight", "block.fc.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.block.named_parameters(prefix="x")] == ["x.scale", "x.fc.weight", "x.fc.bias"]
    assert [n for n, _ in net.named_buffers()] == ["block.count", "block.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert len(list(net.parameters())) == 5 and len(list(net.modules())) == 6
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_parameter("block.fc.bias") is net.block.fc.bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("block.nope")


def test_state_dict_contents_and_persistence():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["block.scale", "block.count", "block.fc.weight", "block.fc.bias",
                        "head.1.weight", "head.1.bias"]
    assert "block.scratch" not in sd
    for v in sd.values():
        assert isinstance(v, minigrad.Tensor) and not isinstance(v, nn.Parameter) and not v.requires_grad
    # detached views share memory (copy to snapshot)
    assert np.shares_memory(sd["block.fc.weight"].numpy(), net.block.fc.weight.numpy())
    kept = net.state_dict(keep_vars=True)
    assert kept["block.fc.weight"] is net.block.fc.weight


def test_load_state_dict_round_trip_keeps_parameter_objects():
    a, b = Net(), Net()
    before = [id(p) for p in b.parameters()]
    result = b.load_state_dict({k: v.numpy().copy() for k, v in a.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert [id(p) for p in b.parameters()] == before
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v.numpy(), v2.numpy())
    x = minigrad.randn(2, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    # loading Tensors works too and copies (does not alias)
    b.load_state_dict(a.state_dict())
    assert not np.shares_memory(a.block.fc.weight.numpy(), b.block.fc.weight.numpy())


def _snapshot(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def test_load_state_dict_reports_every_problem_at_once_and_changes_nothing():
    net = Net()
    good = _snapshot(Net())
    bad = dict(good)
    del bad["block.fc.bias"]                       # missing
    bad["block.extra"] = np.zeros(3, np.float32)   # unexpected
    bad["head.1.weight"] = np.zeros((3, 4), np.float32)  # wrong shape (model has (2, 4))
    bad["block.scale"] = "not an array"            # wrong type
    before = _snapshot(net)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert "Missing key(s)" in msg and '"block.fc.bias"' in msg
    assert "Unexpected key(s)" in msg and '"block.extra"' in msg
    assert "size mismatch for head.1.weight" in msg and "(3, 4)" in msg and "(2, 4)" in msg
    assert '"block.scale"' in msg
    after = _snapshot(net)
    assert list(before) == list(after)
    for k in before:  # nothing was copied, not even the valid entries
        np.testing.assert_array_equal(before[k], after[k])


def test_load_state_dict_non_strict():
    net = Net()
    sd = _snapshot(Net())
    del sd["block.count"]
    sd["junk"] = np.ones(1, np.float32)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["block.count"] and res.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(net.block.fc.weight.numpy(), sd["block.fc.weight"])
    sd["head.1.bias"] = np.zeros(7, np.float32)  # shape errors are errors even when not strict
    with pytest.raises(RuntimeError, match="size mismatch for head.1.bias"):
        net.load_state_dict(sd, strict=False)


def test_load_state_dict_casts_dtype_and_rejects_non_mappings():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.eye(2), "bias": np.array([1, 2])})  # float64 / int64 sources
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.bias.numpy(), [1.0, 2.0])
    with pytest.raises(TypeError, match="expected a dict"):
        lin.load_state_dict([1, 2])


def test_tied_parameters_appear_once_in_parameters_but_twice_in_state_dict():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight

    t = Tied()
    assert [n for n, _ in t.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert list(t.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    t.load_state_dict(_snapshot(Tied()))
    assert t.a.weight is t.b.weight


def test_setattr_rules():
    b = Block()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        b.scale = minigrad.ones(4)
    b.scale = None
    assert b.scale is None and "scale" in b._parameters
    with pytest.raises(TypeError, match="as child module 'fc'"):
        b.fc = 3
    b.count = minigrad.ones(1)  # buffers can be replaced by tensors
    assert b._buffers["count"] is b.count
    with pytest.raises(TypeError, match="as buffer"):
        b.count = [1.0]
    b.fc = nn.Parameter(minigrad.zeros(1))  # re-registering under another kind moves it
    assert "fc" not in b._modules and "fc" in b._parameters
    del b.fc
    assert not hasattr(b, "fc")
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'nothing'"):
        b.nothing


def test_assigning_before_init_fails_clearly():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match='contain "."'):
        m.register_buffer("a.b", minigrad.zeros(1))
    with pytest.raises(TypeError, match="nn.Parameter or None required"):
        m.register_parameter("w", minigrad.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None required"):
        m.register_buffer("w", np.zeros(1))
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        m(1)


def test_train_eval_zero_grad_requires_grad_apply():
    net = Net()
    assert net.training and net.block.fc.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")
    net(minigrad.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Block", "ReLU", "Linear", "Sequential", "Net"]


def test_to_double_keeps_parameters_and_integer_buffers():
    bn = nn.BatchNorm1d(3)
    w = bn.weight
    bn.double()
    assert bn.weight is w and w.dtype == np.float64
    assert bn.running_mean.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    bn.to(minigrad.float32)
    assert bn.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        bn.to(np.int32)
    bn(minigrad.randn(4, 3)).sum().backward()
    bn.double()
    assert bn.weight.grad.dtype == np.float64


def test_forward_hooks():
    lin = nn.Linear(2, 3)
    calls = []
    h = lin.register_forward_hook(lambda m, args, out: calls.append((m, args[0].shape, out.shape)))
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,))
    out = lin(minigrad.ones(4, 2))
    assert calls == [(lin, (4, 2), (4, 3))]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(lin.bias.numpy(), (4, 3)))
    h.remove()
    pre.remove()
    lin(minigrad.ones(1, 2))
    assert len(calls) == 1
    replace = lin.register_forward_hook(lambda m, a, o: o * 2.0)
    np.testing.assert_allclose(lin(minigrad.zeros(1, 2)).numpy()[0], 2 * lin.bias.numpy())
    replace.remove()


def test_repr_tree():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")")


def test_deepcopy_and_pickle_are_independent():
    net = Net()
    clone = copy.deepcopy(net)
    restored = pickle.loads(pickle.dumps(net))
    x = minigrad.randn(2, 3)
    for other in (clone, restored):
        assert isinstance(other.block.fc.weight, nn.Parameter)
        np.testing.assert_array_equal(other(x).numpy(), net(x).numpy())
        assert not np.shares_memory(other.block.fc.weight.numpy(), net.block.fc.weight.numpy())


def test_parameter_basics():
    p = nn.Parameter(minigrad.zeros(2, 3))
    assert p.requires_grad and p.is_leaf and isinstance(p, minigrad.Tensor)
    assert not nn.Parameter(minigrad.zeros(1), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    t = minigrad.zeros(3)
    assert np.shares_memory(nn.Parameter(t).numpy(), t.numpy())
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(RuntimeError, match="floating-point"):
        nn.Parameter(minigrad.tensor([1, 2]))


# ----------------------------------------------------------------------------- loading a pruned or unpruned checkpoint

def _net():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _assert_unchanged(model, before):
    after = _snapshot(model)
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_pruned_checkpoint_into_unpruned_model_names_the_fix():
    mg.manual_seed(0)
    pruned = _net()
    prune.l1_unstructured(pruned[0], "weight", amount=0.5)
    plain = _net()
    before = _snapshot(plain)
    with pytest.raises(RuntimeError) as info:
        plain.load_state_dict(pruned.state_dict())
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "0.weight"' in msg
    assert "comes from a pruned model" in msg and '"0.weight"' in msg
    assert "minigrad.compress.prune.load_state_dict(model, state_dict)" in msg
    assert "This model is pruned" not in msg
    _assert_unchanged(plain, before)
    assert not prune.is_pruned(plain)
    # the advice works
    prune.load_state_dict(plain, pruned.state_dict())
    x = mg.randn(5, 4)
    np.testing.assert_allclose(plain(x).numpy(), pruned(x).numpy(), rtol=1e-6)


def test_unpruned_checkpoint_into_pruned_model_names_the_fix():
    mg.manual_seed(1)
    model = _net()
    prune.l1_unstructured(model[2], "weight", amount=0.5)
    before = _snapshot(model)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(_net().state_dict())
    msg = str(info.value)
    assert "This model is pruned" in msg and '"2.weight"' in msg
    assert "prune.remove" in msg
    assert "comes from a pruned model" not in msg
    _assert_unchanged(model, before)
    assert prune.is_pruned(model)


def test_several_pruned_parameters_are_all_named():
    src = _net()
    prune.l1_unstructured(src[0], "weight", amount=0.25)
    prune.l1_unstructured(src[2], "weight", amount=0.25)
    with pytest.raises(RuntimeError, match=r'pruned model \("0\.weight", "2\.weight"'):
        _net().load_state_dict(src.state_dict())


def test_no_hint_for_an_ordinary_mismatch():
    sd = _net().state_dict()
    sd["0.weight_orig"] = sd.pop("0.weight")  # an _orig key but no _mask: not pruning
    with pytest.raises(RuntimeError) as info:
        _net().load_state_dict(sd)
    msg = str(info.value)
    assert "Missing key(s)" in msg and "pruned" not in msg


def test_non_strict_load_still_reports_the_keys_without_raising():
    src = _net()
    prune.l1_unstructured(src[0], "weight", amount=0.5)
    dst = _net()
    w0 = dst[0].weight.numpy().copy()
    missing, unexpected = dst.load_state_dict(src.state_dict(), strict=False)
    assert missing == ["0.weight"]
    assert sorted(unexpected) == ["0.weight_mask", "0.weight_orig"]
    np.testing.assert_array_equal(dst[0].weight.numpy(), w0)  # nothing to copy it from
    np.testing.assert_array_equal(dst[0].bias.numpy(), src[0].bias.numpy())


# ----------------------------------------------------------------------------- gradcheck

def test_second_order_through_a_small_model():
    """Gradient penalties need double backward: check it through Linear + Tanh + MSE."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = t64(np.random.default_rng(1).normal(size=(2, 3)))
    target = t64(np.zeros((2, 1)), grad=False)
    minigrad.gradgradcheck(lambda a: F.mse_loss(model(a), target), (x,))


# ----------------------------------------------------------------------------- PyTorch oracle

def _pair_models():
    ours = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.2),
        nn.Sequential(nn.Linear(8, 8, bias=False), nn.LayerNorm(8), nn.Tanh()),
        nn.ModuleList([nn.Linear(8, 8), nn.SiLU()]), nn.ModuleDict({"head": nn.Linear(8, 3)}),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.GELU(), torch.nn.Dropout(0.2),
        torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.LayerNorm(8), torch.nn.Tanh()),
        torch.nn.ModuleList([torch.nn.Linear(8, 8), torch.nn.SiLU()]),
        torch.nn.ModuleDict({"head": torch.nn.Linear(8, 3)}),
    )
    return ours, theirs


@oracle
def test_names_shapes_repr_of_a_nested_model():
    ours, theirs = _pair_models()
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [(n, tuple(b.shape)) for n, b in ours.named_buffers()] == \
        [(n, tuple(b.shape)) for n, b in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert repr(ours) == repr(theirs)


@oracle
def test_weights_round_trip_both_ways():
    ours, theirs = _pair_models()
    copy_weights(ours, theirs)
    x = randn(5, 6)

    def run(o, t):
        h = o[:5](minigrad.tensor(x))
        th = t[:5](torch.tensor(x))
        h = o[6]["head"](o[5][1](o[5][0](h)))
        th = t[6]["head"](t[5][1](t[5][0](th)))
        return h.numpy(), th.detach().numpy()

    ours.eval()
    theirs.eval()
    a, b = run(ours, theirs)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # minigrad -> torch: perturb ours, load into a fresh torch model
    for p in ours.parameters():
        minigrad.nn.init.normal_(p, 0, 0.3)
    fresh = _pair_models()[1].eval()
    fresh.load_state_dict({k: torch.tensor(np.array(v.numpy())) for k, v in ours.state_dict().items()})
    a, b = run(ours, fresh)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
