"""Reading pickles from elsewhere without letting them run code.

A pickle names the functions that rebuild its objects, so loading one with `pickle.load` can run
anything. `load_pickle` resolves only an allowlist: Python's plain data types, and what numpy
needs to rebuild arrays and scalars of numbers or strings (the label pickles of the authors and
ST-GCN, the annotation pickles of pyskl and MMAction2). Each numpy entry point is wrapped so that
it builds only an `ndarray` of a dtype without Python objects, and `_codecs.encode` (how pickle
protocol 2 stores bytes) only turns text into latin-1 bytes. Anything else is refused with a
`DataError` naming the file and what it referred to.
"""

from __future__ import annotations

import codecs
import os
import pickle

import numpy as np

from glt.data.ntu import clip_name
from glt.errors import DataError

_PLAIN = frozenset(
    ["list", "tuple", "dict", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
     "bool", "complex"]
)  # fmt: skip


def _dtype(*args) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"an array of Python objects (dtype {dtype})")
    return dtype


def _reconstruct(subtype, shape, dtype_code):
    # An empty array of bytes: its dtype (made by `_dtype`) and data come next, through
    # ndarray.__setstate__.
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"an array of type {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, np.uint8)


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar that is not a number or a string")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _frombuffer(buffer, dtype, shape, order):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("an array of Python objects")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _latin1(text, encoding="utf-8"):
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin-1")


_NUMPY = {"_reconstruct": _reconstruct, "scalar": _scalar, "_frombuffer": _frombuffer}
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
    # numpy 1.x pickles name numpy.core, numpy 2.x numpy._core
    **{(f"numpy.{core}.{module}", name): fn
       for core in ("core", "_core") for module in ("multiarray", "numeric")
       for name, fn in _NUMPY.items()},
}  # fmt: skip


class _DataUnpickler(pickle.Unpickler):
    """Builds plain Python data and numpy arrays only: no other class, no other function."""

    def find_class(self, module, name):
        if module in ("builtins", "__builtin__") and name in _PLAIN:  # the latter: protocol 2
            return super().find_class(module, name)
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        raise pickle.UnpicklingError(
            f"refers to {module}.{name}; only plain data (lists, dicts, str, numbers, numpy "
            "arrays) is accepted"
        )


def load_pickle(path: str | os.PathLike):
    """Load a pickle of plain Python data and numpy arrays safely; DataError otherwise."""
    try:
        with open(path, "rb") as f:
            return _DataUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, OverflowError) as e:  # fmt: skip
        raise DataError(f"{path}: not a readable pickle of plain data: {e}") from None


def read_label_pickle(path: str | os.PathLike) -> tuple[list[str], list[int]]:
    """A pickle of (names, labels), as ST-GCN and its followers write, with names reduced to
    clip names (no folder, no `.skeleton`)."""
    content = load_pickle(path)
    if not (isinstance(content, (tuple, list)) and len(content) == 2):
        raise DataError(f"{path}: expected a pickled (names, labels) pair")
    names, labels = content
    if len(names) != len(labels):
        raise DataError(f"{path}: {len(names)} names but {len(labels)} labels")
    try:
        labels = [int(label) for label in labels]
    except (TypeError, ValueError):
        raise DataError(f"{path}: labels must be integers") from None
    return [clip_name(str(name)) for name in names], labels
