"""minigrad/torch_compat/_aliases.py: under ``python -m minigrad run``, torch's names are
minigrad's own objects, and the few places where torch's layout differs have an alias."""
from _torch_run import _run_script


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
