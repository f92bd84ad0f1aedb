"""The GPU layer, checked on a machine without a GPU.

* importing every CUDA kernel family works without CuPy/GPU, and the tables are merged;
* asking for "cuda" without CuPy, or with CuPy but no GPU, raises an error saying which
  is missing and how to install the extra (CuPy is faked with monkeypatch);
* the loader's file handling (paths, header pasting, launch sizes);
* the GEMM launcher's plan (kernel, leading dims, batch strides), and gemm.cu itself run
  by the CUDA emulator on odd shapes and every layout;
* every kernels/cuda/*.cu compiles with nvcc for sm_80 and sm_90 (skipped without nvcc),
  as .ci/run does, and through NVRTC the way the loader builds it (skipped without NVRTC).
"""
import importlib
import inspect
import itertools
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import minigrad
from minigrad import backend
from minigrad.data import DataLoader, TensorDataset
from minigrad.data.dataloader import to_device
from minigrad.kernels.cuda import _loader
from minigrad.kernels.cuda import emulator
from minigrad.kernels.cuda import matmul as cuda_mm

CU_FILES = sorted(_loader.KERNEL_DIR.glob("*.cu"))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- imports and tables

def test_cuda_kernel_package_imports_and_merges_family_tables():
    cuda = importlib.import_module("minigrad.kernels.cuda")
    assert inspect.unwrap(cuda.KERNELS["matmul"]) is cuda_mm.matmul  # behind its entry check
    assert cuda.PREFERRED["matmul"] == "native"
    for name, fn in cuda.KERNELS.items():
        assert callable(fn), name
        assert cuda.PREFERRED.get(name, "native") in ("native", "reference"), name


def test_cuda_matmul_on_numpy_arrays_is_the_reference():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(cuda_mm.matmul(a, b), a @ b)
    with pytest.raises(ValueError, match=r"cannot be multiplied \(3 != 4\)"):
        cuda_mm.matmul(np.ones((2, 3)), np.ones((4, 5)))


# ----------------------------------------------------------------------------- errors without a GPU

class _FakeRuntime:
    def getDeviceCount(self):
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")


class _FakeCupy:
    class cuda:
        runtime = _FakeRuntime()

    class ndarray:  # nothing is an instance
        pass


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", "ModuleNotFoundError: No module named 'cupy'")


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", _FakeCupy)
    monkeypatch.setattr(backend, "_cupy_error", None)


CUDA_REQUESTS = {
    "zeros": lambda: minigrad.zeros(2, device="cuda"),
    "randn": lambda: minigrad.randn(2, device="cuda"),
    "arange": lambda: minigrad.arange(3, device="cuda"),
    "tensor": lambda: minigrad.tensor([1.0], device="cuda"),
    "zeros_like": lambda: minigrad.zeros_like(minigrad.ones(2), device="cuda"),
    "Tensor.to": lambda: minigrad.ones(2).to("cuda"),
    "Tensor.cuda": lambda: minigrad.ones(2).cuda(),
    "Module.to": lambda: minigrad.nn.Linear(2, 2).to("cuda"),
    "Module.cuda": lambda: minigrad.nn.Linear(2, 2).cuda(),
    "DataLoader": lambda: DataLoader(TensorDataset(np.zeros((4, 2))), batch_size=2, device="cuda"),
    "to_device": lambda: to_device((minigrad.ones(2),), "cuda"),
    "cuda.synchronize": lambda: minigrad.cuda.synchronize(),
    "cuda.current_device": lambda: minigrad.cuda.current_device(),
    "loader.get_module": lambda: _loader.get_module("gemm"),
}


# Every way of asking for "cuda" says why it cannot: no CuPy (and how to install it), or
# CuPy without a usable GPU. (setup: the fixture that fakes the machine)
WHY_NO_CUDA = {
    "without_cupy_says_how_to_install": ("no_cupy", ("CuPy is not installed", "pip install minigrad[cuda12]")),
    "with_cupy_but_no_gpu_says_so": ("cupy_without_gpu", ("no CUDA GPU is usable", "no CUDA-capable device")),
}


