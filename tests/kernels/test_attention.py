"""Fused attention kernels: the Numba version against the reference on hypothesis-drawn
shapes (odd sizes around the block sizes, broadcast masks, causal, non-contiguous
inputs), float64 to 1e-10 and float32 within 1e-5 (relative to the largest entry)
of the float64 result; plus the fully-masked-row convention and PyTorch's values.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import attention as nat
from minigrad.kernels.reference import attention as ref
from _kernel_cases import check_sdpa_forward_rejects_bad_inputs

# Sizes up to 2 blocks + 3, so every kernel meets full blocks, partial blocks and tails.
MAX_T = 2 * nat.KEY_BLOCK + 3
MAX_D = 2 * nat.TILE_W + 3


@st.composite
def attention_cases(draw, max_t=MAX_T, max_d=MAX_D):
    B = draw(st.integers(1, 2))
    H = draw(st.integers(1, 2))
    Tq = draw(st.integers(1, max_t))
    Tk = draw(st.integers(1, max_t))
    d = draw(st.integers(1, max_d))
    dv = draw(st.integers(1, max_d))
    mask_kind = draw(st.sampled_from([None, "bool", "float"]))
    # mask shape: each of the 4 axes either full or broadcast (size 1)
    full = (B, H, Tq, Tk)
    keep = draw(st.tuples(*[st.booleans() for _ in range(4)]))
    mask_shape = tuple(n if k else 1 for n, k in zip(full, keep))
    if draw(st.booleans()):          # also try masks with fewer dimensions
        mask_shape = mask_shape[2:]
    causal = draw(st.booleans())
    contiguous = draw(st.booleans())
    seed = draw(st.integers(0, 2 ** 31))
    return (B, H, Tq, Tk, d, dv), mask_kind, mask_shape, causal, contiguous, seed


def _make(shapes, mask_kind, mask_shape, contiguous, seed, dtype=np.float64):
    B, H, Tq, Tk, d, dv = shapes
    rng = np.random.default_rng(seed)

    def arr(*shape):
        a = rng.standard_normal(shape)
        if not contiguous:  # (B, T, H, d) storage viewed as (B, H, T, d), as in multi-head attention
            a = np.ascontiguousarray(a.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
        return a.astype(dtype)

    q, k, v = arr(B, H, Tq, d), arr(B, H, Tk, d), arr(B, H, Tk, dv)
    gout = rng.standard_normal((B, H, Tq, dv)).astype(dtype)
    mask = None
    if mask_kind == "bool":
        mask = rng.random(mask_shape) > 0.3
    elif mask_kind == "float":
        mask = rng.standard_normal(mask_shape).astype(dtype)
        mask[rng.random(mask_shape) < 0.2] = -np.inf
    return q, k, v, gout, mask


def _assert_lse(a, b, tol):
    assert np.array_equal(np.isneginf(a), np.isneginf(b))
    fin = np.isfinite(b)
    np.testing.assert_allclose(a[fin], b[fin], rtol=0, atol=tol)


@given(case=attention_cases())
def test_native_matches_reference_float64(case):
    _check_float64(case)


@given(case=attention_cases(max_t=nat.SHORT_T + 1))
def test_short_sequences_match_reference_float64(case):
    """Up to SHORT_T keys the short-sequence kernels run (one past it, the tiled ones):
    drawn here on their own, since the draws above rarely pick so few keys."""
    _check_float64(case)


def _check_float64(case):
    shapes, mask_kind, mask_shape, causal, contiguous, seed = case
    q, k, v, gout, mask = _make(shapes, mask_kind, mask_shape, contiguous, seed)
    out, lse = nat.sdpa_forward(q, k, v, mask, causal, None)
    rout, rlse = ref.sdpa_forward(q, k, v, mask, causal, None)
    np.testing.assert_allclose(out, rout, rtol=0, atol=1e-10)
    _assert_lse(lse, rlse, 1e-10)
    grads = nat.sdpa_backward(gout, q, k, v, out, lse, mask, causal, None)
    rgrads = ref.sdpa_backward(gout, q, k, v, rout, rlse, mask, causal, None)
    for g, r in zip(grads, rgrads):
        assert g.shape == r.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-10)


def _rel_max(a, b):
    """max |a - b| relative to max(1, largest |b|): inputs are O(1), so a result that is
    exactly 0 in float64 (e.g. gq with one key) may come out as ~1e-8 in float32."""
    if b.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), 1.0)
    return float(np.max(np.abs(a.astype(np.float64) - b))) / scale


@given(case=attention_cases(), scale=st.one_of(st.none(), st.floats(0.05, 2.0)))
def test_float32_within_1e5_of_float64(case, scale):
    _check_float32(case, scale)


@given(case=attention_cases(max_t=nat.SHORT_T + 1), scale=st.one_of(st.none(), st.floats(0.05, 2.0)))
def test_short_sequences_float32_within_1e5_of_float64(case, scale):
    _check_float32(case, scale)


def _check_float32(case, scale):
    shapes, mask_kind, mask_shape, causal, contiguous, seed = case
    q, k, v, gout, mask = _make(shapes, mask_kind, mask_shape, contiguous, seed, np.float32)
    out, lse = nat.sdpa_forward(q, k, v, mask, causal, scale)
    assert out.dtype == np.float32 and lse.dtype == np.float32
    up = [a.astype(np.float64) for a in (q, k, v, gout)]
    m64 = mask.astype(np.float64) if mask is not None and mask.dtype != bool else mask
    rout, rlse = ref.sdpa_forward(up[0], up[1], up[2], m64, causal, scale)
    assert _rel_max(out, rout) < 1e-5
    lse_scale = max(1.0, float(np.max(np.abs(rlse[np.isfinite(rlse)]), initial=1.0)))
    _assert_lse(lse.astype(np.float64), rlse, 1e-5 * lse_scale)
    grads = nat.sdpa_backward(gout, q, k, v, out, lse, mask, causal, scale)
    rgrads = ref.sdpa_backward(up[3], up[0], up[1], up[2], rout, rlse, m64, causal, scale)
    for g, r in zip(grads, rgrads):
        assert g.dtype == np.float32
    # gq and gk are sums of p * (dp - D) * scale * k: dp and D (each a sum of dv
    # products) nearly cancel (exactly, with one key), so their float32 error is
    # relative to the size of those terms, not to the (possibly ~0) result.
    sc = scale if scale is not None else 1 / np.sqrt(q.shape[-1])
    D = np.max(np.abs(np.sum(up[3] * rout, axis=-1)), initial=0.0)
    terms = sc * D * max(np.max(np.abs(up[0]), initial=0.0), np.max(np.abs(up[1]), initial=0.0))
    for g, r in zip(grads[:2], rgrads[:2]):
        assert float(np.max(np.abs(g - r), initial=0.0)) / max(1.0, float(np.max(np.abs(r), initial=0.0)), terms) < 1e-5
    assert _rel_max(grads[2], rgrads[2]) < 1e-5


@settings(max_examples=10)
@given(case=attention_cases(max_t=20, max_d=8))
def test_reference_matches_explicit_softmax(case):
    """The reference against the textbook formula softmax(q k^T * scale + mask) v."""
    shapes, mask_kind, mask_shape, causal, contiguous, seed = case
    q, k, v, _, mask = _make(shapes, mask_kind, mask_shape, contiguous, seed)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = s + (np.where(mask, 0, -np.inf) if mask.dtype == bool else mask)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    dead = np.all(np.isneginf(s), axis=-1, keepdims=True)
    s = np.where(dead, 0, s)
    p = np.exp(s - s.max(-1, keepdims=True))
    p = np.where(dead, 0, p / p.sum(-1, keepdims=True))
    out, _ = ref.sdpa_forward(q, k, v, mask, causal, None)
    np.testing.assert_allclose(out, p @ v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernels", [ref, nat], ids=["reference", "native"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zeros(kernels, dtype):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 2, 5, 3)).astype(dtype) for _ in range(3))
    mask = np.ones((2, 1, 5, 5), bool)
    mask[0, 0, 1] = False            # query row 1 of batch 0 sees nothing
    mask[1, 0, :, :] = False         # batch 1: every row masked
    out, lse = kernels.sdpa_forward(q, k, v, mask, False, None)
    assert np.all(out[0, :, 1] == 0) and np.all(np.isneginf(lse[0, :, 1]))
    assert np.all(out[1] == 0) and np.all(np.isneginf(lse[1]))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(lse[0, :, [0, 2, 3, 4]]))
    gout = rng.standard_normal(out.shape).astype(dtype)
    gq, gk, gv = kernels.sdpa_backward(gout, q, k, v, out, lse, mask, False, None)
    assert all(np.all(np.isfinite(g)) for g in (gq, gk, gv))
    assert np.all(gq[0, :, 1] == 0) and np.all(gq[1] == 0)
    assert np.all(gk[1] == 0) and np.all(gv[1] == 0)
    # the live rows of batch 0 are unaffected by the dead row
    out_live, _ = kernels.sdpa_forward(q[:1], k[:1], v[:1], mask[:1], False, None)
    np.testing.assert_allclose(out[0, :, [0, 2, 3, 4]], out_live[0, :, [0, 2, 3, 4]], rtol=1e-6)


@pytest.mark.parametrize("Tk", [nat.SHORT_T, nat.SHORT_T + 1])
def test_long_queries_against_few_keys(Tk):
    """Cross attention of a long target over a short source (more queries than keys):
    the short kernels keep any number of query rows; both sides of SHORT_T agree with
    the reference, with a padding mask and a causal one."""
    rng = np.random.default_rng(3)
    q = rng.standard_normal((3, 2, 40, 5))
    k, v = rng.standard_normal((3, 2, Tk, 5)), rng.standard_normal((3, 2, Tk, 6))
    pad = np.ones((3, 1, 1, Tk), bool)
    pad[1, :, :, -3:] = False
    gout = rng.standard_normal((3, 2, 40, 6))
    for mask, causal in ((pad, False), (None, True)):
        out, lse = nat.sdpa_forward(q, k, v, mask, causal, None)
        rout, rlse = ref.sdpa_forward(q, k, v, mask, causal, None)
        np.testing.assert_allclose(out, rout, rtol=0, atol=1e-12)
        _assert_lse(lse, rlse, 1e-12)
        for g, r in zip(nat.sdpa_backward(gout, q, k, v, out, lse, mask, causal, None),
                        ref.sdpa_backward(gout, q, k, v, rout, rlse, mask, causal, None)):
            np.testing.assert_allclose(g, r, rtol=0, atol=1e-12)


def test_causal_with_more_queries_than_keys_and_large_scores():
    """Top-left aligned causal mask; scores of ~1e4 do not overflow."""
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 1, 9, 4)) * 100
    k = rng.standard_normal((1, 1, 4, 4)) * 100
    v = rng.standard_normal((1, 1, 4, 2))
    for kern in (ref, nat):
        out, lse = kern.sdpa_forward(q, k, v, None, True, 1.0)
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(lse))
        np.testing.assert_allclose(out[0, 0, 0], v[0, 0, 0], atol=1e-12)  # row 0 sees key 0 only
    a = nat.sdpa_forward(q, k, v, None, True, 1.0)
    b = ref.sdpa_forward(q, k, v, None, True, 1.0)
    np.testing.assert_allclose(a[0], b[0], atol=1e-10)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def test_bad_shapes_and_dtypes_raise():
    check_sdpa_forward_rejects_bad_inputs(nat.sdpa_forward, np)


def test_empty_keys_and_queries():
    q = np.zeros((1, 2, 3, 4))
    k = np.zeros((1, 2, 0, 4))
    v = np.zeros((1, 2, 0, 5))
    out, lse = nat.sdpa_forward(q, k, v, None, False, None)
    assert out.shape == (1, 2, 3, 5) and np.all(out == 0) and np.all(np.isneginf(lse))
    gq, gk, gv = nat.sdpa_backward(np.ones_like(out), q, k, v, out, lse, None, False, None)
    assert gq.shape == q.shape and np.all(gq == 0) and gk.shape == k.shape and gv.shape == v.shape


@pytest.mark.oracle
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_against_torch(causal, mask_kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    B, H, Tq, Tk, d = 2, 3, 70, 70, 16
    q, k, v = (rng.standard_normal((B, H, T, d)) for T in (Tq, Tk, Tk))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((B, 1, Tq, Tk)) > 0.2
        mask[..., 0] = True                      # torch gives NaN for fully masked rows
    elif mask_kind == "float":
        mask = rng.standard_normal((1, H, Tq, Tk))
    if causal and mask is not None:
        return  # torch refuses attn_mask together with is_causal
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tmask = None if mask is None else torch.tensor(mask)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask, is_causal=causal)
    gout = rng.standard_normal(tout.shape)
    tout.backward(torch.tensor(gout))
    out, lse = nat.sdpa_forward(q, k, v, mask, causal, None)
    np.testing.assert_allclose(out, tout.detach().numpy(), atol=1e-10)
    grads = nat.sdpa_backward(gout, q, k, v, out, lse, mask, causal, None)
    for g, t in zip(grads, (tq, tk, tv)):
        np.testing.assert_allclose(g, t.grad.numpy(), atol=1e-10)


@settings(max_examples=15)
@given(B=st.integers(1, 2), H=st.integers(1, 3), T=st.integers(1, 40), d=st.integers(1, 20),
       causal=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_strided_views_of_a_packed_projection_are_read_in_place(B, H, T, d, causal, seed):
    """q, k, v as multi-head attention makes them: slices of one (B, T, 3 H d) projection
    viewed as (B, H, T, d). Results equal the reference, and outputs/gradients come back
    in q/k/v's memory order (so merging the heads again needs no copy)."""
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((B, T, 3 * H * d))
    q, k, v = [qkv[..., i * H * d:(i + 1) * H * d].reshape(B, T, H, d).transpose(0, 2, 1, 3) for i in range(3)]
    out, lse = nat.sdpa_forward(q, k, v, None, causal, None)
    rout, rlse = ref.sdpa_forward(q, k, v, None, causal, None)
    np.testing.assert_allclose(out, rout, rtol=0, atol=1e-10)
    assert out.transpose(0, 2, 1, 3).flags.c_contiguous
    gout = rng.standard_normal(out.shape)
    for g, r, x in zip(nat.sdpa_backward(gout, q, k, v, out, lse, None, causal, None),
                       ref.sdpa_backward(gout, q, k, v, rout, rlse, None, causal, None), (q, k, v)):
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-10)
        assert g.strides == np.empty_like(x).strides


