"""Convolution benchmark: the seed CNN's two conv layers, forward + backward, batch 64.

    python benchmarks/_bench_conv.py            # alone (prints its own table)
    python benchmarks/kernels.py --section conv # from the kernel benchmark driver

Layers (3x3, padding 1, float32, batch 64):

* conv1: 1 -> 32 channels on 28x28 (first layer: no input gradient),
* conv2: 32 -> 64 channels on 14x14.

Rows, for each layer:

* ``native``: minigrad's Numba kernels (``kernels/cpu/conv.py``);
* ``op+autograd``: the same through ``minigrad.ops.conv.conv2d`` and ``backward()``
  (kernels + graph bookkeeping + the bias-gradient op);
* ``reference``: the readable im2col + NumPy/OpenBLAS kernels (``kernels/reference/conv.py``);
* ``im2col+GEMM``: forward only, the textbook alternative defined here: one
  whole-batch Numba im2col + the general matmul (``kernels/cpu/matmul.py``);
* ``torch``: PyTorch CPU, when importable.

Run alone, it first prints each pass timed alone (forward, input gradient, weight
gradient), the native kernels next to PyTorch's (``aten.convolution_backward`` asked
for one gradient at a time): where a layer loses time, pass by pass.

Standalone, the script first sets glibc's malloc thresholds in-process (``mallopt``,
the same as ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824``) so
that every contender, PyTorch included, runs without per-call page faults on its big
temporaries (page faults are expensive in a VM); ``--default-malloc`` skips that.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

import minigrad  # noqa: E402
from minigrad.kernels._contracts import conv_geometry  # noqa: E402
from minigrad.kernels.cpu import conv as native  # noqa: E402
from minigrad.kernels.cpu import matmul as native_matmul  # noqa: E402
from minigrad.kernels.reference import conv as reference  # noqa: E402

LAYERS = [
    # name, C_in, C_out, H (= W), input gradient needed
    ("conv1 1->32 28x28", 1, 32, 28, False),
    ("conv2 32->64 14x14", 32, 64, 14, True),
]
BATCH = 64
CONF = ((1, 1), (1, 1), (1, 1), 1)        # stride, padding, dilation, groups


def conv2d_forward_im2col_gemm(x, w, b, stride, padding, dilation, groups):
    """The textbook alternative to the fused kernels: im2col of the whole batch + one
    general GEMM per group (``kernels/cpu/matmul.py``'s ``matmul``), for comparison."""
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_forward", x.shape, w.shape, stride, padding, dilation, groups)
    geo = native._geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    Cg, Cog, P = C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    x = np.ascontiguousarray(x)
    cols = np.empty((groups, K, N * P), dtype=x.dtype)
    xp = np.empty((Cg, H + 2 * geo[4], W + 2 * geo[5]), dtype=x.dtype)
    _im2col_batch(x, xp, cols, geo)
    w3 = np.ascontiguousarray(w).reshape(groups, Cog, K)
    y = np.stack([native_matmul.matmul(w3[g], cols[g]) for g in range(groups)])   # (G, Co_g, N*P)
    y = y.reshape(groups, Cog, N, P).transpose(2, 0, 1, 3).reshape(N, Cout, H_out, W_out)
    if b is not None:
        y = y + b.reshape(1, Cout, 1, 1)
    return np.ascontiguousarray(y)


@njit
def _im2col_batch(x, xp, cols, geo):
    """cols[g, k, n*P + p] for the whole batch (k-major), one sample at a time."""
    N, C = x.shape[:2]
    G, K, NP = cols.shape
    P = NP // N
    Cg = C // G
    for g in range(G):
        for n in range(N):
            native._pad_into(x[n, g * Cg:(g + 1) * Cg], xp, geo[4], geo[5])
            native._im2col(xp, cols[g], geo, n * P)


def _kernel_pass(mod, x, w, b, gy, need_input_grad):
    """forward and backward closures over one kernel module."""
    def fwd():
        return mod.conv2d_forward(x, w, b, *CONF)

    def bwd():
        if need_input_grad:
            mod.conv2d_grad_input(gy, w, x.shape, *CONF)
        mod.conv2d_grad_weight(gy, x, w.shape, *CONF)
        mod.conv2d_grad_bias(gy)
    return fwd, bwd


def _layer_arrays(rng, cin, cout, hw):
    """(x, w, b, gy) of one 3x3 layer of the table, float32, batch BATCH."""
    x = rng.standard_normal((BATCH, cin, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    gy = rng.standard_normal((BATCH, cout, hw, hw)).astype(np.float32)
    return x, w, b, gy


def run(args):
    torch = _common.torch_or_none()
    native.warmup()
    rows = []
    rng = np.random.default_rng(0)
    for name, cin, cout, hw, need_gx in LAYERS:
        x, w, b, gy = _layer_arrays(rng, cin, cout, hw)
        flop = 2.0 * BATCH * cout * cin * 9 * hw * hw * (3 if need_gx else 2)
        results = {}

        _common.pause()
        f, bw = _kernel_pass(native, x, w, b, gy, need_gx)
        results["native"] = (_common.time_ms(f, args), _common.time_ms(bw, args))

        mx = minigrad.tensor(x, requires_grad=need_gx)
        mw = minigrad.tensor(w, requires_grad=True)
        mb = minigrad.tensor(b, requires_grad=True)
        results["op+autograd"] = _common.autograd_fwd_bwd_ms(
            args, minigrad.no_grad, lambda: minigrad.ops.conv.conv2d(mx, mw, mb, padding=1),
            minigrad.tensor(gy), (mw, mb, mx))

        f, bw = _kernel_pass(reference, x, w, b, gy, need_gx)
        results["reference"] = (_common.time_ms(f, args), _common.time_ms(bw, args))

        results["im2col+GEMM"] = (_common.time_ms(lambda: conv2d_forward_im2col_gemm(x, w, b, *CONF), args), None)

        if torch is not None:
            _common.pause()
            tx = torch.from_numpy(x).requires_grad_(need_gx)
            tw = torch.from_numpy(w).requires_grad_(True)
            tb = torch.from_numpy(b).requires_grad_(True)
            results["torch"] = _common.autograd_fwd_bwd_ms(
                args, torch.no_grad, lambda: torch.nn.functional.conv2d(tx, tw, tb, padding=1),
                torch.from_numpy(gy), (tw, tb, tx))

        t_ref = results.get("torch")
        for impl, (t_f, t_b) in results.items():
            total = None if t_b is None else t_f + t_b
            row = {"layer": name, "impl": impl, "fwd ms": t_f, "bwd ms": t_b, "fwd+bwd ms": total,
                   "GF/s": None if total is None else flop / total / 1e6}
            if t_ref is not None:
                row["x torch fwd"] = t_f / t_ref[0]
                row["x torch fwd+bwd"] = None if total is None else total / (t_ref[0] + t_ref[1])
            rows.append(row)
        if getattr(args, "verbose", False):
            _common.print_table(rows[-len(results):])
    return rows


def _pass_fns(mod, x, w, b, gy, need_gx):
    """forward / grad_input / grad_weight closures over one kernel module (None: not needed)."""
    return {"forward": lambda: mod.conv2d_forward(x, w, b, *CONF),
            "grad_input": (lambda: mod.conv2d_grad_input(gy, w, x.shape, *CONF)) if need_gx else None,
            "grad_weight": lambda: mod.conv2d_grad_weight(gy, x, w.shape, *CONF)}


def _torch_pass_fns(torch, x, w, b, gy, need_gx):
    """The same three passes in PyTorch: its backward asked for one gradient at a time."""
    tx, tw, tb, tgy = (torch.from_numpy(a) for a in (x, w, b, gy))
    stride, padding, dilation, groups = ([v for v in c] if isinstance(c, tuple) else c for c in CONF)

    def grad(mask):
        return lambda: torch.ops.aten.convolution_backward(
            tgy, tx, tw, [b.shape[0]], stride, padding, dilation, False, [0, 0], groups, mask)
    return {"forward": lambda: torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups),
            "grad_input": grad([True, False, False]) if need_gx else None,
            "grad_weight": grad([False, True, False])}


def run_passes(args):
    """Each pass of each layer timed alone: native kernels, PyTorch, and their ratio."""
    torch = _common.torch_or_none()
    rows = []
    rng = np.random.default_rng(0)
    for name, cin, cout, hw, need_gx in LAYERS:
        x, w, b, gy = _layer_arrays(rng, cin, cout, hw)
        impls = {"native": _pass_fns(native, x, w, b, gy, need_gx)}
        if torch is not None:
            impls["torch"] = _torch_pass_fns(torch, x, w, b, gy, need_gx)
        times = {}
        for impl, fns in impls.items():
            _common.pause()
            times[impl] = {p: None if fn is None else _common.time_ms(fn, args) for p, fn in fns.items()}
            rows.append({"layer": name, "impl": impl, **{f"{p} ms": t for p, t in times[impl].items()}})
        if torch is not None:
            rows.append({"layer": name, "impl": "native / torch", **{
                f"{p} ms": None if t is None else t / times["torch"][p] for p, t in times["native"].items()}})
    return rows


def run_standalone(args):
    """Alone: the pass-by-pass table, then the table of ``run``."""
    native.warmup()
    print("-- each pass alone (ms; the last row of each layer: native / torch)")
    _common.print_table(run_passes(args))
    print("-- forward and backward")
    return run(args)


if __name__ == "__main__":
    _common.kernel_script_main(__doc__, "minigrad conv2d benchmark (float32, batch 64, 3x3, padding 1)",
                               "x torch: time / PyTorch's time (< 1: faster than PyTorch)", run_standalone)
