"""INT8 quantization benchmark: the int8 GEMM next to float32 ones, and the seed CNN
in int8 next to float32.

    python benchmarks/quant.py                 # GEMMs at 256, 512, 1024 and the CNN
    python benchmarks/quant.py --quick         # smaller sizes
    python benchmarks/quant.py --accuracy      # also train the seed CNN on the digits
                                               # (about a minute) and compare accuracies

Sections:

* ``gemm``: ``C = A @ B^T`` for square sizes. minigrad's int8 kernel
  (``qmatmul_int8``: int8 x int8 -> exact int32) against minigrad's float32 GEMM
  and NumPy's float32 ``@`` (OpenBLAS, given all cores for its calls). Reported in
  GOP/s (2 n^3 operations per product) with ratios to the int8 kernel.
* ``cnn``: inference of the seed CNN (minigrad/examples/cnn.py) on a batch of
  28x28 images, float32 vs int8 after post-training quantization, and the model
  sizes (bytes of parameters and buffers). Two int8 models: the plain one (every
  ReLU a separate float op after its int8 layer) and the one quantized after
  ``fuse_modules`` (each conv/linear + ReLU pair one int8 layer that applies the
  ReLU on its way back to float), as PyTorch's quantization workflow does.

The header says which int8 path the CPU takes: ``vpdpbusd`` (AVX-512 VNNI) or the
portable kernels. glibc's malloc thresholds are raised first (as in the other
benchmarks), so that no model pays page faults on its activations.

Times are medians of >= 7 repeats (benchmarks/_common.py); a shared 2-core VM is
noisy, read the ratios.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (also puts the repository root on sys.path)

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
from minigrad.compress import quantize as Q  # noqa: E402
from minigrad.examples.cnn import SeedCNN  # noqa: E402
from minigrad.kernels.cpu import _runtime  # noqa: E402
from minigrad.kernels.cpu import _simd  # noqa: E402
from minigrad.kernels.cpu import matmul as native_matmul  # noqa: E402
from minigrad.kernels.cpu import quant as native_quant  # noqa: E402


def gemm_rows(sizes):
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        a8 = rng.integers(-128, 128, (n, n)).astype(np.int8)
        b8 = rng.integers(-128, 128, (n, n)).astype(np.int8)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        ops = 2.0 * n ** 3
        _common.pause()
        t_q, _ = _common.timeit(lambda: native_quant.qmatmul_int8(a8, b8))
        _common.pause()
        t_f, _ = _common.timeit(lambda: native_matmul.matmul(a, b.T))
        _common.pause()
        with _runtime.blas_threads():
            t_np, _ = _common.timeit(lambda: a @ b.T)
        rows.append({
            "n": n,
            "int8 ours GOP/s": ops / t_q / 1e9,
            "f32 ours GFLOP/s": ops / t_f / 1e9,
            "f32 NumPy GFLOP/s": ops / t_np / 1e9,
            "int8 ms": t_q * 1e3,
            "int8 time / f32 ours": f"{t_q / t_f:.2f}",
            "int8 time / f32 NumPy": f"{t_q / t_np:.2f}",
        })
    return rows


def cnn_rows(batch, model=None, calib=None):
    minigrad.manual_seed(0)
    if model is None:
        model = SeedCNN().eval()
    x = calib if calib is not None else minigrad.randn(batch, 1, 28, 28)
    x = x if isinstance(x, minigrad.Tensor) else minigrad.tensor(x)
    qmodel = Q.quantize_ptq(model, [x])
    fused = Q.quantize_ptq(Q.fuse_modules(model, SeedCNN.relu_pairs), [x])
    xb = minigrad.randn(batch, 1, 28, 28)
    times = {}
    with minigrad.no_grad():
        for name, m in (("float32", model), ("int8", qmodel), ("int8 fused", fused)):
            m(xb)
        for _ in range(2):      # alternate the three, twice, and keep each one's best median
            for name, m in (("float32", model), ("int8", qmodel), ("int8 fused", fused)):
                _common.pause()
                t, _ = _common.timeit(lambda: m(xb), repeat=7, min_time=0.2)
                times[name] = min(times.get(name, t), t)
    t_f, t_q, t_fused = times["float32"], times["int8"], times["int8 fused"]
    fb, qb = Q.model_size_bytes(model), Q.model_size_bytes(qmodel)
    return [{
        "batch": batch,
        "float32 ms": t_f * 1e3,
        "int8 ms": t_q * 1e3,
        "int8 fused ms": t_fused * 1e3,
        "float32 / int8": f"{t_f / t_q:.2f}",
        "float32 / int8 fused": f"{t_f / t_fused:.2f}",
        "float32 KiB": fb / 1024,
        "int8 KiB": qb / 1024,
        "size ratio": f"{fb / qb:.2f}",
    }], qmodel


def accuracy_rows():
    from minigrad.examples.cnn import digits_cnn, load_28x28
    from minigrad.train import evaluate

    result = digits_cnn()
    model = result["model"].eval()
    X_train, X_test, y_train, y_test = load_28x28("digits", seed=0)
    qmodel = Q.quantize_ptq(model, [X_train[i:i + 128] for i in range(0, 512, 128)])
    acc = evaluate(model, None, (X_test, y_test), metrics=["accuracy"])["accuracy"]
    qacc = evaluate(qmodel, None, (X_test, y_test), metrics=["accuracy"])["accuracy"]
    return [{"float32 test acc %": 100 * acc, "int8 PTQ test acc %": 100 * qacc,
             "change (points)": 100 * (qacc - acc)}]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--accuracy", action="store_true", help="train the seed CNN and compare accuracies")
    args = p.parse_args(argv)
    _common.set_malloc_thresholds()
    _common.print_header("int8 quantization")
    print("int8 path: " + ("vpdpbusd (AVX-512 VNNI)" if _simd.has_vnni() else "portable int8 kernels (no AVX-512 VNNI)"))
    native_quant.warmup()
    native_quant._warm_int8_kernels()    # the GEMM rows below call the int8 GEMM directly
    print("== GEMM C = A @ B^T, square n (int8 -> int32 vs float32)")
    _common.print_table(gemm_rows((128, 256, 512) if args.quick else (256, 512, 1024)))
    print("== seed CNN inference (float32 vs int8 post-training quantization)")
    rows = []
    for batch in ((64,) if args.quick else (1, 64, 256)):
        rows += cnn_rows(batch)[0]
    _common.print_table(rows)
    if args.accuracy:
        print("== seed CNN on the 28x28 digits: test accuracy, float32 vs int8 PTQ")
        _common.print_table(accuracy_rows())


if __name__ == "__main__":
    main()
