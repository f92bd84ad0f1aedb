"""Where compiled kernels are cached, warmup(), and the one-line compile notice."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _run(code, tmp_path, **env):
    e = dict(os.environ)
    for k in ("NUMBA_CACHE_DIR", "MINIGRAD_QUIET", "MINIGRAD_COMPILE_LOG"):
        e.pop(k, None)
    e["MINIGRAD_CACHE_DIR"] = str(tmp_path / "cache")
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path), env=e)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from minigrad.kernels.cpu import _runtime

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("MINIGRAD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _runtime.cache_dir() == os.path.join(str(tmp_path), "minigrad", "numba")
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path / "m"))
    assert _runtime.cache_dir() == str(tmp_path / "m")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "n"))
    assert _runtime.cache_dir() == str(tmp_path / "n")


def test_quiet_blocks_nest(monkeypatch):
    from minigrad.kernels.cpu import _runtime

    monkeypatch.delenv("MINIGRAD_QUIET", raising=False)
    assert not _runtime._quiet()
    with _runtime.quiet():
        with _runtime.quiet():
            assert _runtime._quiet()
        assert _runtime._quiet()
    assert not _runtime._quiet()
    monkeypatch.setenv("MINIGRAD_QUIET", "1")
    assert _runtime._quiet()


def test_warmup_argument_errors():
    import minigrad

    with pytest.raises(ValueError, match="warmup: dtypes must be float32"):
        minigrad.kernels.warmup(dtypes=("int8",))
    with pytest.raises(ValueError, match="warmup: unknown kernel families.*'nope'"):
        minigrad.kernels.warmup(families=["nope"])


@pytest.mark.slow
def test_compile_into_the_cache_dir_with_one_notice_then_load(tmp_path):
    code = ("import numpy as np, minigrad\n"
            "from minigrad.kernels.cpu import _runtime, embedding\n"
            "_runtime.NOTICE_AFTER = 0.0\n"
            "assert not minigrad.kernels.is_warm(families=['embedding'])\n"
            "w, i = np.ones((4, 3), np.float32), np.array([0, 3, 1])\n"
            "embedding.embedding_forward(w, i); embedding.embedding_forward(w, i)\n"
            "print(sorted(_runtime.compile_times()))\n")
    first = _run(code, tmp_path, MINIGRAD_COMPILE_LOG=str(tmp_path / "log"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "[('embedding', 'float32')]"
    notices = [line for line in first.stderr.splitlines() if line.startswith("minigrad: compiling")]
    assert notices == ["minigrad: compiling the embedding kernels for float32 (once per machine, about 1 s; "
                       "later runs load them from the cache)"]
    assert any(f.endswith(".nbi") for _, _, files in os.walk(tmp_path / "cache") for f in files)
    assert '"family": "embedding"' in (tmp_path / "log").read_text()
    again = _run(code, tmp_path)                     # loads from the cache: nothing compiled, nothing said
    assert again.returncode == 0 and again.stdout.strip() == "[]" and again.stderr == ""
    quiet = _run(code.replace("np.float32", "np.float64"), tmp_path, MINIGRAD_QUIET="1")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "[('embedding', 'float64')]" and quiet.stderr == ""


def test_warmup_returns_at_once_when_the_cache_is_marked_warm(tmp_path, monkeypatch):
    """With its marker in the cache, warmup() compiles and loads nothing (each kernel loads
    on its first call); without it, it runs the families' warm-ups and then writes it."""
    import minigrad.kernels as k

    marker = tmp_path / "minigrad-warm-test"
    ran = []
    monkeypatch.setattr(k, "_warm_marker", lambda dtypes, mods: str(marker))
    monkeypatch.setattr(k, "_run", lambda mods, dtypes, verbose: ran.append([k._family(m) for m in mods]))
    monkeypatch.setenv("MINIGRAD_QUIET", "1")
    k.warmup(families=["norm"], processes=1)
    assert ran == [["norm"], ["norm"]] and marker.exists()
    ran.clear()
    assert k.warmup(families=["norm"], processes=1) < 1.0
    assert ran == []


@pytest.mark.slow
def test_warmup_in_two_processes_then_warm(tmp_path):
    code = ("import minigrad, time\n"
            "t = minigrad.kernels.warmup(families=['special', 'norm'], processes=2)\n"
            "print(minigrad.kernels.is_warm(families=['special', 'norm']))\n")
    first = _run(code, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "True"
    assert first.stderr.count("minigrad: compiling the native CPU kernels for float32") == 1
    again = _run(code + "from minigrad.kernels.cpu import _runtime; print(_runtime.compile_times())\n", tmp_path)
    assert again.returncode == 0 and again.stdout.split() == ["True", "{}"] and again.stderr == ""


def test_helper_modules_count_as_their_family():
    """Compile notices and times name the family a user knows: the packed GEMM is part
    of matmul, the one-call int8 layers of quant."""
    import numpy as np
    from minigrad.kernels.cpu import _gemm, _qlayers, _runtime

    for fn, family in ((_gemm._compute, "matmul"), (_qlayers.path, "quant")):
        disp = type("D", (), {"py_func": getattr(fn, "py_func", fn)})()
        assert _runtime._family_and_dtype({"dispatcher": disp, "args": (np.dtype("float32"),)}) == (family, "float32")


def test_thread_share_splits_n_into_contiguous_near_equal_ranges():
    from minigrad.kernels.cpu import _runtime

    for n in (0, 1, 5, 64, 1001):
        for T in (1, 2, 3, 7):
            ranges = [_runtime.thread_share.py_func(n, T, t) for t in range(T)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            sizes = [hi - lo for lo, hi in ranges]
            assert max(sizes) - min(sizes) <= 1
