"""CUDA kernels of conv, pool, attention, softmax/cross-entropy and layer norm
(kernels/cuda/{conv,pool,attention,softmax,norm}.{cu,py}) against the reference
kernels run by NumPy on the CPU.

Every input is drawn on the host, copied to the GPU, and the GPU result copied back
and compared with the reference computed from the *same host arrays*. Shapes are
drawn by hypothesis around the tile sizes of each kernel (attention tiles are 32 or
64 rows, the softmax/norm kernels switch from a warp to a block per row above 1024
columns), with odd sizes, strided views, masks and every geometry option.

Tolerances: float64 results agree with the float64 reference to 1e-10 (absolute,
inputs are O(1)); float32 results stay within 1e-5 of the float64 reference
relative to max(1, the largest entry) (attention gradients: relative to the size of
the terms that cancel, as in tests/kernels/test_attention_kernels.py).

The whole file is marked ``gpu``: tests/conftest.py skips it without CuPy and a GPU.
Failure messages name the kernel, the case and the worst error.
"""
import inspect
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.reference import attention as ref_att
from minigrad.kernels.reference import conv as ref_conv
from minigrad.kernels.reference import norm as ref_norm
from minigrad.kernels.reference import pool as ref_pool
from minigrad.kernels.reference import softmax as ref_sm

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy")

from minigrad.kernels.cuda import attention as gpu_att  # noqa: E402
from minigrad.kernels.cuda import conv as gpu_conv  # noqa: E402
from minigrad.kernels.cuda import norm as gpu_norm  # noqa: E402
from minigrad.kernels.cuda import pool as gpu_pool  # noqa: E402
from minigrad.kernels.cuda import softmax as gpu_sm  # noqa: E402

GPU_SETTINGS = settings(max_examples=25, deadline=None)


def _host(a):
    return cp.asnumpy(a) if isinstance(a, cp.ndarray) else a


def _dev(a):
    return None if a is None else cp.asarray(a)


def _close(name, got, want, atol, case=""):
    """assert max |got - want| <= atol, with NaN/inf positions equal; a clear message otherwise."""
    got = _host(got)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != reference {want.shape} ({case})"
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaN positions differ ({case})"
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), f"{name}: infinities differ ({case})"
    fin = np.isfinite(want)
    if fin.any():
        err = float(np.max(np.abs(got[fin].astype(np.float64) - want[fin])))
        assert err <= atol, f"{name}: max abs error {err:.3g} > {atol:.3g} ({case})"


def _rel(name, got, want, tol, case="", floor=1.0):
    """max |got - want| / max(floor, max |want|) <= tol."""
    got = _host(got).astype(np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != reference {want.shape} ({case})"
    if want.size == 0:
        return
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), fin), f"{name}: non-finite positions differ ({case})"
    if not fin.any():
        return
    scale = max(floor, float(np.max(np.abs(want[fin]))))
    err = float(np.max(np.abs(got[fin] - want[fin]))) / scale
    assert err <= tol, f"{name}: relative error {err:.3g} > {tol:.3g} ({case})"


# ============================================================================= attention

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


def _broadcastable(c, q, k, v):
    if c["layout"] == "broadcast":  # make batch entries equal so a stride-0 view has the same values
        for a in (q, k, v):
            a[:] = a[:1]


@GPU_SETTINGS
@given(c=attention_cases())
def test_attention_float64_matches_reference(c):
    q, k, v, gout, mask = _attention_inputs(c, np.float64)
    _broadcastable(c, q, k, v)
    case = _attention_case_str(c, np.float64)
    out, lse, grads = _run_gpu_attention(q, k, v, gout, mask, c)
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
    q, k, v, gout, mask = _attention_inputs(c, np.float32)
    _broadcastable(c, q, k, v)
    case = _attention_case_str(c, np.float32)
    out, lse, grads = _run_gpu_attention(q, k, v, gout, mask, c)
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
    x = cp.zeros((1, 1, 3, 4))
    with pytest.raises(ValueError, match="sdpa_forward"):
        gpu_att.sdpa_forward(x, cp.zeros((1, 1, 3, 5)), x, None, False, None)
    with pytest.raises(ValueError, match="4-D"):
        gpu_att.sdpa_forward(x[0], x[0], x[0], None, False, None)
    with pytest.raises(TypeError, match="dtype"):
        gpu_att.sdpa_forward(x.astype(np.float32), x, x, None, False, None)
    with pytest.raises(ValueError, match="broadcast"):
        gpu_att.sdpa_forward(x, x, x, cp.zeros((2, 3)), False, None)


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


