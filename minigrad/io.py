"""Checkpoints: ``save(obj, f)`` and ``load(f)``, PyTorch's calls without pickle.

``torch.save`` pickles, and unpickling a file can run any code in it. minigrad's
checkpoints hold only data, in one ordinary ``.npz`` archive (a zip of ``.npy``
files) that NumPy can open with ``allow_pickle=False``:

* every array (or Tensor) in the object becomes its own entry ``a0``, ``a1``, ...;
* the structure around them - dicts, lists, tuples, numbers, strings, None,
  booleans - is written as JSON into one more entry, ``__minigrad__``, in which
  an array appears as ``{"t": "array", "k": "a0"}``.

So a model's ``state_dict()`` or an optimizer's (nested dicts with int keys, lists
of hyper-parameters, step counters, moment buffers) round-trips exactly: ints stay
ints, floats floats, complex numbers complex, tuples tuples, dict keys keep their
type and order (an ``OrderedDict`` stays one), and arrays keep dtype and shape.
Tensors come back as Tensors (``requires_grad`` as saved), NumPy arrays as NumPy
arrays, NumPy scalars as NumPy scalars.

``f`` is a path or a binary file object (``open(path, "wb")``, ``io.BytesIO()``),
as in ``torch.save(obj, f)`` / ``torch.load(f)``. Writes to a path are atomic: the
archive is written to a temporary file in the same folder and then renamed over
the path with ``os.replace``, so a crash mid-write leaves the old checkpoint (or
nothing), never half a file.

Loading trusts nothing in the file. The archive is read entry by entry with
minigrad's own ``.npy`` reader, which checks every header (a plain dtype, never
``object``; a shape of non-negative ints) and that the header's
``shape * itemsize`` equals the bytes the entry really holds *before* allocating
anything; structures nested deeper than :data:`MAX_DEPTH` are refused. Any
problem - a truncated or corrupted file, a forged header, a pickle, an archive
that is not a minigrad checkpoint - raises ``ValueError`` naming the file.
"""
from __future__ import annotations

import ast
import collections
import io as _io
import json
import math
import os
import re
import tempfile
import zipfile

import numpy as np

from minigrad.data import _tensors

__all__ = ["save", "load", "FORMAT", "VERSION", "MAX_DEPTH"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
_META = "__minigrad__"

#: The deepest nesting of containers a checkpoint may hold (save refuses deeper
#: objects, load refuses deeper files): far more than any state dict needs, far
#: less than what would exhaust Python's stack.
MAX_DEPTH = 100

_NPY_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 65536           # bytes; NumPy itself writes headers of a few hundred
_MAX_NDIM = 64                # NumPy's own limit on dimensions
_DEFLATE_MAX_RATIO = 1032     # deflate cannot expand data by more than this factor

_CONTAINERS = (dict, collections.OrderedDict, list, tuple)
_NOT_A_TREE = ("for a model, save model.state_dict() and load it back with "
               "model.load_state_dict(minigrad.load(f))")


# ---------------------------------------------------------------------- saving

def _where(path):
    return "".join(f"[{k!r}]" for k in path) or "the object"


def _refuse_objects_with_state(obj, path):
    """A Module or an optimizer is code plus data; only its data can be saved."""
    from minigrad.nn.module import Module
    from minigrad.optim.optimizer import Optimizer
    if isinstance(obj, Module):
        what, sd, load = "a Module", "model.state_dict()", "model.load_state_dict"
    elif isinstance(obj, Optimizer):
        what, sd, load = "an optimizer", "optimizer.state_dict()", "optimizer.load_state_dict"
    else:
        return
    at = "" if not path else f" at {_where(path)}"
    raise TypeError(
        f"save: cannot save {what} itself ({type(obj).__name__}{at}): minigrad checkpoints hold "
        f"data, never pickled code or classes. Save its state instead - "
        f"minigrad.save({sd}, f) - and, after building the same {type(obj).__name__} "
        f"again, restore it with {load}(minigrad.load(f))")


def _encode(obj, arrays, path):
    """Return the JSON node for ``obj``, appending its arrays to ``arrays``."""
    if len(path) > MAX_DEPTH:
        raise ValueError(f"save: the object is nested more than {MAX_DEPTH} levels deep at "
                         f"{_where(path[:4])}...; a checkpoint holds at most {MAX_DEPTH} levels "
                         f"(does a container hold itself?)")
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
    if isinstance(obj, complex):
        return {"t": "complex", "re": obj.real, "im": obj.imag}
    if _tensors.is_tensor(obj):
        key = f"a{len(arrays)}"
        arrays[key] = _tensors.to_numpy(obj.array)   # a CuPy array is copied to the host
        return {"t": "tensor", "k": key, "rg": bool(getattr(obj, "requires_grad", False)),
                "dev": str(getattr(obj, "device", "cpu"))}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        a = _tensors.to_numpy(obj)
        if a.dtype.kind in "OV":
            raise TypeError(f"save: {_where(path)} is an array of dtype {a.dtype}, which cannot be "
                            f"stored without pickle; use numbers, bools or strings")
        key = f"a{len(arrays)}"
        arrays[key] = a
        return {"t": "array", "k": key}
    if type(obj) not in _CONTAINERS:
        _refuse_objects_with_state(obj, path)   # before the checks below: ModuleList...
    if isinstance(obj, dict):
        keys, values = [], []
        for k, v in obj.items():
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"save: {_where(path)} has a key {k!r} of type {type(k).__name__}; "
                                f"keys must be strings or ints")
            keys.append(k if isinstance(k, str) else {"int": int(k)})
            values.append(_encode(v, arrays, path + [k]))
        node = {"t": "dict", "k": keys, "v": values}
        if isinstance(obj, collections.OrderedDict):
            node["o"] = True
        return node
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"t": kind, "v": [_encode(v, arrays, path + [i]) for i, v in enumerate(obj)]}
    raise TypeError(f"save: {_where(path)} is a {type(obj).__name__}; a checkpoint can hold dicts, "
                    f"lists, tuples, arrays, Tensors, ints, floats, complex numbers, strings, "
                    f"bools and None ({_NOT_A_TREE})")


def save(obj, f, pickle_module=None, pickle_protocol=2, **kwargs) -> None:
    """Save ``obj`` (e.g. ``model.state_dict()``) to ``f`` as a pickle-free ``.npz``.

    Args:
        obj: nested dicts (str or int keys), lists and tuples of arrays, Tensors,
            NumPy scalars, ints, floats, complex numbers, strings, bools and None
            (the values ``torch.load(..., weights_only=True)`` accepts). A whole
            ``Module`` or optimizer is refused with a ``TypeError``: save its
            ``state_dict()``.
        f: a path (``str`` or ``os.PathLike``), written exactly there (no suffix is
            added) and atomically; or a binary file object open for writing
            (``open(path, "wb")``, ``io.BytesIO()``), written from its current
            position.
        pickle_module: accepted for PyTorch compatibility; minigrad never
            pickles, so it must be None.
        pickle_protocol: accepted for PyTorch compatibility and ignored.
        **kwargs: other keyword arguments of ``torch.save``
            (``_use_new_zipfile_serialization``...), ignored.
    """
    if pickle_module is not None:
        raise ValueError("save: minigrad never pickles (its checkpoints hold only data), so "
                         "pickle_module must be None")
    arrays = {}
    tree = _encode(obj, arrays, [])
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=True)
    entries = {_META: np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)}
    entries.update(arrays)

    if hasattr(f, "write"):
        if isinstance(f, _io.TextIOBase):
            raise TypeError("save: the file object is open in text mode; open it in binary "
                            "mode: open(path, 'wb')")
        np.savez(f, **entries)
        if hasattr(f, "flush"):
            f.flush()
        return
    try:
        path = os.fspath(f)
    except TypeError:
        raise TypeError(f"save: f must be a path or a binary file object open for writing, "
                        f"got {type(f).__name__}") from None
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **entries)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


# ---------------------------------------------------------------------- loading

class _Invalid(ValueError):
    """A problem with the file's contents (turned into the public message by ``load``)."""


