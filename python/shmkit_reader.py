"""Open shmkit Arrays and Values from Python, without copying, and read
SharedMaps and SharedLists.

Standard library only; arrays come back as numpy arrays when numpy is
installed, else as memoryviews cast to the element type. The segment layout
is docs/format.md.

    from shmkit_reader import open_array, open_map
    prices = open_array("prices")   # numpy.ndarray over the shared memory
    prices[0] = 1.5                 # Node sees it at once
    cache = open_map("cache")       # read-only, lock-free: cache.get("user:1")

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


def _ready_header(name, mapping, kinds, what, timeout):
    """The header fields of the shmkit object `name` once its creator has
    marked it ready (waiting up to `timeout` seconds); its kind must be one of
    `kinds` (`what` names them). The kind is read only when ready: a creator
    writes it after the magic number."""
    deadline = time.monotonic() + timeout
    while True:
        header = HEADER.unpack_from(mapping, 0)
        magic, version, state = header[0], header[1], header[4]
        if magic != MAGIC:
            raise FormatError(f"{name} is not a shmkit object")
        if version not in VERSIONS:
            raise FormatError(f"{name} has format version {version}; this reader knows {VERSIONS}")
        if state == 1:
            break
        if time.monotonic() > deadline:
            raise FormatError(f"{name} was never marked ready")
        time.sleep(0.001)
    if header[2] not in kinds:
        raise FormatError(f"{name} is a shmkit object of kind {header[2]}, not {what}")
    return header


def _header(name, mapping, timeout):
    """The checked header fields: (kind, dtype name, struct format, count)."""
    _, _, kind, code, _, offset, count, nbytes = _ready_header(name, mapping, KINDS, "an Array or Value", timeout)
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


# ---- SharedMap and SharedList (docs/format.md, "SharedMap") ----

MAP_KINDS = {11: "SharedMap", 12: "SharedList"}
W_INDEX, W_INDEX_GEN, W_STRIPES = 34, 35, 36
W_STRIPE0, STRIPE_WORDS, STRIPE_COUNT = 208, 96, 7
E_VERSION, E_KEY_BYTES, E_VALUE_BYTES, E_TAG, E_EXPIRES, E_KEY = 8, 16, 20, 24, 32, 40
I_CAPACITY, I_SLOTS = 8, 64
SLOT_EMPTY, SLOT_TOMBSTONE = 0, 2
TYPED = {16: "b", 17: "B", 18: "B", 19: "h", 20: "H", 21: "i", 22: "I", 23: "f", 24: "d", 25: "q", 26: "Q"}
_RETRY = object()
_ABSENT = object()


def _fnv1a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _js_number(number):
    """JS has one number type: an integral one comes back as int (as from JSON); -0.0 stays a float."""
    if number.is_integer() and abs(number) <= 2**53 and math.copysign(1, number) > 0:
        return int(number)
    return number


class _MsgpackReader:
    """The MessagePack that shmkit writes for plain data (msgpackr, no records): every standard type."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise FormatError("MessagePack value runs past its entry")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def unpack(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]

    def value(self):
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.mapping(b & 0x0F)
        if 0x90 <= b <= 0x9F:
            return [self.value() for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return self.take(b & 0x1F).decode("utf-8")
        fixed = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in fixed:
            return fixed[b]
        sizes = {0xC4: "B", 0xC5: "H", 0xC6: "I", 0xD9: "B", 0xDA: "H", 0xDB: "I",
                 0xDC: "H", 0xDD: "I", 0xDE: "H", 0xDF: "I"}
        if b in sizes:
            n = self.unpack(sizes[b])
            if b <= 0xC6:
                return bytes(self.take(n))
            if b <= 0xDB:
                return self.take(n).decode("utf-8")
            return [self.value() for _ in range(n)] if b <= 0xDD else self.mapping(n)
        numbers = {0xCA: "f", 0xCB: "d", 0xCC: "B", 0xCD: "H", 0xCE: "I", 0xCF: "Q",
                   0xD0: "b", 0xD1: "h", 0xD2: "i", 0xD3: "q"}
        if b in numbers:
            return _js_number(self.unpack(numbers[b])) if b == 0xCB else self.unpack(numbers[b])
        if b == 0xD4 and self.take(2) == b"\x00\x00":  # msgpackr's undefined
            return None
        raise FormatError(f"MessagePack type 0x{b:02x} is not one shmkit writes")

    def mapping(self, n):
        out = {}
        for _ in range(n):
            key = self.value()
            out[key] = self.value()
        return out


def _decode(tag, raw, key):
    if tag == 1:
        return raw.decode("utf-8")
    if tag == 5:
        return raw.decode("latin-1")
    if tag == 6:
        return _js_number(struct.unpack("<d", raw)[0])
    if tag in (7, 8):
        return tag == 7
    if tag in (9, 10):
        return None
    if tag in (0, 3, 4):
        return bytes(raw)
    if tag == 11:
        reader = _MsgpackReader(raw)
        value = reader.value()
        if reader.at != len(raw):
            raise FormatError(f"the MessagePack value of {key!r} has bytes after its end")
        return value
    if tag in TYPED:
        import array
        return array.array(TYPED[tag], raw)
    if tag == 12:
        raise FormatError(f"the value of {key!r} holds shmkit handles, which only Node can open")
    if tag == 2:
        raise FormatError(f"the value of {key!r} is in V8's serialization format (Map, Set, Date, BigInt, ...), "
                          "which Python cannot read: store plain data (objects, arrays, strings, numbers)")
    raise FormatError(f"the value of {key!r} has tag {tag}, which this reader does not know")


class MapReader:
    """A read-only view of a shmkit SharedMap (or SharedList): lock-free reads
    as docs/format.md describes them (versions checked around each copy), so a
    writer in Node is never blocked and a torn value is never returned.

    Aligned loads are single loads on every machine Python runs shmkit on, but
    Python has no load-acquire: the version check relies on x86-64's ordered
    loads, and open_map refuses other machines.
    """

    def __init__(self, name, timeout=1.0):
        if os.uname().machine not in ("x86_64", "AMD64"):
            raise NotImplementedError("reading a SharedMap from Python needs x86-64's ordered loads")
        self.name = name
        self._mapping = _map(name)
        self.kind = self._check(timeout)

    def _check(self, timeout):
        kind = _ready_header(self.name, self._mapping, MAP_KINDS, "a SharedMap or SharedList", timeout)[2]
        stripes = self._word(W_STRIPES)
        if stripes <= 0 or stripes > 1024 or stripes & (stripes - 1) or len(self._mapping) < (W_STRIPE0 + stripes * STRIPE_WORDS) * 4:
            raise FormatError(f"{self.name} says it has {stripes} stripes")
        return MAP_KINDS[kind]

    def close(self):
        self._mapping.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _word(self, w):
        return struct.unpack_from("<i", self._mapping, w * 4)[0]

    def _u32(self, at):
        return struct.unpack_from("<I", self._mapping, at)[0]

    def _reach(self, end):
        """True once the mapping covers byte `end` (mapping the grown file again if it must)."""
        if end <= len(self._mapping):
            return True
        grown = _map(self.name)
        if end > len(grown):
            grown.close()
            return False
        self._mapping.close()
        self._mapping = grown
        return True

    def _read(self, key):
        data = key.encode("utf-8")
        h = _fnv1a(data)
        for _ in range(1000):
            got = self._try_read(data, h, key)
            if got is not _RETRY:
                return got
        raise FormatError(f"{self.name}: the entry of {key!r} kept changing while read")

    def _try_read(self, data, h, key):
        gen = self._word(W_INDEX_GEN)
        index = self._word(W_INDEX) * 8
        if index <= 0 or not self._reach(index + I_SLOTS):
            return _RETRY
        capacity = self._u32(index + I_CAPACITY)
        if capacity == 0 or capacity & (capacity - 1) or not self._reach(index + I_SLOTS + capacity * 8):
            return _RETRY
        slot = h & (capacity - 1)
        for _ in range(capacity):
            slot_hash, ref = struct.unpack_from("<II", self._mapping, index + I_SLOTS + slot * 8)
            slot = (slot + 1) & (capacity - 1)
            if ref == SLOT_EMPTY:
                return _ABSENT if self._word(W_INDEX_GEN) == gen else _RETRY
            if ref <= SLOT_TOMBSTONE or slot_hash != h:
                continue
            got = self._entry(ref * 8, data, key)
            if got is None:
                continue
            if self._word(W_INDEX_GEN) != gen:
                return _RETRY
            return got
        return _ABSENT if self._word(W_INDEX_GEN) == gen else _RETRY

    def _entry(self, at, data, key):
        """The value of the entry at byte `at` if it holds `key`: _ABSENT if expired, None if another key, _RETRY if it changed."""
        if not self._reach(at + E_KEY):
            return _RETRY
        version, units = struct.unpack_from("<II", self._mapping, at)
        if version & 1 or not self._reach(at + units * 8):
            return _RETRY
        key_bytes, value_bytes = struct.unpack_from("<II", self._mapping, at + E_KEY_BYTES)
        start = at + E_KEY + (key_bytes + 7) // 8 * 8
        if E_KEY + key_bytes > units * 8 or start + value_bytes > at + units * 8:
            return _RETRY
        if self._mapping[at + E_KEY:at + E_KEY + key_bytes] != data:
            return None if self._u32(at) == version else _RETRY
        tag = self._mapping[at + E_TAG]
        expires = struct.unpack_from("<d", self._mapping, at + E_EXPIRES)[0]
        raw = self._mapping[start:start + value_bytes]
        if self._u32(at) != version:
            return _RETRY
        if expires != 0 and time.time() * 1000 >= expires:
            return _ABSENT
        return (tag, raw)

    def get(self, key, default=None):
        got = self._read(key)
        return default if got is _ABSENT else _decode(got[0], got[1], key)

    def __getitem__(self, key):
        got = self._read(key)
        if got is _ABSENT:
            raise KeyError(key)
        return _decode(got[0], got[1], key)

    def __contains__(self, key):
        return self._read(key) is not _ABSENT

    def __len__(self):
        stripes = self._word(W_STRIPES)
        return sum(self._word(W_STRIPE0 + s * STRIPE_WORDS + STRIPE_COUNT) for s in range(stripes))

    def keys(self):
        """The keys now (a walk of the index; keys written during it may or may not appear)."""
        index = self._word(W_INDEX) * 8
        if not self._reach(index + I_SLOTS):
            return []
        capacity = self._u32(index + I_CAPACITY)
        found = []
        for slot in range(capacity if self._reach(index + I_SLOTS + capacity * 8) else 0):
            ref = self._u32(index + I_SLOTS + slot * 8 + 4)
            at = ref * 8
            if ref > SLOT_TOMBSTONE and self._reach(at + E_KEY):
                version, units = struct.unpack_from("<II", self._mapping, at)
                key_bytes = self._u32(at + E_KEY_BYTES)
                if version & 1 == 0 and E_KEY + key_bytes <= units * 8 and self._reach(at + E_KEY + key_bytes):
                    raw = self._mapping[at + E_KEY:at + E_KEY + key_bytes]
                    if self._u32(at) == version:
                        found.append(raw.decode("utf-8", "replace"))
        return [k for k in found if k in self]

    def items(self):
        out = []
        for key in self.keys():
            got = self._read(key)
            if got is not _ABSENT:
                out.append((key, _decode(got[0], got[1], key)))
        return out

    def to_list(self):
        """A SharedList's items in order (a SharedMap's values, for a list's keys "0" .. "n-1")."""
        return [self[str(i)] for i in range(len(self))]


def open_map(name, *, timeout=1.0):
    """A read-only, lock-free MapReader of the SharedMap or SharedList `name`.

    Values come back as Python values: str, int or float, bool, None, bytes
    (Buffers), array.array (typed arrays), dicts and lists (plain data, stored
    as MessagePack). A value only V8 can read (Map, Set, Date, BigInt, ...)
    raises FormatError when read. Raises FileNotFoundError if there is no
    such segment, FormatError if it is not a SharedMap or SharedList.
    """
    return MapReader(name, timeout)


def _jsonable(v):
    """JSON has no NaN/Infinity and loses integers past 2**53: spell those as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, int) and abs(v) > 2**53:
        return str(v)
    return v


def _describe_any(name):
    mapping = _map(name)
    try:
        kind = HEADER.unpack_from(mapping, 0)[2]
    finally:
        mapping.close()
    if kind not in MAP_KINDS:
        result = describe(name)
        result["values"] = [_jsonable(v) for v in result["values"]]
        return result
    with open_map(name) as m:
        if m.kind == "SharedList":
            return {"kind": m.kind, "length": len(m), "values": m.to_list()}
        return {"kind": m.kind, "entries": len(m), "values": dict(m.items())}


if __name__ == "__main__":
    print(json.dumps(_describe_any(sys.argv[1]), default=lambda v: v.hex() if isinstance(v, bytes) else list(v)))
