"""Downloading a file safely: resume, verify, then rename into place.

:func:`download_url` is what the MNIST loaders use. What it guarantees:

* the destination file appears only when complete and verified: bytes go to
  ``<dest>.part``, the SHA-256 (and size, if known) is checked, and only then
  ``os.replace`` renames it - an atomic step, so a reader never sees half a file;
* an interrupted download resumes: if ``<dest>.part`` exists, the request asks the
  server for the rest with an HTTP ``Range: bytes=N-`` header. A server that answers
  ``206 Partial Content`` gets appended to; one that ignores ranges (``200``) makes
  us start over;
* a file whose hash does not match is deleted, ``.part`` included, and a
  ``ValueError`` says which file and which hashes - nothing half-written is left.

Only the standard library is used (``urllib``), so there is nothing to install.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request

__all__ = ["download_url", "sha256_file", "data_home"]

_CHUNK = 1 << 16


def data_home(root=None) -> str:
    """Where datasets are cached: ``root`` if given, else ``$MINIGRAD_DATA``, else
    ``~/.cache/minigrad``."""
    if root is None:
        root = os.environ.get("MINIGRAD_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "minigrad")
    return os.fspath(root)


def sha256_file(path) -> str:
    """The SHA-256 of a file, as 64 lowercase hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download_url(url, dest, sha256=None, size=None, timeout=30.0) -> str:
    """Download ``url`` to ``dest`` via ``dest + '.part'``, resuming and verifying.

    ``sha256``: expected hex digest; when given, a mismatch deletes the download and
    raises ``ValueError``. ``size``: expected byte count, checked the same way.
    Network failures raise ``OSError`` (``urllib.error.URLError``) and keep the
    ``.part`` file so the next call resumes. Returns ``dest``.
    """
    dest = os.fspath(dest)
    part = dest + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    have = os.path.getsize(part) if os.path.exists(part) else 0
    if size is not None and have > size:  # longer than the real file: cannot be a prefix of it
        _remove(part)
        have = 0

    if size is None or have < size:
        request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code != 416 or not have:
                raise
            # 416 Range Not Satisfiable: the .part is already the whole file (or is
            # longer than it); the hash check below decides which.
            e.close()
            response = None
        if response is not None:
            with response:
                mode = "ab"
                if have and response.status != 206:
                    mode = "wb"  # the server ignored the Range header: start over
                elif have:
                    m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != have:
                        raise OSError(f"download_url: {url} answered a request for bytes {have}- "
                                      f"with Content-Range {response.headers.get('Content-Range')!r}; "
                                      f"{part!r} was kept, try again")
                with open(part, mode) as f:
                    try:
                        while True:
                            block = response.read(_CHUNK)
                            if not block:
                                break
                            f.write(block)
                    except (http.client.HTTPException, OSError) as e:
                        if isinstance(e, http.client.IncompleteRead) and e.partial:
                            f.write(e.partial)  # keep every byte that did arrive
                        f.flush()
                        raise OSError(f"download_url: {url} was interrupted after {f.tell()} bytes "
                                      f"({type(e).__name__}: {e}); {part!r} was kept and the next "
                                      f"call resumes from there") from e
                    f.flush()
                    os.fsync(f.fileno())

    got = os.path.getsize(part)
    if size is not None and got < size:
        raise OSError(f"download_url: {url} stopped after {got} of {size} bytes; "
                      f"{part!r} was kept and the next call resumes from there")
    if size is not None and got != size:
        _remove(part)
        raise ValueError(f"download_url: {url} gave {got} bytes, expected {size}; "
                         f"the download was deleted")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256.lower():
            _remove(part)
            raise ValueError(f"download_url: SHA-256 mismatch for {url} -> {dest!r}: expected "
                             f"{sha256.lower()}, got {digest}; the download was deleted")
    os.replace(part, dest)
    return dest
