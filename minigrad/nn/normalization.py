"""Normalisation layers: BatchNorm1d / BatchNorm2d, LayerNorm, GroupNorm and RMSNorm.

Both subtract a mean and divide by a standard deviation, then apply a learned
per-feature scale (``weight``, initialised to 1) and shift (``bias``, 0). They
differ in *what* they average over:

* BatchNorm: over the batch (and spatial positions), separately for each channel.
  The statistics depend on the other samples in the batch, so the layer keeps
  running averages (buffers ``running_mean``, ``running_var``) during training and
  uses those in evaluation mode.
* LayerNorm: over the features of each sample; no batch dependence, no buffers,
  the same computation in training and evaluation.
* GroupNorm: over groups of channels of each sample (LayerNorm with one group,
  InstanceNorm with one channel per group); no batch dependence.
* RMSNorm: divides by the root mean square of the features, subtracting no mean
  and adding no bias (the normalisation of many recent language models).
"""
from __future__ import annotations

import numbers

import numpy as np

from minigrad import creation
from minigrad.autograd import no_grad
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "RMSNorm"]


def _affine_parameters(module, shape, affine, bias, dtype, device):
    """Give ``module`` its learnable scale and shift: ``weight`` (ones) and ``bias``
    (zeros) of ``shape`` when ``affine`` (``bias=False``: weight only), else None for both."""
    if affine:
        module.weight = Parameter(creation.ones(shape, dtype=dtype, device=device))
    else:
        module.register_parameter("weight", None)
    if affine and bias:
        module.bias = Parameter(creation.zeros(shape, dtype=dtype, device=device))
    else:
        module.register_parameter("bias", None)


def _normalized_shape(normalized_shape):
    """``normalized_shape`` (an int or a sequence of ints) as a tuple of ints."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _reset_affine(module):
    """weight = 1, bias = 0 (those of them that exist)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if getattr(module, "bias", None) is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    _expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, num_features, affine, bias, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.zeros((), dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            with no_grad():
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Reset the running statistics; weight = 1 and bias = 0 (when affine)."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input):
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {dims} input, got {input.ndim}D input "
                             f"of shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels in dim 1, got input "
                             f"of shape {input.shape}")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average over all batches so far
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, or in eval when no running statistics are kept.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    Training: y = (x - mean_batch) / sqrt(var_batch + eps) * weight + bias, and
    ``running_mean``/``running_var`` move toward the batch statistics by ``momentum``
    (``momentum=None``: a cumulative average). Evaluation: the running statistics
    replace the batch ones."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C (see BatchNorm1d)."""

    _expected_dims = (4,)


class LayerNorm(Module):
    """Normalise the last ``len(normalized_shape)`` dims of each sample:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with ``weight`` (ones) and
    ``bias`` (zeros) of shape ``normalized_shape`` when ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype, device)

    def reset_parameters(self):
        """Set weight to 1 and bias to 0 (when elementwise_affine)."""
        _reset_affine(self)

    def forward(self, input):
        """``input`` (*, *normalized_shape) -> same shape, normalised over the trailing
        ``normalized_shape`` dims."""
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the channels into ``num_groups`` groups and normalise each group of each
    sample: input (N, C, *) -> same shape. Parameters (when ``affine``): ``weight``
    (ones) and ``bias`` (zeros, unless ``bias=False``), one per channel, shape
    ``(num_channels,)``."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if not isinstance(num_groups, (int, np.integer)) or num_groups <= 0:
            raise ValueError(f"GroupNorm: num_groups must be a positive int, got {num_groups!r}")
        if not isinstance(num_channels, (int, np.integer)) or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels!r}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, affine
        _affine_parameters(self, self.num_channels, affine, bias, dtype, device)

    def reset_parameters(self):
        """Set weight to 1 and bias to 0 (when affine)."""
        _reset_affine(self)

    def forward(self, input):
        """``input`` (N, num_channels, *) -> same shape, each group of channels normalised."""
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input of shape (N, {self.num_channels}, *), got "
                             f"{tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` dims
    (no mean subtracted, no bias). ``weight`` (ones, shape ``normalized_shape``) when
    ``elementwise_affine``; ``eps=None`` means the machine epsilon of the input's dtype."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        """Set weight to 1 (when elementwise_affine)."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, input):
        """``input`` (*, *normalized_shape) -> same shape."""
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