@pytest.mark.parametrize("what", sorted(CUDA_REQUESTS))
@pytest.mark.parametrize("case", sorted(WHY_NO_CUDA))
def test_cuda_request(request, case, what):
    setup, phrases = WHY_NO_CUDA[case]
    request.getfixturevalue(setup)
    with pytest.raises(RuntimeError) as info:
        CUDA_REQUESTS[what]()
    msg = str(info.value)
    assert all(p in msg for p in phrases), msg


def test_cuda_queries_do_not_raise_without_a_gpu(no_cupy):
    assert minigrad.cuda.is_available() is False
    assert minigrad.cuda.device_count() == 0
    assert "pip install minigrad[cuda12]" in minigrad.cuda.why_unavailable()


def test_cuda_queries_with_cupy_but_no_gpu(cupy_without_gpu):
    assert minigrad.cuda.is_available() is False
    assert minigrad.cuda.device_count() == 0
    assert "no CUDA GPU is usable" in minigrad.cuda.why_unavailable()


def test_cpu_device_everywhere_needs_no_cupy(no_cupy):
    t = minigrad.zeros(2, 3, device="cpu")
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t
    assert minigrad.ones(2, device=minigrad.device("cpu")).device == "cpu"
    m = minigrad.nn.Linear(2, 2).to("cpu")
    assert all(p.device == "cpu" for p in m.parameters())
    batches = list(DataLoader(TensorDataset(np.zeros((4, 2))), batch_size=2, device="cpu"))
    assert len(batches) == 2 and batches[0][0].device == "cpu"


def test_bad_device_strings():
    with pytest.raises(ValueError, match="unknown device type 'gpu'"):
        minigrad.zeros(2, device="gpu")
    with pytest.raises(ValueError, match="invalid device"):
        DataLoader(TensorDataset(np.zeros((4, 2))), device="tpu")


def test_to_device_walks_nested_batches_on_the_cpu():
    batch = {"x": minigrad.ones(2), "y": [np.zeros(3), ("s", 4)]}
    out = to_device(batch, "cpu")
    assert out["x"] is batch["x"] and out["y"][0] is batch["y"][0] and out["y"][1] == ("s", 4)


# ----------------------------------------------------------------------------- loader

