"""minigrad/torch_compat/_finder.py: a torch name that minigrad does not have fails loudly
and by name (MissingTorchFeature, an AttributeError; MissingTorchModule, an ImportError)."""
from _torch_run import _run_script


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
