"""Attention, softmax-cross-entropy, softmax, layer-norm and embedding benchmark.

    python benchmarks/_bench_attention.py               # alone (prints its own table)
    python benchmarks/kernels.py --section attention    # from the kernel benchmark driver

Cases (float32):

* ``sdpa``: scaled dot-product attention, batch 8, 4 heads, T 256, d 64, forward and
  backward, without and with the causal mask;
* ``cross_entropy``: 2048 rows x 1000 classes (a language model's output layer), and
  128 x 10 (an MNIST batch), forward (per-sample losses) and backward;
* ``softmax``: 2048 x 1000, forward and backward;
* ``layer_norm``: 2048 rows x 256 features, forward and backward;
* ``embedding``: 2048 lookups in a 10000 x 256 table, forward and backward.

Implementations (rows):

* ``native``: minigrad's Numba kernels (``kernels/cpu/*.py``), called directly;
* ``op+autograd``: the same through ``minigrad.ops`` and ``backward()`` (attention only);
* ``numpy``: the textbook composition of NumPy calls (for attention: q @ k^T, a
  softmax, @ v, and the four matmuls of the backward); NumPy's BLAS gets all cores
  for it (minigrad's policy otherwise limits it to one, see kernels/cpu/_runtime.py);
  the reference kernels are this same composition;
* ``torch``: PyTorch CPU (``F.scaled_dot_product_attention``, ``F.cross_entropy`` ...),
  when importable.

Columns: milliseconds per call (median), and time / NumPy's and time / PyTorch's
time (< 1: minigrad is faster). Standalone, glibc's malloc thresholds are set first
(``mallopt``, as ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824``)
so that no contender pays page faults on its big temporaries; ``--default-malloc``
skips that.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
from minigrad.kernels.cpu import _runtime  # noqa: E402
from minigrad.kernels.cpu import attention as nat_attn  # noqa: E402
from minigrad.kernels.cpu import embedding as nat_emb  # noqa: E402
from minigrad.kernels.cpu import norm as nat_norm  # noqa: E402
from minigrad.kernels.cpu import softmax as nat_sm  # noqa: E402
from minigrad.ops.attention import scaled_dot_product_attention  # noqa: E402

B, H, T, D_HEAD = 8, 4, 256, 64


# ----------------------------------------------------------------------------- composed NumPy versions

def np_attention_forward(q, k, v, causal):
    scale = 1.0 / np.sqrt(q.shape[-1])
    s = q @ k.swapaxes(-1, -2) * np.float32(scale)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    return p @ v, p


def np_attention_backward(g, q, k, v, p):
    scale = np.float32(1.0 / np.sqrt(q.shape[-1]))
    gv = p.swapaxes(-1, -2) @ g
    dp = g @ v.swapaxes(-1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    return ds @ k, ds.swapaxes(-1, -2) @ q, gv


def np_cross_entropy(x, t):
    m = x.max(1, keepdims=True)
    z = x - m
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    loss = lse[:, 0] - z[np.arange(len(t)), t]
    return loss, lse


def np_cross_entropy_backward(x, t, lse, g):
    p = np.exp(x - x.max(1, keepdims=True) - lse)
    p[np.arange(len(t)), t] -= 1
    return p * g[:, None]


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    return xc * rstd * w + b, mu, rstd


def np_layer_norm_backward(g, x, w, mu, rstd):
    xh = (x - mu) * rstd
    gh = g * w
    gx = rstd * (gh - gh.mean(-1, keepdims=True) - xh * (gh * xh).mean(-1, keepdims=True))
    return gx, (g * xh).sum(0), g.sum(0)


# ----------------------------------------------------------------------------- cases

def _rows(case, results, t_np_key="numpy"):
    """Turn {impl: (fwd ms, bwd ms)} into table rows with ratios to NumPy and PyTorch."""
    rows = []
    ref_np = results.get(t_np_key)
    ref_t = results.get("torch")
    for impl, (f, b) in results.items():
        tot = f + b if b is not None else None
        row = {"case": case, "impl": impl, "fwd ms": f, "bwd ms": b, "fwd+bwd ms": tot}
        if ref_np is not None and tot is not None:
            row["x numpy"] = tot / (ref_np[0] + ref_np[1])
        if ref_t is not None and tot is not None:
            row["x torch"] = tot / (ref_t[0] + ref_t[1])
        rows.append(row)
    return rows


def bench_attention(args, torch, causal):
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((B, H, T, D_HEAD)).astype(np.float32) for _ in range(4))
    res = {}
    _common.pause()
    out, lse = nat_attn.sdpa_forward(q, k, v, None, causal, None)
    res["native"] = (_common.time_ms(lambda: nat_attn.sdpa_forward(q, k, v, None, causal, None), args),
                     _common.time_ms(lambda: nat_attn.sdpa_backward(g, q, k, v, out, lse, None, causal, None), args))
    mq, mk, mv = (minigrad.tensor(a, requires_grad=True) for a in (q, k, v))
    res["op+autograd"] = _common.autograd_fwd_bwd_ms(
        args, minigrad.no_grad, lambda: scaled_dot_product_attention(mq, mk, mv, is_causal=causal),
        minigrad.tensor(g), (mq, mk, mv))
    with _runtime.blas_threads(getattr(args, "threads", None)):
        _, p = np_attention_forward(q, k, v, causal)
        res["numpy"] = (_common.time_ms(lambda: np_attention_forward(q, k, v, causal), args),
                        _common.time_ms(lambda: np_attention_backward(g, q, k, v, p), args))
    if torch is not None:
        _common.pause()
        tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
        sdpa = torch.nn.functional.scaled_dot_product_attention
        res["torch"] = _common.autograd_fwd_bwd_ms(
            args, torch.no_grad, lambda: sdpa(tq, tk, tv, is_causal=causal), torch.from_numpy(g), (tq, tk, tv))
    return _rows(f"sdpa {B}x{H}x{T}x{D_HEAD}" + (" causal" if causal else ""), res)


def bench_cross_entropy(args, torch, N, C):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((N, C)) * 3).astype(np.float32)
    t = rng.integers(0, C, N)
    g = np.full(N, 1.0 / N, np.float32)
    res = {}
    loss, lse = nat_sm.cross_entropy_forward(x, t, None, -100, 0.0)
    res["native"] = (_common.time_ms(lambda: nat_sm.cross_entropy_forward(x, t, None, -100, 0.0), args),
                     _common.time_ms(lambda: nat_sm.cross_entropy_backward(g, x, t, None, -100, 0.0, lse), args))
    _, nlse = np_cross_entropy(x, t)
    res["numpy"] = (_common.time_ms(lambda: np_cross_entropy(x, t), args),
                    _common.time_ms(lambda: np_cross_entropy_backward(x, t, nlse, g), args))
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        tt = torch.from_numpy(t)
        res["torch"] = _common.autograd_fwd_bwd_ms(
            args, torch.no_grad, lambda: torch.nn.functional.cross_entropy(tx, tt), None, (tx,))
    return _rows(f"cross_entropy {N}x{C}", res)


def bench_softmax(args, torch, N, C):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((N, C)) * 3).astype(np.float32)
    g = rng.standard_normal((N, C)).astype(np.float32)
    y = nat_sm.softmax(x)
    res = {"native": (_common.time_ms(lambda: nat_sm.softmax(x), args), _common.time_ms(lambda: nat_sm.softmax_backward(g, y), args)),
           "numpy": (_common.time_ms(lambda: np_softmax(x), args),
                     _common.time_ms(lambda: y * (g - (g * y).sum(-1, keepdims=True)), args))}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        res["torch"] = _common.autograd_fwd_bwd_ms(
            args, torch.no_grad, lambda: torch.softmax(tx, -1), torch.from_numpy(g), (tx,))
    return _rows(f"softmax {N}x{C}", res)


def bench_layer_norm(args, torch, N, D):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, D)).astype(np.float32)
    w, b = rng.standard_normal(D).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    g = rng.standard_normal((N, D)).astype(np.float32)
    _, mean, rstd = nat_norm.layer_norm_forward(x, w, b, 1e-5)
    res = {"native": (_common.time_ms(lambda: nat_norm.layer_norm_forward(x, w, b, 1e-5), args),
                      _common.time_ms(lambda: nat_norm.layer_norm_backward(g, x, w, mean, rstd), args))}
    _, mu, rs = np_layer_norm(x, w, b)
    res["numpy"] = (_common.time_ms(lambda: np_layer_norm(x, w, b), args),
                    _common.time_ms(lambda: np_layer_norm_backward(g, x, w, mu, rs), args))
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        tw, tb = torch.from_numpy(w).requires_grad_(True), torch.from_numpy(b).requires_grad_(True)
        res["torch"] = _common.autograd_fwd_bwd_ms(
            args, torch.no_grad, lambda: torch.nn.functional.layer_norm(tx, (D,), tw, tb), torch.from_numpy(g),
            (tx, tw, tb))
    return _rows(f"layer_norm {N}x{D}", res)


def bench_embedding(args, torch, N, V, D):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((V, D)).astype(np.float32)
    idx = rng.integers(0, V, N)
    g = rng.standard_normal((N, D)).astype(np.float32)

    def np_bwd():
        gw = np.zeros_like(w)
        np.add.at(gw, idx, g)
        return gw
    res = {"native": (_common.time_ms(lambda: nat_emb.embedding_forward(w, idx), args),
                      _common.time_ms(lambda: nat_emb.embedding_backward(g, idx, V, None), args)),
           "numpy": (_common.time_ms(lambda: w[idx], args), _common.time_ms(np_bwd, args))}
    if torch is not None:
        tw = torch.from_numpy(w).requires_grad_(True)
        ti = torch.from_numpy(idx)
        res["torch"] = _common.autograd_fwd_bwd_ms(
            args, torch.no_grad, lambda: torch.nn.functional.embedding(ti, tw), torch.from_numpy(g), (tw,))
    return _rows(f"embedding {N} of {V}x{D}", res)


def run(args):
    """All cases; returns table rows (list of dicts)."""
    torch = _common.torch_or_none()
    for mod in (nat_sm, nat_norm, nat_emb, nat_attn):
        mod.warmup()
    rows = []
    for causal in (False, True):
        rows += bench_attention(args, torch, causal)
    rows += bench_cross_entropy(args, torch, 2048, 1000)
    rows += bench_cross_entropy(args, torch, 128, 10)
    rows += bench_softmax(args, torch, 2048, 1000)
    rows += bench_layer_norm(args, torch, 2048, 256)
    rows += bench_embedding(args, torch, 2048, 10000, 256)
    if getattr(args, "verbose", False):
        _common.print_table(rows)
    return rows


if __name__ == "__main__":
    _common.kernel_script_main(__doc__, "minigrad attention / softmax / layer-norm / embedding benchmark (float32)",
                               "x numpy, x torch: time / that library's time (< 1: minigrad is faster)", run)
