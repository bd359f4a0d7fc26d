"""Open shmkit Arrays and Values from Python, without copying.

Standard library only; arrays come back as numpy arrays when numpy is
installed, else as memoryviews cast to the element type. The segment layout
is docs/format.md.

    from shmkit_reader import open_array
    prices = open_array("prices")   # numpy.ndarray over the shared memory
    prices[0] = 1.5                 # Node sees it at once

    python3 shmkit_reader.py NAME   # prints kind, dtype, length, values as JSON

The segment is mapped directly (never through multiprocessing's
SharedMemory), so Python's resource tracker never sees it and never unlinks
a segment Node made. The mapping lives as long as the returned array.
"""
import json
import math
import mmap
import os
import struct
import sys
import time

import _posixshmem  # what multiprocessing.shared_memory itself opens segments with

MAGIC = 0x4B4D4853
# Value and Array are laid out the same in format versions 1 to 5.
VERSIONS = (1, 2, 3, 4, 5)
HEADER = struct.Struct("<IHBBiIQQ")  # magic version kind dtype state data_offset count data_bytes
HEADER_SIZE = 128
KINDS = {1: "Value", 2: "Array"}
DTYPES = {1: ("int8", "b"), 2: ("uint8", "B"), 3: ("int16", "h"), 4: ("uint16", "H"),
          5: ("int32", "i"), 6: ("uint32", "I"), 7: ("int64", "q"), 8: ("uint64", "Q"),
          9: ("float32", "f"), 10: ("float64", "d")}


class FormatError(ValueError):
    """The segment is not a shmkit Array or Value this reader understands."""


def _map(name):
    fd = _posixshmem.shm_open("/" + name.lstrip("/"), os.O_RDWR, mode=0o600)
    try:
        size = os.fstat(fd).st_size
        if size < HEADER_SIZE:
            raise FormatError(f"{name} is not a shmkit object ({size} bytes)")
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def _header(name, mapping, timeout):
    """The checked header fields: (kind, dtype name, struct format, count)."""
    deadline = time.monotonic() + timeout
    while True:
        magic, version, kind, code, state, offset, count, nbytes = HEADER.unpack_from(mapping, 0)
        if magic != MAGIC:
            raise FormatError(f"{name} is not a shmkit object")
        if version not in VERSIONS:
            raise FormatError(f"{name} has format version {version}; this reader knows {VERSIONS}")
        if state == 1:
            break
        if time.monotonic() > deadline:
            raise FormatError(f"{name} was never marked ready")
        time.sleep(0.001)
    if kind not in KINDS:
        raise FormatError(f"{name} is a shmkit object of kind {kind}, not an Array or Value")
    if code not in DTYPES:
        raise FormatError(f"{name} has unknown dtype code {code}")
    dtype, fmt = DTYPES[code]
    if offset != HEADER_SIZE or nbytes != count * struct.calcsize(fmt) or offset + nbytes > len(mapping):
        raise FormatError(f"{name}: header disagrees with the segment size")
    return KINDS[kind], dtype, fmt, count


def open_array(name, *, timeout=1.0, use_numpy=None):
    """The elements of the shmkit Array (or Value) `name`, in shared memory.

    Returns a numpy.ndarray (numpy installed, or use_numpy=True) or a
    memoryview cast to the element type (use_numpy=False): no copy, so
    writes go to the segment and are seen by every process at once. Waits up
    to `timeout` seconds for a creator still initialising it.
    Raises FileNotFoundError if there is no such segment, FormatError if it
    is not a shmkit Array or Value.
    """
    mapping = _map(name)
    _, dtype, fmt, count = _header(name, mapping, timeout)
    if use_numpy is None:
        try:
            import numpy  # noqa: F401
            use_numpy = True
        except ImportError:
            use_numpy = False
    if use_numpy:
        import numpy
        return numpy.frombuffer(mapping, dtype=numpy.dtype(dtype).newbyteorder("<"), count=count, offset=HEADER_SIZE)
    return memoryview(mapping)[HEADER_SIZE:HEADER_SIZE + count * struct.calcsize(fmt)].cast(fmt)


def describe(name, timeout=1.0):
    """kind, dtype, length and a copy of the values, as a dict."""
    mapping = _map(name)
    try:
        kind, dtype, fmt, count = _header(name, mapping, timeout)
        values = list(struct.unpack_from(f"<{count}{fmt}", mapping, HEADER_SIZE))
        return {"kind": kind, "dtype": dtype, "length": count, "values": values}
    finally:
        mapping.close()


def _jsonable(v):
    """JSON has no NaN/Infinity and loses integers past 2**53: spell those as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, int) and abs(v) > 2**53:
        return str(v)
    return v


if __name__ == "__main__":
    result = describe(sys.argv[1])
    result["values"] = [_jsonable(v) for v in result["values"]]
    print(json.dumps(result))
