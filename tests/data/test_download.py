"""download_url against a local HTTP server on 127.0.0.1 (the ``server`` fixture of
conftest.py): verifying, resuming, restarting, and leaving nothing behind on failure."""
import hashlib
import os

import numpy as np
import pytest

from minigrad.data.download import download_url, sha256_file


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
