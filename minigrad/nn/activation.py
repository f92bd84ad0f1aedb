"""Activation modules: thin wrappers around :mod:`minigrad.nn.functional`.

A nonlinearity has no parameters, so a module for it exists only so that it can
sit inside a :class:`~minigrad.nn.Sequential`. ``inplace=True`` is accepted for
PyTorch compatibility (and shown in the repr) but minigrad always returns a new
tensor: in-place updates and autograd do not mix.
"""
from __future__ import annotations

from minigrad import creation
from minigrad.nn import functional as F
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.nn import init as _init

__all__ = ["ReLU", "ReLU6", "Hardtanh", "Sigmoid", "Tanh", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus",
           "LogSigmoid", "Softmax", "LogSoftmax", "Softmin", "Mish", "Hardswish", "Hardsigmoid", "PReLU"]


def _with_inplace(module, text=""):
    """``text`` for the repr, followed by ``inplace=True`` when the module was asked for it."""
    if not module.inplace:
        return text
    return f"{text}, inplace=True" if text else "inplace=True"


class _Inplace(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return _with_inplace(self)


class ReLU(_Inplace):
    """max(x, 0)."""

    def forward(self, input):
        return F.relu(input)


class ReLU6(_Inplace):
    """min(max(x, 0), 6)."""

    def forward(self, input):
        return F.relu6(input)


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return _with_inplace(self, f"min_val={self.min_val}, max_val={self.max_val}")


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class LogSigmoid(Module):
    """log(sigmoid(x)), computed stably."""

    def forward(self, input):
        return F.logsigmoid(input)


class GELU(Module):
    """x * Phi(x) (Phi the standard normal CDF); ``approximate="tanh"`` uses the tanh formula."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Inplace):
    """x * sigmoid(x)."""

    def forward(self, input):
        return F.silu(input)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return _with_inplace(self, f"negative_slope={self.negative_slope}")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return _with_inplace(self, f"alpha={self.alpha}")


class Softplus(Module):
    """log(1 + exp(beta x)) / beta (linear above ``threshold``)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class _AlongDim(Module):
    """Softmax, LogSoftmax and Softmin: ``_function`` applied along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return self._function(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """exp(x_i) / sum_j exp(x_j) along ``dim``."""

    _function = staticmethod(F.softmax)


class LogSoftmax(_AlongDim):
    """log(softmax(x)) along ``dim``, computed stably (pair it with NLLLoss)."""

    _function = staticmethod(F.log_softmax)


class Softmin(_AlongDim):
    """softmax(-x) along ``dim``."""

    _function = staticmethod(F.softmin)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""

    def forward(self, input):
        return F.mish(input)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6: 0 below -3, x above 3, a parabola between."""

    def forward(self, input):
        return F.hardswish(input)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between."""

    def forward(self, input):
        return F.hardsigmoid(input)


class PReLU(Module):
    """x if x > 0 else a * x, with a learned slope ``a``: parameter ``weight`` of shape
    ``(num_parameters,)``, initialised to ``init`` (0.25). ``num_parameters`` is 1 (one
    slope shared) or the number of channels (dim 1 of the input)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters <= 0:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.full((num_parameters,), float(init), dtype=dtype, device=device))

    def reset_parameters(self):
        """Set every slope back to ``init``."""
        _init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
