"""Linear layers and shape helpers: Identity, Linear, Bilinear, Flatten, Unflatten.

``Linear(in_features, out_features)`` stores ``weight`` as (out_features,
in_features) - the PyTorch layout - and computes ``y = x @ weight.T + bias``.
Its default initialisation draws weight and bias from U(-1/sqrt(fan_in),
1/sqrt(fan_in)) (PyTorch's ``kaiming_uniform_(a=sqrt(5))``), so a model built here
and one built with PyTorch start from the same distribution.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad import creation
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter

__all__ = ["Identity", "Linear", "Bilinear", "Flatten", "Unflatten"]


def _empty(*shape, device=None, dtype=None):
    return creation.zeros(*shape, dtype=dtype, device=device)


def _weight_and_bias(module, weight_shape, bias, device, dtype):
    """Register ``weight`` (``weight_shape``) and ``bias`` (its first dim, or None when
    ``bias`` is false), left at zero for ``reset_parameters`` to draw."""
    module.weight = Parameter(_empty(*weight_shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(_empty(weight_shape[0], device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)


def _check_size(value, name, cls):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{cls}: {name} must be a non-negative int, got {value!r}")
    return int(value)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to remove a layer). Any
    constructor arguments are ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        """Return ``input`` unchanged (any shape)."""
        return input


class Linear(Module):
    """y = x W^T + b.

    Input (*, in_features) -> output (*, out_features). Parameters:
    ``weight`` (out_features, in_features) and ``bias`` (out_features) (None when
    ``bias=False``)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _check_size(in_features, "in_features", "Linear")
        self.out_features = _check_size(out_features, "out_features", "Linear")
        _weight_and_bias(self, (out_features, in_features), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """weight ~ U(-1/sqrt(in_features), 1/sqrt(in_features)) via kaiming_uniform_(a=sqrt(5)),
        bias ~ the same range."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        """``input`` (*, in_features) -> ``input @ weight.T + bias``, shape (*, out_features)."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y_k = x1^T W_k x2 + b_k: ``weight`` (out_features, in1_features, in2_features),
    ``bias`` (out_features), both initialised from U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features = _check_size(in1_features, "in1_features", "Bilinear")
        self.in2_features = _check_size(in2_features, "in2_features", "Bilinear")
        self.out_features = _check_size(out_features, "out_features", "Bilinear")
        _weight_and_bias(self, (out_features, in1_features, in2_features), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw weight and bias from U(-1/sqrt(in1_features), 1/sqrt(in1_features)), as PyTorch."""
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        """``input1`` (*, in1_features), ``input2`` (*, in2_features) -> (*, out_features), ``y_k =
        x1^T W_k x2 + b_k``."""
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        """Merge dims ``start_dim..end_dim`` of ``input`` into one."""
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: Unflatten(1, (2, 5)) maps (N, 10) -> (N, 2, 5)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got {type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        """Split dim ``dim`` of ``input`` into ``unflattened_size``."""
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
