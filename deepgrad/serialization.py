"""``save`` and ``load``: state dicts and checkpoints as safetensors files, never pickles.

A file written by ``save`` is a plain safetensors file: every tensor is stored under its key path
joined by dots (a model's ``state_dict()`` keeps its own names, so PyTorch reads it with
``safetensors.torch.load_file``), and the nesting around the tensors (dicts with their key types,
lists, tuples, numbers, strings, None) is a JSON document in the header's ``__metadata__``
under the key ``"deepgrad"``. Loading parses JSON and copies raw numbers, so it cannot run code.

The file is written to a temporary file beside the target, flushed to disk, then renamed over it:
a crash mid-write leaves the previous file as it was.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from deepgrad.tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "deepgrad"
VERSION = 1
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header

# safetensors' dtype codes -> NumPy dtypes, for checking the header against the metadata
_CODES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
          "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}

_HOW_TO_CONVERT = (
    "convert it in PyTorch with safetensors.torch.save_file(state_dict, 'model.safetensors') "
    "and load that"
)


# -- saving -------------------------------------------------------------------------------------
def save(obj, f: str | os.PathLike) -> None:
    """Write ``obj`` to the file ``f`` atomically, as safetensors plus a JSON description.

    ``obj`` is a tensor, or dicts, lists and tuples of tensors, NumPy arrays and scalars, Python
    numbers, strings and None, nested freely (a model's or an optimizer's ``state_dict()``,
    or a checkpoint holding both). Dict keys may be str, int, float, bool or None. Tensors are
    stored by value: ``load`` gives plain tensors that do not require grad.
    """
    path = _path(f, "save")
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: {path!r} is a folder; give a file name")
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, "", arrays, set())
    doc = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    _write_atomically(arrays, {FORMAT: doc}, path)


def _encode(obj, name: str, arrays: dict, parents: set) -> dict:
    """The JSON node describing obj; its tensors go into ``arrays`` under their key paths."""
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):
        kind = "tensor" if isinstance(obj, Tensor) else "ndarray"
        array = obj.array if isinstance(obj, Tensor) else np.asarray(obj)
        if array.dtype.name not in _CODES.values():
            raise TypeError(f"save: cannot store the {array.dtype} array at {_where(name)}; "
                            f"safetensors holds {sorted(_CODES.values())}")
        key = _unique(name or kind, arrays)
        arrays[key] = array if array.flags.c_contiguous else array.copy(order="C")
        node = {kind: key, "dtype": array.dtype.name, "shape": list(array.shape)}
        if isinstance(obj, np.generic):
            node["scalar"] = True
        return node
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return _encode_scalar(obj)
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in parents:
            raise ValueError(f"save: the object at {_where(name)} contains itself")
        parents.add(id(obj))
        prefix = f"{name}." if name else ""
        if isinstance(obj, dict):
            node = {"dict": [[_encode_key(k, name), _encode(v, f"{prefix}{k}", arrays, parents)]
                             for k, v in obj.items()]}
        else:
            node = {"tuple" if isinstance(obj, tuple) else "list":
                    [_encode(v, f"{prefix}{i}", arrays, parents) for i, v in enumerate(obj)]}
        parents.discard(id(obj))
        return node
    raise TypeError(
        f"save: cannot store a {type(obj).__name__} at {_where(name)}: deepgrad stores tensors, "
        "arrays, numbers, strings, None and dicts/lists/tuples of them (save model.state_dict(), "
        "not the model)"
    )


def _encode_scalar(value) -> dict:
    if value is None:
        return {"none": None}
    if isinstance(value, float):
        return {"float": value if math.isfinite(value) else repr(value)}  # JSON has no nan/inf
    return {type(value).__name__: value}  # bool, int, str


def _encode_key(key, name: str) -> dict:
    if key is not None and type(key) not in (str, int, float, bool):
        raise TypeError(
            f"save: the dict at {_where(name)} has a key {key!r} of type {type(key).__name__}; "
            "keys must be str, int, float, bool or None"
        )
    return _encode_scalar(key)


def _unique(name: str, taken: dict) -> str:
    """The key path itself, or with '#n' appended if another tensor already has that name."""
    key, n = name, 1
    while key in taken:
        n += 1
        key = f"{name}#{n}"
    return key


def _where(name: str) -> str:
    return repr(name) if name else "the top level"


def _write_atomically(arrays: dict, metadata: dict, path: str) -> None:
    """Write to a new file beside ``path``, fsync it, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: cannot write {path!r}: folder {folder!r} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # mode from the umask
    try:
        save_file(arrays, tmp, metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- loading ------------------------------------------------------------------------------------
def load(f: str | os.PathLike, map_location=None):
    """Read what ``save`` wrote to ``f``: the same nesting, with deepgrad tensors.

    A safetensors file written by another tool (no deepgrad description in it) loads as a flat
    dict {name: tensor}, ready for ``load_state_dict``. Pickles (``torch.save`` files, .pt, .pth,
    .pkl) are refused, never unpickled. A missing, truncated or corrupted file raises an error that
    names it. ``map_location`` is accepted for PyTorch scripts and ignored (deepgrad runs on CPU).
    """
    path = _path(f, "load")
    header = _read_header(path)
    try:
        with safe_open(path, framework="np") as sf:
            arrays = {name: sf.get_tensor(name) for name in sf.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"load: {path!r} is corrupted ({e}); save it again") from None
    meta = header.get("__metadata__") or {}
    if FORMAT not in meta:
        return {name: _tensor(a) for name, a in arrays.items()}
    try:
        doc = json.loads(meta[FORMAT])
        version = doc["version"]
        root = doc["root"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"load: {path!r} is corrupted: its deepgrad description is not "
                         "valid; save it again") from None
    if doc.get("format") != FORMAT or not isinstance(version, int):
        raise ValueError(f"load: {path!r} is corrupted: no deepgrad format marker in it")
    if version > VERSION:
        raise ValueError(f"load: {path!r} was written by a newer deepgrad (format version "
                         f"{version}, this one reads up to {VERSION}); upgrade deepgrad")
    used: set = set()
    try:
        obj = _decode(root, arrays, header, used)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise ValueError(f"load: {path!r} is corrupted: {e}; save it again") from None
    if used != arrays.keys():
        raise ValueError(f"load: {path!r} is corrupted: tensors {sorted(arrays.keys() - used)} "
                         "are not in its description; save it again")
    return obj


def _decode(node: dict, arrays: dict, header: dict, used: set):
    if not isinstance(node, dict) or not node:
        raise ValueError(f"unexpected entry {str(node)[:80]} in its description")
    kind = next(iter(node))  # the first key says what the node is
    value = node[kind]
    if kind in ("tensor", "ndarray"):
        if value not in arrays:
            raise ValueError(f"its description lists tensor {value!r}, which the file lacks")
        array = arrays[value]
        info = header[value]
        if (node["dtype"], node["shape"]) != (_CODES.get(info["dtype"]), info["shape"]):
            raise ValueError(f"tensor {value!r} is {info['dtype']} {info['shape']} in the file "
                             f"but {node['dtype']} {node['shape']} in its description")
        used.add(value)
        if kind == "tensor":
            return _tensor(array)
        return array[()] if node.get("scalar") else array
    if kind == "dict":
        return {_decode(k, arrays, header, used): _decode(v, arrays, header, used)
                for k, v in value}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, header, used) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "none" and value is None:
        return None
    types = {"float": float, "int": int, "bool": bool, "str": str}
    if kind in types and isinstance(value, (float, str) if kind == "float" else types[kind]):
        return types[kind](value)
    raise ValueError(f"unexpected entry {str(node)[:80]} in its description")


