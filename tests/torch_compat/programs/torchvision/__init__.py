"""A test-only stand-in for the parts of ``torchvision`` the corpus programs use.

``datasets.MNIST`` reads the real MNIST digits that ship inside minigrad
(``minigrad/data/embedded/mnist_small.npz``: 4,000 training and 1,000 test images)
instead of downloading the 70,000; ``transforms`` has ``Compose``, ``ToTensor``,
``Normalize`` and ``Lambda``; ``utils.save_image`` writes a PNG grid. It imports
``torch``, so it runs on PyTorch and, under ``python -m minigrad run``, on minigrad.

``TORCHVISION_STANDIN_LIMIT=N`` keeps only the first N images of each split (the
tests use it to make a run quick).
"""
from . import datasets, transforms, utils  # noqa: F401

__version__ = "0.0-standin"
