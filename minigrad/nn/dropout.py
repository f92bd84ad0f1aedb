"""Dropout: randomly zero activations during training (a regulariser).

Each element is kept with probability 1 - p and scaled by 1 / (1 - p) ("inverted"
dropout), so the expected activation is the same in training and evaluation and
``model.eval()`` can simply turn the layer into the identity.
"""
from __future__ import annotations

from minigrad.nn import functional as F
from minigrad.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode; identity in eval mode."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        """In training, zero each element with probability ``p`` and scale the rest by 1/(1-p); in
        eval mode, the identity. Any shape."""
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