# ============================================================================= softmax / cross-entropy

COLS = st.one_of(st.integers(1, 70), st.sampled_from([127, 128, 129, 1023, 1024, 1025, 2049]))


def _logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@GPU_SETTINGS
@given(rows=st.integers(0, 9), cols=COLS, seed=st.integers(0, 2 ** 31), lead=st.booleans(),
       fortran=st.booleans())
def test_softmax_family_float64(rows, cols, seed, lead, fortran):
    rng = np.random.default_rng(seed)
    shape = (2, rows, cols) if lead else (rows, cols)
    x, g = _logits(rng, shape, np.float64), _logits(rng, shape, np.float64)
    xd = cp.asfortranarray(cp.asarray(x)) if fortran else cp.asarray(x)
    case = f"shape={shape} fortran={fortran}"
    for name in ("softmax", "log_softmax"):
        y = getattr(gpu_sm, name)(xd)
        r = getattr(ref_sm, name)(x)
        _close(name, y, r, 1e-10, case)
        bname = name + "_backward"
        _close(bname, getattr(gpu_sm, bname)(cp.asarray(g), cp.asarray(r)), getattr(ref_sm, bname)(g, r), 1e-10, case)


@GPU_SETTINGS
@given(rows=st.integers(1, 9), cols=COLS, seed=st.integers(0, 2 ** 31))
def test_softmax_family_float32(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x, g = _logits(rng, (rows, cols), np.float32), _logits(rng, (rows, cols), np.float32)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    case = f"shape={(rows, cols)}"
    for name in ("softmax", "log_softmax"):
        y = getattr(gpu_sm, name)(cp.asarray(x))
        assert y.dtype == np.float32
        _rel(name, y, getattr(ref_sm, name)(x64), 1e-5, case)
        r32 = getattr(ref_sm, name)(x)
        bname = name + "_backward"
        got = getattr(gpu_sm, bname)(cp.asarray(g), cp.asarray(r32))
        _rel(bname, got, getattr(ref_sm, bname)(g64, r32.astype(np.float64)), 1e-5, case)


@pytest.mark.parametrize("cols", [5, 2000])
def test_softmax_special_values(cols):
    """Logits of 1e4 do not overflow; a -inf entry gets probability 0; NaN rows stay NaN like the reference."""
    x = np.zeros((4, cols))
    x[0, 0] = 1e4
    x[1, 1] = -np.inf
    x[2, :] = -np.inf
    x[3, 2] = np.nan
    for name in ("softmax", "log_softmax"):
        _close(name, getattr(gpu_sm, name)(cp.asarray(x)), getattr(ref_sm, name)(x), 1e-12, f"cols={cols}")


@st.composite
def ce_cases(draw):
    N = draw(st.integers(1, 9))
    C = draw(COLS)
    return dict(N=N, C=C, soft=draw(st.booleans()), weight=draw(st.booleans()),
                smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])), ignore=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 31)))


def _ce_inputs(c, dtype):
    rng = np.random.default_rng(c["seed"])
    N, C = c["N"], c["C"]
    x = _logits(rng, (N, C), dtype)
    if c["soft"]:
        t = rng.random((N, C)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, C, N)
        if c["ignore"]:
            t[rng.random(N) < 0.3] = -100
    w = rng.uniform(0.5, 2.0, C).astype(dtype) if c["weight"] else None
    g = rng.standard_normal(N).astype(dtype)
    return x, t, w, g