def test_source_path_and_errors():
    assert _loader.source_path("gemm") == _loader.KERNEL_DIR / "gemm.cu"
    with pytest.raises(FileNotFoundError, match="available: .*gemm"):
        _loader.source_path("no_such_kernel")
    for bad in ("", "../gemm", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            _loader.source_path(bad)


def test_read_source_pastes_headers_once_with_line_directives():
    src = _loader.read_source("gemm")
    assert not any(l.strip().startswith("#include") for l in src.splitlines()), "headers must be pasted in"
    assert src.count("MG_DEVICE long long mg_ceil_div") == 1
    assert '#line 1 "common.cuh"' in src and '#line 1 "gemm.cu"' in src
    assert not any(l.strip() == "#pragma once" for l in src.splitlines())
    # the line after the include is announced with its real number in gemm.cu
    lines = _loader.source_path("gemm").read_text().splitlines()
    inc = next(i for i, l in enumerate(lines, 1) if l.strip() == '#include "common.cuh"')
    assert f'#line {inc + 1} "gemm.cu"' in src


def test_launch_1d():
    assert _loader.launch_1d(1000) == ((4,), (256,))
    assert _loader.launch_1d(0) == ((1,), (256,))
    assert _loader.launch_1d(1024, 128) == ((8,), (128,))
    assert _loader.launch_1d(10 ** 15)[0] == (2 ** 31 - 1,)
    with pytest.raises(ValueError):
        _loader.launch_1d(10, 2048)
    with pytest.raises(ValueError):
        _loader.launch_1d(-1)


# ----------------------------------------------------------------------------- GEMM plan + emulation

def test_plan_picks_layouts_without_copies():
    a = np.zeros((5, 7), np.float32)
    b = np.zeros((7, 3), np.float32)
    assert cuda_mm.plan(a, b)["kernel"] == "sgemm_64_nn"
    p = cuda_mm.plan(a, np.zeros((3, 7), np.float32).T)  # x @ W.T, as Linear does
    assert p["kernel"] == "sgemm_64_nt" and p["ldb"] == 7 and p["copied"] == ()
    p = cuda_mm.plan(np.zeros((7, 5), np.float64).T, b.astype(np.float64))
    assert p["kernel"] == "dgemm_64_tn" and p["lda"] == 5
    big = np.zeros((2048, 2048), np.float32)
    assert cuda_mm.plan(big, big, sm_count=132)["kernel"] == "sgemm_128_nn"
    p = cuda_mm.plan(np.zeros((9, 10), np.float32)[::2, ::3], np.zeros((4, 2), np.float32))
    assert p["copied"] == ("a",)
    assert cuda_mm.plan(np.zeros((2, 2), np.float16), np.zeros((2, 2), np.float16)) is None


def test_plan_merges_and_broadcasts_batches():
    a = np.zeros((2, 3, 5, 4), np.float32)
    b = np.zeros((3, 4, 6), np.float32)
    p = cuda_mm.plan(a, b)
    assert p["batch"] == (2, 3) and p["nbatch"] == 6
    assert p["n"] == (1, 2, 3) and p["sa"] == (0, 60, 20) and p["sb"] == (0, 0, 24)
    p = cuda_mm.plan(np.zeros((2, 3, 4, 5, 6), np.float32), np.zeros((6, 3), np.float32))
    assert p["n"] == (1, 1, 24) and p["sa"] == (0, 0, 30), "contiguous batch axes merge into one"
    five = np.zeros((2, 1, 2, 1, 2, 3, 3), np.float32)[:, :, :, :, :, :, :]
    other = np.zeros((1, 2, 1, 2, 1, 3, 3), np.float32)
    assert cuda_mm.plan(five, other) is None, "more than three unmergeable batch axes -> reference"


# gemm.cu itself, run on the CPU by the CUDA emulator (kernels/cuda/emulator): the
# launcher's plan, the kernel's index logic, edge tiles, misaligned rows and broadcast
# batches, without a GPU. (The emulator's guarded, NaN-filled outputs make an entry the
# kernel forgets to write fail the comparison.)
def _gemm_cases(cp):
    rng = np.random.default_rng(0)
    r = lambda *s, dt=np.float32: cp.asarray(rng.standard_normal(s).astype(dt))  # noqa: E731
    cases = []
    for dt in (np.float32, np.float64):
        for M, N, K in [(1, 1, 1), (5, 7, 3), (65, 66, 17), (3, 70, 9)]:
            A, B = r(M, K, dt=dt), r(K, N, dt=dt)
            cases += [(A, B, 108), (cp.asfortranarray(A), B, 108), (A, cp.asfortranarray(B), 108),
                      (cp.asfortranarray(A), cp.asfortranarray(B), 108)]
        big = r(40, 37, dt=dt)
        cases += [(big[1:20, 3:14], big[5:16, 1:30], 108),           # misaligned rows, odd leading dim
                  (big[1:20, 3:14].T, big[1:20, 2:9], 108),
                  (r(2, 1, 5, 4, dt=dt), r(3, 4, 6, dt=dt), 108),     # broadcast batch
                  (r(3, 4, 5, dt=dt).transpose(0, 2, 1), r(3, 4, 2, dt=dt), 108),
                  (r(7, dt=dt), r(3, 7, 2, dt=dt), 108), (r(3, 7, 2, dt=dt), r(2, dt=dt), 108),
                  (big[::2, ::3], big[1::2, ::3][:13, :4], 108),     # no unit stride: copied
                  (cp.broadcast_to(r(1, 4, dt=dt), (5, 4)), r(4, 3, dt=dt), 108)]
    cases += [(r(130, 20), r(20, 129), 1), (cp.asfortranarray(r(130, 20)), cp.asfortranarray(r(20, 129)), 1)]
    return cases


@pytest.mark.skipif(not emulator.available(), reason=f"{emulator.why_unavailable()}")
@pytest.mark.parametrize("case", range(len(_gemm_cases(np))))   # (the same cases, built on the host)
def test_gemm_kernel_on_the_emulator(case, monkeypatch):
    with emulator.emulate() as cp:
        a, b, sm = _gemm_cases(cp)[case]
        monkeypatch.setattr(cuda_mm, "_sm_count", {0: sm})   # the plan's tile choice
        p = cuda_mm.plan(*cuda_mm._promote(a, b)[:2], sm)
        assert p is not None, "these cases must run the kernel, not the reference"
        kernel = emulator.get_function("gemm", p["kernel"])
        before = kernel.launches
        got = cuda_mm.matmul(a, b)
        assert isinstance(got, cp.ndarray) and kernel.launches > before, f"{p['kernel']} did not run"
        a_h, b_h, got = a.get(), b.get(), got.get()
    want = np.matmul(a_h.astype(np.float64), b_h.astype(np.float64))
    tol = 1e-4 if a_h.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()),
                               err_msg=f"{p['kernel']} for a {a_h.shape} {a.strides}, b {b_h.shape} {b.strides}")


