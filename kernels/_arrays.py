"""Which array library an array belongs to: the one place every kernel asks.

The reference kernels run on NumPy and CuPy arrays alike by calling the array's own
library (``xp.exp``, ``xp.zeros``, ...), and the GPU kernels hand anything that is
not a CuPy array to the reference. Both questions are answered here from the array's
type alone, so CuPy is imported only when a CuPy array is already in hand.
"""


def is_cupy(a):
    """True when ``a`` is a CuPy array (checked without importing CuPy)."""
    return type(a).__module__.split(".")[0] == "cupy"


def array_module(a):
    """numpy for NumPy arrays (and anything else), cupy for CuPy arrays."""
    if is_cupy(a):
        import cupy

        return cupy
    import numpy

    return numpy


def as_rows(x, dtype=None):
    """``x`` as a C-contiguous (rows, D) array over its last axis (D = 1 for a 0-d x),
    converted to ``dtype`` when given: a view when ``x`` already is both. The row
    kernels (softmax, layer norm) of every kernel set work on this layout."""
    D = x.shape[-1] if x.ndim else 1
    return array_module(x).ascontiguousarray(x, dtype=dtype).reshape(-1, D)