def _tensor(array: np.ndarray) -> Tensor:
    return Tensor._make(array if array.flags.writeable else array.copy(), None)


def _read_header(path: str) -> dict:
    """The safetensors header of ``path``, after checking that the file is one and is whole."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path!r} is a folder, not a file")
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        start = fh.read(9)
        _refuse_foreign(path, start)
        if size < 9:
            raise ValueError(f"load: {path!r} is truncated ({size} bytes, too short for a "
                             "safetensors file); save it again")
        (length,) = struct.unpack("<Q", start[:8])
        if start[8:9] != b"{" or length > _MAX_HEADER:
            raise ValueError(f"load: {path!r} is not a safetensors file (nor one that deepgrad "
                             "wrote); check the path")
        if 8 + length > size:
            raise ValueError(f"load: {path!r} is truncated: its header needs {length} bytes, "
                             f"only {size - 8} are there; save it again")
        fh.seek(8)
        text = fh.read(length)
    try:
        header = json.loads(text)
        tensors = {n: e for n, e in header.items() if n != "__metadata__"}
        ends = [int(e["data_offsets"][1]) for e in tensors.values()]
        dtypes = {n: e["dtype"] for n, e in tensors.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ValueError(f"load: {path!r} is corrupted: its safetensors header is not valid; "
                         "save it again") from None
    data = size - 8 - length
    if max(ends, default=0) > data:
        raise ValueError(f"load: {path!r} is truncated: its tensors need {max(ends)} bytes, only "
                         f"{data} are there; save it again")
    for name, code in dtypes.items():
        if code not in _CODES:
            raise ValueError(f"load: {path!r} holds tensor {name!r} of dtype {code}, which "
                             f"deepgrad does not support (it reads {sorted(_CODES)})")
    return header


def _refuse_foreign(path: str, start: bytes) -> None:
    """Recognize pickles and zip archives (torch.save) by their first bytes; never open them."""
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ValueError(f"load: {path!r} is a Python pickle; deepgrad never unpickles (loading a "
                         f"pickle can run arbitrary code). If it holds PyTorch weights, "
                         f"{_HOW_TO_CONVERT}")
    if start[:4] == b"PK\x03\x04":
        raise ValueError(f"load: {path!r} is a zip archive, such as a torch.save checkpoint (.pt, "
                         f".pth) holding pickles, which deepgrad never opens; {_HOW_TO_CONVERT}")


def _path(f, fn: str) -> str:
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"{fn}: expected a file path (str or os.PathLike), got "
                        f"{type(f).__name__}; deepgrad writes files atomically, by name")
    return os.fspath(f)
