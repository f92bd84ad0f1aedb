"""Data: datasets, loaders, transforms, and the data sets themselves.

Mirrors ``torch.utils.data`` for the parts a training loop needs::

    from minigrad.data import DataLoader, TensorDataset, random_split
    from minigrad.data.datasets import digits

    X, y = digits()                                   # ships with minigrad, no download
    train, val = random_split(TensorDataset(X, y), [0.8, 0.2], generator=0)
    for xb, yb in DataLoader(train, batch_size=64, shuffle=True):
        ...                                           # xb, yb are minigrad Tensors

Modules: :mod:`.dataset` (Dataset, TensorDataset, Subset, ConcatDataset,
random_split), :mod:`.dataloader` (DataLoader, default_collate), :mod:`.distributed` (DistributedSampler), :mod:`.datasets`
(digits, mnist_small, mnist, fashion_mnist,
train_test_split), :mod:`.synthetic`
(make_regression, make_blobs, make_moons, make_spirals), :mod:`.transforms`,
:mod:`.idx` (read_idx, write_idx) and :mod:`.download` (download_url).
"""
from . import datasets, synthetic, transforms
from .dataloader import DataLoader, default_collate, to_device
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .datasets import digits, fashion_mnist, mnist, mnist_small, train_test_split
from .download import download_url
from .idx import read_idx, write_idx
from .synthetic import make_blobs, make_moons, make_regression, make_spirals

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "to_device", "DistributedSampler",
    "digits", "mnist_small", "mnist", "fashion_mnist", "train_test_split",
    "make_regression", "make_blobs", "make_moons", "make_spirals",
    "read_idx", "write_idx", "download_url",
    "datasets", "synthetic", "transforms",
]
