"""``torchvision.datasets.MNIST`` over the digits that ship with minigrad."""
import os

import numpy as np
import torch


def _npz_path():
    import importlib.util

    spec = importlib.util.find_spec("minigrad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("torchvision stand-in: the MNIST digits come from the minigrad package, "
                           "which is not importable here")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "embedded", "mnist_small.npz")


class MNIST:
    """MNIST digits: ``MNIST(root, train=True, download=False, transform=None, target_transform=None)``.

    Item ``i`` is ``(transform(image), target)`` with ``image`` a (28, 28) uint8 array
    (torchvision gives a PIL image; ``transforms.ToTensor`` accepts both alike).
    ``root`` and ``download`` are accepted and ignored: nothing is downloaded.
    """

    classes = [f"{i} - {w}" for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])]

    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        with np.load(_npz_path()) as f:
            split = "train" if train else "test"
            images, labels = f[f"{split}_images"], f[f"{split}_labels"]
        limit = os.environ.get("TORCHVISION_STANDIN_LIMIT")
        if limit:
            images, labels = images[: int(limit)], labels[: int(limit)]
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self._images = images
        self._labels = labels.astype(np.int64)
        self.data = torch.from_numpy(np.ascontiguousarray(images))
        self.targets = torch.from_numpy(self._labels.copy())

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        img, target = self._images[index], int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
