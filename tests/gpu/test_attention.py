"""Attention (kernels/cuda/attention.{cu,py}) on the GPU against the reference kernels: see
tests/gpu/_gpu_kernels.py for how inputs are drawn and compared. Marked ``gpu``."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import attention as ref_att

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import attention as gpu_att  # noqa: E402
from _gpu_kernels import GPU_SETTINGS, _host, _dev, _close, _rel  # noqa: E402
from _kernel_cases import check_sdpa_forward_rejects_bad_inputs  # noqa: E402


# around the tiles: 32 (float64 and d128 key tiles) and 64 (float32 query/key tiles)
T_SIZES = st.one_of(st.integers(1, 9), st.sampled_from([31, 32, 33, 63, 64, 65, 95, 127, 128, 129, 131]))
D_SIZES = st.one_of(st.integers(1, 9), st.sampled_from([16, 31, 32, 33, 63, 64, 65, 96, 127, 128]))


@st.composite
def attention_cases(draw):
    B, H = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    Tq, Tk = draw(T_SIZES), draw(T_SIZES)
    d, dv = draw(D_SIZES), draw(D_SIZES)
    mask_kind = draw(st.sampled_from([None, None, "bool", "float"]))
    keep = draw(st.tuples(*[st.booleans() for _ in range(4)]))
    mask_shape = tuple(n if k else 1 for n, k in zip((B, H, Tq, Tk), keep))
    if draw(st.booleans()):
        mask_shape = mask_shape[2:]
    layout = draw(st.sampled_from(["contiguous", "bthd", "broadcast"]))
    return dict(B=B, H=H, Tq=Tq, Tk=Tk, d=d, dv=dv, mask_kind=mask_kind, mask_shape=mask_shape,
                causal=draw(st.booleans()), layout=layout, seed=draw(st.integers(0, 2 ** 31)),
                scale=draw(st.one_of(st.none(), st.floats(0.05, 2.0))))


def _attention_inputs(c, dtype):
    rng = np.random.default_rng(c["seed"])
    B, H, Tq, Tk, d, dv = (c[n] for n in ("B", "H", "Tq", "Tk", "d", "dv"))

    def arr(T, e):
        return rng.standard_normal((B, H, T, e)).astype(dtype)

    q, k, v = arr(Tq, d), arr(Tk, d), arr(Tk, dv)
    gout = rng.standard_normal((B, H, Tq, dv)).astype(dtype)
    mask = None
    if c["mask_kind"] == "bool":
        mask = rng.random(c["mask_shape"]) > 0.3
    elif c["mask_kind"] == "float":
        mask = rng.standard_normal(c["mask_shape"]).astype(dtype)
        mask[rng.random(c["mask_shape"]) < 0.2] = -np.inf
    if c["layout"] == "broadcast":  # make batch entries equal so a stride-0 view has the same values
        for a in (q, k, v):
            a[:] = a[:1]
    return q, k, v, gout, mask


def _to_gpu_layout(a, layout):
    """The same values on the GPU, stored as the layout says."""
    if layout == "bthd":            # (B, T, H, d) storage viewed as (B, H, T, d): multi-head attention
        return cp.ascontiguousarray(cp.asarray(a).transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    if layout == "broadcast" and a.shape[0] > 1 and np.all(a == a[:1]):
        return cp.broadcast_to(cp.asarray(a[:1]), a.shape)          # stride 0 over the batch
    return cp.asarray(a)


def _attention_case_str(c, dtype):
    return (f"{np.dtype(dtype).name} B={c['B']} H={c['H']} Tq={c['Tq']} Tk={c['Tk']} d={c['d']} dv={c['dv']} "
            f"mask={c['mask_kind']}{c['mask_shape'] if c['mask_kind'] else ''} causal={c['causal']} "
            f"layout={c['layout']} scale={c['scale']}")


def _run_gpu_attention(q, k, v, gout, mask, c):
    qd, kd, vd = (_to_gpu_layout(a, c["layout"]) for a in (q, k, v))
    out, lse = gpu_att.sdpa_forward(qd, kd, vd, _dev(mask), c["causal"], c["scale"])
    grads = gpu_att.sdpa_backward(cp.asarray(gout), qd, kd, vd, out, lse, _dev(mask), c["causal"], c["scale"])
    return out, lse, grads


def _run_drawn_case(c, dtype):
    """A drawn case's host inputs (q, k, v, gout, mask), its description, and the GPU's
    (out, lse, (gq, gk, gv)) for them."""
    q, k, v, gout, mask = _attention_inputs(c, dtype)
    return (q, k, v, gout, mask), _attention_case_str(c, dtype), _run_gpu_attention(q, k, v, gout, mask, c)


@GPU_SETTINGS
@given(c=attention_cases())
def test_attention_float64_matches_reference(c):
    (q, k, v, gout, mask), case, (out, lse, grads) = _run_drawn_case(c, np.float64)
    rout, rlse = ref_att.sdpa_forward(q, k, v, mask, c["causal"], c["scale"])
    _close("sdpa_forward out", out, rout, 1e-10, case)
    _close("sdpa_forward lse", lse, rlse, 1e-10, case)
    rgrads = ref_att.sdpa_backward(gout, q, k, v, rout, rlse, mask, c["causal"], c["scale"])
    for name, g, r in zip(("gq", "gk", "gv"), grads, rgrads):
        assert g.dtype == np.float64, f"sdpa_backward {name}: dtype {g.dtype} ({case})"
        _close(f"sdpa_backward {name}", g, r, 1e-10, case)


@GPU_SETTINGS
@given(c=attention_cases())
def test_attention_float32_within_1e5_of_float64(c):
    (q, k, v, gout, mask), case, (out, lse, grads) = _run_drawn_case(c, np.float32)
    assert out.dtype == np.float32 and lse.dtype == np.float32, case
    up = [a.astype(np.float64) for a in (q, k, v, gout)]
    m64 = mask.astype(np.float64) if mask is not None and mask.dtype != bool else mask
    rout, rlse = ref_att.sdpa_forward(up[0], up[1], up[2], m64, c["causal"], c["scale"])
    _rel("sdpa_forward out", out, rout, 1e-5, case)
    lse_h = _host(lse).astype(np.float64)
    assert np.array_equal(np.isneginf(lse_h), np.isneginf(rlse)), f"lse: -inf rows differ ({case})"
    fin = np.isfinite(rlse)
    if fin.any():
        err = np.max(np.abs(lse_h[fin] - rlse[fin])) / max(1.0, np.max(np.abs(rlse[fin])))
        assert err < 1e-5, f"sdpa_forward lse: relative error {err:.3g} ({case})"
    rgrads = ref_att.sdpa_backward(up[3], up[0], up[1], up[2], rout, rlse, m64, c["causal"], c["scale"])
    sc = c["scale"] if c["scale"] is not None else 1 / np.sqrt(c["d"])
    D = np.max(np.abs(np.sum(up[3] * rout, axis=-1)), initial=0.0)
    terms = sc * D * max(np.max(np.abs(up[0]), initial=0.0), np.max(np.abs(up[1]), initial=0.0))
    for name, g, r in zip(("gq", "gk"), grads[:2], rgrads[:2]):
        assert g.dtype == np.float32, f"{name} dtype ({case})"
        _rel(f"sdpa_backward {name}", g, r, 1e-5, case, floor=max(1.0, terms))
    _rel("sdpa_backward gv", grads[2], rgrads[2], 1e-5, case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [32, 64, 128, 160])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_each_head_variant(dtype, d, causal):
    """Each compiled head-size variant (32, 64, 128) at its limit, and d=160 (reference fallback)."""
    c = dict(B=2, H=2, Tq=150, Tk=150, d=d, dv=d, mask_kind=None, mask_shape=(), causal=causal,
             layout="contiguous", seed=d, scale=None)
    q, k, v, gout, _ = _attention_inputs(c, dtype)
    out, lse, grads = _run_gpu_attention(q, k, v, gout, None, c)
    up = [a.astype(np.float64) for a in (q, k, v, gout)]
    rout, rlse = ref_att.sdpa_forward(up[0], up[1], up[2], None, causal, None)
    rgrads = ref_att.sdpa_backward(up[3], up[0], up[1], up[2], rout, rlse, None, causal, None)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    case = f"{np.dtype(dtype).name} d={d} causal={causal}"
    _rel("out", out, rout, tol, case)
    for name, g, r in zip(("gq", "gk", "gv"), grads, rgrads):
        _rel(name, g, r, tol, case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_fully_masked_rows_give_zeros(dtype):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 2, 70, 40)).astype(dtype) for _ in range(3))
    mask = np.ones((2, 1, 70, 70), bool)
    mask[0, 0, 1] = False
    mask[1] = False
    out, lse = gpu_att.sdpa_forward(cp.asarray(q), cp.asarray(k), cp.asarray(v), cp.asarray(mask), False, None)
    out, lse = _host(out), _host(lse)
    assert np.all(out[0, :, 1] == 0) and np.all(np.isneginf(lse[0, :, 1])), "row 1 of batch 0 must be 0 / -inf"
    assert np.all(out[1] == 0) and np.all(np.isneginf(lse[1])), "batch 1 is fully masked: 0 / -inf"
    assert np.all(np.isfinite(out)), "no NaN anywhere"
    gout = rng.standard_normal(out.shape).astype(dtype)
    gq, gk, gv = (_host(g) for g in gpu_att.sdpa_backward(
        cp.asarray(gout), cp.asarray(q), cp.asarray(k), cp.asarray(v), cp.asarray(out), cp.asarray(lse),
        cp.asarray(mask), False, None))
    assert all(np.all(np.isfinite(g)) for g in (gq, gk, gv)), "gradients must be finite"
    assert np.all(gq[0, :, 1] == 0) and np.all(gq[1] == 0) and np.all(gk[1] == 0) and np.all(gv[1] == 0)


def test_attention_empty_keys_and_queries():
    q = cp.zeros((1, 2, 3, 4))
    k = cp.zeros((1, 2, 0, 4))
    v = cp.zeros((1, 2, 0, 5))
    out, lse = gpu_att.sdpa_forward(q, k, v, None, False, None)
    assert out.shape == (1, 2, 3, 5) and bool(cp.all(out == 0)) and bool(cp.all(cp.isneginf(lse)))
    gq, gk, gv = gpu_att.sdpa_backward(cp.ones_like(out), q, k, v, out, lse, None, False, None)
    assert gq.shape == q.shape and bool(cp.all(gq == 0)) and gk.shape == k.shape and gv.shape == v.shape
    out, lse = gpu_att.sdpa_forward(cp.zeros((1, 1, 0, 4)), cp.zeros((1, 1, 3, 4)), cp.zeros((1, 1, 3, 4)))
    assert out.shape == (1, 1, 0, 4) and lse.shape == (1, 1, 0)


@pytest.mark.slow
@pytest.mark.parametrize("causal", [False, True])
def test_attention_long_sequence_float32(causal):
    """A realistic size (many key tiles per block, causal tile skipping and ordering)."""
    rng = np.random.default_rng(5)
    B, H, T, d = 2, 4, 1024, 64
    q, k, v, g = (rng.standard_normal((B, H, T, d)).astype(np.float32) for _ in range(4))
    qd, kd, vd = cp.asarray(q), cp.asarray(k), cp.asarray(v)
    out, lse = gpu_att.sdpa_forward(qd, kd, vd, None, causal, None)
    grads = gpu_att.sdpa_backward(cp.asarray(g), qd, kd, vd, out, lse, None, causal, None)
    up = [a.astype(np.float64) for a in (q, k, v, g)]
    rout, rlse = ref_att.sdpa_forward(up[0], up[1], up[2], None, causal, None)
    rgrads = ref_att.sdpa_backward(up[3], up[0], up[1], up[2], rout, rlse, None, causal, None)
    _rel("out", out, rout, 1e-5, f"T={T} causal={causal}")
    for name, gg, r in zip(("gq", "gk", "gv"), grads, rgrads):
        _rel(name, gg, r, 3e-5, f"T={T} causal={causal}")


def test_attention_bad_inputs_raise():
    check_sdpa_forward_rejects_bad_inputs(gpu_att.sdpa_forward, cp)


def test_attention_through_the_op_matches_cpu():
    """F.scaled_dot_product_attention on cuda tensors (registry -> these kernels) vs on the CPU."""
    import minigrad.nn.functional as F

    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 3, 37, 16)) for _ in range(3)]
    results = {}
    for dev in ("cpu", "cuda"):
        ts = [minigrad.tensor(a, requires_grad=True, device=dev) for a in arrays]
        out = F.scaled_dot_product_attention(*ts, is_causal=True)
        (out * out).sum().backward()
        results[dev] = [_host(out.array)] + [_host(t.grad.array) for t in ts]
    for name, a, b in zip(("out", "gq", "gk", "gv"), results["cuda"], results["cpu"]):
        _close(f"op {name}", a, b, 1e-10)
