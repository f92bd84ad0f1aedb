"""Parameter: a Tensor that a Module learns.

A Parameter is an ordinary :class:`~minigrad.tensor.Tensor` with two differences:
it requires a gradient by default, and assigning one to a Module attribute
(``self.weight = Parameter(...)``) registers it, so that ``module.parameters()``
finds it and an optimizer can update it. That is the whole trick: a Module is a
tree of named Parameters plus a ``forward`` that uses them.
"""
from __future__ import annotations

import numpy as np

from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A Tensor registered as a learnable weight when assigned to a Module attribute.

    ``Parameter(data)`` shares memory with ``data`` (a Tensor or an array), as in
    PyTorch; ``Parameter()`` is an empty float tensor.

    >>> w = Parameter(minigrad.zeros(2))
    >>> w
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.zeros((0,), dtype=get_default_dtype())
        elif isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # Pickle / deepcopy as (data, requires_grad); the gradient is not part of a parameter's value.
        return (_rebuild_parameter, (self.array, self.requires_grad))

    def __deepcopy__(self, memo):
        out = Parameter(self.array.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor(self.grad.array.copy())
        memo[id(self)] = out
        return out


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad=requires_grad)