@GPU_SETTINGS
@given(c=ce_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_cross_entropy_matches_reference(c, dtype):
    x, t, w, g = _ce_inputs(c, dtype)
    case = f"{np.dtype(dtype).name} {c}"
    loss, lse = gpu_sm.cross_entropy_forward(cp.asarray(x), cp.asarray(t), _dev(w), -100, c["smoothing"])
    assert loss.dtype == dtype and lse.dtype == np.float64, case
    up = (lambda a: None if a is None else a.astype(np.float64))
    rloss, rlse = ref_sm.cross_entropy_forward(up(x), t if not c["soft"] else up(t), up(w), -100, c["smoothing"])
    tol = 1e-10 if dtype == np.float64 else 1e-5
    _rel("cross_entropy_forward loss", loss, rloss, tol, case)
    _rel("cross_entropy_forward lse", lse, rlse, tol, case)
    dx = gpu_sm.cross_entropy_backward(cp.asarray(g), cp.asarray(x), cp.asarray(t), _dev(w), -100,
                                       c["smoothing"], lse)
    rdx = ref_sm.cross_entropy_backward(up(g), up(x), t if not c["soft"] else up(t), up(w), -100,
                                        c["smoothing"], rlse)
    assert dx.dtype == dtype
    _rel("cross_entropy_backward", dx, rdx, tol, case)


def test_cross_entropy_broadcast_grad_and_large_logits():
    x = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], np.float32)
    t = np.array([0, 2])
    loss, lse = gpu_sm.cross_entropy_forward(cp.asarray(x), cp.asarray(t))
    rloss, rlse = ref_sm.cross_entropy_forward(x, t)
    _close("loss", loss, rloss, 1e-6)
    g = cp.broadcast_to(cp.asarray(np.float32(0.5)), (2,))        # stride-0 grad, as the mean reduction passes
    dx = gpu_sm.cross_entropy_backward(g, cp.asarray(x), cp.asarray(t), None, -100, 0.0, lse)
    _close("dx", dx, ref_sm.cross_entropy_backward(np.full(2, 0.5, np.float32), x, t, None, -100, 0.0, rlse), 1e-6)


# ============================================================================= layer norm

@GPU_SETTINGS
@given(rows=st.integers(0, 300), D=COLS, seed=st.integers(0, 2 ** 31), dtype=st.sampled_from([np.float32, np.float64]),
       affine=st.sampled_from(["both", "weight", "bias", "none"]), offset=st.sampled_from([0.0, 10.0]))
def test_layer_norm_matches_reference(rows, D, seed, dtype, affine, offset):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, D)) + offset).astype(dtype)
    gy = rng.standard_normal((rows, D)).astype(dtype)
    w = rng.standard_normal(D).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(D).astype(dtype) if affine in ("both", "bias") else None
    case = f"{np.dtype(dtype).name} rows={rows} D={D} affine={affine} offset={offset}"
    y, mean, rstd = gpu_norm.layer_norm_forward(cp.asarray(x), _dev(w), _dev(b), 1e-5)
    up = (lambda a: None if a is None else a.astype(np.float64))
    ry, rmean, rrstd = ref_norm.layer_norm_forward(up(x), up(w), up(b), 1e-5)
    # float32: an offset of 10 costs about 3 bits (x - mean cancels them)
    tol = 1e-10 if dtype == np.float64 else (1e-5 if offset == 0 else 1e-4)
    _rel("layer_norm_forward y", y, ry, tol, case)
    _rel("layer_norm_forward mean", mean, rmean, tol, case)
    _rel("layer_norm_forward rstd", rstd, rrstd, tol, case)
    gx, gw, gb = gpu_norm.layer_norm_backward(cp.asarray(gy), cp.asarray(x), _dev(w), mean, rstd)
    rgx, rgw, rgb = ref_norm.layer_norm_backward(up(gy), up(x), up(w), rmean, rrstd)
    _rel("layer_norm_backward gx", gx, rgx, tol, case)
    # gw, gb are sums over `rows` rows: allow the float32 error of such a sum
    ftol = tol * max(1.0, np.sqrt(rows))
    _rel("layer_norm_backward gw", gw, rgw, ftol, case)
    _rel("layer_norm_backward gb", gb, rgb, ftol, case)


def test_layer_norm_many_rows_uses_several_chunks():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5000, 3, 40))
    gy = rng.standard_normal(x.shape)
    w = rng.standard_normal(40)
    y, m, r = gpu_norm.layer_norm_forward(cp.asarray(x), cp.asarray(w), None, 1e-5)
    assert y.shape == x.shape and m.shape == (5000, 3)
    gx, gw, gb = gpu_norm.layer_norm_backward(cp.asarray(gy), cp.asarray(x), cp.asarray(w), m, r)
    ry, rm, rr = ref_norm.layer_norm_forward(x, w, None, 1e-5)
    rgx, rgw, rgb = ref_norm.layer_norm_backward(gy, x, w, rm, rr)
    for name, a, b in (("y", y, ry), ("gx", gx, rgx), ("gw", gw, rgw), ("gb", gb, rgb)):
        _rel(name, a, b, 1e-10, "x (5000, 3, 40)")


# ============================================================================= pooling

