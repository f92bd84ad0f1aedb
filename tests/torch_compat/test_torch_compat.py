"""minigrad/torch_compat: ``python -m minigrad run``, ``install``/``enabled``, and the corpus
of real PyTorch programs that run unchanged on minigrad.

The runner's checks each run in a fresh subprocess (see ``_torch_run.py``).

The corpus is ``programs/``: each program there is run in a subprocess, to the end,
with small flags. Where PyTorch is installed it is first run on PyTorch through
``programs/_probe.py``, which records the weights each model starts from, the random
numbers the program draws and the losses it calls ``backward()`` on; the minigrad run
then starts from those weights and draws, and its first losses must match PyTorch's to
float32 rounding.

``torchvision`` there is a small stand-in (``programs/torchvision/``) that serves the
MNIST digits shipped inside minigrad; ``TORCHVISION_STANDIN_LIMIT`` keeps runs short.
"""
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pytest

from _torch_run import ROOT, _run_script

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
TEXT = os.path.join(ROOT, "minigrad", "data", "embedded", "text", "midsummer.txt")
HAVE_TORCH = importlib.util.find_spec("torch") is not None
TIMEOUT = 600


# ----------------------------------------------------------------------------- the runner

def test_script_sees_what_python_script_py_gives(tmp_path):
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "helper.py").write_text("VALUE = 7\n")
    p = _run_script(tmp_path, """
        import os, sys
        assert __name__ == "__main__", __name__
        assert sys.argv == [sys.argv[0], "--epochs", "2", "-x"], sys.argv
        assert os.path.basename(sys.argv[0]) == "script.py"
        here = os.path.dirname(os.path.realpath(__file__))
        assert os.path.realpath(sys.path[0]) == here, (sys.path[0], here)
        assert os.getcwd() not in sys.path[:1]
        import helper                      # a module next to the script
        assert helper.VALUE == 7
        print("ok")
    """, "--epochs", "2", "-x")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_exit_status_and_traceback_are_the_scripts(tmp_path):
    p = _run_script(tmp_path, "import sys\nsys.exit(3)\n")
    assert p.returncode == 3
    p = _run_script(tmp_path, "def f():\n    raise ValueError('boom')\nf()\n")
    assert p.returncode == 1
    assert "ValueError: boom" in p.stderr and "script.py" in p.stderr
    assert "torch_compat" not in p.stderr and "runpy" not in p.stderr, p.stderr  # only the script's frames
    p = subprocess.run([sys.executable, "-m", "minigrad", "run", str(tmp_path / "missing.py")], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert p.returncode == 2 and "missing.py" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_enabled_is_undone_and_other_imports_are_untouched(tmp_path):
    code = textwrap.dedent("""
        import sys
        import minigrad
        from minigrad import torch_compat
        with torch_compat.enabled():
            import torch
            assert torch.nn.Linear is minigrad.nn.Linear
            assert torch_compat.is_installed()
        assert not torch_compat.is_installed()
        assert not any(n == "torch" or n.startswith("torch.") for n in sys.modules)
        assert "__getattr__" not in vars(minigrad.Tensor)
        import json                        # names outside torch are not ours
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_install_refuses_when_pytorch_is_already_imported():
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import torch
        from minigrad import torch_compat
        try:
            torch_compat.install()
        except RuntimeError as e:
            assert "already imported" in str(e), e
            print("refused")
    """)
    p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "refused"


# ----------------------------------------------------------------------------- the corpus of PyTorch programs

def _words_lm_data(folder, train_lines, eval_lines):
    """train/valid/test.txt for word_language_model: consecutive passages of the shipped play."""
    with open(TEXT, encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    parts = {"train": lines[:train_lines], "valid": lines[train_lines:train_lines + eval_lines],
             "test": lines[train_lines + eval_lines:train_lines + 2 * eval_lines]}
    for name, part in parts.items():
        with open(os.path.join(folder, "data", f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(part) + "\n")


def _sine_data(folder, runner):
    """time_sequence_prediction reads traindata.pt written by its own generator, on the same framework."""
    subprocess.run(runner + [os.path.join(CORPUS, "time_sequence_prediction", "generate_sine_wave.py")],
                   cwd=folder, env=_env({}), check=True, timeout=TIMEOUT, capture_output=True)


@dataclass
class Program:
    name: str
    script: str
    args: list = field(default_factory=list)
    expect: str = ""             # text the program prints at its end
    compare: int = 3             # how many first losses must match PyTorch's
    rtol: float = 1e-4
    limit: int = 128             # MNIST images per split (TORCHVISION_STANDIN_LIMIT)
    setup: object = None         # setup(folder, runner) before the run, in its working folder
    slow: bool = False
    xfail: str = ""              # a known incompatibility, named
    same_steps: bool = True      # both runs call backward() equally often (False: a stopping rule on the loss)

    @property
    def id(self):
        return self.name


def LM(epochs=1):
    return ["--data", "data", "--emsize", "32", "--nhid", "32", "--nlayers", "2", "--epochs", str(epochs),
            "--bptt", "20", "--batch_size", "10", "--log-interval", "2"]


GPT = ["--data", TEXT, "--batch_size", "8", "--block_size", "32", "--n_layer", "2", "--n_head", "2",
       "--n_embd", "32", "--dropout", "0", "--eval_interval", "2", "--eval_iters", "2", "--log_interval", "1",
       "--warmup_iters", "2", "--max_new_tokens", "40"]

PROGRAMS = [
    Program("mnist_cnn", "mnist_cnn.py", ["--epochs", "1", "--log-interval", "1", "--test-batch-size", "128"],
            "Test set: Average loss", compare=2),
    Program("mnist_rnn", "mnist_rnn.py", ["--epochs", "1", "--log-interval", "1", "--test-batch-size", "128"],
            "Test set: Average loss", compare=2),
    # it trains until the loss is below 1e-3: rounding may move that step by a few
    Program("regression", "regression.py", [], "==> Actual function", compare=5, same_steps=False),
    Program("vae", "vae.py", ["--epochs", "1", "--batch-size", "64", "--log-interval", "1"], "Test set loss",
            compare=2),
    # Adam's first step moves every weight by about lr (0.03) whatever the size of its gradient, so tiny
    # gradients' rounding shows in the second loss: only the first is compared.
    Program("mnist_forward_forward", "mnist_forward_forward.py",
            ["--epochs", "3", "--log-interval", "1", "--train_size", "128", "--test_size", "128"],
            "test error", compare=1),
    Program("word_lm_lstm", os.path.join("word_language_model", "main.py"), LM() + ["--model", "LSTM"],
            "End of training", setup=lambda d, r: _words_lm_data(d, 160, 30)),
    Program("word_lm_gru", os.path.join("word_language_model", "main.py"), LM() + ["--model", "GRU", "--tied"],
            "End of training", setup=lambda d, r: _words_lm_data(d, 160, 30)),
    Program("word_lm_transformer", os.path.join("word_language_model", "main.py"),
            LM() + ["--model", "Transformer", "--nhead", "2"], "End of training",
            setup=lambda d, r: _words_lm_data(d, 160, 30)),
    Program("time_sequence_prediction", os.path.join("time_sequence_prediction", "train.py"), ["--steps", "1"],
            "test loss", compare=5, rtol=1e-6, setup=_sine_data, slow=True),
    Program("gpt", os.path.join("gpt", "train.py"), GPT + ["--max_iters", "4", "--lr_decay_iters", "4"],
            "---------------", compare=5),
    Program("gpt_masked_attention", os.path.join("gpt", "train.py"),
            GPT + ["--max_iters", "3", "--lr_decay_iters", "3", "--no_flash", "--bias"], "---------------", slow=True),
    Program("quickstart", "quickstart.py", [], "Predicted:"),
    Program("polynomial_custom_function", "polynomial_custom_function.py", [], "Result: y ="),
    Program("polynomial_nn", "polynomial_nn.py", [], "Result: y =",),
    Program("dynamic_net", "dynamic_net.py", [], "Result: y ="),
    Program("lstm_tagger", "lstm_tagger.py", [], "tensor("),
    Program("ngram_lm", "ngram_lm.py", [], "tensor("),
    Program("lenet_blitz", "lenet_blitz.py", [], "2 "),
    # longer runs: more data and steps; training must make progress as well
    Program("mnist_cnn_epoch", "mnist_cnn.py", ["--epochs", "1", "--log-interval", "10", "--test-batch-size", "500"],
            "Test set: Average loss", limit=1000, slow=True),
    Program("gpt_50_steps", os.path.join("gpt", "train.py"),
            GPT + ["--max_iters", "50", "--lr_decay_iters", "50", "--eval_interval", "25"], "---------------",
            slow=True),
    Program("word_lm_lstm_2_epochs", os.path.join("word_language_model", "main.py"),
            LM(epochs=2) + ["--model", "LSTM"],
            "End of training", setup=lambda d, r: _words_lm_data(d, 600, 100), slow=True),
]


def _env(extra):
    env = dict(os.environ)
    env.update(PYTHONHASHSEED="0", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


RUNNERS = {"torch": [sys.executable], "minigrad": [sys.executable, "-m", "minigrad", "run"]}


def _run(prog, backend, folder, weights_arg):
    os.makedirs(folder, exist_ok=True)
    runner = RUNNERS[backend]
    if prog.setup is not None:
        prog.setup(folder, runner)
    losses = os.path.join(folder, "losses.json")
    cmd = runner + [os.path.join(CORPUS, "_probe.py"), *weights_arg, "--losses", losses,
                    os.path.join(CORPUS, prog.script), *prog.args]
    p = subprocess.run(cmd, cwd=folder, env=_env({"TORCHVISION_STANDIN_LIMIT": str(prog.limit)}),
                       capture_output=True, text=True, timeout=TIMEOUT)
    got = json.load(open(losses)) if os.path.exists(losses) else []
    return p, got


_CACHE = {}


def _results(prog, tmp_root, with_torch):
    """(torch run or None, minigrad run): each a (CompletedProcess, losses); the minigrad run starts from
    the torch run's weights and random draws when there is one."""
    key = (prog.name, with_torch)
    if key not in _CACHE:
        if not with_torch and (prog.name, True) in _CACHE:
            return _CACHE[(prog.name, True)]
        base = os.path.join(tmp_root, prog.name + ("-oracle" if with_torch else ""))
        shutil.rmtree(base, ignore_errors=True)
        ref = None
        weights = []
        if with_torch:
            ref = _run(prog, "torch", os.path.join(base, "torch"), ["--record", os.path.join(base, "start.npz")])
            assert ref[0].returncode == 0, f"{prog.name} failed on PyTorch:\n{ref[0].stderr[-3000:]}"
            weights = ["--replay", os.path.join(base, "start.npz")]
        _CACHE[key] = (ref, _run(prog, "minigrad", os.path.join(base, "minigrad"), weights))
    return _CACHE[key]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("torch_compat_programs"))


def _params():
    out = []
    for prog in PROGRAMS:
        marks = [pytest.mark.slow] if prog.slow else []
        if prog.xfail:
            marks.append(pytest.mark.xfail(reason=prog.xfail, strict=True))
        out.append(pytest.param(prog, id=prog.id, marks=marks))
    return out


@pytest.mark.parametrize("prog", _params())
def test_program_runs_to_the_end_on_minigrad(prog, tmp_root):
    _, (p, losses) = _results(prog, tmp_root, with_torch=HAVE_TORCH)
    assert p.returncode == 0, f"{prog.name} failed on minigrad:\n{p.stderr[-4000:]}"
    assert prog.expect in p.stdout, f"{prog.name} did not print {prog.expect!r}; it printed:\n{p.stdout[-2000:]}"
    assert losses and all(math.isfinite(v) for v in losses), losses
    if prog.slow:  # the longer runs must learn something
        k = max(1, len(losses) // 5)
        assert np.mean(losses[-k:]) < np.mean(losses[:k]), losses


@pytest.mark.oracle
@pytest.mark.parametrize("prog", _params())
def test_program_first_losses_match_pytorch(prog, tmp_root):
    pytest.importorskip("torch")
    (ref, ref_losses), (p, losses) = _results(prog, tmp_root, with_torch=True)
    assert p.returncode == 0, f"{prog.name} failed on minigrad:\n{p.stderr[-4000:]}"
    n = prog.compare
    assert len(ref_losses) >= n and len(losses) >= n, (ref_losses[:n], losses[:n])
    np.testing.assert_allclose(losses[:n], ref_losses[:n], rtol=prog.rtol, atol=1e-6,
                               err_msg=f"{prog.name}: first losses on minigrad vs PyTorch")
    if prog.same_steps:
        assert len(losses) == len(ref_losses), "the two runs called backward() a different number of times"
