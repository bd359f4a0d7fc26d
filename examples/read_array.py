"""Read a shmkit Array (or Value) from Python, with the standard library only.

    python3 examples/read_array.py NAME

Prints the object's kind, dtype, length and values as JSON. The format is
described in docs/format.md.
"""
import json
import math
import struct
import sys
import time
from multiprocessing import resource_tracker, shared_memory

MAGIC = 0x4B4D4853
# Value and Array are laid out the same in format versions 1 and 2.
VERSIONS = (1, 2, 3)
HEADER = struct.Struct("<IHBBiIQQ")  # magic version kind dtype state data_offset count data_bytes
KINDS = {1: "Value", 2: "Array"}
DTYPES = {1: ("int8", "b"), 2: ("uint8", "B"), 3: ("int16", "h"), 4: ("uint16", "H"),
          5: ("int32", "i"), 6: ("uint32", "I"), 7: ("int64", "q"), 8: ("uint64", "Q"),
          9: ("float32", "f"), 10: ("float64", "d")}


def read(name, timeout=1.0):
    shm = shared_memory.SharedMemory(name=name)
    # Python < 3.13 would unlink the segment when this process exits.
    resource_tracker.unregister(shm._name, "shared_memory")
    try:
        if shm.size < 128:
            raise ValueError(f"{name} is not a shmkit object")
        deadline = time.monotonic() + timeout
        while True:
            magic, version, kind, code, state, offset, count, nbytes = HEADER.unpack_from(shm.buf, 0)
            if magic != MAGIC:
                raise ValueError(f"{name} is not a shmkit object")
            if version not in VERSIONS:
                raise ValueError(f"{name} has format version {version}, this reader knows {VERSIONS}")
            if state == 1:
                break
            if time.monotonic() > deadline:
                raise ValueError(f"{name} was never marked ready")
            time.sleep(0.001)
        dtype, fmt = DTYPES[code]
        size = struct.calcsize(fmt)
        if nbytes != count * size or offset % 64 or offset < 128 or offset + nbytes > shm.size:
            raise ValueError(f"{name}: header disagrees with the segment size")
        values = list(struct.unpack_from(f"<{count}{fmt}", shm.buf, offset))
        return {"kind": KINDS.get(kind, kind), "dtype": dtype, "length": count, "values": values}
    finally:
        shm.close()


def jsonable(v):
    """JSON has no NaN/Infinity and loses integers past 2**53: spell those as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, int) and abs(v) > 2**53:
        return str(v)
    return v


if __name__ == "__main__":
    result = read(sys.argv[1])
    result["values"] = [jsonable(v) for v in result["values"]]
    print(json.dumps(result))
