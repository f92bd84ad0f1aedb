"""Hostile inputs for the sweep, and the rule every call must follow.

A call either returns, or raises ValueError/TypeError/RuntimeError/IndexError whose
message names the op the user called. Anything else (a raw NumPy error that names no
op, ZeroDivisionError, AttributeError, ...) is a finding.
"""
import numpy as np

import minigrad as mg

ALLOWED = (ValueError, TypeError, RuntimeError, IndexError)


def variants(shape=(2, 3)):
    """(label, array) pairs: dtypes, zero-size and 0-d shapes, odd memory layouts,
    non-finite and huge values. Every array is built fresh (tests may write)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal(shape).astype(np.float32)
    out = [
        ("float32", base),
        ("float64", base.astype(np.float64)),
        ("float16", base.astype(np.float16)),
        ("int64", (base * 3).astype(np.int64)),
        ("bool", base > 0),
        ("zero-rows", np.zeros((0,) + shape[1:], np.float32)),
        ("zero-cols", np.zeros(shape[:-1] + (0,), np.float32)),
        ("0-d", np.float32(1.5) * np.ones((), np.float32)),
        ("transposed", np.ascontiguousarray(base.T).T.copy(order="F")),
        ("reversed", base[::-1, ::-1]),
        ("stride-0", np.broadcast_to(base[:1], shape)),
        ("nan-inf", np.where(base > 0.5, np.nan, np.where(base < -0.5, np.inf, base)).astype(np.float32)),
        ("huge", base * np.float32(1e30)),
    ]
    ro = base.copy()
    ro.flags.writeable = False
    out.append(("read-only", ro))
    return out


def names_of(fn):
    """Names an error message of ``fn`` may use for it (lower case)."""
    name = getattr(fn, "__name__", type(fn).__name__)
    names = {name.lower(), name.lower().rstrip("_")}
    if name.endswith("_"):  # abs_ -> abs
        names.add(name[:-1].lower())
    if name == "getitem":  # x[key]
        names.add("index")
    return names


def check_call(label, names, call):
    """Run ``call``; return None if it follows the rule, else a description."""
    try:
        call()
    except ALLOWED as e:
        msg = str(e).lower().replace("_", "")
        if not any(n.replace("_", "") in msg for n in names):
            return f"{label}: {type(e).__name__} does not name {sorted(names)}: {e}"
        return None
    except Exception as e:  # noqa: BLE001  (any other type is itself the finding)
        return f"{label}: raised {type(e).__name__}: {e}"
    return None


def layer_names(name):
    """Names an error of layer class ``name`` may use: "BatchNorm1d" -> batchnorm1d, batchnorm."""
    names = {name.lower()}
    if name[-2:] in ("1d", "2d", "3d"):
        names.add(name[:-2].lower())
    return names
