"""GPU benchmarks in one run: our CUDA kernels against cuBLAS / PyTorch, and training
steps on the GPU against the CPU.

    python benchmarks/cuda.py [--quick] [--repeats 7] [--skip-train]

1. SGEMM: the hand-written GEMM of kernels/cuda/gemm.cu (``minigrad.kernels.cuda.matmul``)
   against cuBLAS (``cupy.matmul``) on n x n float32 matrices, n = 1024 .. 8192.
   Pure FP32 on both sides: this script sets ``CUPY_TF32=0`` (CuPy's default: cuBLAS
   with CUBLAS_COMPUTE_32F, no TensorFloat-32) and ``NVIDIA_TF32_OVERRIDE=0`` (which
   makes cuBLAS refuse TF32 even if asked) before CuPy is imported. GFLOP/s = 2 n^3 / t.
2. Attention: our fused float32 kernels (kernels/cuda/attention.cu) against PyTorch's
   ``scaled_dot_product_attention`` on CUDA (whatever backend PyTorch picks for float32,
   with ``allow_tf32`` off), B=8, H=16, N=1024, D=64, causal and not; forward, and
   forward + backward. Skipped with a message when torch with CUDA is not importable.
3. Training steps: the seed CNN (minigrad/examples/cnn.py, batch 64, 28x28) and the char
   Transformer (minigrad/examples/charlm.py, batch 32, block 64, d_model 64, 2 layers, as
   benchmarks/train_transformer.py) with minigrad on the GPU against minigrad on the CPU.

GPU times come from CUDA events around ``n`` back-to-back calls (one synchronize at the
end), median of ``--repeats`` measurements after warm-up; CPU times from the shared
timer in _common.py. Exits with a message (status 0) when there is no usable GPU.

``--smoke`` runs every part once on tiny sizes, to check that the script works. With
``MINIGRAD_CUDA_EMULATOR=1`` it runs on the CUDA emulator (kernels/cuda/emulator), no
GPU needed: tests/kernels/cuda/test_emulator.py does that, so the script is known to run
before it is run on a GPU. Emulated times mean nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("CUPY_TF32", "0")
os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")

import importlib.util  # noqa: E402

_HERE = os.path.dirname(os.path.realpath(__file__))
# This file is named cuda.py, and Python puts its folder first on sys.path: then
# `import cuda` (PyTorch's CUDA build does `from cuda.bindings import ...`) would find
# this script. Take the folder off the path and load _common.py by its file name.
# (_common.py puts the folder back on the path, so this comes after loading it.)
_spec = importlib.util.spec_from_file_location("_common", os.path.join(_HERE, "_common.py"))
_common = importlib.util.module_from_spec(_spec)
sys.modules["_common"] = _common
_spec.loader.exec_module(_common)
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))
print_table, timeit = _common.print_table, _common.timeit

import numpy as np  # noqa: E402

EMULATED = os.environ.get("MINIGRAD_CUDA_EMULATOR", "") not in ("", "0")
if EMULATED:  # before anything imports cupy
    import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
    from minigrad.kernels.cuda import emulator

    emulator.install()


def gpu_time(fn, repeats=7, warmup=2, min_time=0.05):
    """Median seconds per call of ``fn`` on the GPU, timed with CUDA events."""
    import cupy as cp

    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    fn()
    end.record()
    end.synchronize()
    once = max(cp.cuda.get_elapsed_time(start, end) / 1e3, 1e-6)
    n = int(max(1, min(1000, min_time / once)))
    times = []
    for _ in range(repeats):
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3 / n)
    return statistics.median(times)


def torch_cuda():
    """torch, if it is installed with a usable CUDA device; else (None, reason)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} has no usable CUDA device"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch, ""


def bench_sgemm(sizes, repeats):
    import cupy as cp

    from minigrad.kernels.cuda.matmul import matmul as ours

    rows = []
    rng = cp.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=cp.float32)
        b = rng.standard_normal((n, n), dtype=cp.float32)
        err = float(cp.max(cp.abs(ours(a, b) - cp.matmul(a, b)))) / float(cp.max(cp.abs(cp.matmul(a, b))))
        t_ours = gpu_time(lambda: ours(a, b), repeats)
        t_cublas = gpu_time(lambda: cp.matmul(a, b), repeats)
        flops = 2.0 * n ** 3
        rows.append({"n": n, "ours ms": t_ours * 1e3, "cuBLAS ms": t_cublas * 1e3,
                     "ours GFLOP/s": flops / t_ours / 1e9, "cuBLAS GFLOP/s": flops / t_cublas / 1e9,
                     "ours / cuBLAS (speed)": t_cublas / t_ours, "max rel diff": f"{err:.1e}"})
        del a, b
        cp.get_default_memory_pool().free_all_blocks()
    print("SGEMM, float32, TF32 off (C = A @ B, n x n)")
    print_table(rows)


