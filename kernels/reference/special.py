"""Special functions NumPy lacks (reference versions).

``erf`` is needed by the exact GELU. NumPy has no erf, so the reference applies
Python's ``math.erf`` (correctly rounded to double precision) element by element:
slow, but exact, which is what a reference is for.
"""
import math

import numpy as np
from .._families import kernel_table

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """Elementwise error function, same dtype as ``x``."""
    if type(x) is not np.ndarray and not np.isscalar(x):  # a CuPy array
        from cupyx.scipy.special import erf as cupy_erf  # part of CuPy

        return cupy_erf(x)
    return np.asarray(_erf_scalar(x), dtype=np.result_type(x, np.float32) if np.asarray(x).dtype.kind != "f"
                      else np.asarray(x).dtype)


KERNELS = kernel_table("special", globals())   # op name -> the function of that name above
