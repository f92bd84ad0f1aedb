"""download_url and the MNIST loaders, against a local HTTP server on 127.0.0.1.

The server is started in a thread by the fixture below; nothing here reaches the
internet. It serves files from a dict, honours (or, on request, ignores) HTTP
Range headers, and can cut a response short to simulate a dropped connection.
"""
import hashlib
import http.server
import os
import re
import threading

import numpy as np
import pytest

from minigrad.data import datasets
from minigrad.data.download import download_url, sha256_file
from minigrad.data.idx import write_idx


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if srv.cut_after is not None:
            self.wfile.write(chunk[:srv.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.ignore_range, srv.cut_after = {}, [], False, None
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _sha(b):
    return hashlib.sha256(b).hexdigest()


PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8))


def test_download_verifies_and_renames(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "f.bin"
    out = download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD), size=len(PAYLOAD))
    assert out == str(dest)
    assert dest.read_bytes() == PAYLOAD
    assert not os.path.exists(str(dest) + ".part")
    assert sha256_file(dest) == _sha(PAYLOAD)


def test_resume_sends_range_and_appends(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:12345])
    download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD), size=len(PAYLOAD))
    assert server.requests == [("/f.bin", "bytes=12345-")]
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_download_keeps_part_then_resumes(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.cut_after = 50_000
    dest = tmp_path / "f.bin"
    with pytest.raises(OSError, match="resume"):
        download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD), size=len(PAYLOAD))
    part = tmp_path / "f.bin.part"
    assert not dest.exists()
    assert 0 < part.stat().st_size < len(PAYLOAD)
    have = part.stat().st_size
    assert part.read_bytes() == PAYLOAD[:have]
    server.cut_after = None
    download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD), size=len(PAYLOAD))
    assert server.requests[-1][1] == f"bytes={have}-"
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 100)
    download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD))
    assert server.requests[0][1] is not None      # it asked for a range...
    assert dest.read_bytes() == PAYLOAD           # ...and overwrote rather than appended


def test_complete_part_gets_416_and_is_verified(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    download_url(server.url + "/f.bin", dest, sha256=_sha(PAYLOAD))  # size unknown: asks, gets 416
    assert dest.read_bytes() == PAYLOAD


def test_bad_hash_leaves_nothing(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        download_url(server.url + "/f.bin", dest, sha256="0" * 64)
    assert os.listdir(tmp_path) == []


def test_http_error_raises(server, tmp_path):
    with pytest.raises(OSError):
        download_url(server.url + "/missing", tmp_path / "x")
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- mnist()

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
