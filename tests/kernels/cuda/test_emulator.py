"""The CUDA emulator (kernels/cuda/emulator): it must run correct kernels correctly and
catch the bugs it exists to catch, and the GPU test suite must pass on it.

Each test compiles a few lines of CUDA with the host's g++ (skipped without one).
``test_the_gpu_suite_passes_on_the_emulator`` checks a run of ``tests/gpu`` in a subprocess
with ``MINIGRAD_CUDA_EMULATOR=1`` (and the race check), started beside the other tests by
``conftest.py`` here: the only run of the real CUDA kernels (kernels/cuda/*.cu) a machine
without a GPU can make.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cuda import emulator
from minigrad.kernels.cuda.emulator import fake_cupy as fcp

pytestmark = pytest.mark.skipif(not emulator.available(), reason=f"{emulator.why_unavailable()}")

SOURCE = r'''
#include "common.cuh"

extern "C" __global__ void warp_and_block_sums(const float* x, float* warp_out, float* block_out, int n) {
    __shared__ float red[32];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const float v = i < n ? x[i] : 0.0f;
    const float w = mg_warp_sum(v);
    if ((threadIdx.x & 31) == 0) warp_out[i >> 5] = w;
    const float b = mg_block_sum(v, red);
    if (threadIdx.x == 0) block_out[blockIdx.x] = b;
}

// y[t] = x of the next thread, through shared memory; SYNC 0 leaves out the barrier
extern "C" __global__ void rotate(const double* x, double* y, int sync) {
    __shared__ double s[128];
    const int t = threadIdx.x;
    s[t] = x[t];
    if (sync) __syncthreads();
    y[t] = s[(t + 1) % blockDim.x];
}

extern "C" __global__ void write_one_past(int* y, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = (int)i;   // the bug: <= n
}

extern "C" __global__ void divergent(float* y) {
    float v = threadIdx.x;
    if (threadIdx.x % 2) __syncthreads();
    else v = __shfl_xor_sync(0xffffffffu, v, 1);
    y[threadIdx.x] = v;
}

extern "C" __global__ void uses_dynamic_smem(float* y, int n) {
    extern __shared__ __align__(16) unsigned char buf[];
    float* f = reinterpret_cast<float*>(buf);
    for (int i = threadIdx.x; i < n; i += blockDim.x) f[i] = (float)i;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = f[n - 1 - i];
}

extern "C" __global__ void grid_3d(int* out) {
    const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
}
'''


@pytest.fixture(scope="module")
def mod():
    return emulator.compile_source(SOURCE, label="emulator_selftest")


def test_parses_every_kernel_and_its_parameters(mod):
    assert set(mod.kernels) == {"warp_and_block_sums", "rotate", "write_one_past", "divergent",
                                "uses_dynamic_smem", "grid_3d"}
    p = mod.kernels["rotate"]
    assert [(x.name, x.pointer, x.dtype) for x in p] == [
        ("x", True, np.float64), ("y", True, np.float64), ("sync", False, np.int32)]


def test_shuffles_and_block_reductions_give_the_sums(mod):
    n = 150  # 3 blocks of 64: a partial last block, every lane still reaches the barriers
    x = fcp.asarray(np.arange(n, dtype=np.float32))
    warp_out, block_out = fcp.zeros(6, np.float32), fcp.zeros(3, np.float32)
    mod.get_function("warp_and_block_sums")((3,), (64,), (x, warp_out, block_out, np.int32(n)))
    xs = np.concatenate([np.arange(n), np.zeros(192 - n)]).astype(np.float32)
    np.testing.assert_array_equal(warp_out.get(), xs.reshape(6, 32).sum(1))
    np.testing.assert_array_equal(block_out.get(), xs.reshape(3, 64).sum(1))


@pytest.mark.parametrize("order", ["forward", "reverse", "random", "alternate"])
def test_a_missing_barrier_shows_in_some_order(mod, monkeypatch, order):
    monkeypatch.setenv("MINIGRAD_CUDA_EMULATOR_ORDER", order)
    x = fcp.asarray(np.arange(1.0, 129.0))
    want = np.roll(x.get(), -1)
    y = fcp.empty(128, np.float64)
    mod.get_function("rotate")(1, 128, (x, y, np.int32(1)))
    np.testing.assert_array_equal(y.get(), want)  # with the barrier: right in every order
    if order == "forward":  # thread t reads s[t + 1] before thread t + 1 has written it
        y = fcp.empty(128, np.float64)
        mod.get_function("rotate")(1, 128, (x, y, np.int32(0)))
        assert not np.array_equal(y.get(), want), "the race went unnoticed"


def test_a_bad_schedule_order_is_an_error(mod, monkeypatch):
    monkeypatch.setenv("MINIGRAD_CUDA_EMULATOR_ORDER", "sideways")
    with pytest.raises(RuntimeError, match="alternate, forward, reverse or random"):
        mod.get_function("rotate")(1, 4, (fcp.zeros(4), fcp.zeros(4), np.int32(1)))


def test_a_write_past_the_end_is_caught(mod):
    y = fcp.empty(100, np.int32)
    with pytest.raises(RuntimeError, match=r"wrote outside argument 0 \(int\* y\): 4 bytes past the end"):
        mod.get_function("write_one_past")((2,), (64,), (y, np.int64(100)))


def test_a_divergent_barrier_is_reported_not_hung(mod):
    with pytest.raises(RuntimeError, match="divergent barrier"):
        mod.get_function("divergent")(1, 32, (fcp.zeros(32, np.float32),))


def test_argument_types_are_checked_like_cupy_passes_them(mod):
    k = mod.get_function("rotate")
    x = fcp.zeros(8)
    with pytest.raises(TypeError, match="int, which takes int32, but got a int64"):
        k(1, 8, (x, x, 1))  # a Python int travels as long long
    with pytest.raises(TypeError, match="points to double"):
        k(1, 8, (x, fcp.zeros(8, np.float32), np.int32(1)))
    with pytest.raises(TypeError, match="needs a device array"):
        k(1, 8, (np.zeros(8), x, np.int32(1)))
    with pytest.raises(TypeError, match="takes 3 arguments"):
        k(1, 8, (x, x))
    with pytest.raises(RuntimeError, match="no kernel named 'rotat'"):
        mod.get_function("rotat")


def test_launch_limits(mod):
    k = mod.get_function("grid_3d")
    with pytest.raises(RuntimeError, match="1..1024 threads"):
        k(1, 1025, (fcp.zeros(1025, np.int32),))
    out = fcp.zeros(2 * 3 * 2 * 24, np.int32)
    k((2, 3, 2), (4, 3, 2), (out,))
    b, t = np.divmod(np.arange(out.size), 24)
    np.testing.assert_array_equal(out.get(), b * 1000 + t)


def test_dynamic_shared_memory_over_48k_needs_the_attribute_raised(mod):
    k = mod.get_function("uses_dynamic_smem")
    n = 16000  # 64000 bytes
    y = fcp.empty(n, np.float32)
    with pytest.raises(RuntimeError, match="raise max_dynamic_shared_size_bytes"):
        k(1, 256, (y, np.int32(n)), shared_mem=4 * n)
    k.max_dynamic_shared_size_bytes = 4 * n
    k(1, 256, (y, np.int32(n)), shared_mem=4 * n)
    np.testing.assert_array_equal(y.get(), np.arange(n)[::-1])


def test_the_stand_in_cupy_guards_and_poisons_its_arrays():
    a = fcp.empty((3, 5), np.float64)
    assert np.isnan(a.get()).all(), "fresh device memory must read as NaN, so unwritten outputs show"
    assert fcp.guard_damage(a) is None and fcp.guard_damage(a.T[1:]) is None
    assert isinstance(fcp.asarray(np.ones(3)) + 1, fcp.ndarray)
    assert type(fcp.asnumpy(a)) is np.ndarray
    assert type(a).__module__ == "cupy"  # what minigrad's device layer looks for
    assert hasattr(a, "__cuda_array_interface__") and not hasattr(np.ones(2), "__cuda_array_interface__")
    with pytest.raises(TypeError, match="mixes a device array with a host NumPy array"):
        fcp.ones(3) + np.ones(3)           # CuPy refuses this; so must the stand-in
    with pytest.raises(TypeError, match="mixes a device array with a host NumPy array"):
        np.ones(3) * fcp.ones(3)
    total = fcp.ones(3).sum()
    assert isinstance(total, fcp.ndarray) and total.ndim == 0, "reductions give 0-d device arrays, as in CuPy"
    assert float(fcp.ones(3) @ fcp.ones(3) + np.float32(1)) == 4.0  # NumPy scalars are fine


def test_install_and_uninstall_restore_the_loader_and_modules():
    from minigrad.kernels.cuda import _loader

    before = (sys.modules.get("cupy"), _loader.get_function)
    with emulator.emulate() as cp:
        assert sys.modules["cupy"] is fcp is cp
        assert _loader.get_function is emulator.get_function
        import minigrad

        t = minigrad.ones(3, device="cuda")
        assert str(t.device) == "cuda:0" and (t * 2).sum().item() == 6.0
        with pytest.raises(RuntimeError, match="installed already"):
            emulator.install()
    assert (sys.modules.get("cupy"), _loader.get_function) == before


def _run_emulated(args, timeout, **env):
    """``python *args`` from the repository root, with MINIGRAD_CUDA_EMULATOR=1 (and ``env``)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return subprocess.run([sys.executable, *args], cwd=root, env=dict(os.environ, MINIGRAD_CUDA_EMULATOR="1", **env),
                          capture_output=True, text=True, check=False, timeout=timeout)


