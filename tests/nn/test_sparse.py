"""Embedding and EmbeddingBag (minigrad/nn/sparse.py)."""


import numpy as np
import pytest

import minigrad
from minigrad.nn.sparse import Embedding

from _attention_helpers import T, _check_grads, _load


# -------------------------------------------------------------------- behaviour

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


# ----------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, match", [
    (lambda: Embedding(4, 2, padding_idx=4), ValueError, "padding_idx"),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# --------------------------------------------------------------- PyTorch oracle

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
