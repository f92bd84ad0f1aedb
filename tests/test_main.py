"""``python -m minigrad`` (minigrad/__main__.py): the demo runs the seed systems listed in
``minigrad.examples.DEMOS`` and prints their table; its options and errors."""
import os
import subprocess
import sys

import pytest

from minigrad.__main__ import format_table, main
from minigrad.examples import DEMOS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_entries_are_callable_with_the_common_keywords():
    assert [e[0] for e in DEMOS][:3] == ["linear regression", "MLP regressor 2-10-1", "digits MLP"]
    for entry in DEMOS:
        assert isinstance(entry[0], str) and callable(entry[1]) and len(entry) in (2, 3)


def test_demo_only_runs_and_prints_the_table(capsys):
    assert main(["demo", "--only", "linear", "--no-progress", "--quick"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "system" in out and "final loss" in out and "linear regression" in out and "ok" in out
    assert "digits" not in out


@pytest.mark.slow
def test_demo_quick_all_systems(capsys):
    assert main(["demo", "--quick", "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    for entry in DEMOS:
        assert entry[0] in out


def test_demo_progress_goes_to_stderr(capsys):
    assert main(["demo", "--only", "linear", "--quick"]) == 0
    out, err = capsys.readouterr()
    assert "[1/1] linear regression" in err and "linear regression" in out


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bogus"])
    assert e.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["demo", "--quick", "--full"])
    assert e.value.code == 2
    assert main(["demo", "--only", "no-such-system"]) == 2
    assert "no system matches" in capsys.readouterr().err


def test_demo_list(capsys):
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(e[0] in out for e in DEMOS)


def test_failing_system_is_reported_not_raised(monkeypatch, capsys):
    import minigrad.examples as ex

    def broken(progress, level, seed):
        raise RuntimeError("out of coffee")

    def missed(progress, level, seed):
        return {"name": "missed", "what": "x", "final_loss": 1.0, "accuracy": 0.5, "summary": "",
                "passed": False, "seconds": 0.1}

    monkeypatch.setattr(ex, "DEMOS", [("broken", broken), ("missed", missed), ("full only", broken, {"full"})])
    assert main(["demo", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "RuntimeError: out of coffee" in out and "MISSED" in out and "50.0%" in out
    assert "full only" not in out


def test_systems_with_a_quick_flag_and_without_passed(monkeypatch, capsys):
    import minigrad.examples as ex

    seen = {}

    def old_style(quick=False, seed=0, progress=False):
        seen.update(quick=quick, seed=seed, progress=progress)
        return {"name": "old style", "final_loss": 0.25, "accuracy": None, "summary": "fine"}

    monkeypatch.setattr(ex, "DEMOS", [("old style", old_style)])
    assert main(["demo", "--quick", "--no-progress", "--seed", "3"]) == 0
    assert seen == {"quick": True, "seed": 3, "progress": False}
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("old style")][0]
    assert "0.2500" in row and "fine" in row and row.split()[-1] == "-"


def test_format_table_aligns_columns():
    rows = [{"name": "a", "what": "w", "final_loss": 0.5, "accuracy": None, "summary": "R2=1", "passed": True,
             "seconds": 1.0},
            {"name": "long name", "error": "ValueError: x", "seconds": 2.0}]
    lines = format_table(rows).splitlines()
    assert len(lines) == 4 and lines[0].startswith("system")
    assert lines[2].index("0.5000") + len("0.5000") == lines[0].index("final loss") + len("final loss")


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "minigrad", "demo", "--list"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and "digits MLP" in res.stdout
    res = subprocess.run([sys.executable, "-m", "minigrad", "nope"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "usage: minigrad" in res.stderr


# ----------------------------------------------------------------------------- real MNIST digits, first line

def test_demo_first_line_says_what_and_how_long(capsys):
    assert main(["demo", "--only", "linear", "--quick"]) == 0
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("minigrad demo: training 1 small systems (quick level), about ")
    assert first.endswith(" s on this machine")


def test_demo_first_line_counts_the_compilation_on_a_first_run(monkeypatch):
    from minigrad import __main__ as cli
    from minigrad.examples import DEMOS

    monkeypatch.setattr(cli, "_speed_factor", lambda: 1.0)   # the same machine speed in both lines

    class Compiler:
        estimate = 104.0

    chosen = cli._select(DEMOS, "default", None)
    warm = cli._plan_line(chosen, "default", None)
    cold = cli._plan_line(chosen, "default", Compiler())
    warm_s = int(warm.rsplit("about ", 1)[1].split()[0])
    first_s, later_s = (int(part.split()[0]) for part in cold.split("about ")[1:3])
    assert "this first time" in cold and "compiling the native kernels in the background" in cold
    assert first_s > later_s and first_s - later_s in (51, 52, 53), cold   # half of the 104 s compile
    assert later_s == warm_s, (warm, cold)


@pytest.mark.slow
def test_cold_start_of_the_readme_command(tmp_path):
    """pip install . && python -m minigrad demo in a fresh venv with an empty Numba cache."""
    out = tmp_path / "cold.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "cold_start.py"), "--quiet",
                          "--json", str(out)], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    import json

    results = {r["what"].strip(): r for r in json.loads(out.read_text())["results"]}
    demo = results["python -m minigrad demo"]
    assert demo["exit"] == 0 and demo["wall_s"] > 0 and demo["first_result_s"] is not None
    assert 0 < demo["longest_silence_s"] <= demo["wall_s"]


# ----------------------------------------------------------------------------- background compilation

def test_demo_switches_each_kernel_family_once_it_is_compiled(monkeypatch):
    """On a cold cache the demo compiles the families in another process, in the order
    its systems need them, and runs each family's ops on the reference kernels only
    until that family is compiled."""
    import queue
    import time

    from minigrad import __main__ as cli
    from minigrad import backend, kernels

    if backend.kernel_mode() is not None:
        pytest.skip("a kernel set is forced for the whole process")

    class Compiler:   # stands in for kernels.BackgroundWarmup: the test says when a family is compiled
        started = time.perf_counter()

        def __init__(self, families):
            self.families, self.compiled, self.stopped_calls = families, queue.Queue(), 0

        def next_compiled(self, timeout=None):
            return self.compiled.get(timeout=timeout)

        def done(self):
            return False

        def stop(self):
            self.stopped_calls += 1
            self.compiled.put(None)

    monkeypatch.setenv("MINIGRAD_QUIET", "1")
    monkeypatch.delenv("MINIGRAD_DEMO_COMPILE", raising=False)
    monkeypatch.setattr(kernels, "is_warm", lambda *a, **k: False)
    monkeypatch.setattr(kernels, "warmup_in_background", lambda dtypes=("float32",), families=None: Compiler(families))
    usual = {op: repr(backend.get_kernel(op)) for op in ("conv2d_forward", "max_pool2d_forward")}
    reference = backend._table("reference", "cpu").KERNELS
    compiler = cli._start_background_compile()
    try:
        assert compiler.families[:3] == ["pool", "conv", "softmax"]   # the seed CNN's first; matmul (BLAS meanwhile) late
        assert backend.get_kernel("conv2d_forward") is reference["conv2d_forward"]
        assert backend.get_kernel("max_pool2d_forward") is reference["max_pool2d_forward"]
        compiler.compiled.put("conv")
        deadline = time.perf_counter() + 10
        while "conv" in compiler.held and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert repr(backend.get_kernel("conv2d_forward")) == usual["conv2d_forward"]
        assert backend.get_kernel("max_pool2d_forward") is reference["max_pool2d_forward"]
    finally:
        cli._finish_background_compile(compiler, progress=False)
    assert compiler.stopped_calls == 1 and not compiler.held
    assert repr(backend.get_kernel("max_pool2d_forward")) == usual["max_pool2d_forward"]
