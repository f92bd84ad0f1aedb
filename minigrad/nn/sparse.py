"""Embedding: a lookup table from integer ids to learned vectors.

A language model cannot multiply a word. It looks each token id up in a table
``weight`` of shape (num_embeddings, embedding_dim) and works with the row it
finds. The lookup is ``weight[ids]``; its gradient sends each output row's
gradient back to the table row it came from, *adding* when an id occurs more than
once (a scatter-add, see :mod:`minigrad.ops.embedding`).

It is the same as multiplying a one-hot vector by ``weight``, without building the
one-hot vector: that is why an embedding is sometimes described as "a Linear layer
with no bias whose input is one-hot".

``padding_idx`` names a row that stands for "no token" (padding in a batch of
sequences of different lengths): it starts at zero and never receives a gradient,
so it stays zero while training, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from minigrad import creation
from minigrad.autograd import no_grad
from minigrad.backend import to_device, xp_of
from minigrad.tensor import Tensor
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter

__all__ = ["Embedding", "EmbeddingBag"]


def _check_count(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"Embedding: {name} must be a non-negative int, got {value!r}")
    return int(value)


def _normalize_padding_idx(padding_idx, num_embeddings):
    """A padding index in [-num_embeddings, num_embeddings) made non-negative (PyTorch's rule)."""
    if padding_idx is None:
        return None
    if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, bool):
        raise TypeError(f"Embedding: padding_idx must be an int or None, got {type(padding_idx).__name__}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                         f"(valid: {-num_embeddings} .. {num_embeddings - 1})")
    return int(padding_idx) % num_embeddings if padding_idx < 0 else int(padding_idx)


def _set_weight(module, who, _weight, dtype, device, requires_grad=True):
    """The table ``weight`` (num_embeddings, embedding_dim): drawn by ``reset_parameters``
    when ``_weight`` is None, else ``_weight``'s values (its shape checked)."""
    shape = (module.num_embeddings, module.embedding_dim)
    if _weight is None:
        module.weight = Parameter(creation.zeros(*shape, dtype=dtype, device=device), requires_grad=requires_grad)
        module.reset_parameters()
        return
    data = _weight.array if isinstance(_weight, Tensor) else np.asarray(_weight)
    if tuple(data.shape) != shape:
        raise ValueError(f"{who}: _weight has shape {tuple(data.shape)}, expected "
                         f"({module.num_embeddings}, {module.embedding_dim})")
    module.weight = Parameter(Tensor(data), requires_grad=requires_grad)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer ids.

    Input: an integer tensor of any shape (*). Output: (*, embedding_dim).
    Parameter: ``weight`` (num_embeddings, embedding_dim), initialised from N(0, 1)
    with the ``padding_idx`` row (if any) set to zero, as in PyTorch.

    ``max_norm``: if given, every row that a forward pass looks up and whose
    ``norm_type``-norm exceeds ``max_norm`` is rescaled *in place* to norm
    ``max_norm`` before the lookup (PyTorch's behaviour; the rescaling itself is not
    differentiated).

    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb(minigrad.tensor([[0, 2], [4, 9]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings = _check_count(num_embeddings, "num_embeddings")
        self.embedding_dim = _check_count(embedding_dim, "embedding_dim")
        self.padding_idx = _normalize_padding_idx(padding_idx, self.num_embeddings)
        if max_norm is not None and not (isinstance(max_norm, (int, float)) and max_norm > 0):
            raise ValueError(f"Embedding: max_norm must be a positive number or None, got {max_norm!r}")
        self.max_norm = max_norm
        self.norm_type = norm_type
        if scale_grad_by_freq:
            raise NotImplementedError("Embedding: scale_grad_by_freq=True is not supported in minigrad")
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not supported in minigrad; "
                                      "the gradient of weight is always a dense tensor")
        self.scale_grad_by_freq = False
        self.sparse = False
        _set_weight(self, "Embedding", _weight, dtype, device, requires_grad=not _freeze)

    def reset_parameters(self):
        """weight ~ N(0, 1), then the padding row (if any) set to zero."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            with no_grad():
                self.weight.array[self.padding_idx] = 0
                self.weight._bump_version()

    def _renorm_(self, input):
        """Rescale, in place, each looked-up row whose norm exceeds ``max_norm``."""
        idx = input.array if isinstance(input, Tensor) else np.asarray(input)
        rows = np.unique(to_device(idx, "cpu").reshape(-1))
        if rows.size == 0:
            return
        rows = to_device(rows, self.weight.device)
        w = self.weight.array
        xp = xp_of(w)
        sel = w[rows]
        norms = xp.linalg.norm(sel.astype(np.float64), ord=self.norm_type, axis=1)
        scale = xp.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
        with no_grad():
            w[rows] = (sel * scale[:, None]).astype(w.dtype)
            self.weight._bump_version()

    def forward(self, input):
        """``input`` int64 ids of any shape (*) -> the rows of ``weight``, shape (*,
        embedding_dim)."""
        if self.max_norm is not None:
            self._renorm_(input)
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            s += f", norm_type={self.norm_type}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose table is the 2-D ``embeddings`` (sharing its memory, as in
        PyTorch); ``freeze=True`` keeps it out of training (``weight.requires_grad = False``).
        As in PyTorch, the ``padding_idx`` row is left as given, not zeroed."""
        data = embeddings.array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                             f"embedding_dim), got shape {tuple(data.shape)}")
        rows, cols = data.shape
        return cls(rows, cols, _weight=data, _freeze=freeze, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(Module):
    """An embedding table whose lookups are pooled per *bag* of ids: the sum, mean or max
    of the rows each bag picks, without materialising them bag by bag.

    Input: (B, L) ids (B bags of L ids), or 1-D ids with ``offsets`` (bag ``i`` is
    ``input[offsets[i]:offsets[i+1]]``). Output: (B, embedding_dim); an empty bag gives
    zeros. Parameter ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1), its
    ``padding_idx`` row zero (ids equal to ``padding_idx`` are left out of every bag).

    >>> bag = nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag(minigrad.tensor([1, 2, 4, 5, 4]), minigrad.tensor([0, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None,
                 device=None, dtype=None):
        super().__init__()
        self.num_embeddings = _check_count(num_embeddings, "num_embeddings")
        self.embedding_dim = _check_count(embedding_dim, "embedding_dim")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: scale_grad_by_freq=True and sparse=True are not supported in "
                                      "minigrad (the gradient of weight is always a dense tensor)")
        self.max_norm, self.norm_type, self.mode = max_norm, norm_type, mode
        self.scale_grad_by_freq, self.sparse = False, False
        self.include_last_offset = include_last_offset
        self.padding_idx = _normalize_padding_idx(padding_idx, self.num_embeddings)
        _set_weight(self, "EmbeddingBag", _weight, dtype, device)

    def reset_parameters(self):
        """weight ~ N(0, 1), then the padding row (if any) set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.array[self.padding_idx] = 0
                self.weight._bump_version()

    def forward(self, input, offsets=None, per_sample_weights=None):
        """``input`` ids (B, L), or 1-D with ``offsets`` (B,) -> (B, embedding_dim).
        ``per_sample_weights`` (``input``'s shape) scales each id's row (mode ``"sum"``)."""
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, mode=self.mode,
                               per_sample_weights=per_sample_weights, include_last_offset=self.include_last_offset,
                               padding_idx=self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose table is the 2-D ``embeddings`` (shared, as in PyTorch);
        ``freeze=True`` keeps it out of training."""
        data = embeddings.array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if data.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape {tuple(data.shape)}")
        bag = cls(data.shape[0], data.shape[1], max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse, _weight=data,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag
