"""Model files: safetensors (raw little-endian arrays + a JSON header), never pickle.

Layout: 8-byte little-endian header length, the JSON header (tensor name -> dtype, shape,
byte offsets; "__metadata__" -> string values), then the tensor bytes. Reading parses JSON and
copies bytes into numpy arrays; nothing in a file is ever executed. Numpy and the standard
library only: the Blender add-on ships this module.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from .errors import GRCError
from .io import atomic_write
from .limits import MAX_HEADER_BYTES, MAX_MODEL_BYTES, MAX_TENSOR_DIMS, parse_json, read_bytes

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}
MAX_HEADER = MAX_HEADER_BYTES


def dumps(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """Serialize arrays and string metadata to safetensors bytes."""
    names = {v: k for k, v in DTYPES.items()}
    header, chunks, offset = {"__metadata__": dict(metadata)}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<")
        if dtype not in names:
            raise ValueError(f"{name}: unsupported dtype {array.dtype}")
        data = array.astype(dtype).tobytes()
        header[name] = {"dtype": names[dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes, as the reference writer does
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def loads(data: bytes, path=None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse safetensors bytes, checking every offset; damaged input raises GRCError."""
    def bad(why):
        return GRCError(f"not a valid GRC model file ({why})", path=path)

    if len(data) < 8:
        raise bad("too short")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise bad("header length is larger than the file")
    if size > MAX_HEADER:
        raise bad(f"header of {size:,} bytes is larger than the {MAX_HEADER:,} byte limit")
    try:
        header = parse_json(data[8:8 + size])
    except GRCError as e:
        raise bad(f"header: {e.message}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("metadata is not a map of strings")
    buffer = memoryview(data)[8 + size:]
    tensors, spans = {}, []
    for name, entry in header.items():
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = tuple(entry["shape"])
            begin, end = entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise bad(f"tensor {name!r} has no valid dtype, shape and data_offsets") from None
        if not all(type(s) is int and s >= 0 for s in shape) or type(begin) is not int or type(end) is not int:
            raise bad(f"tensor {name!r} has a malformed shape or offsets")
        if len(shape) > MAX_TENSOR_DIMS:
            raise bad(f"tensor {name!r} has {len(shape)} dimensions; the limit is {MAX_TENSOR_DIMS}")
        # Python integers: a hostile shape cannot overflow into a small, matching byte count
        if not 0 <= begin <= end <= len(buffer) or end - begin != math.prod(shape) * dtype.itemsize:
            raise bad(f"tensor {name!r} lies outside the file or does not match its shape")
        spans.append((begin, end))
        tensors[name] = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape).copy()
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise bad("tensors overlap")
    # the tensors fill the data exactly, as the safetensors format asks: bytes beyond them or between them are
    # damage (a file written twice over, or cut and mended), not a model
    covered = sum(end - begin for begin, end in spans)
    if covered != len(buffer):
        extra = len(buffer) - covered
        where = "after the last tensor" if len(buffer) - (spans[-1][1] if spans else 0) == extra else "outside the tensors"
        raise bad(f"{extra:,} bytes {where}")
    return tensors, metadata


def save(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically."""
    return atomic_write(path, dumps(tensors, metadata))


def load(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file (a regular file within MAX_MODEL_BYTES); missing, unreadable, oversized or
    damaged files raise GRCError."""
    path = Path(path)
    return loads(read_bytes(path, MAX_MODEL_BYTES, "model file"), path)
