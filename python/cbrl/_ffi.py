"""The binding: cffi in ABI mode over the shim library libcbrl_py (python/cbrl/_shim.c).

The declarations are read from _shim.h itself, between its CDEF markers, so the Python side
holds no copy of any C declaration or struct that could drift from the headers; the shim's
ABI version is checked at import.
"""
import os
import re

import numpy as np
from cffi import FFI

ABI_VERSION = 4
_HERE = os.path.dirname(os.path.abspath(__file__))


class CbrlError(Exception):
    """A cbrl call failed: ``code`` is the negative cbrl error code, ``name`` its symbol
    (``CBRL_EINVAL``) and the message cbrl's own."""

    def __init__(self, message, code=-1, name=None):
        super().__init__(message)
        self.code = code
        self.name = name


def _cdef_text():
    with open(os.path.join(_HERE, "_shim.h")) as f:
        text = f.read()
    body = text.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]
    return re.sub(r"/\*.*?\*/", "", body, flags=re.S)


def _library_path():
    """CBRL_PY_LIBRARY, else the installed copy beside the package, else the build tree."""
    env = os.environ.get("CBRL_PY_LIBRARY")
    if env:
        return env
    beside = os.path.join(_HERE, "libcbrl_py.so")
    if os.path.exists(beside):
        return beside
    build = os.environ.get("CBRL_BUILD", os.path.join(_HERE, "..", "..", "build"))
    path = os.path.join(build, "python", "libcbrl_py.so")
    if os.path.exists(path):
        return os.path.abspath(path)
    raise ImportError("cbrl: libcbrl_py.so not found; run 'make python' in the repository "
                      "(or set CBRL_PY_LIBRARY to the library's path)")


ffi = FFI()
ffi.cdef(_cdef_text())
lib = ffi.dlopen(_library_path())
if lib.cbrl_py_abi_version() != ABI_VERSION:
    raise ImportError("cbrl: the shim library has ABI %d, this package expects %d; rebuild with 'make python'"
                      % (lib.cbrl_py_abi_version(), ABI_VERSION))

ERR_SIZE = 2048


def err_buffer():
    return ffi.new("char[]", ERR_SIZE)


def check(rc, err=None, what=None):
    """Raises CbrlError for a negative code, with cbrl's message (from err when it has one)."""
    if rc == 0:
        return
    if rc > 0:
        rc = -1
    message = ffi.string(err).decode("utf-8", "replace") if err is not None and err[0] != b"\0" else ""
    base = ffi.string(lib.cbrl_py_strerror(rc)).decode()
    name = ffi.string(lib.cbrl_py_err_name(rc)).decode()
    if not message:
        message = base
    if what:
        message = "%s: %s" % (what, message)
    raise CbrlError(message, rc, name)


def kind_of(dtype):
    return np.dtype(dtype).kind


def as_array(value, name, shape=None, dtype=np.float64, finite=True, allow_copy=True, allow_strided=False):
    """Checks one array argument and returns it C-contiguous in dtype. The error names the
    argument: its shape, its dtype (no silent casts from other kinds), NaN or Inf, or (with
    allow_copy=False, for arrays cbrl writes into) a non-contiguous layout."""
    if (isinstance(value, np.ndarray) and value.dtype == dtype and value.flags.c_contiguous and shape is not None
            and value.shape == shape and allow_copy):
        # The common case, checked in a few microseconds: nothing to convert.
        if finite and kind_of(dtype) == "f" and not np.isfinite(value).all():
            bad = np.argwhere(~np.isfinite(value))[0]
            raise ValueError("%s: not finite at %s (%r)" % (name, tuple(int(i) for i in bad), value[tuple(bad)]))
        return value
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # a ragged list, an object
            raise TypeError("%s: not an array (%s)" % (name, exc)) from None
    kind = np.dtype(dtype).kind
    if arr.dtype == object or arr.dtype.kind not in ("b", "i", "u", "f"):
        raise TypeError("%s: expected an array of numbers, got dtype %s" % (name, arr.dtype))
    if kind in "iu" and arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)) or arr.size and np.any(arr != np.round(arr)):
            raise TypeError("%s: expected integers, got non-integral floats" % name)
    if kind == "f" and arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError("%s: dtype %s would lose precision as float64" % (name, arr.dtype))
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError("%s: expected shape %s, got %s" % (name, want, tuple(arr.shape)))
    if isinstance(value, np.ndarray) and arr.ndim > 1 and not arr.flags.c_contiguous and not allow_strided:
        raise ValueError("%s: not C-contiguous (strides %s); pass np.ascontiguousarray(%s)"
                         % (name, arr.strides, name.split(":")[0]))
    if isinstance(value, np.ndarray) and arr.ndim == 1 and not arr.flags.c_contiguous and not allow_strided:
        raise ValueError("%s: not contiguous (stride %d bytes); pass np.ascontiguousarray(%s)"
                         % (name, arr.strides[0], name.split(":")[0]))
    if kind == "f" and arr.dtype.kind == "b":
        raise TypeError("%s: expected numbers, got a bool array" % name)
    if not allow_copy and (arr.dtype != np.dtype(dtype) or not arr.flags.c_contiguous or not arr.flags.writeable):
        raise ValueError("%s: must be a writable C-contiguous %s array (got %s, %scontiguous)"
                         % (name, np.dtype(dtype), arr.dtype, "" if arr.flags.c_contiguous else "non-"))
    out = np.ascontiguousarray(arr, dtype=dtype)
    if finite and kind == "f" and out.size and not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))[0]
        raise ValueError("%s: not finite at %s (%r)" % (name, tuple(int(i) for i in bad), out[tuple(bad)]))
    return out


def ptr(arr, ctype="double *"):
    """A cffi pointer into a numpy array (which must stay alive while the pointer is used)."""
    if not arr.size:
        return ffi.cast(ctype, 0)
    return ffi.from_buffer(ctype[:-1].rstrip() + "[]", arr)


def view(cptr, n, dtype=np.float64, owner=None):
    """A read-only numpy view of n values at a C pointer, without a copy; owner is kept alive
    by the view's base."""
    if cptr == ffi.NULL or n == 0:
        return np.zeros(0, dtype)
    buf = ffi.buffer(cptr, n * np.dtype(dtype).itemsize)
    arr = np.frombuffer(buf, dtype=dtype)
    arr.flags.writeable = False
    if owner is not None:
        _Keep.register(arr, owner)
    return arr


class _Keep:
    """Keeps a C object's Python owner alive as long as a view into its memory."""
    import weakref as _weakref
    _refs = {}

    @classmethod
    def register(cls, arr, owner):
        key = id(arr)
        cls._refs[key] = owner
        cls._weakref.finalize(arr, cls._refs.pop, key, None)


class Token:
    """Stands for one C object: when the token is collected, the object is freed. A token's
    finalizer holds the tokens of what the object points into (its problem, its follower, its
    callbacks) until it has run, so a problem is never freed before an exact workspace or a
    leader built on it, whatever order Python's garbage collector finalizes a cycle in (and, at
    exit, finalizers run newest first)."""

    __slots__ = ("__weakref__", "__dict__")


def _release(free, handle, deps):
    free(handle)


def own(handle, free, *deps):
    """A Token that frees handle with free once it is collected, after which deps are released."""
    t = Token()
    _weakref.finalize(t, _release, free, handle, deps)
    return t


import weakref as _weakref  # noqa: E402


def string(cptr):
    return ffi.string(cptr).decode("utf-8", "replace") if cptr != ffi.NULL else ""
