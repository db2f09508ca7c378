"""Read ``torch.save`` files into NumPy without torch and without executing pickle code.

Two on-disk layouts exist:

* the legacy (pre-1.6) stream: five pickles back to back (magic number, protocol version, system info,
  the object, the list of storage keys) followed by each storage as ``int64 numel`` + raw little-endian bytes;
* the zip layout (torch >= 1.6): ``<root>/data.pkl`` plus one raw file per storage under ``<root>/data/``.

Both are unpickled by :class:`RestrictedUnpickler`, which resolves only an allow-list of globals (tensor and
storage rebuilders, ``OrderedDict``) to *our own* pure functions. Anything else — ``os.system``,
``builtins.eval``, arbitrary classes — is refused with :class:`UnsafePickleError` before it can run.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

__all__ = ["UnsafePickleError", "load_torch_file"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> NumPy dtype (all little-endian on disk).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "ByteStorage": np.dtype("u1"),
    "CharStorage": np.dtype("i1"),
    "ShortStorage": np.dtype("<i2"),
    "IntStorage": np.dtype("<i4"),
    "LongStorage": np.dtype("<i8"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list; nothing was executed."""


class _StorageType:
    """Stand-in for ``torch.<X>Storage``: it only carries the dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _LazyStorage:
    """A storage whose bytes are filled in after unpickling (legacy) or read on demand (zip)."""

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype = dtype
        self.numel = numel
        self.array: np.ndarray | None = None


class _TensorRef:
    """A tensor view on a storage, materialised once every storage is available."""

    def __init__(self, storage: _LazyStorage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        """The tensor as a NumPy copy, after checking its record against the storage: every element the view
        can reach (negative strides included) lies inside the storage, and it has no more elements than the
        storage (a weight file holds no broadcast views), so a crafted record can neither read outside the
        buffer nor allocate without bound."""
        data = self.storage.array
        if data is None:
            raise pickle.UnpicklingError("a tensor refers to a storage that the file does not contain")
        n = math.prod(self.size)
        if n == 0:
            return np.zeros(self.size, dtype=data.dtype)
        reach = [(s - 1) * st for s, st in zip(self.size, self.stride)]
        first = self.offset + sum(r for r in reach if r < 0)
        last = self.offset + sum(r for r in reach if r > 0)
        if first < 0 or last >= data.size or n > data.size:
            raise pickle.UnpicklingError("a tensor's offset, shape and strides run outside its storage")
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=tuple(st * itemsize for st in self.stride))
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _LazyStorage):
        raise pickle.UnpicklingError("tensor rebuild without a storage")

    def ints(v) -> bool:
        return all(type(x) is int for x in v)

    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= 32
            and ints(size) and ints(stride) and type(storage_offset) is int
            and storage_offset >= 0 and all(s >= 0 for s in size)):
        raise pickle.UnpicklingError("a tensor record is malformed (offset, sizes or strides)")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that maps an allow-list of torch globals to pure stand-ins and refuses everything else."""

    def __init__(self, file: BinaryIO, storage_loader):
        super().__init__(file)
        self._storage_loader = storage_loader

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: only torch tensors, storages and OrderedDict are allowed "
            "in a weight file")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unsupported persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (pre-2018 torch files) are not supported")
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"unsupported storage type {storage_type!r:.80}")
        if type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError("a storage record is malformed (its size)")
        return self._storage_loader(str(key), storage_type.dtype, numel)


def _resolve(obj: Any) -> Any:
    """Replace every tensor reference in a nested dict/list/tuple by its NumPy array."""
    if isinstance(obj, _TensorRef):
        return obj.materialize()
    if isinstance(obj, dict):  # dict or OrderedDict (a state dict keeps its type and ``_metadata``)
        out = type(obj)((k, _resolve(v)) for k, v in obj.items())
        if getattr(obj, "__dict__", None):
            out.__dict__.update(_resolve(obj.__dict__))
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v) for v in obj)
    return obj


def _load_legacy(f: BinaryIO) -> Any:
    def plain(what: str):
        try:
            return RestrictedUnpickler(f, _no_storage).load()
        except UnsafePickleError:
            raise
        except Exception as e:
            raise pickle.UnpicklingError(f"not a torch.save file (bad {what} header: {e})") from None

    if plain("magic") != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch.save file (bad magic number)")
    if plain("protocol") != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("unsupported torch.save protocol version")
    sys_info = plain("system info")
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", True)):
        raise pickle.UnpicklingError("big-endian torch files are not supported")

    storages: dict[str, _LazyStorage] = {}

    def loader(key: str, dtype: np.dtype, numel: int) -> _LazyStorage:
        if key not in storages:
            storages[key] = _LazyStorage(dtype, numel)
        return storages[key]

    obj = RestrictedUnpickler(f, loader).load()
    keys = RestrictedUnpickler(f, _no_storage).load()
    if not isinstance(keys, list):
        raise pickle.UnpicklingError("corrupt torch file: storage key list missing")
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise pickle.UnpicklingError(f"corrupt torch file: unknown storage {key!r:.40}")
        header = f.read(8)
        if len(header) != 8:
            raise pickle.UnpicklingError("truncated torch file (storage header)")
        (numel,) = struct.unpack("<q", header)
        if numel != st.numel:
            raise pickle.UnpicklingError("corrupt torch file: a storage's size differs from its record")
        nbytes = numel * st.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise pickle.UnpicklingError("truncated torch file (storage data)")
        st.array = np.frombuffer(raw, dtype=st.dtype)
    return _resolve(obj)


def _load_zip(zf: zipfile.ZipFile) -> Any:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise pickle.UnpicklingError("not a torch.save zip file (no single data.pkl)")
    root = pkl[0][: -len("data.pkl")]
    storages: dict[str, _LazyStorage] = {}

    def loader(key: str, dtype: np.dtype, numel: int) -> _LazyStorage:
        if key not in storages:
            try:
                raw = zf.read(f"{root}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"corrupt torch file: storage {key} missing") from None
            st = _LazyStorage(dtype, numel)
            if len(raw) < numel * dtype.itemsize:
                raise pickle.UnpicklingError(f"corrupt torch file: storage {key} is truncated")
            st.array = np.frombuffer(raw, dtype=dtype, count=numel)
            storages[key] = st
        return storages[key]

    with zf.open(pkl[0]) as f:
        obj = RestrictedUnpickler(io.BytesIO(f.read()), loader).load()
    return _resolve(obj)


def _no_storage(key, dtype, numel):
    raise pickle.UnpicklingError("unexpected storage reference in a header pickle")


def load_torch_file(path: str | os.PathLike) -> Any:
    """Load a ``torch.save`` file (legacy or zip layout) with tensors as NumPy arrays.

    Args:
      path: file written by ``torch.save`` (e.g. a state dict).

    Returns:
      The saved object with every tensor replaced by a ``np.ndarray`` of the same shape and dtype
      (``OrderedDict`` for state dicts).

    Raises:
      UnsafePickleError: the file references a global outside the allow-list (nothing was executed).
      pickle.UnpicklingError: the file is not a readable torch file.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return _load_zip(zf)
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":  # a zip whose directory at the end is gone: cut short
                raise pickle.UnpicklingError("truncated zip-layout torch file (its zip directory is missing)")
            f.seek(0)
            return _load_legacy(f)
    except (pickle.UnpicklingError, OSError):
        raise
    except Exception as e:  # EOFError, zip/struct/NumPy errors: a damaged file, never a reason to crash
        raise pickle.UnpicklingError(f"corrupt or truncated torch file ({type(e).__name__}: {e})") from None