class _MapLocationError(Exception):
    """Wraps an error raised while placing a tensor where ``map_location`` asked (no GPU,
    a user function that failed), so that ``load`` re-raises it unchanged instead of
    calling the file corrupted."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _read_npy(zf, info, name):
    """Read one ``.npy`` entry of the archive, checking it completely before allocating.

    The header must be a dict with exactly ``descr`` (a plain dtype string, never
    ``object``), ``fortran_order`` (a bool) and ``shape`` (non-negative ints), and
    ``prod(shape) * itemsize`` must equal the bytes stored after the header.
    """
    if info.flag_bits & 0x1:
        raise _Invalid(f"entry {name!r} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise _Invalid(f"entry {name!r} has inconsistent sizes in the zip directory")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
            raise _Invalid(f"entry {name!r} claims {info.file_size} bytes from "
                           f"{info.compress_size} compressed bytes, more than deflate can give")
    else:
        raise _Invalid(f"entry {name!r} uses zip compression method {info.compress_type}; "
                       f"checkpoints use stored or deflated entries")
    with zf.open(info) as f:
        head = f.read(8)
        if len(head) < 8 or head[:6] != _NPY_MAGIC:
            raise _Invalid(f"entry {name!r} is not a NumPy .npy array")
        major = head[6]
        if major not in (1, 2, 3):
            raise _Invalid(f"entry {name!r} has unknown .npy format version {major}.{head[7]}")
        size_bytes = 2 if major == 1 else 4
        raw_len = f.read(size_bytes)
        if len(raw_len) < size_bytes:
            raise _Invalid(f"entry {name!r} has a truncated .npy header")
        header_len = int.from_bytes(raw_len, "little")
        if header_len > _MAX_HEADER:
            raise _Invalid(f"entry {name!r} has a .npy header of {header_len} bytes (at most "
                           f"{_MAX_HEADER} are accepted)")
        header = f.read(header_len)
        if len(header) < header_len:
            raise _Invalid(f"entry {name!r} has a truncated .npy header")
        dtype, fortran, shape = _parse_header(header, major, name)

        itemsize = dtype.itemsize
        nbytes = math.prod(shape) * itemsize
        stored = info.file_size - 8 - size_bytes - header_len
        if nbytes != stored:
            raise _Invalid(f"entry {name!r} has a header that announces shape {shape} of dtype "
                           f"{dtype} ({nbytes} bytes) but the entry holds {max(stored, 0)} bytes")
        buf = np.empty(nbytes, dtype=np.uint8)
        view = memoryview(buf)
        got = 0
        while got < nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise _Invalid(f"entry {name!r} ends after {got} of its {nbytes} data bytes")
            got += n
        if f.read(1):   # also makes the zip module check the entry's CRC
            raise _Invalid(f"entry {name!r} holds more bytes than its header announces")
    return buf.view(dtype).reshape(shape, order="F" if fortran else "C")


def _parse_header(header, major, name):
    """``(dtype, fortran_order, shape)`` from a ``.npy`` header, or ``_Invalid``."""
    try:
        text = header.decode("utf-8" if major == 3 else "latin1")
        d = ast.literal_eval(text.strip())
    except Exception as e:   # SyntaxError, ValueError, RecursionError, MemoryError...
        raise _Invalid(f"entry {name!r} has a .npy header that is not a Python literal "
                       f"({type(e).__name__})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise _Invalid(f"entry {name!r} has a .npy header without exactly the keys 'descr', "
                       f"'fortran_order' and 'shape'")
    descr, fortran, shape = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str):
        raise _Invalid(f"entry {name!r} has a structured dtype, which minigrad does not read")
    try:
        dtype = np.dtype(descr)
    except Exception:
        raise _Invalid(f"entry {name!r} has an unknown dtype {descr[:40]!r}") from None
    if dtype.hasobject or dtype.kind in "OV":
        raise _Invalid(f"entry {name!r} has dtype {dtype}, which would need pickle to read; "
                       f"minigrad never unpickles")
    if dtype.itemsize == 0:
        raise _Invalid(f"entry {name!r} has the empty dtype {dtype}")
    if not isinstance(fortran, bool):
        raise _Invalid(f"entry {name!r} has a non-boolean fortran_order")
    if (not isinstance(shape, tuple) or len(shape) > _MAX_NDIM
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise _Invalid(f"entry {name!r} has an invalid shape {str(shape)[:60]}")
    return dtype, fortran, shape


class _Reader:
    """The decoded structure of one checkpoint; arrays are read when the tree refers to them."""

    def __init__(self, zf, map_location):
        self.zf = zf
        self.map_location = map_location
        members = {}
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".npy"):
                raise _Invalid(f"the archive holds {info.filename[:80]!r}, which is not an "
                               f".npy array entry")
            key = info.filename[:-4]
            if key in members:
                raise _Invalid(f"the archive holds the entry {info.filename[:80]!r} twice")
            members[key] = info
        self.members = members
        self.used = set()

    def array(self, key):
        if not isinstance(key, str) or key == _META or key not in self.members:
            raise _Invalid(f"the structure refers to array {str(key)[:40]!r}, which the archive "
                           f"does not hold")
        if key in self.used:
            raise _Invalid(f"the structure refers to array {key!r} twice")
        self.used.add(key)
        return _read_npy(self.zf, self.members[key], key + ".npy")

    def decode(self, node, depth=0):
        if depth > MAX_DEPTH:
            raise _Invalid(f"its structure is nested more than {MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise _Invalid(f"unexpected structure entry {str(node)[:80]}")
        t = node["t"]
        if t in ("array", "tensor", "scalar"):
            a = self.array(node.get("k"))
            if t == "scalar":
                if a.shape != ():
                    raise _Invalid(f"the scalar entry {node['k']!r} has shape {a.shape}")
                return a[()]
            if t == "tensor":
                rg = node.get("rg", False)
                if not isinstance(rg, bool):
                    raise _Invalid("a tensor entry has a non-boolean requires_grad")
                return self.tensor(a, rg, node.get("dev", "cpu"))
            return a
        if t == "complex":
            re, im = node.get("re"), node.get("im")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (re, im)):
                raise _Invalid("a complex entry is malformed")
            return complex(re, im)
        if t == "dict":
            keys, values = node.get("k"), node.get("v")
            if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
                raise _Invalid("a dict entry is malformed")
            out = collections.OrderedDict() if node.get("o") is True else {}
            for k, v in zip(keys, values):
                if isinstance(k, dict) and set(k) == {"int"} and type(k["int"]) is int:
                    k = k["int"]
                elif not isinstance(k, str):
                    raise _Invalid(f"a dict key is malformed: {str(k)[:80]}")
                out[k] = self.decode(v, depth + 1)
            return out
        if t in ("list", "tuple"):
            values = node.get("v")
            if not isinstance(values, list):
                raise _Invalid(f"a {t} entry is malformed")
            items = [self.decode(v, depth + 1) for v in values]
            return items if t == "list" else tuple(items)
        raise _Invalid(f"unknown entry type {t[:40]!r}")

    def tensor(self, a, requires_grad, saved_device):
        from minigrad import backend
        saved_device = str(saved_device)[:40]
        where = _map_location(self.map_location, saved_device)
        try:
            if callable(where):
                t = where(_tensors.wrap(a, requires_grad=requires_grad), saved_device)
                if not _tensors.is_tensor(t):
                    raise TypeError(f"load: map_location returned a {type(t).__name__}, "
                                    f"expected a Tensor")
                return t
            if where is not None:
                a = backend.to_device(a, backend.device(where))
        except Exception as e:
            raise _MapLocationError(e) from None
        return _tensors.wrap(a, requires_grad=requires_grad)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _check_json_depth(raw):
    """Refuse JSON nested deeper than a checkpoint can be, before ``json.loads`` recurses.

    Every level of the structure is at most two JSON levels (``{"t": "list", "v": [...]}``).
    The brackets outside strings are counted with NumPy, so a large structure costs
    little.
    """
    text = np.frombuffer(_JSON_STRING.sub(b'""', raw.tobytes()), dtype=np.uint8)
    steps = (np.isin(text, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(text, (ord("]"), ord("}"))))
    if steps.size and int(np.cumsum(steps).max()) > 2 * MAX_DEPTH + 4:
        raise _Invalid(f"its structure is nested more than {MAX_DEPTH} levels deep")


def _map_location(map_location, saved):
    """Where a tensor saved on ``saved`` goes: a device spec, None (the CPU), or a callable."""
    if map_location is None:
        return None
    if isinstance(map_location, dict):
        return map_location.get(saved, None)
    if callable(map_location) and not isinstance(map_location, str):
        return map_location
    return map_location


def _describe(f):
    name = getattr(f, "name", None)
    if isinstance(name, (str, bytes, os.PathLike)):
        return os.fsdecode(name)
    return f"<{type(f).__name__} object>"


def _bad(where, why):
    return ValueError(f"load: {where!r} is not a valid minigrad checkpoint: {why}")


def _check_head(where, head):
    if head[:2] != b"PK":
        kind = "a pickle (a PyTorch checkpoint from torch.save, perhaps)" if head[:1] == b"\x80" \
            else "a NumPy .npy file" if head[:4] == b"\x93NUM" else "not a zip/.npz archive"
        raise _bad(where, f"{kind} (it starts with bytes {head.hex(' ') or '<empty file>'}); "
                          f"minigrad checkpoints are .npz archives written by minigrad.save, and "
                          f"minigrad never unpickles (weights_only=False does not change that)")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what :func:`save` wrote. Never unpickles anything.

    Args:
        f: a path or a binary file object open for reading (read from its current
            position; it need not be seekable).
        map_location: where Tensors go (arrays stay NumPy arrays): None (the CPU),
            a device (``"cpu"``, ``"cuda"``, ``minigrad.device("cuda:0")``), a dict
            mapping the saved device's name to a device (``{"cuda:0": "cpu"}``), or
            a function ``(tensor, saved_device_name) -> tensor``.
        pickle_module: must be None (minigrad never unpickles).
        weights_only: accepted for PyTorch compatibility. A minigrad checkpoint
            holds only data, so it is always loaded the way ``weights_only=True``
            loads; ``weights_only=False`` does *not* enable pickle (a pickled file
            is refused either way).
        mmap: only None or False (``mmap=True`` is not supported).
        **pickle_load_args: accepted for PyTorch compatibility and ignored.

    Returns:
        The saved structure: Tensors as minigrad Tensors (``requires_grad`` as
        saved), arrays as NumPy arrays, dicts, lists, tuples and numbers as saved.

    Raises:
        ValueError: naming the file, if it is not a minigrad checkpoint (another
            ``.npz``, a pickle, a text file), is truncated or corrupted, or has been
            crafted (forged ``.npy`` headers, shapes larger than the data, object
            arrays, structures nested deeper than :data:`MAX_DEPTH`). Nothing large
            is allocated before the sizes have been checked.
        FileNotFoundError: the path does not exist.
    """
    if pickle_module is not None:
        raise ValueError("load: minigrad never unpickles (its checkpoints hold only data), so "
                         "pickle_module must be None")
    if mmap:
        raise ValueError("load: mmap=True is not supported; minigrad reads the checkpoint into "
                         "memory")
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be a bool or None, got {weights_only!r}")

    if hasattr(f, "read"):
        where = _describe(f)
        if isinstance(f, _io.TextIOBase):
            raise TypeError(f"load: {where!r} is open in text mode; open it in binary mode: "
                            f"open(path, 'rb')")
        seekable = getattr(f, "seekable", lambda: False)()
        if seekable:
            start = f.tell()
            head = f.read(4)
            f.seek(start)
            _check_head(where, head)
            source = f if start == 0 else _io.BytesIO(f.read())
        else:
            data = f.read()
            _check_head(where, data[:4])
            source = _io.BytesIO(data)
    else:
        try:
            path = os.fspath(f)
        except TypeError:
            raise TypeError(f"load: f must be a path or a binary file object, got "
                            f"{type(f).__name__}") from None
        where = path
        with open(path, "rb") as fh:
            _check_head(where, fh.read(4))
        source = path

    try:
        with zipfile.ZipFile(source) as zf:
            reader = _Reader(zf, map_location)
            if _META not in reader.members:
                names = sorted(reader.members)
                raise _Invalid(f"it is a .npz archive without a {_META!r} entry (entries: "
                               f"{', '.join(names[:8])}{'...' if len(names) > 8 else ''}); "
                               f"for plain .npz files use numpy.load")
            raw = _read_npy(zf, reader.members[_META], _META + ".npy")
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise _Invalid(f"its {_META!r} entry is not UTF-8 JSON bytes")
            _check_json_depth(raw)
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
                raise _Invalid(f"its {_META!r} entry is not valid JSON "
                               f"({type(e).__name__}: {str(e)[:80]})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or "tree" not in meta:
                raise _Invalid(f"its {_META!r} entry does not describe a {FORMAT}")
            version = meta.get("version")
            if type(version) is not int or version > VERSION:
                raise _Invalid(f"it has format version {str(version)[:20]}; this minigrad reads "
                               f"versions up to {VERSION} - upgrade minigrad")
            return reader.decode(meta["tree"])
    except _Invalid as e:
        raise _bad(where, str(e)) from None
    except _MapLocationError as e:
        raise e.error from None
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as e:   # zipfile, zlib and struct errors on damaged or forged archives
        raise _bad(where, f"the archive is truncated or corrupted "
                          f"({type(e).__name__}: {str(e)[:200]})") from None