# ----------------------------------------------------------------------------- compiling the sources

@pytest.mark.slow  # up to ~20 s per file; .ci/run compiles every file with nvcc anyway
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_cu_file_compiles_with_nvcc_like_ci(cu, arch):
    """.ci/run runs exactly this from the repository root (no -I: includes resolve next to the file)."""
    res = subprocess.run(["nvcc", "-ptx", f"-arch={arch}", "-o", os.devnull, os.path.relpath(cu, REPO)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"nvcc -ptx -arch={arch} {cu.name} failed:\n{res.stdout}\n{res.stderr}"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_no_kernel_spills_registers_on_hopper(cu):
    """ptxas's resource report for sm_90: a kernel that spills registers to local memory
    (a register array indexed at run time, or __launch_bounds__ asking for too many
    blocks) is slow, and this is the one symptom of it a machine without a GPU can see."""
    res = subprocess.run(["nvcc", "-cubin", "-arch=sm_90", "-Xptxas", "-v", "-o", os.devnull, cu.name],
                         cwd=cu.parent, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"nvcc -cubin {cu.name} failed:\n{res.stderr}"
    report = res.stdout + res.stderr
    entries = re.findall(r"Compiling entry function '(\w+)'", report)
    spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)
    assert entries and len(spills) == len(entries), f"unexpected ptxas report for {cu.name}:\n{report}"
    bad = [(k, st, ld) for k, (st, ld) in zip(entries, spills) if int(st) or int(ld)]
    assert not bad, f"{cu.name}: kernels that spill (name, store bytes, load bytes): {bad}"


def _nvrtc_program():
    try:
        import cupy.cuda.compiler as compiler
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
        return compiler._NVRTCProgram
    except Exception:  # noqa: BLE001  (no CuPy, no NVRTC library, private API changed)
        return None


@pytest.mark.slow
@pytest.mark.skipif(_nvrtc_program() is None, reason="CuPy's NVRTC is not usable here")
@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_cu_file_compiles_with_nvrtc_like_the_loader(cu, arch):
    program = _nvrtc_program()
    src = _loader.read_source(cu.stem)
    opts = _loader.BASE_OPTIONS + (f"-I{_loader.KERNEL_DIR}", f"-arch={arch}", "--device-as-default-execution-space")
    try:
        program(src, cu.name, (), (), name_expressions=None, method="ptx").compile(opts)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"NVRTC could not compile {cu.name} for {arch}: {e}")