@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    ceil_mode, include_pad = draw(st.booleans()), draw(st.booleans())
    min_h = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0])
    min_w = max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1])
    h = draw(st.integers(min_h, max(min_h, 13)))
    w = draw(st.integers(min_w, max(min_w, 13)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, k, s, p, d, ceil_mode, include_pad


@GPU_SETTINGS
@given(case=pool_cases(), seed=st.integers(0, 2 ** 31), ties=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_max_pool_matches_reference_exactly(case, seed, ties, dtype):
    shape, k, s, p, d, ceil_mode, _ = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape)
    if ties:
        x = np.round(x)
    x = x.astype(dtype)
    desc = f"{np.dtype(dtype).name} x={shape} k={k} s={s} p={p} d={d} ceil={ceil_mode} ties={ties}"
    y, ind = gpu_pool.max_pool2d_forward(cp.asarray(x), k, s, p, d, ceil_mode)
    ry, rind = ref_pool.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    assert np.array_equal(_host(y), ry), f"max_pool2d_forward values differ ({desc})"
    assert np.array_equal(_host(ind), rind), f"max_pool2d_forward indices differ ({desc})"
    gy = rng.standard_normal(ry.shape).astype(dtype)
    gx = gpu_pool.max_pool2d_backward(cp.asarray(gy), ind, shape)
    rgx = ref_pool.max_pool2d_backward(gy, rind, shape)
    _close("max_pool2d_backward", gx, rgx, 1e-12 if dtype == np.float64 else 1e-5, desc)


def test_max_pool_nan_and_dilated_empty_windows():
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [5.0, 6.0, 7.0, 8.0]]]])
    for args in (((2, 2), (2, 2), (0, 0), (1, 1), False), ((2, 2), (1, 1), (1, 1), (3, 3), True)):
        y, ind = gpu_pool.max_pool2d_forward(cp.asarray(x), *args)
        ry, rind = ref_pool.max_pool2d_forward(x, *args)
        assert np.array_equal(_host(y), ry, equal_nan=True), f"values {args}"
        assert np.array_equal(_host(ind), rind), f"indices {args}"


@GPU_SETTINGS
@given(case=pool_cases(), seed=st.integers(0, 2 ** 31), dtype=st.sampled_from([np.float32, np.float64]))
def test_avg_pool_matches_reference(case, seed, dtype):
    shape, k, s, p, _, ceil_mode, include_pad = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape).astype(dtype)
    desc = f"{np.dtype(dtype).name} x={shape} k={k} s={s} p={p} ceil={ceil_mode} include_pad={include_pad}"
    tol = 1e-12 if dtype == np.float64 else 1e-5
    y = gpu_pool.avg_pool2d_forward(cp.asarray(x), k, s, p, ceil_mode, include_pad)
    ry = ref_pool.avg_pool2d_forward(x, k, s, p, ceil_mode, include_pad)
    _close("avg_pool2d_forward", y, ry, tol, desc)
    gy = rng.standard_normal(ry.shape).astype(dtype)
    gx = gpu_pool.avg_pool2d_backward(cp.asarray(gy), shape, k, s, p, ceil_mode, include_pad)
    _close("avg_pool2d_backward", gx, ref_pool.avg_pool2d_backward(gy, shape, k, s, p, ceil_mode, include_pad),
           tol, desc)


# ============================================================================= convolution

@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    cin_g = draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 11 if groups == 1 else 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h = draw(st.integers(min_h, max(min_h, 12)))
    w = draw(st.integers(min_w, max(min_w, 12)))
    n = draw(st.integers(1, 3))
    return (n, groups * cin_g, h, w), (groups * cout_g, cin_g, kh, kw), stride, padding, dilation, groups