def test_the_gpu_suite_passes_on_the_emulator(emulated_gpu_suite):
    """tests/gpu, every CUDA kernel against its reference, in a fresh interpreter; with the
    race check on, so every launch also runs with its threads in reverse order and must
    write the same values. The run started beside this one when collection ended
    (conftest.py here); this test checks its result."""
    r = emulated_gpu_suite
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, f"the GPU suite failed on the emulator (exit {r.returncode}):\n{tail}"
    last = [line for line in r.stdout.splitlines() if " passed" in line]
    assert last and "skipped" not in last[-1], f"every GPU test must run on the emulator:\n{tail}"
    passed = int(last[-1].split(" passed")[0].split()[-1])
    assert passed >= 400, f"only {passed} GPU tests ran:\n{tail}"


def test_the_cuda_benchmark_script_runs_on_the_emulator():
    """benchmarks/cuda.py --smoke: every part of the GPU benchmark once, on tiny sizes, so a
    run on a GPU does not spend its time finding the script's own bugs."""
    r = _run_emulated(["benchmarks/cuda.py", "--smoke"], timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"benchmarks/cuda.py --smoke failed on the emulator:\n{out[-4000:]}"
    for part in ("SGEMM", "Attention forward", "Training step", "ON THE CUDA EMULATOR"):
        assert part in out, f"the output has no {part!r} section:\n{out[-4000:]}"
    assert "failed:" not in out, f"a benchmark part failed:\n{out[-4000:]}"


def test_racecheck_runs_both_orders_and_names_the_race(mod, monkeypatch):
    monkeypatch.setenv("MINIGRAD_CUDA_EMULATOR_RACECHECK", "1")
    k = mod.get_function("rotate")
    x = fcp.asarray(np.arange(1.0, 65.0))
    y = fcp.empty(64, np.float64)
    before = k.launches
    k(1, 64, (x, y, np.int32(1)))          # with the barrier: the same in both orders
    assert k.launches == before + 2
    np.testing.assert_array_equal(y.get(), np.roll(x.get(), -1))
    with pytest.raises(RuntimeError, match=r"argument 1 \(double\* y\) when its threads run in another order"):
        k(1, 64, (x, fcp.empty(64, np.float64), np.int32(0)))
