"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d.

A convolution slides ``out_channels`` small filters over the input. Layouts follow
PyTorch: inputs (N, C_in, H, W); ``weight`` (C_out, C_in / groups, kH, kW) for
Conv2d and (C_in, C_out / groups, kH, kW) for ConvTranspose2d; ``bias`` (C_out).
The work happens in :func:`minigrad.ops.conv.conv2d` (im2col + our GEMM kernel);
these modules only hold the parameters.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad import creation
from minigrad.nn import init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.ops import conv as _conv
from minigrad.ops.shape import pad as _pad

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value, n, name, cls):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{cls}: {name} must be an int or a tuple of {n} ints, got {value}")
    return value


class _ConvNd(Module):
    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", output_padding=0, device=None, dtype=None):
        super().__init__()
        cls = type(self).__name__
        n = self._n
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{cls}: {name} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{cls}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                             f"be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{cls}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", cls)
        self.stride = _tuple(stride, n, "stride", cls)
        self.dilation = _tuple(dilation, n, "dilation", cls)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{cls}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{cls}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding", cls)
        self.output_padding = _tuple(output_padding, n, "output_padding", cls)
        self.padding_mode = padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.zeros(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.zeros(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """weight: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in));
        bias: the same range (PyTorch's default)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _explicit_pad(self, input):
        """Non-zero padding modes pad first, then convolve with padding 0."""
        if self.padding_mode == "zeros" or self.padding == "valid":
            return input, self.padding
        widths = []
        for i in reversed(range(self._n)):
            if self.padding == "same":  # total d (k - 1), the extra one on the right
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                widths += [total // 2, total - total // 2]
            else:
                widths += [self.padding[i], self.padding[i]]
        return _pad(input, tuple(widths), mode=self.padding_mode), 0

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """A forward convolution (Conv1d, Conv2d): PyTorch's constructor, without ``output_padding``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)


class Conv2d(_Conv):
    """2-D convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out), with
    H_out = floor((H + 2 pad - dilation (k - 1) - 1) / stride) + 1."""

    _n = 2

    def forward(self, input):
        """``input`` (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out), ``H_out = (H + 2
        pad - dilation (k - 1) - 1) // stride + 1``."""
        x, padding = self._explicit_pad(input)
        return _conv.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution: (N, C_in, L) -> (N, C_out, L_out)."""

    _n = 1

    def forward(self, input):
        """``input`` (N, C_in, L) or (C_in, L) -> (N, C_out, L_out), ``L_out = (L + 2 pad -
        dilation (k - 1) - 1) // stride + 1``."""
        x, padding = self._explicit_pad(input)
        pad = padding if isinstance(padding, str) else (padding[0] if isinstance(padding, tuple) else padding)
        return _conv.conv1d(x, self.weight, self.bias, self.stride[0], pad, self.dilation[0], self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of Conv2d with respect to its input):
    H_out = (H - 1) stride - 2 pad + dilation (k - 1) + output_padding + 1.
    ``weight`` is (C_in, C_out / groups, kH, kW)."""

    _n = 2
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError("ConvTranspose2d: only padding_mode='zeros' is supported (as in PyTorch)")
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d: padding must be an int or a tuple")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding=output_padding, device=device, dtype=dtype)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                                 f"either stride {self.stride} or dilation {self.dilation}")

    def forward(self, input):
        """``input`` (N, C_in, H, W) -> (N, C_out, H_out, W_out), ``H_out = (H - 1) stride - 2 pad
        + dilation (k - 1) + output_padding + 1``."""
        return _conv.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                      self.output_padding, self.groups, self.dilation)