def bench_attention(repeats, B=8, H=16, N=1024, D=64):
    import cupy as cp

    from minigrad.kernels.cuda import attention as att

    torch, why = torch_cuda()
    rng = cp.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((B, H, N, D), dtype=cp.float32) for _ in range(4))
    rows = []
    for causal in (False, True):
        def fwd():
            return att.sdpa_forward(q, k, v, None, causal, None)

        def fwd_bwd():
            out, lse = att.sdpa_forward(q, k, v, None, causal, None)
            return att.sdpa_backward(g, q, k, v, out, lse, None, causal, None)

        flops_f = 4.0 * B * H * N * N * D * (0.5 if causal else 1.0)
        row = {"causal": causal, "ours fwd ms": gpu_time(fwd, repeats) * 1e3,
               "ours fwd+bwd ms": gpu_time(fwd_bwd, repeats) * 1e3}
        row["ours fwd TFLOP/s"] = flops_f / (row["ours fwd ms"] / 1e3) / 1e12
        if torch is not None:
            tq, tk, tv, tg = (torch.as_tensor(a, device="cuda") for a in (q, k, v, g))
            tq, tk, tv = (t.clone().requires_grad_(True) for t in (tq, tk, tv))
            sdpa = torch.nn.functional.scaled_dot_product_attention

            def t_fwd():
                with torch.no_grad():
                    return sdpa(tq, tk, tv, is_causal=causal)

            def t_fwd_bwd():
                out = sdpa(tq, tk, tv, is_causal=causal)
                return torch.autograd.grad(out, (tq, tk, tv), tg)

            row["torch fwd ms"] = gpu_time(t_fwd, repeats) * 1e3
            row["torch fwd+bwd ms"] = gpu_time(t_fwd_bwd, repeats) * 1e3
            row["ours/torch fwd (time)"] = row["ours fwd ms"] / row["torch fwd ms"]
            row["ours/torch fwd+bwd (time)"] = row["ours fwd+bwd ms"] / row["torch fwd+bwd ms"]
            ours_out = att.sdpa_forward(q, k, v, None, causal, None)[0]
            ref = cp.asarray(t_fwd().detach())
            row["max |diff|"] = f"{float(cp.max(cp.abs(ours_out - ref))):.1e}"
        rows.append(row)
    print(f"Attention forward / forward+backward, float32, B={B} H={H} N={N} D={D}")
    if torch is None:
        print(f"  (PyTorch comparison skipped: {why})")
    print_table(rows)


def bench_training(repeats, smoke=False):
    import minigrad as mg
    from minigrad import nn
    from minigrad.examples.charlm import CharLM
    from minigrad.examples.cnn import SeedCNN

    rng = np.random.default_rng(0)
    rows = []

    def cnn_step_fn(device):
        mg.manual_seed(0)
        model = SeedCNN().to(device)
        opt = mg.optim.Adam(model.parameters(), lr=1e-3)
        n = 4 if smoke else 64
        x = mg.tensor(rng.standard_normal((n, 1, 28, 28)).astype(np.float32), device=device)
        y = mg.tensor(rng.integers(0, 10, n), device=device)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return step

    vocab, B, T, D = (65, 4, 16, 32) if smoke else (65, 32, 64, 64)

    def lm_step_fn(device):
        mg.manual_seed(0)
        model = CharLM("".join(chr(33 + i) for i in range(vocab)), block_size=T, d_model=D, nhead=4,
                       num_layers=2).to(device)
        opt = mg.optim.AdamW(model.parameters(), lr=3e-4)
        it = mg.tensor(rng.integers(0, vocab, (B, T)), device=device)
        tt = mg.tensor(rng.integers(0, vocab, B * T), device=device)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(model(it).reshape(-1, vocab), tt).backward()
            opt.step()
        return step

    for name, make in ((f"seed CNN, batch {4 if smoke else 64}", cnn_step_fn), (f"char Transformer, batch {B}, block {T}", lm_step_fn)):
        row = {"model": name}
        try:
            row["CPU ms"] = timeit(make("cpu"), repeat=repeats, warmup=2)[0] * 1e3
        except Exception as e:  # report and go on: the GPU column is what this script is for
            row["CPU ms"] = f"failed: {type(e).__name__}: {e}"[:60]
        try:
            row["GPU ms"] = gpu_time(make("cuda"), repeats) * 1e3
        except Exception as e:
            row["GPU ms"] = f"failed: {type(e).__name__}: {e}"[:60]
        if isinstance(row["CPU ms"], float) and isinstance(row["GPU ms"], float):
            row["GPU speed-up"] = row["CPU ms"] / row["GPU ms"]
        rows.append(row)
    print("Training step (forward + backward + optimizer), minigrad on GPU vs CPU")
    print_table(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="smaller GEMMs (1024, 2048) and 3 repeats")
    ap.add_argument("--skip-train", action="store_true", help="skip the training-step comparison")
    ap.add_argument("--smoke", action="store_true", help="every part once, on tiny sizes (checks the script)")
    args = ap.parse_args(argv)

    from minigrad.backend import cupy_available

    if not cupy_available():
        print("benchmarks/cuda.py: no usable GPU (CuPy missing or no CUDA device); nothing to measure.")
        return 0
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"== GPU: {name}, {props['multiProcessorCount']} SMs; CuPy {cp.__version__}, CUDA runtime "
          f"{cp.cuda.runtime.runtimeGetVersion()}; CUPY_TF32={os.environ.get('CUPY_TF32')} "
          f"NVIDIA_TF32_OVERRIDE={os.environ.get('NVIDIA_TF32_OVERRIDE')}")
    torch, why = torch_cuda()
    print(f"   torch: {torch.__version__ if torch is not None else why}\n")
    if EMULATED:
        print("   ON THE CUDA EMULATOR (MINIGRAD_CUDA_EMULATOR=1): the kernels run on the CPU; times mean nothing\n")
    repeats = 1 if args.smoke else 3 if args.quick else args.repeats
    import minigrad.kernels.cuda as kc

    print(f"compile/warm-up of every CUDA kernel: {kc.warmup():.1f} s\n")
    if args.smoke:
        bench_sgemm((64, 130), repeats)
        bench_attention(repeats, B=1, H=2, N=80, D=64)
    else:
        bench_sgemm((1024, 2048) if args.quick else (1024, 2048, 4096, 8192), repeats)
        bench_attention(repeats)
    if not args.skip_train:
        bench_training(repeats, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
