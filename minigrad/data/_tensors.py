"""The data package's only contact with the Tensor class (imported lazily, so the
array-level parts of ``minigrad.data`` work and import without the engine)."""
from __future__ import annotations

import numpy as np


def tensor_class():
    from minigrad.tensor import Tensor
    return Tensor


def is_tensor(x) -> bool:
    try:
        T = tensor_class()
    except ImportError:
        return False
    return isinstance(x, T)


def to_array(x):
    """The raw array behind ``x`` (a Tensor's ``.array``; arrays pass through; other
    values through ``np.asarray``)."""
    if is_tensor(x):
        return x.array
    if isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        return x
    return np.asarray(x)


def to_numpy(x) -> np.ndarray:
    """Like :func:`to_array` but always a NumPy array (CuPy arrays are copied to the host)."""
    a = to_array(x)
    if not isinstance(a, np.ndarray):
        a = a.get() if hasattr(a, "get") else np.asarray(a)
    return a


def wrap(array, requires_grad: bool = False):
    """A minigrad Tensor around ``array`` (which the caller owns: no copy is needed)."""
    return tensor_class()(array, requires_grad=requires_grad)


def default_float_dtype():
    """minigrad's default float dtype (float32 unless changed), for Python floats."""
    try:
        from minigrad.tensor import get_default_dtype
    except ImportError:
        return np.dtype(np.float32)
    return np.dtype(get_default_dtype())
