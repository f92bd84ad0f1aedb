"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a tiny header followed by raw big-endian numbers::

    bytes 0-1   0x00 0x00                     (always zero)
    byte  2     type code                     (0x08 uint8, 0x09 int8, 0x0B int16,
                                               0x0C int32, 0x0D float32, 0x0E float64)
    byte  3     number of dimensions d
    next 4*d    each dimension as a big-endian uint32
    the rest    prod(dims) values, row-major, big-endian

So ``train-images-idx3-ubyte`` starts with ``00 00 08 03`` (uint8, 3 dims), then
60000, 28, 28, then 47,040,000 pixel bytes. Files are often gzip-compressed; the
reader recognises gzip by its own magic bytes (``1f 8b``), not by the file name.

:func:`read_idx` checks everything it can: the two zero bytes, the type code, the
number of dimensions, and that the data is exactly ``prod(dims) * itemsize`` bytes.
A truncated download or a corrupted file raises ``ValueError`` naming the file and
what is wrong, instead of returning a silently wrong array.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: type code -> NumPy dtype (big-endian, as stored in the file)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            # EOFError: the compressed stream ends early (truncated download);
            # BadGzipFile (an OSError) / zlib.error: corrupted bytes or a bad CRC.
            raise ValueError(
                f"read_idx: {os.fspath(path)!r} is a gzip file that cannot be decompressed "
                f"({type(e).__name__}: {e}); the file is truncated or corrupted - delete it "
                f"and download it again") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    The result has the file's shape and a native-byte-order dtype (uint8 for the
    MNIST files). Raises ``ValueError`` naming ``path`` if the header is invalid or
    the amount of data does not match the header.
    """
    name = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"read_idx: {name!r} is too short to be an IDX file "
                         f"({len(raw)} bytes; the header alone is at least 4)")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00":
        raise ValueError(f"read_idx: {name!r} is not an IDX file: the magic number must start with "
                         f"two zero bytes, got {raw[:4].hex(' ')}")
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X} ({IDX_DTYPES[c].name})" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: {name!r} has unknown data type code 0x{code:02X}; "
                         f"valid codes are {valid}")
    if ndim == 0:
        raise ValueError(f"read_idx: {name!r} declares 0 dimensions; an IDX file needs at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {name!r} is truncated inside its header: {ndim} dimensions "
                         f"need {header} header bytes, the file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(f"read_idx: {name!r} is {what}: shape {tuple(dims)} of {dtype.name} "
                         f"needs {expected} data bytes, the file has {got}")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    # native byte order and a writable array the caller owns
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` as an IDX file; gzip-compress if ``compress`` (default: the
    name ends in ``.gz``). Supported dtypes: uint8, int8, int16, int32, float32, float64."""
    a = np.asarray(array)
    native = a.dtype.newbyteorder("=")
    if native not in _CODES:
        valid = ", ".join(dt.name for dt in IDX_DTYPES.values())
        raise ValueError(f"write_idx: dtype {a.dtype} cannot be stored in an IDX file; valid: {valid}")
    if a.ndim == 0 or a.ndim > 255:
        raise ValueError(f"write_idx: an IDX file holds 1 to 255 dimensions, got shape {a.shape}")
    code = _CODES[native]
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    body = np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    data = header + body
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
