"""minigrad.save / minigrad.io.load: exact round trips, atomic writes, clear errors."""
import math
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import io
from minigrad.tensor import Tensor


def _same(a, b):
    """Deep equality that also checks types, dtypes and shapes."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.data, b.data)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and (a == b or (a != a and b != b))
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_roundtrip_optimizer_like_state(tmp_path):
    state = {
        "model": {"fc.weight": minigrad.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
                  "fc.bias": minigrad.tensor([0.5, -1.0], requires_grad=True),
                  "bn.num_batches_tracked": np.array(7, dtype=np.int64)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(3, np.float32)}, 1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "weight_decay": 0.0, "amsgrad": False, "params": [0, 1],
                                        "name": None}]},
        "epoch": 12, "loss": float("nan"), "best": float("inf"), "tag": "run-1 ✓",
        "np_scalar": np.float32(0.25), "flag": np.bool_(True), "empty": [], "nested": ((), [[]]),
        "strings": np.array(["a", "bc"]), "big": 2 ** 70,
    }
    p = tmp_path / "ckpt.npz"
    io.save(state, p)
    _same(state, io.load(p))
    # the file is an ordinary .npz that NumPy opens without pickle
    with np.load(p, allow_pickle=False) as z:
        assert "__minigrad__" in z.files and len(z.files) == 8   # 7 arrays + the structure


def test_path_written_exactly_and_str_path(tmp_path):
    p = str(tmp_path / "model.ckpt")
    io.save({"a": 1}, p)
    assert os.listdir(tmp_path) == ["model.ckpt"]
    assert io.load(p) == {"a": 1}


@settings(max_examples=40, deadline=None)
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.uint16, np.bool_,
                                     np.float16, np.complex64]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
       as_tensor=st.booleans(),
       scalars=st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                        max_size=4))
def test_roundtrip_property(tmp_path_factory, a, as_tensor, scalars):
    obj = {"x": Tensor(a) if as_tensor and a.dtype != np.complex64 else a, "s": scalars, 3: tuple(scalars)}
    p = tmp_path_factory.mktemp("io") / "c.npz"
    io.save(obj, p)
    _same(obj, io.load(p))


def test_unsupported_values_raise_and_leave_no_file(tmp_path):
    p = tmp_path / "c.npz"
    with pytest.raises(TypeError, match=r"\['layers'\]\[1\] is a set"):
        io.save({"layers": [1, {2}]}, p)
    with pytest.raises(TypeError, match="keys must be strings or ints"):
        io.save({(1, 2): 3}, p)
    with pytest.raises(TypeError, match="dtype object"):
        io.save({"a": np.array([None, 1], dtype=object)}, p)
    assert os.listdir(tmp_path) == []


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "c.npz"
    io.save({"v": np.arange(3)}, p)

    def broken_savez(f, **entries):
        f.write(b"PK\x03\x04partial")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        io.save({"v": np.arange(5)}, p)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.npz"]
    np.testing.assert_array_equal(io.load(p)["v"], np.arange(3))


def _checkpoint(tmp_path):
    p = tmp_path / "good.npz"
    io.save({"w": np.random.default_rng(0).standard_normal((64, 64)), "step": 1}, p)
    return p


def test_truncated_file(tmp_path):
    p = _checkpoint(tmp_path)
    raw = p.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 5):
        q = tmp_path / f"cut{cut}.npz"
        q.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz.*(truncated|corrupted)"):
            io.load(q)


def test_corrupted_array_bytes(tmp_path):
    p = _checkpoint(tmp_path)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x55         # inside w's data: the zip CRC catches it
    q = tmp_path / "flipped.npz"
    q.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="flipped.npz.*(truncated|corrupted)"):
        io.load(q)


def test_foreign_files(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(2))
    with pytest.raises(ValueError, match=r"plain.npz.*without a '__minigrad__' entry.*numpy.load"):
        io.load(plain)
    pk = tmp_path / "model.pt"
    pk.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="model.pt.*a pickle"):
        io.load(pk)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt.*not a zip"):
        io.load(txt)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz.*empty file"):
        io.load(empty)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.zeros(2))
    with pytest.raises(ValueError, match="arr.npy.*NumPy .npy"):
        io.load(npy)
    # a zip whose metadata is garbage
    bad = tmp_path / "bad_meta.npz"
    np.savez(bad, __minigrad__=np.frombuffer(b"{not json", np.uint8))
    with pytest.raises(ValueError, match="bad_meta.npz.*not valid JSON"):
        io.load(bad)
    # a pickled array entry inside an otherwise valid zip is refused, never unpickled
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(evil, "w") as z:
        with z.open("__minigrad__.npy", "w") as f:
            np.lib.format.write_array(f, np.frombuffer(
                b'{"format": "minigrad-checkpoint", "version": 1, "tree": {"t": "array", "k": "a0"}}',
                np.uint8))
        with z.open("a0.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="evil.npz"):
        io.load(evil)
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing.npz")


def test_newer_version_refused(tmp_path):
    p = tmp_path / "future.npz"
    np.savez(p, __minigrad__=np.frombuffer(
        b'{"format": "minigrad-checkpoint", "version": 99, "tree": 1}', np.uint8))
    with pytest.raises(ValueError, match="version 99.*upgrade"):
        io.load(p)
