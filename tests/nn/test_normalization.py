"""Normalization layers (minigrad/nn/normalization.py): BatchNorm1d/2d, LayerNorm, GroupNorm,
RMSNorm: running statistics, modes, errors; gradchecks; PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import gradcheck

from _nn_helpers import FAST, compare, compare_with_repr, copy_weights, dims, oracle, randn, rng, seeds, t64, torch
from _ops_helpers import A


# ----------------------------------------------------------------------------- behaviour

def test_batchnorm_running_stats_by_hand():
    bn = nn.BatchNorm1d(3, momentum=0.1)
    xs = [np.random.default_rng(i).normal(i, 2.0, (8, 3)).astype(np.float32) for i in range(3)]
    rm, rv = np.zeros(3), np.ones(3)
    for x in xs:
        y = bn(minigrad.tensor(x)).numpy()
        mu, var = x.mean(0), x.var(0)
        np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
        rm = 0.9 * rm + 0.1 * mu
        rv = 0.9 * rv + 0.1 * x.var(0, ddof=1)  # unbiased in the running estimate
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    bn.eval()
    x = xs[0]
    np.testing.assert_allclose(bn(minigrad.tensor(x)).numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 3  # eval does not count batches


def test_batchnorm_cumulative_average_when_momentum_none():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [np.random.default_rng(i).normal(size=(6, 2)).astype(np.float32) for i in range(4)]
    for x in xs:
        bn(minigrad.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5,
                               atol=1e-6)


def test_batch_norm_layer_with_momentum_none_keeps_a_cumulative_average():
    bn = nn.BatchNorm1d(3, momentum=None)
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    bn(mg.tensor(x))
    bn(mg.tensor(2 * x))
    assert np.allclose(A(bn.running_mean), (x.mean(0) + 2 * x.mean(0)) / 2, atol=1e-6)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(0).normal(3, 2, (10, 2)).astype(np.float32)
    np.testing.assert_allclose(bn(minigrad.tensor(x)).numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="expected 2D or 3D input, got 4D"):
        bn(minigrad.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected 3 channels"):
        bn(minigrad.zeros(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(minigrad.zeros(1, 3))
    bn.eval()
    assert bn(minigrad.zeros(1, 3)).shape == (1, 3)  # fine in eval
    with pytest.raises(ValueError, match="expected 4D"):
        nn.BatchNorm2d(3)(minigrad.zeros(2, 3))


def test_batchnorm_in_eval_is_an_affine_map_with_gradients():
    bn = nn.BatchNorm1d(2).eval()
    x = minigrad.randn(4, 2, requires_grad=True)
    bn(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((4, 2), 1 / np.sqrt(1 + 1e-5)), rtol=1e-6)


def test_layernorm_normalises_each_sample():
    ln = nn.LayerNorm((2, 3))
    x = minigrad.randn(4, 2, 3) * 5.0 + 3.0
    y = ln(x).numpy().reshape(4, -1)
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1, rtol=1e-3)
    with pytest.raises(ValueError, match="must match the last dimensions"):
        ln(minigrad.randn(4, 3, 2))
    assert nn.LayerNorm(3, elementwise_affine=False).weight is None


# ----------------------------------------------------------------------------- gradcheck

@FAST
@given(n=st.integers(2, 4), c=dims, length=st.sampled_from([None, 1, 3]), seed=seeds, train=st.booleans())
def test_batchnorm1d_module(n, c, length, seed, train):
    bn = nn.BatchNorm1d(c).double().train(train)
    rng = np.random.default_rng(seed)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -1, 1)
    if not train:
        nn.init.uniform_(bn.running_var, 0.5, 2)
        nn.init.normal_(bn.running_mean)
    shape = (n, c) if length is None else (n, c, length)
    x = t64(rng.normal(size=shape) * 2)
    gradcheck(lambda a, *params: bn(a), (x, *bn.parameters()))


@FAST
@given(lead=st.sampled_from([(1,), (3,), (2, 2)]), norm=st.sampled_from([(2,), (3,), (2, 3)]), seed=seeds,
       affine=st.booleans())
def test_layernorm_module(lead, norm, seed, affine):
    ln = nn.LayerNorm(norm, elementwise_affine=affine).double()
    rng = np.random.default_rng(seed)
    for p in ln.parameters():
        nn.init.uniform_(p, -1, 1)
    x = t64(rng.normal(size=lead + norm))
    gradcheck(lambda a, *params: ln(a), (x, *ln.parameters()))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.GroupNorm(3, 4), ValueError, r"GroupNorm: num_channels \(4\) must be divisible by num_groups \(3\)"),
    (lambda: nn.GroupNorm(2, 4)(mg.ones(2, 6, 3)), ValueError, r"GroupNorm: expected input of shape \(N, 4, \*\)"),
    (lambda: F.group_norm(mg.ones(2, 6), 4), ValueError, "group_norm: the 6 channels"),
    (lambda: F.group_norm(mg.ones(3), 1), ValueError, r"group_norm: expected input of shape \(N, C, \*\)"),
    (lambda: nn.RMSNorm(4)(mg.ones(2, 3)), ValueError, "rms_norm: expected input of shape"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("groups,channels,shape,affine", [
    (2, 4, (3, 4, 5), True), (1, 3, (2, 3, 2, 2), True), (3, 3, (2, 3, 4), False), (2, 6, (1, 6), True)])
def test_oracle_group_norm(groups, channels, shape, affine):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.GroupNorm(groups, channels, affine=affine), torch.nn.GroupNorm(groups, channels, affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    copy_weights(ours, theirs)
    compare_with_repr(ours, theirs, randn(*shape))
    bias_off = nn.GroupNorm(2, 4, bias=False)
    assert bias_off.bias is None and repr(bias_off) == repr(torch.nn.GroupNorm(2, 4, bias=False))


@pytest.mark.oracle
@pytest.mark.parametrize("ns,eps,affine", [(4, None, True), ((3, 4), 1e-3, True), (4, 1e-6, False)])
def test_oracle_rms_norm(ns, eps, affine):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.RMSNorm(ns, eps=eps, elementwise_affine=affine), torch.nn.RMSNorm(ns, eps, affine)
    if affine:
        with torch.no_grad():
            theirs.weight.normal_()
    copy_weights(ours, theirs)
    compare_with_repr(ours, theirs, randn(2, 3, 4))


@oracle
@pytest.mark.parametrize("kw", [{}, {"momentum": 0.3}, {"momentum": None}, {"affine": False},
                                {"bias": False}, {"track_running_stats": False}, {"eps": 1e-3}])
@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 3)])
def test_batchnorm1d_train_then_eval(kw, shape):
    ours, theirs = nn.BatchNorm1d(4, **kw), torch.nn.BatchNorm1d(4, **kw)
    with torch.no_grad():
        if theirs.weight is not None:
            theirs.weight.uniform_(0.5, 1.5)
        if theirs.bias is not None:
            theirs.bias.uniform_(-0.5, 0.5)
    copy_weights(ours, theirs)
    assert repr(ours) == repr(theirs)
    for step in range(3):
        x = randn(*shape) * 2 + step
        for m in (ours, theirs):
            m.zero_grad()
        compare(ours, theirs, x, train=True)
    for (name, b), (tname, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert name == tname
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    for m in (ours, theirs):
        m.zero_grad()
    compare(ours, theirs, randn(*shape), train=False)


@oracle
def test_batchnorm2d():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(4, 3, 5, 2), train=True)
    ours.zero_grad()
    theirs.zero_grad()
    compare(ours, theirs, randn(4, 3, 5, 2), train=False)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5)
    assert repr(ours) == repr(theirs)


@oracle
@pytest.mark.parametrize("normalized_shape,shape", [(5, (3, 5)), ((4, 5), (2, 4, 5)), (6, (2, 3, 6)), (3, (3,))])
@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-2}])
def test_layernorm(normalized_shape, shape, kw):
    ours, theirs = nn.LayerNorm(normalized_shape, **kw), torch.nn.LayerNorm(normalized_shape, **kw)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-1, 1)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(*shape))
    assert repr(ours) == repr(theirs)
