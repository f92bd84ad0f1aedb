"""LSTM and GRU layer kernels (kernels/{reference,cpu}/rnn.py): the Numba step kernels
against the NumPy reference on hypothesis-drawn sequences (both directions, both
layouts, with and without bias and initial states; float64 to 1e-12, float32 within
1e-5 of the float64 reference), the float32 sigmoid and tanh over the whole range,
NaN and inf through a layer, odd layouts and zero sizes, and the kernels' contracts."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels import cpu, reference
from minigrad.kernels.cpu import rnn as nat
from minigrad.kernels.reference import rnn as ref

GATES = {"lstm": 4, "gru": 3}


def _case(rng, kind, L, N, H, batch_first, bias, states, dtype=np.float64):
    """(forward args, the state given back to backward, gout) of one layer call."""
    G = GATES[kind]
    xw = rng.standard_normal((N, L, G * H) if batch_first else (L, N, G * H)) * 2
    w = rng.standard_normal((G * H, H)) / np.sqrt(max(H, 1))
    b = rng.standard_normal(G * H) if bias else None
    st_ = [rng.standard_normal((N, H)) if states else None for _ in range(2 if kind == "lstm" else 1)]
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    width = 2 * H if kind == "lstm" else H
    gout = rng.standard_normal(xw.shape[:-1] + (width,))
    return [cast(xw), cast(w), cast(b), *map(cast, st_)], cast(st_[-1]), cast(gout)


def _run(mod, kind, fwd_args, last_state, gout, reverse, batch_first, need_dh0=True):
    """Forward, then backward on the forward's own saved arrays: (fwd results, bwd results)."""
    fwd, bwd = getattr(mod, f"{kind}_forward"), getattr(mod, f"{kind}_backward")
    saved, out = fwd(*fwd_args, reverse, batch_first)
    return (saved, out), bwd(gout, saved, out, fwd_args[1], last_state, reverse, batch_first, need_dh0)


def _compare(got, want, rtol, atol):
    for g, w in zip(got, want):
        if w is None:               # dh0 without need_dh0
            assert g is None
            continue
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _relative_error(got, want):
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    return float(np.max(np.abs(got.astype(np.float64) - want))) / scale if want.size else 0.0


layers = st.fixed_dictionaries({
    "kind": st.sampled_from(["lstm", "gru"]), "L": st.integers(1, 6), "N": st.integers(1, 5),
    "H": st.integers(1, 37), "batch_first": st.booleans(), "reverse": st.booleans(),
    "bias": st.booleans(), "states": st.booleans(), "need_dh0": st.booleans(), "seed": st.integers(0, 2 ** 31)})


# ----------------------------------------------------------------------------- native vs reference

@given(c=layers)
@settings(max_examples=40, deadline=None)
def test_native_matches_reference_float64(c):
    rng = np.random.default_rng(c["seed"])
    args, last, gout = _case(rng, c["kind"], c["L"], c["N"], c["H"], c["batch_first"], c["bias"], c["states"])
    got = _run(nat, c["kind"], args, last, gout, c["reverse"], c["batch_first"], c["need_dh0"])
    want = _run(ref, c["kind"], args, last, gout, c["reverse"], c["batch_first"], c["need_dh0"])
    _compare(got[0], want[0], 1e-12, 1e-13)
    _compare(got[1], want[1], 1e-11, 1e-12)


@given(c=layers)
@settings(max_examples=25, deadline=None)
def test_native_float32_within_1e5_of_float64(c):
    rng = np.random.default_rng(c["seed"])
    args, last, gout = _case(rng, c["kind"], c["L"], c["N"], c["H"], c["batch_first"], c["bias"], c["states"])
    as32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    got = _run(nat, c["kind"], [as32(a) for a in args], as32(last), as32(gout), c["reverse"], c["batch_first"],
               c["need_dh0"])
    want = _run(ref, c["kind"], args, last, gout, c["reverse"], c["batch_first"], c["need_dh0"])
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        if w is None:
            assert g is None
            continue
        assert g.dtype == np.float32 and g.shape == w.shape
        assert _relative_error(g, w) < 1e-5


