"""read_idx / write_idx: valid files round-trip; broken ones raise a clear ValueError."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.data.idx import IDX_DTYPES, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _idx_bytes(array, code=None):
    a = np.asarray(array)
    if code is None:
        code = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}[a.dtype]
    be = a.astype(IDX_DTYPES[code])
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + be.tobytes()


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(DTYPES),
       shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
       gz=st.booleans(), data=st.data())
def test_roundtrip(tmp_path_factory, dtype, shape, gz, data):
    a = data.draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False)))
    path = tmp_path_factory.mktemp("idx") / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == gz
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_reads_hand_built_mnist_like_file(tmp_path):
    # 2 images of 2x3 pixels, written by hand in the documented layout
    header = bytes.fromhex("00000803") + struct.pack(">III", 2, 2, 3)
    pixels = bytes(range(12))
    p = tmp_path / "imgs-idx3-ubyte"
    p.write_bytes(header + pixels)
    a = read_idx(p)
    assert a.shape == (2, 2, 3) and a.dtype == np.uint8
    assert a[1, 0, 2] == 8
    # big-endian multi-byte values decode correctly
    q = tmp_path / "ints"
    q.write_bytes(bytes.fromhex("00000c01") + struct.pack(">I", 2) + struct.pack(">ii", -7, 65536))
    np.testing.assert_array_equal(read_idx(q), [-7, 65536])


def test_gzip_detected_by_content_not_name(tmp_path):
    p = tmp_path / "no_suffix"
    p.write_bytes(gzip.compress(_idx_bytes(np.arange(5, dtype=np.uint8))))
    np.testing.assert_array_equal(read_idx(p), np.arange(5))


@pytest.mark.parametrize("mutate, match", [
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\x00", "longer than its header"),
    (lambda b: b"\x01" + b[1:], "two zero bytes"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown data type code 0x07"),
    (lambda b: b[:3] + b"\x00", "0 dimensions"),
    (lambda b: b[:10], "truncated inside its header"),
    (lambda b: b[:3], "too short"),
])
def test_broken_files_raise_clear_errors(tmp_path, mutate, match):
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    p = tmp_path / "broken-idx3-ubyte"
    p.write_bytes(mutate(good))
    with pytest.raises(ValueError, match=match) as e:
        read_idx(p)
    assert "broken-idx3-ubyte" in str(e.value)


def test_truncated_and_corrupted_gzip(tmp_path):
    blob = gzip.compress(_idx_bytes(np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8)))
    p = tmp_path / "cut.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.gz.*(truncated|corrupted)"):
        read_idx(p)
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    q = tmp_path / "flipped.gz"
    q.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="flipped.gz"):
        read_idx(q)


def test_write_idx_rejects_unsupported():
    with pytest.raises(ValueError, match="int64"):
        write_idx("/nonexistent/x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx("/nonexistent/x", np.uint8(3))
