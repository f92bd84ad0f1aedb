"""``torchvision.transforms``: Compose, ToTensor, Normalize, Lambda.

``Compose`` and ``Lambda`` are minigrad's own (:mod:`minigrad.data.transforms`): they
only call the transforms and the function they hold, so they serve PyTorch tensors
alike. ``ToTensor`` and ``Normalize`` make the framework's tensors, through ``torch``.
"""
import numpy as np
import torch

from minigrad.data.transforms import Compose, Lambda

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda"]


class ToTensor:
    """An (H, W) or (H, W, C) uint8 image -> a float32 (C, H, W) tensor in [0, 1]."""

    def __call__(self, pic):
        a = np.asarray(pic)
        if a.ndim == 2:
            a = a[:, :, None]
        a = np.ascontiguousarray(a.transpose(2, 0, 1))
        if a.dtype == np.uint8:
            return torch.from_numpy(a.astype(np.float32) / np.float32(255.0))
        return torch.from_numpy(a.astype(np.float32))


class Normalize:
    """(x - mean) / std per channel of a (C, H, W) tensor."""

    def __init__(self, mean, std):
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def __call__(self, x):
        c = x.shape[0]
        mean = torch.tensor(np.array(self.mean, dtype=np.float32).reshape(-1, 1, 1)).expand(c, 1, 1)
        std = torch.tensor(np.array(self.std, dtype=np.float32).reshape(-1, 1, 1)).expand(c, 1, 1)
        return (x - mean) / std