split_layers = st.fixed_dictionaries({
    "kind": st.just("lstm"), "L": st.integers(1, 5), "N": st.integers(2 * nat.SPLIT_ROWS, 40),
    "H": st.integers(1, 70), "batch_first": st.booleans(), "reverse": st.booleans(),
    "bias": st.booleans(), "states": st.booleans(), "need_dh0": st.booleans(), "seed": st.integers(0, 2 ** 31)})


def _two_threads():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    from minigrad.kernels.cpu import _runtime

    old = _runtime.get_num_threads()
    _runtime.set_num_threads(2)
    return old


@given(c=split_layers)
@settings(max_examples=25, deadline=None)
def test_lstm_split_by_batch_rows_matches_reference(c):
    """With two threads and 12 or more float32 batch rows the LSTM takes each half of the
    batch through all steps in its own task (``_lstm_forward_split`` and
    ``_lstm_backward_split``, the products on the packed GEMM's tile, k in two blocks
    when 4H > 256): float32 within 1e-5 of the float64 reference, and, forced to split
    in float64 too, the reference's numbers to 1e-12."""
    from minigrad.kernels.cpu import _runtime

    old = _two_threads()
    try:
        assert nat._split(c["N"], np.float32) == 2 and nat._split(c["N"], np.float64) == 1
        rng = np.random.default_rng(c["seed"])
        args, last, gout = _case(rng, "lstm", c["L"], c["N"], c["H"], c["batch_first"], c["bias"], c["states"])
        with pytest.MonkeyPatch.context() as m:
            m.setattr(nat, "_split", lambda N, dtype: 2)
            got = _run(nat, "lstm", args, last, gout, c["reverse"], c["batch_first"], c["need_dh0"])
        want = _run(ref, "lstm", args, last, gout, c["reverse"], c["batch_first"], c["need_dh0"])
        _compare(got[0], want[0], 1e-12, 1e-13)
        _compare(got[1], want[1], 1e-11, 1e-12)
        as32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
        got = _run(nat, "lstm", [as32(a) for a in args], as32(last), as32(gout), c["reverse"], c["batch_first"],
                   c["need_dh0"])
        for g, w in zip(got[0] + got[1], want[0] + want[1]):
            if w is not None:
                assert g.dtype == np.float32 and _relative_error(g, w) < 1e-5
    finally:
        _runtime.set_num_threads(old)


def test_lstm_split_with_a_wide_hidden_state(monkeypatch):
    """H = 300 (the forward's product also takes two blocks of k), 13 rows split 6 + 7,
    batch first, float64 forced to split."""
    from minigrad.kernels.cpu import _runtime

    old = _two_threads()
    try:
        rng = np.random.default_rng(5)
        args, last, gout = _case(rng, "lstm", 3, 13, 300, True, True, True)
        monkeypatch.setattr(nat, "_split", lambda N, dtype: 2)
        got = _run(nat, "lstm", args, last, gout, False, True)
        want = _run(ref, "lstm", args, last, gout, False, True)
        _compare(got[0], want[0], 1e-12, 1e-12)
        _compare(got[1], want[1], 1e-11, 1e-11)
    finally:
        _runtime.set_num_threads(old)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_registry_kernels_agree_on_odd_layouts_and_zero_sizes(kind):
    """Fortran-ordered, read-only and negative-stride inputs through the registry's
    kernel tables; sequences of length 0 and batches of 0."""
    rng = np.random.default_rng(3)
    for L, N, how in ((4, 3, "fortran"), (3, 2, "readonly"), (5, 2, "negative"), (0, 3, "plain"), (3, 0, "plain")):
        for bf in (False, True):
            args, last, gout = _case(rng, kind, L, N, 5, bf, True, True)
            args = [_layout(a, how) for a in args]
            tables = [t.KERNELS for t in (cpu, reference)]
            results = [_run_table(t, kind, args, _layout(last, how), _layout(gout, how), True, bf) for t in tables]
            _compare(results[0][0], results[1][0], 1e-12, 1e-13)
            _compare(results[0][1], results[1][1], 1e-11, 1e-12)


