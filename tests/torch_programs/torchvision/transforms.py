"""``torchvision.transforms``: Compose, ToTensor, Normalize, Lambda."""
import numpy as np
import torch


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


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


class Lambda:
    """Apply a function."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)
