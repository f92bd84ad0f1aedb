"""``python -m minigrad run`` and ``minigrad.torch_compat``: what ``import torch`` means there.

Every check runs in a fresh subprocess: PyTorch itself may already be imported in the
test process (other tests use it as an oracle), and then ``install()`` refuses.
"""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_script(tmp_path, source, *args, name="script.py"):
    folder = tmp_path / "prog"
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "minigrad", "run", str(script), *args], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=120)


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


def test_torch_names_are_minigrads_own(tmp_path):
    p = _run_script(tmp_path, """
        import numpy as np
        import minigrad
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim as optim
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader, TensorDataset
        from torch.nn.modules.loss import CrossEntropyLoss
        import torch.nn.init, torch.nn.utils, torch.serialization, torch.accelerator

        assert torch.Tensor is minigrad.Tensor and nn.Linear is minigrad.nn.Linear
        assert F.relu is minigrad.nn.functional.relu and optim.SGD is minigrad.optim.SGD
        assert StepLR is minigrad.optim.lr_scheduler.StepLR
        assert DataLoader is minigrad.data.DataLoader and TensorDataset is minigrad.data.TensorDataset
        assert CrossEntropyLoss is minigrad.nn.CrossEntropyLoss
        assert torch.nn.utils.clip_grad_norm_ is minigrad.nn.utils.clip_grad_norm_
        assert torch.serialization.save is minigrad.save and torch.load is minigrad.load
        assert torch.utils.data is torch.utils.data  # one stand-in module per name
        assert torch.__version__.endswith("+minigrad")

        assert torch.accelerator.is_available() == minigrad.cuda.is_available() == torch.cuda.is_available()
        acc = torch.accelerator.current_accelerator()
        assert (acc is None) if not minigrad.cuda.is_available() else (acc.type == "cuda")
        assert torch.backends.mps.is_available() is False
        assert isinstance(torch.device("cpu"), torch.device) and torch.device("cpu") == "cpu"

        t = torch.LongTensor([1, 2, 3])
        assert t.dtype == np.int64 and t.tolist() == [1, 2, 3] and isinstance(t, torch.LongTensor)
        z = torch.FloatTensor(2, 3)
        assert z.shape == (2, 3) and z.dtype == np.float32 and not isinstance(z, torch.LongTensor)
        assert torch.Size([2, 3]).numel() == 6
        print("ok")
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_missing_torch_features_fail_by_name(tmp_path):
    p = _run_script(tmp_path, """
        import torch
        from minigrad.torch_compat import MissingTorchFeature, MissingTorchModule

        assert not hasattr(torch, "fft") and getattr(torch, "compile", None) is None
        try:
            torch.fft.rfft
        except AttributeError as e:
            assert isinstance(e, MissingTorchFeature)
            assert "torch.fft" in str(e) and "minigrad does not have" in str(e), e
        else:
            raise AssertionError("torch.fft did not raise")
        try:
            torch.nn.NoSuchLayer
        except AttributeError as e:
            assert "torch.nn.NoSuchLayer" in str(e), e
        for name in ("torch.onnx", "torch.distributions", "torch.nn.no_such_module"):
            try:
                __import__(name)
            except ImportError as e:
                assert isinstance(e, (MissingTorchModule, ModuleNotFoundError))
                assert name in str(e) and "minigrad does not have" in str(e), e
            else:
                raise AssertionError(name + " imported")
        x = torch.zeros(2)
        assert not hasattr(x, "stft")
        try:
            x.stft
        except AttributeError as e:
            assert "torch.Tensor.stft" in str(e), e
        print("ok")
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


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
