"""Loss modules: each stores its options and calls the function of the same name in
:mod:`minigrad.nn.functional`. Call them as ``loss_fn(input, target)`` - prediction
first, target second, as in PyTorch.

Class weights (``weight``, ``pos_weight``) are registered as buffers, so they move
with ``.to()`` and appear in ``state_dict()`` like PyTorch's.
"""
from __future__ import annotations

from minigrad.tensor import Tensor
from minigrad.nn import functional as F
from minigrad.nn.module import Module

__all__ = ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
           "BCEWithLogitsLoss", "KLDivLoss", "TripletMarginLoss"]

_REDUCTIONS = ("none", "mean", "sum")


class _Loss(Module):
    _valid = _REDUCTIONS

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in self._valid:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{', '.join(repr(r) for r in self._valid)}, got {reduction!r}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        if weight is not None and not isinstance(weight, Tensor):
            weight = Tensor(weight)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """(input - target)^2, reduced by ``reduction``."""

    def forward(self, input, target):
        """Mean (by ``reduction``) of ``(input - target) ** 2``; input and target of the same
        shape."""
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """|input - target|, reduced by ``reduction``."""

    def forward(self, input, target):
        """Mean (by ``reduction``) of ``abs(input - target)``; input and target of the same shape."""
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Quadratic for |d| < delta, linear beyond (see :func:`~minigrad.nn.functional.huber_loss`)."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        """Huber loss of ``input - target`` (quadratic below ``delta``, linear above); same shapes."""
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Huber loss divided by ``beta`` (see :func:`~minigrad.nn.functional.smooth_l1_loss`)."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        """Smooth L1 loss of ``input - target`` (quadratic below ``beta``, linear above); same
        shapes."""
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax + negative log-likelihood on raw scores (logits); targets are class
    indices or class probabilities (see :func:`~minigrad.nn.functional.cross_entropy`)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        """``input`` logits (N, C) (or (N, C, d1, ...)), ``target`` int64 class ids (N,) or class
        probabilities (N, C) -> the loss."""
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (use after LogSoftmax)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        """``input`` log-probabilities (N, C), ``target`` int64 class ids (N,) -> the loss."""
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] (use after Sigmoid; prefer
    BCEWithLogitsLoss, which is numerically safer)."""

    def forward(self, input, target):
        """``input`` probabilities in (0, 1) and ``target`` in [0, 1], same shape -> binary
        cross-entropy."""
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy on raw scores, stable for any logit.
    ``pos_weight`` (one per class, broadcast over the last dim) weights positives."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        if weight is not None and not isinstance(weight, Tensor):
            weight = Tensor(weight)
        if pos_weight is not None and not isinstance(pos_weight, Tensor):
            pos_weight = Tensor(pos_weight)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        """``input`` logits and ``target`` in [0, 1], same shape -> binary cross-entropy of
        sigmoid(input), computed stably."""
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """KL(target || exp(input)) for log-probability inputs; use ``reduction="batchmean"``
    for the true KL divergence per sample."""

    _valid = _REDUCTIONS + ("batchmean",)

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        """``input`` log-probabilities, ``target`` probabilities (log-probabilities if
        ``log_target``), same shape -> KL(target || input)."""
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class TripletMarginLoss(_Loss):
    """max(d(anchor, positive) - d(anchor, negative) + margin, 0) with ``d`` the p-norm
    distance (:func:`~minigrad.nn.functional.pairwise_distance`); ``swap=True`` uses the
    smaller of d(anchor, negative) and d(positive, negative)."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        """Three tensors of one shape, (N, D) or (D,) -> the loss, reduced by ``reduction``."""
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)