def _layout(a, how):
    if a is None or how == "plain":
        return a
    if how == "fortran":
        return np.asfortranarray(a)
    if how == "negative":
        return np.flip(np.flip(a).copy())
    b = a.copy()
    b.flags.writeable = False
    return b


def _run_table(table, kind, fwd_args, last_state, gout, reverse, batch_first):
    saved, out = table[f"{kind}_forward"](*fwd_args, reverse, batch_first)
    return (saved, out), table[f"{kind}_backward"](gout, saved, out, fwd_args[1], last_state, reverse, batch_first)


# ----------------------------------------------------------------------------- activations, NaN and inf

def test_float32_sigmoid_and_tanh_within_three_ulps():
    """Within 3 ulps wherever the exact value is a normal float32 (sigmoid(x) for x below
    -87 is subnormal: there the error is below the smallest normal float32)."""
    x = np.concatenate([np.linspace(-20, 20, 400_001), np.geomspace(1e-30, 1e-2, 1000),
                        -np.geomspace(1e-30, 1e-2, 1000), [0.0, 0.4999999, 0.5, 0.5000001, 100.0, -100.0]])
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    s, t = nat.activations(x)
    assert s.dtype == t.dtype == np.float32
    for got, want in ((s, 1 / (1 + np.exp(-x64))), (t, np.tanh(x64))):
        ulp = np.maximum(np.spacing(np.abs(want).astype(np.float32)), np.finfo(np.float32).tiny).astype(np.float64)
        err = np.abs(got.astype(np.float64) - want) / ulp
        assert err.max() <= 3, (x[err.argmax()], got[err.argmax()], want[err.argmax()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_of_the_activations(dtype):
    s, t = nat.activations(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30], dtype))
    assert np.isnan(s[0]) and s[1] == 1 and s[2] == 0 and s[3] == 0.5
    assert np.isnan(t[0]) and t[1] == 1 and t[2] == -1 and t[3] == 0 and np.signbit(t[4]) and t[5] == dtype(1e-30)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_go_where_the_reference_sends_them(kind, dtype):
    """A NaN in one pre-activation and +-inf in others: the same entries of every result
    are NaN, infinite or finite in both kernel sets, and the finite ones agree."""
    rng = np.random.default_rng(5)
    args, last, gout = _case(rng, kind, 4, 3, 6, False, True, True, dtype)
    args[0][1, 0, 2] = np.nan
    args[0][0, 2, 7] = np.inf
    args[0][2, 1, 1] = -np.inf
    got = _run(nat, kind, args, last, gout, False, False)
    want = _run(ref, kind, args, last, gout, False, False)
    tol = 1e-5 if dtype == np.float32 else 1e-11
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w))
        assert np.isnan(w).any() or w.ndim == 2
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- contracts

@pytest.mark.parametrize("table", [cpu.KERNELS, reference.KERNELS], ids=["native", "reference"])
def test_contracts_name_the_kernel(table):
    x, w = np.zeros((2, 3, 8)), np.zeros((8, 2))
    with pytest.raises(ValueError, match=r"lstm_forward: w_hh must have shape \(8, 2\)"):
        table["lstm_forward"](x, np.zeros((8, 3)), None, None, None)
    with pytest.raises(ValueError, match="lstm_forward: xw must be 3-D"):
        table["lstm_forward"](np.zeros((3, 8)), w, None, None, None)
    with pytest.raises(ValueError, match=r"gru_forward: xw's last dim must be 3 \* hidden_size"):
        table["gru_forward"](x, w, None, None)
    with pytest.raises(ValueError, match=r"lstm_forward: c0 must have shape \(3, 2\)"):
        table["lstm_forward"](x, w, None, None, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"lstm_forward: b_hh must have shape \(8,\)"):
        table["lstm_forward"](x, w, np.zeros(4), None, None)
    gates, out = table["lstm_forward"](x, w, None, None, None, False, True)
    with pytest.raises(ValueError, match="lstm_backward: gradient shape"):
        table["lstm_backward"](out[:, :1], gates, out, w, None, False, True)
    with pytest.raises(ValueError, match="lstm_backward: the forward's arrays do not match"):
        table["lstm_backward"](out, gates, out, w, None, False, False)
