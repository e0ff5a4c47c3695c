"""Array conversion and file writers (NumPy only): .npy (streamable) and safetensors by hand.

bfloat16 has no NumPy dtype; it travels as :class:`BF16` (the raw uint16 bit patterns), is kept
as bf16 in safetensors files and widened exactly to float32 in .npy files.
"""

from __future__ import annotations

import json
import math
import numbers
import struct

import numpy as np


class BF16:
    """A bfloat16 array held as its uint16 bit patterns (C order)."""

    def __init__(self, bits):
        self.bits = np.ascontiguousarray(bits, dtype=np.uint16)
        self.shape = self.bits.shape
        self.ndim = self.bits.ndim

    def to_f32(self):
        """Exact widening: a bf16 value is the upper half of a float32."""
        return (self.bits.astype(np.uint32) << 16).view(np.float32)


def _from_torch(name, value):
    import torch  # only reached when a torch tensor was passed

    t = value.detach().cpu()
    if t.dtype == torch.bfloat16:
        return BF16(t.contiguous().view(torch.int16).numpy().view(np.uint16))
    if not t.is_floating_point():
        raise TypeError(f"{name}: torch dtype {t.dtype} is not a floating-point type")
    return t.numpy()


def to_array(name, value):
    """Converts `value` (NumPy, JAX, torch or nested lists) to a float NumPy array or a
    :class:`BF16`; refuses integers, bools, complex and objects, and non-finite values."""
    if isinstance(value, BF16):
        arr = value
    elif hasattr(value, "detach") and hasattr(value, "cpu"):
        arr = _from_torch(name, value)
    else:
        arr = np.asarray(value)
        if arr.dtype.name == "bfloat16":  # ml_dtypes (JAX)
            arr = BF16(arr.view(np.uint16))
    if not isinstance(arr, BF16):
        if arr.dtype.kind != "f":
            raise TypeError(
                f"{name}: dtype {arr.dtype} is not a floating-point type; the format stores "
                "float32/float64 (and float16/bfloat16 in safetensors)"
            )
        if arr.dtype not in (np.float16, np.float32, np.float64):
            arr = arr.astype(np.float64)
        arr = np.ascontiguousarray(arr)
    values = arr.to_f32() if isinstance(arr, BF16) else arr
    bad = ~np.isfinite(values)
    if bad.any():
        pos = [int(i) for i in np.argwhere(bad)[0]]
        raise ValueError(
            f"{name}: contains {int(bad.sum())} non-finite value(s), first at index {pos} "
            f"({values[tuple(pos)]}); NaN/Inf means the run diverged or the gradient computation "
            "is broken"
        )
    return arr


def widen_for_npy(arr):
    """float16 and bfloat16 become float32 (exactly); float32/float64 stay."""
    if isinstance(arr, BF16):
        return arr.to_f32()
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    return arr


def as_f64(arr):
    return widen_for_npy(arr).astype(np.float64)


def check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def json_safe(value, key):
    """Converts NumPy scalars/arrays and tuples in metadata to JSON types; refuses the rest."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metadata {key!r}: non-finite number {value}")
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), key)
    if isinstance(value, (list, tuple)):
        return [json_safe(v, key) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v, key) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"metadata {key!r}: value {value!r} of type {type(value).__name__} is not JSON")


# -- .npy ------------------------------------------------------------------------------------

_NPY_HEADER_BYTES = 128  # fixed, so that a streamed file's shape can be rewritten in place


def npy_header(dtype, shape):
    """A version-1.0 .npy header of exactly 128 bytes for a little-endian C-order array."""
    descr = np.dtype(dtype).newbyteorder("<").str
    shape_txt = "(" + "".join(f"{int(s)}, " for s in shape).rstrip(" ") + ")"
    if len(shape) > 1:
        shape_txt = shape_txt.replace(",)", ")")
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}"
    pad = _NPY_HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} too long for a 128-byte .npy header")
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def write_npy(path, arr):
    """Writes a float/int array as a little-endian C-order .npy file."""
    arr = np.ascontiguousarray(arr)
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    with open(path, "wb") as fh:
        fh.write(npy_header(arr.dtype, arr.shape))
        fh.write(arr.tobytes())


class NpyRowWriter:
    """Appends rows of equal shape to a .npy file whose leading dimension is fixed at close()."""

    def __init__(self, path, dtype, row_shape):
        self.path = path
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.row_shape = tuple(row_shape)
        self.rows = 0
        self._fh = open(path, "wb")
        self._fh.write(npy_header(self.dtype, (0,) + self.row_shape))

    def append(self, row):
        row = np.ascontiguousarray(row, dtype=self.dtype)
        self._fh.write(row.tobytes())
        self.rows += 1

    def close(self):
        self._fh.seek(0)
        self._fh.write(npy_header(self.dtype, (self.rows,) + self.row_shape))
        self._fh.close()

    def discard(self):
        self._fh.close()


# -- safetensors -----------------------------------------------------------------------------

_ST_DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> float ndarray or BF16) in the safetensors format: an 8-byte
    little-endian header length, a JSON header (name -> dtype, shape, data_offsets) padded with
    spaces to a multiple of 8, then the raw little-endian C-order data. Pure Python + NumPy."""
    header = {}
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        if isinstance(arr, BF16):
            dtype, raw = "BF16", arr.bits.astype("<u2").tobytes()
        else:
            dtype = _ST_DTYPES[arr.dtype]
            raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for raw in blobs:
            fh.write(raw)
