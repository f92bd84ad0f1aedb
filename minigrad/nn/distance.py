"""Distance layers: CosineSimilarity and PairwiseDistance (no parameters).

Each compares two tensors row by row and calls the function of the same name in
:mod:`minigrad.nn.functional`; both are compositions of norms and elementwise ops,
so autograd derives their gradients.
"""
from __future__ import annotations

from minigrad.nn import functional as F
from minigrad.nn.module import Module

__all__ = ["CosineSimilarity", "PairwiseDistance"]


class CosineSimilarity(Module):
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (default 1): their
    dot product over the product of their norms (each norm at least ``eps``)."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        """``x1`` and ``x2`` (broadcastable) -> their shape without ``dim``."""
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The ``p``-norm of ``x1 - x2 + eps`` over the last dim: one distance per row."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        """``x1`` and ``x2`` (N, D) or (D,) -> (N,) or () distances."""
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
