"""Embedding and EmbeddingBag (minigrad/nn/sparse.py)."""
import numpy as np
import pytest

import minigrad
import minigrad as mg
from minigrad import nn
from minigrad.nn.sparse import Embedding

from _attention_helpers import T, _check_grads, _load
from _nn_helpers import compare_with_repr, copy_weights, randn, torch


# ----------------------------------------------------------------------------- behaviour

def test_embedding_basics():
    emb = Embedding(10, 4, padding_idx=-2)
    assert emb.padding_idx == 8 and np.all(emb.weight.array[8] == 0)
    assert 0.5 < emb.weight.array.std() < 1.5  # N(0, 1)
    out = emb(minigrad.tensor([[1, 8], [3, 3]]))
    assert out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.array[0, 0], emb.weight.array[1])
    pre = Embedding.from_pretrained(minigrad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre.num_embeddings == 2 and pre.embedding_dim == 2
    assert Embedding.from_pretrained(np.eye(3, dtype=np.float32), freeze=False).weight.requires_grad
    capped = Embedding(5, 3, max_norm=1.0)
    capped(minigrad.tensor([0, 2]))
    norms = np.linalg.norm(capped.weight.array, axis=1)
    assert norms[0] <= 1.0 + 1e-5 and norms[2] <= 1.0 + 1e-5
    assert "padding_idx=8" in repr(emb)


def test_embedding_bag_from_pretrained_and_prelu_reset():
    table = mg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    bag = nn.EmbeddingBag.from_pretrained(table, mode="sum")
    assert not bag.weight.requires_grad
    assert bag(mg.tensor([[0, 2], [1, 1]])).tolist() == [[6.0, 8.0], [6.0, 8.0]]
    assert nn.EmbeddingBag.from_pretrained(table, freeze=False).weight.requires_grad
    assert nn.EmbeddingBag(4, 2, padding_idx=1).weight.numpy()[1].tolist() == [0.0, 0.0]
    p = nn.PReLU(3, init=0.1)
    with mg.no_grad():
        p.weight.array[:] = 5.0
    p.reset_parameters()
    np.testing.assert_allclose(p.weight.numpy(), [0.1] * 3, rtol=1e-6)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, match", [
    (lambda: Embedding(4, 2, padding_idx=4), ValueError, "padding_idx"),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.EmbeddingBag(5, 2, mode="median"), ValueError, "EmbeddingBag: mode must be"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2])), ValueError, "a 1-D input needs offsets"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([[1, 2]]), mg.tensor([0])), ValueError, "offsets must be None"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2]), mg.tensor([1])), ValueError, "offsets must start at 0"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 7]), mg.tensor([0])), IndexError, r"ids must be in \[0, 5\)"),
    (lambda: nn.EmbeddingBag(5, 2)(mg.tensor([1, 2]), mg.tensor([0]), mg.ones(2)), ValueError,
     "per_sample_weights is only supported for mode='sum'"),
    (lambda: nn.EmbeddingBag(5, 2, sparse=True), NotImplementedError, "sparse=True"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
def test_oracle_embedding():
    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(7, 5, padding_idx=2)
    me = Embedding(7, 5, padding_idx=2)
    assert te.padding_idx == me.padding_idx
    _load(me, te)
    idx = np.array([[0, 2, 6, 6], [1, 1, 2, 5]])
    r = np.random.default_rng(0).normal(size=(2, 4, 5)).astype(np.float32)
    to = te(torch.from_numpy(idx))
    (to * torch.from_numpy(r)).sum().backward()
    mo = me(minigrad.tensor(idx))
    (mo * T(r)).sum().backward()
    np.testing.assert_allclose(mo.array, to.detach().numpy())
    _check_grads(me, te, rtol=1e-6, atol=1e-6)
    # max_norm renormalises the looked-up rows in place, as torch
    te2, me2 = torch.nn.Embedding(6, 4, max_norm=1.5), Embedding(6, 4, max_norm=1.5)
    _load(me2, te2)
    te2(torch.tensor([0, 3, 3])), me2(minigrad.tensor([0, 3, 3]))
    np.testing.assert_allclose(me2.weight.array, te2.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["offsets", "2d", "last_offset", "padding"])
def test_oracle_embedding_bag(mode, layout):
    torch = pytest.importorskip("torch")
    kw = {}
    if layout == "last_offset":
        kw["include_last_offset"] = True
    if layout == "padding":
        kw["padding_idx"] = 2
    ours, theirs = nn.EmbeddingBag(10, 3, mode=mode, **kw), torch.nn.EmbeddingBag(10, 3, mode=mode, **kw)
    copy_weights(ours, theirs)
    if layout == "2d":
        compare_with_repr(ours, theirs, np.array([[1, 2, 4], [4, 3, 9]]))
        return
    ids = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2, 2])
    offsets = np.array([0, 4, 4, 8] + ([10] if layout == "last_offset" else []))  # bag 1 is empty
    compare_with_repr(ours, theirs, ids, offsets)


@pytest.mark.oracle
def test_oracle_embedding_bag_per_sample_weights_and_max_norm():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.EmbeddingBag(6, 4, mode="sum"), torch.nn.EmbeddingBag(6, 4, mode="sum")
    copy_weights(ours, theirs)
    ids, offsets = np.array([0, 5, 5, 1, 3]), np.array([0, 3])
    compare_with_repr(ours, theirs, ids, offsets, per_sample_weights=randn(5))
    ours, theirs = nn.EmbeddingBag(6, 4, max_norm=1.0), torch.nn.EmbeddingBag(6, 4, max_norm=1.0)
    copy_weights(ours, theirs)
    compare_with_repr(ours, theirs, ids, offsets)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
