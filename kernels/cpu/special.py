"""Special functions as Numba ufuncs (``math.erf`` compiled to machine code)."""
import math

import numba
import numpy as np
from .._families import native_tables


def _erf_scalar(x):
    return math.erf(x)


_erf = None   # the ufunc, built on first use: building it loads both dtypes' machine code (0.5 s)


def erf(x):
    """Elementwise error function, same dtype as ``x`` (float32 or float64)."""
    global _erf
    if _erf is None:
        _erf = numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)(_erf_scalar)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    return _erf(x)


KERNELS, PREFERRED = native_tables("special", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) ``erf`` on tiny inputs of each of ``dtypes``."""
    for dt in dtypes:
        erf(np.zeros(2, dt))
