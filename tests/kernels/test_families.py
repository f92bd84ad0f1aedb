"""Every native kernel family against its reference on the layouts users pass.

Read-only, Fortran-ordered (a transposed view's memory layout) and negative-stride
inputs, in float32 and float64. A read-only input must also reuse the kernel's
compiled code instead of compiling a second specialisation (seconds to a minute each).
"""
import numpy as np
import pytest

import minigrad  # noqa: F401  (makes minigrad.kernels importable from the source tree)
from minigrad.kernels import cpu, reference

RNG = np.random.default_rng(0)


def _cases(dt):
    x2 = RNG.standard_normal((5, 7)).astype(dt)
    img = RNG.standard_normal((3, 2, 6, 6)).astype(dt)
    w = RNG.standard_normal((4, 2, 3, 3)).astype(dt)
    table = RNG.standard_normal((9, 4)).astype(dt)
    return {
        "softmax": (x2,),
        "log_softmax": (x2,),
        "gelu": (x2, "none"),
        "layer_norm_forward": (x2, RNG.standard_normal(7).astype(dt), RNG.standard_normal(7).astype(dt), 1e-5),
        "conv2d_forward": (img, w, RNG.standard_normal(4).astype(dt), (1, 1), (1, 1), (1, 1), 1),
        "conv2d_grad_weight": (RNG.standard_normal((3, 4, 6, 6)).astype(dt), img, w.shape, (1, 1), (1, 1), (1, 1), 1),
        "max_pool2d_forward": (img, (2, 2), (2, 2), (0, 0), (1, 1), False),
        "embedding_forward": (table, np.array([0, 8, 3, 3])),
        "cross_entropy_forward": (x2, np.array([0, 6, 2, 1, 3]), None, -100, 0.0),
        "matmul": (x2, x2.T.copy()),
    }


def _layout(a, how):
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        return a
    if how == "readonly":
        b = a.copy()
        b.flags.writeable = False
    elif how == "fortran":
        b = np.asfortranarray(a)
    elif how == "negative":
        b = np.flip(np.flip(a).copy())       # same values, every stride negative
    else:
        b = a
    np.testing.assert_array_equal(b, a)
    return b


def _close(got, want, dt):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, dt)
        return
    tol = 2e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("how", ["plain", "readonly", "fortran", "negative"])
def test_native_matches_reference_on_every_layout(dt, how):
    missing = []
    for name, args in _cases(dt).items():
        if name not in cpu.KERNELS or name not in reference.KERNELS:
            missing.append(name)
            continue
        want = reference.KERNELS[name](*args)
        got = cpu.KERNELS[name](*[_layout(a, how) for a in args])
        _close(got, want, dt)
    assert not missing, f"no native or reference kernel named {missing}"


def _signature_count():
    import numba

    n = 0
    for mod in cpu._MODULES:
        for v in vars(mod).values():
            if isinstance(v, numba.core.registry.CPUDispatcher):
                n += len(v.signatures)
    return n


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_read_only_inputs_reuse_the_compiled_code(dt):
    cases = _cases(dt)
    for name, args in cases.items():
        cpu.KERNELS[name](*args)
    before = _signature_count()
    for name, args in cases.items():
        cpu.KERNELS[name](*[_layout(a, "readonly") for a in args])
    assert _signature_count() == before