def test_read_only_and_negative_stride_inputs():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 2, 9, 4))[:, :, ::-1]     # negative stride along T
    k = rng.standard_normal((1, 2, 7, 4))
    v = rng.standard_normal((1, 2, 7, 3))
    k.flags.writeable = False
    out, lse = nat.sdpa_forward(q, k, v, None, False, None)
    rout, _ = ref.sdpa_forward(q, k, v, None, False, None)
    np.testing.assert_allclose(out, rout, rtol=0, atol=1e-12)
    g = nat.sdpa_backward(np.ones_like(out), q, k, v, out, lse, None, False, None)
    r = ref.sdpa_backward(np.ones_like(out), q, k, v, rout, lse, None, False, None)
    for a, b in zip(g, r):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_tile_width_follows_the_target_cpu(monkeypatch):
    """The register tile is sized from the vector registers of the CPU Numba compiles for:
    32 columns with AVX-512, 16 with AVX2 (where 32 would spill) and elsewhere."""
    from numba.core import config
    from minigrad.kernels.cpu import _simd

    assert nat.TILE_W == (32 if _simd.float_vector_bytes() >= 64 else 16)
    assert nat.KEY_BLOCK % nat.TILE_W == 0 and nat.FWD_KEY_BLOCK % nat.TILE_W == 0
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+avx,+fma,+avx512f,+avx512bw")
    assert _simd.float_vector_bytes() == 64
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+avx,+fma,-avx512f")
    assert _simd.float_vector_bytes() == 32
    monkeypatch.setattr(config, "CPU_FEATURES", "+neon")
    assert _simd.float_vector_bytes() == 16


def test_warmup_compiles_the_tiled_and_the_short_kernels():
    """warmup() in a fresh interpreter leaves all four kernels built (tiny inputs alone
    would only take the short-sequence path)."""
    import subprocess
    import sys

    code = ("import numpy as np, minigrad.kernels\n"
            "from minigrad.kernels.cpu import attention as a\n"
            "a.warmup((np.float32,))\n"
            "print(sorted(k for k, _ in a._compiled))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "['bwd', 'bwd_short', 'fwd', 'fwd_short']", r.stdout
