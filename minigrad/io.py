"""Checkpoints: ``save(obj, path)`` and ``load(path)`` without pickle.

``torch.save`` pickles, and unpickling a file can run any code in it. minigrad's
checkpoints hold only data, in one ordinary ``.npz`` archive (a zip of ``.npy``
files) that NumPy can open with ``allow_pickle=False``:

* every array (or Tensor) in the object becomes its own entry ``a0``, ``a1``, ...;
* the structure around them - dicts, lists, tuples, numbers, strings, None,
  booleans - is written as JSON into one more entry, ``__minigrad__``, in which
  an array appears as ``{"t": "array", "k": "a0"}``.

So a model's ``state_dict()`` or an optimizer's (nested dicts with int keys, lists
of hyper-parameters, step counters, moment buffers) round-trips exactly: ints stay
ints, floats floats, tuples tuples, dict keys keep their type and order, and arrays
keep dtype and shape. Tensors come back as Tensors (on the CPU, ``requires_grad``
as saved), NumPy arrays as NumPy arrays, NumPy scalars as NumPy scalars.

Writes are atomic: the archive is written to a temporary file in the same folder and
then renamed over ``path`` with ``os.replace``, so a crash mid-write leaves the old
checkpoint (or nothing), never half a file. Loading checks the archive and raises
``ValueError`` naming the file if it is truncated, corrupted, or not a minigrad
checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from minigrad.data import _tensors

__all__ = ["save", "load", "FORMAT", "VERSION"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
_META = "__minigrad__"


def _where(path):
    return "".join(f"[{k!r}]" for k in path) or "the object"


def _encode(obj, arrays, path):
    """Return the JSON node for ``obj``, appending its arrays to ``arrays``."""
    if isinstance(obj, np.generic):  # before int/float: np.float64 is a subclass of float
        if obj.dtype.kind in "OV":
            raise TypeError(f"save: {_where(path)} is a NumPy scalar of dtype {obj.dtype}, which "
                            f"cannot be stored without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"t": "scalar", "k": key}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj  # JSON written by Python keeps every bit of a float (and nan/inf)
    if _tensors.is_tensor(obj):
        key = f"a{len(arrays)}"
        arrays[key] = _tensors.to_numpy(obj)
        return {"t": "tensor", "k": key, "rg": bool(getattr(obj, "requires_grad", False))}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        a = _tensors.to_numpy(obj)
        if a.dtype.kind in "OV":
            raise TypeError(f"save: {_where(path)} is an array of dtype {a.dtype}, which cannot be "
                            f"stored without pickle; use numbers, bools or strings")
        key = f"a{len(arrays)}"
        arrays[key] = a
        return {"t": "array", "k": key}
    if isinstance(obj, dict):
        keys, values = [], []
        for k, v in obj.items():
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"save: {_where(path)} has a key {k!r} of type {type(k).__name__}; "
                                f"keys must be strings or ints")
            keys.append(k if isinstance(k, str) else {"int": int(k)})
            values.append(_encode(v, arrays, path + [k]))
        return {"t": "dict", "k": keys, "v": values}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"t": kind, "v": [_encode(v, arrays, path + [i]) for i, v in enumerate(obj)]}
    raise TypeError(f"save: {_where(path)} is a {type(obj).__name__}; a checkpoint can hold dicts, "
                    f"lists, tuples, arrays, Tensors, ints, floats, strings, bools and None "
                    f"(for a model, save model.state_dict())")


def save(obj, path) -> None:
    """Save ``obj`` (e.g. ``model.state_dict()``) to ``path`` as a pickle-free ``.npz``.

    ``obj``: nested dicts (str or int keys), lists and tuples of arrays, Tensors,
    NumPy scalars, ints, floats, strings, bools and None. The file is written
    exactly at ``path`` (no suffix is added), atomically.
    """
    arrays = {}
    tree = _encode(obj, arrays, [])
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=True)
    entries = {_META: np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)}
    entries.update(arrays)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def _bad(path, why):
    return ValueError(f"load: {path!r} is not a valid minigrad checkpoint: {why}")


def _decode(node, archive, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or "t" not in node:
        raise _bad(path, f"unexpected structure entry {node!r:.80}")
    t = node["t"]
    if t in ("array", "tensor", "scalar"):
        key = node.get("k")
        if key not in archive:
            raise _bad(path, f"the structure refers to array {key!r}, which the archive does not hold")
        a = archive[key]
        if t == "scalar":
            return a[()]
        if t == "tensor":
            return _tensors.wrap(a, requires_grad=bool(node.get("rg", False)))
        return a
    if t == "dict":
        keys, values = node.get("k"), node.get("v")
        if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
            raise _bad(path, "a dict entry is malformed")
        out = {}
        for k, v in zip(keys, values):
            if isinstance(k, dict) and isinstance(k.get("int"), int):
                k = k["int"]
            elif not isinstance(k, str):
                raise _bad(path, f"a dict key is malformed: {k!r:.80}")
            out[k] = _decode(v, archive, path)
        return out
    if t in ("list", "tuple"):
        values = node.get("v")
        if not isinstance(values, list):
            raise _bad(path, f"a {t} entry is malformed")
        items = [_decode(v, archive, path) for v in values]
        return items if t == "list" else tuple(items)
    raise _bad(path, f"unknown entry type {t!r}")


def load(path):
    """Load what :func:`save` wrote. Arrays come back as NumPy arrays, Tensors as
    minigrad Tensors (on the CPU). Never unpickles anything.

    Raises ``ValueError`` naming the file if it is not a minigrad checkpoint
    (another ``.npz``, a pickle, a text file), is truncated, or is corrupted.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":
        kind = "a pickle" if head[:1] == b"\x80" else \
            "a NumPy .npy file" if head[:4] == b"\x93NUM" else "not a zip/.npz archive"
        raise _bad(path, f"{kind} (it starts with bytes {head.hex(' ') or '<empty file>'}); "
                         f"minigrad checkpoints are .npz archives written by minigrad.save")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META not in archive.files:
                raise _bad(path, f"it is a .npz archive without a {_META!r} entry (entries: "
                                 f"{', '.join(archive.files[:8])}{'...' if len(archive.files) > 8 else ''}); "
                                 f"for plain .npz files use numpy.load")
            raw = archive[_META]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise _bad(path, f"its {_META!r} entry is not UTF-8 JSON bytes")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise _bad(path, f"its {_META!r} entry is not valid JSON ({e})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or "tree" not in meta:
                raise _bad(path, f"its {_META!r} entry does not describe a {FORMAT}")
            if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
                raise _bad(path, f"it has format version {meta.get('version')!r}; this minigrad reads "
                                 f"versions up to {VERSION} - upgrade minigrad")
            return _decode(meta["tree"], archive, path)
    except ValueError as e:
        if str(e).startswith("load: "):
            raise
        raise _bad(path, f"{e}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise _bad(path, f"the archive is truncated or corrupted ({type(e).__name__}: {e})") from None