# (a parameter, not a fixture: hypothesis refuses function-scoped fixtures, which would
# not be reset between its examples)
@pytest.mark.parametrize("conv_gemm", ["cublas", "minigrad"])
@GPU_SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2 ** 31), bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), chunked=st.booleans())
def test_conv_matches_reference(conv_gemm, case, seed, bias, dtype, chunked):
    x_shape, w_shape, *conf = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(dtype)
    w = rng.uniform(-1, 1, w_shape).astype(dtype)
    b = rng.uniform(-1, 1, w_shape[0]).astype(dtype) if bias else None
    up = (lambda a: None if a is None else a.astype(np.float64))
    ry = ref_conv.conv2d_forward(up(x), up(w), up(b), *conf)
    gy = rng.uniform(-1, 1, ry.shape).astype(dtype)
    desc = f"{np.dtype(dtype).name} gemm={conv_gemm} x={x_shape} w={w_shape} conf={conf} bias={bias} chunked={chunked}"
    old_limit, old_gemm = gpu_conv.COLS_LIMIT, gpu_conv.GEMM
    gpu_conv.GEMM = conv_gemm
    if chunked:                      # force one sample per chunk
        gpu_conv.COLS_LIMIT = 1
    try:
        y = gpu_conv.conv2d_forward(cp.asarray(x), cp.asarray(w), _dev(b), *conf)
        gx = gpu_conv.conv2d_grad_input(cp.asarray(gy), cp.asarray(w), x_shape, *conf)
        gw = gpu_conv.conv2d_grad_weight(cp.asarray(gy), cp.asarray(x), w_shape, *conf)
    finally:
        gpu_conv.COLS_LIMIT, gpu_conv.GEMM = old_limit, old_gemm
    # float32: relative to the size of the summed terms (|x| * |w| <= 1, K of them)
    K = w_shape[1] * w_shape[2] * w_shape[3]
    tol = 1e-10 if dtype == np.float64 else 1e-6 * max(K, 1)
    _close("conv2d_forward", y, ry, tol, desc)
    _close("conv2d_grad_input", gx, ref_conv.conv2d_grad_input(up(gy), up(w), x_shape, *conf), tol, desc)
    npix = x_shape[0] * ry.shape[2] * ry.shape[3]
    wtol = 1e-10 if dtype == np.float64 else 1e-6 * max(npix, 1)
    _close("conv2d_grad_weight", gw, ref_conv.conv2d_grad_weight(up(gy), up(x), w_shape, *conf), wtol, desc)


@GPU_SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2 ** 31))
def test_unfold_fold_match_reference(case, seed):
    x_shape, w_shape, stride, padding, dilation, _ = case
    kernel = w_shape[2:]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape)
    cols = gpu_conv.unfold(cp.asarray(x), kernel, stride, padding, dilation)
    rcols = ref_conv.unfold(x, kernel, stride, padding, dilation)
    desc = f"x={x_shape} k={kernel} s={stride} p={padding} d={dilation}"
    _close("unfold", cols, rcols, 0.0, desc)
    back = gpu_conv.fold(cols, x_shape[2:], kernel, stride, padding, dilation)
    _close("fold", back, ref_conv.fold(rcols, x_shape[2:], kernel, stride, padding, dilation), 1e-12, desc)


# ============================================================================= registry and fallbacks

@pytest.mark.parametrize("op,module", [
    ("conv2d_forward", gpu_conv), ("conv2d_grad_input", gpu_conv), ("conv2d_grad_weight", gpu_conv),
    ("unfold", gpu_conv), ("fold", gpu_conv),
    ("max_pool2d_forward", gpu_pool), ("max_pool2d_backward", gpu_pool),
    ("avg_pool2d_forward", gpu_pool), ("avg_pool2d_backward", gpu_pool),
    ("sdpa_forward", gpu_att), ("sdpa_backward", gpu_att),
    ("softmax", gpu_sm), ("log_softmax", gpu_sm), ("softmax_backward", gpu_sm),
    ("log_softmax_backward", gpu_sm), ("cross_entropy_forward", gpu_sm), ("cross_entropy_backward", gpu_sm),
    ("layer_norm_forward", gpu_norm), ("layer_norm_backward", gpu_norm),
])
def test_registry_serves_these_kernels_on_cuda(op, module):
    from minigrad.backend import get_kernel

    def kernel():  # the kernel behind the registry's entry check
        k = get_kernel(op, "cuda")
        return inspect.unwrap(k)

    with minigrad.kernels.use("native"):
        assert kernel() is module.KERNELS[op], f"native kernel for {op!r} on cuda"
    with minigrad.kernels.use("reference"):
        assert kernel() is not module.KERNELS[op]


def test_float16_falls_back_to_the_reference():
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float16)
    y = gpu_sm.softmax(cp.asarray(x))
    assert y.dtype == np.float16
    _close("softmax float16", y.astype(np.float64), ref_sm.softmax(x).astype(np.float64), 2e-3)


def test_warmup_compiles_every_family():
    for mod in (gpu_att, gpu_conv, gpu_norm, gpu_pool, gpu_sm):
        mod.warmup()
    cp.cuda.Device().synchronize()
