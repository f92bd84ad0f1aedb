"""Hypothesis strategies for tensors: shapes (incl. broadcast-compatible pairs, empty
and size-1 dims, up to 4-D) and float64 values bounded away from singularities."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcast_pairs(max_dims=4, min_side=1, max_side=4):
    """Two shapes that broadcast together."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda r: r.input_shapes)


def arrays(shape, low=-2.0, high=2.0, away_from=None, margin=0.1, dtype=np.float64):
    """Float arrays with values in [low, high]; ``away_from`` lists points (e.g. 0 for
    abs, or ties for max) to keep at least ``margin`` away from."""
    elems = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if away_from is not None:
        pts = list(away_from)
        elems = elems.filter(lambda v: all(abs(v - p) > margin for p in pts))
    return hnp.arrays(dtype, shape, elements=elems)


def distinct_arrays(shape, low=-2.0, high=2.0, gap=1e-3):
    """Arrays whose values are pairwise at least ``gap`` apart (no ties: max/min/sort safe)."""
    n = int(np.prod(shape)) if len(shape) else 1

    def build(seed):
        rng = np.random.default_rng(seed)
        vals = rng.permutation(np.linspace(low, high, max(n, 2)))[:n]
        vals = vals + rng.uniform(-gap / 4, gap / 4, n) if n > 1 else vals
        return vals.reshape(shape)
    return st.integers(0, 2 ** 32 - 1).map(build)


def tensor(arr, requires_grad=True):
    return minigrad.tensor(np.ascontiguousarray(arr), dtype=minigrad.float64, requires_grad=requires_grad)
