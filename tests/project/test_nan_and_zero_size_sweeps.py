"""Two sweeps over every public op compared with PyTorch, in both kernel sets: NaN patterns
(NaN, +-inf, huge and tiny values) and zero-size shapes. The hostile-input cases with a known
right answer for single layers, losses and utilities live in the tests of their modules
(tests/nn/test_<module>.py, tests/ops/test_<family>.py)."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from _ops_helpers import A


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ----------------------------------------------------------------------------- PyTorch oracle

# Where minigrad knowingly differs from PyTorch on these values, and why.
NAN_DIFFERENCES = {
    "gelu": "PyTorch's exact gelu(+inf) is NaN and gelu(3e38) overflows to inf; minigrad gives x",
    "hardswish": "PyTorch computes x * (x + 3) / 6 and overflows to inf at 3e38; minigrad gives x",
    "sign": "PyTorch's sign(NaN) is 0; minigrad keeps the NaN (as NumPy)",
    "dropout": "random", "dropout2d": "random",
}


@pytest.mark.oracle
def test_nan_patterns_match_pytorch(kernel_set):
    """Every one-tensor public op that PyTorch also has, on NaN, +-inf, +-1e30, 3e38 and
    tiny values: NaN exactly where PyTorch has NaN, and the same values elsewhere."""
    torch = pytest.importorskip("torch")
    from test_public_api_sweep import FUNCTIONS, UNARY

    x = np.array([[0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, 1e-30, 0.5, -0.5]], np.float32)
    problems, compared = [], 0
    for name in UNARY:
        tfn = getattr(torch.nn.functional, name, None) or getattr(torch, name, None)
        if tfn is None or name in NAN_DIFFERENCES:
            continue
        try:
            t = tfn(torch.tensor(x))
        except (TypeError, RuntimeError):  # PyTorch needs more arguments: not comparable
            continue
        t = (t[0] if isinstance(t, tuple) else t).double().numpy()
        with np.errstate(all="ignore"):
            m = FUNCTIONS[name](mg.tensor(x))
        m = A(m[0] if isinstance(m, tuple) else m)
        compared += 1
        if m.shape != t.shape or not np.array_equal(np.isnan(m), np.isnan(t)) or \
                not np.allclose(m[~np.isnan(m)], t[~np.isnan(t)], rtol=1e-4, atol=1e-6):
            problems.append(f"{name}: minigrad {m.ravel()} torch {t.ravel()}")
    assert compared >= 30, compared
    assert not problems, "\n".join(problems)


@pytest.mark.oracle
def test_zero_size_shapes_match_pytorch(kernel_set):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    same = {  # name: (minigrad call, torch call, shapes)
        "conv2d batch 0": (F.conv2d, tF.conv2d, [(0, 3, 5, 5), (4, 3, 2, 2)]),
        "max_pool2d batch 0": (lambda x: F.max_pool2d(x, 2), lambda x: tF.max_pool2d(x, 2), [(0, 3, 6, 6)]),
        "softmax empty rows": (lambda x: F.softmax(x, -1), lambda x: tF.softmax(x, -1), [(3, 0)]),
        "layer_norm empty rows": (lambda x: F.layer_norm(x, (0,)), lambda x: tF.layer_norm(x, (0,)), [(3, 0)]),
        "linear 0 in": (F.linear, tF.linear, [(2, 0), (3, 0)]),
        "sdpa 0 keys": (F.scaled_dot_product_attention, tF.scaled_dot_product_attention,
                        [(1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)]),
    }
    for name, (mfn, tfn, shapes) in same.items():
        arrays = [np.ones(s, np.float32) for s in shapes]
        m = mfn(*[mg.tensor(a) for a in arrays])
        t = tfn(*[torch.tensor(a) for a in arrays])
        assert tuple(m.shape) == tuple(t.shape), name
        assert np.allclose(A(m), t.double().numpy()), name
